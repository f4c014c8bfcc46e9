/** Maps an offset inside an expression string to a span in the spec file, via the YAML span of the string value. */
import type { Span } from '../../spec/types.js';

/**
 * The file span of `[offset, endOffset)` inside a string scalar whose value span is `valueSpan`. Quoted scalars
 * start with their quote, so the text begins one character later. `source` (the file text) gives exact
 * line/column; without it the columns are shifted on the value's first line.
 */
export function spanInString(valueSpan: Span, source: string | undefined, offset: number, endOffset: number): Span {
  const first = source?.[valueSpan.offset];
  const start = valueSpan.offset + (first === '"' || first === "'" ? 1 : 0);
  const at = (o: number): { line: number; col: number } => {
    if (source === undefined) return { line: valueSpan.line, col: valueSpan.col + (o - valueSpan.offset) };
    let line = valueSpan.line;
    let col = valueSpan.col;
    for (let i = valueSpan.offset; i < o && i < source.length; i++) {
      if (source[i] === '\n') {
        line++;
        col = 1;
      } else col++;
    }
    return { line, col };
  };
  const a = start + offset;
  // An empty range (an error at the end of the text) still underlines one character.
  const b = start + Math.max(endOffset, offset + 1);
  const s = at(a);
  const e = at(b);
  return { file: valueSpan.file, line: s.line, col: s.col, endLine: e.line, endCol: e.col, offset: a, endOffset: b };
}
