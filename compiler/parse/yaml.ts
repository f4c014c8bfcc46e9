/** YAML text → plain data plus a span for every key and value node, with YAML problems as diagnostics. */
import { isMap, isScalar, isSeq, parseDocument, type Node, type YAMLError } from 'yaml';
import type { Diagnostic, Result } from '../../spec/diagnostics.js';
import { LineMap, SpanTable, type Path } from './spans.js';

export interface ParsedYaml {
  /** The document's data; undefined when the text cannot be read as YAML at all. */
  data: unknown;
  spans: SpanTable;
}

/** One line per yaml error code, worded for spec authors; unknown codes fall back to the library's text. */
const MESSAGES: Record<string, string> = {
  BAD_INDENT: 'bad indentation or an unclosed bracket',
  BLOCK_AS_IMPLICIT_KEY: 'a nested block cannot start on the line of its key',
  MULTILINE_IMPLICIT_KEY: 'a key must be on a single line (is a colon or indentation missing?)',
  MISSING_CHAR: 'a closing character is missing',
  UNEXPECTED_TOKEN: 'unexpected text',
  MULTIPLE_DOCS: 'a spec is one YAML document; remove the `---` separator',
  BAD_DQ_ESCAPE: 'bad escape sequence in a double-quoted string',
  BAD_SCALAR_START: 'a plain value cannot start with this character; quote it',
  BLOCK_IN_FLOW: 'a block collection cannot be used inside [ ] or { }',
};

/**
 * Parses one YAML file. Every YAML error is reported (at most one per line: a single mistake, such as a tab,
 * makes the parser emit several follow-up errors on the same line). Duplicate keys are recoverable (the last
 * value wins, as YAML 1.2 tools do), so `data` is still returned; after any other syntax error it is not,
 * because schema errors on a misread document would only confuse.
 */
export function parseYaml(file: string, text: string): Result<ParsedYaml> {
  const lines = new LineMap(file, text);
  const spans = new SpanTable();
  spans.addSource(file, text);
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, keepSourceTokens: true });
  const diagnostics: Diagnostic[] = [];
  let fatal = false;
  const seenLines = new Set<number>();
  for (const err of doc.errors) {
    const d = yamlErrorDiagnostic(err, lines, text);
    if (d.code !== 'TDC0102') fatal = true;
    const line = d.span!.line;
    if (d.code !== 'TDC0102' && seenLines.has(line)) continue;
    seenLines.add(line);
    diagnostics.push(d);
  }
  for (const w of doc.warnings) {
    if (w.code === 'TAG_RESOLVE_FAILED') {
      diagnostics.push({
        code: 'TDC0104',
        severity: 'warning',
        message: `unknown YAML tag ${text.slice(w.pos[0], w.pos[1]).split(/\s/)[0]}; the value is read as plain text`,
        span: lines.span(w.pos[0], w.pos[1]),
        hint: 'remove the tag',
      });
    }
  }
  // A tab confuses the parser into follow-up errors (on that line or the one before); the tab is the cause.
  if (diagnostics.some((d) => d.code === 'TDC0103')) {
    diagnostics.splice(0, diagnostics.length, ...diagnostics.filter((d) => d.code !== 'TDC0101'));
  }
  if (fatal) return { value: { data: undefined, spans }, diagnostics };
  const root = doc.contents;
  if (root) {
    spans.set([], rangeSpan(root, lines));
    walk(root, [], spans, lines);
  }
  return { value: { data: root ? doc.toJS({ maxAliasCount: 1000 }) : null, spans }, diagnostics };
}

function yamlErrorDiagnostic(err: YAMLError, lines: LineMap, text: string): Diagnostic {
  const [start, end] = err.pos;
  if (err.code === 'DUPLICATE_KEY') {
    // yaml points at the key's first character; take the whole key token (plain or quoted).
    const token = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^:\s,{}[\]]+)/.exec(text.slice(start))?.[0] ?? text.slice(start, end);
    const keyText = token.replace(/^["']|["']$/g, '');
    return {
      code: 'TDC0102',
      severity: 'error',
      message: `duplicate key '${keyText}'`,
      span: lines.span(start, start + Math.max(token.length, 1)),
      hint: 'each key may appear once in a mapping; remove or merge one of them',
    };
  }
  if (err.code === 'TAB_AS_INDENT') {
    // Point at the tab characters themselves.
    let s = start;
    while (s > 0 && text[s - 1] === '\t') s--;
    let e = s;
    while (e < text.length && text[e] === '\t') e++;
    return {
      code: 'TDC0103',
      severity: 'error',
      message: 'tab used for indentation',
      span: lines.span(s, Math.max(e, s + 1)),
      hint: 'indent with spaces',
    };
  }
  const close = /end with an? ([\]}])/.exec(err.message)?.[1];
  if (close) {
    // yaml notices a missing ] or } only where the next line starts; the opening bracket is the place to show.
    const open = unmatchedOpen(text, start, close === ']' ? '[' : '{', close);
    if (open !== undefined) {
      return {
        code: 'TDC0101',
        severity: 'error',
        message: `YAML syntax error: unclosed '${text[open]}'`,
        span: lines.span(open, open + 1),
        hint: `add the closing '${close}'`,
      };
    }
  }
  const message = MESSAGES[err.code] ?? err.message.charAt(0).toLowerCase() + err.message.slice(1);
  return {
    code: 'TDC0101',
    severity: 'error',
    message: `YAML syntax error: ${message}`,
    span: lines.span(start, Math.max(end, start + 1)),
  };
}

/** The offset of the last bracket before `before` that is not closed before it (quotes and comments skipped). */
function unmatchedOpen(text: string, before: number, open: string, close: string): number | undefined {
  const stack: number[] = [];
  let quote: string | undefined;
  for (let i = 0; i < before && i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"') i++;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#' && (i === 0 || /\s/.test(text[i - 1]!))) while (i < text.length && text[i] !== '\n') i++;
    else if (ch === open) stack.push(i);
    else if (ch === close) stack.pop();
  }
  return stack.at(-1);
}

function rangeSpan(node: Node, lines: LineMap) {
  const r = node.range;
  if (!r) return undefined;
  return lines.span(r[0], r[1]);
}

function walk(node: Node, path: Path, spans: SpanTable, lines: LineMap): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const k = pair.key;
      const name = isScalar(k) ? String(k.value) : String(k);
      const childPath = [...path, name];
      const keySpan = k && typeof k === 'object' && 'range' in k ? rangeSpan(k as Node, lines) : undefined;
      const v = pair.value as Node | null;
      // `key:` with nothing after it gives an empty scalar; point at the key instead of a zero-width spot.
      const valueSpan = v && !(isScalar(v) && v.value === null && v.range && v.range[0] === v.range[1]) ? rangeSpan(v, lines) : keySpan;
      spans.set(childPath, valueSpan, keySpan);
      if (v) walk(v, childPath, spans, lines);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const childPath = [...path, i];
      spans.set(childPath, rangeSpan(item as Node, lines));
      walk(item as Node, childPath, spans, lines);
    });
  }
}
