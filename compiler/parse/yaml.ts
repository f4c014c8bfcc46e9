/** YAML text → plain data plus a span for every key and value node, with YAML problems as diagnostics. */
import type * as YAML from 'yaml';
import type { Node, YAMLError } from 'yaml';
import type { Diagnostic, Result } from '../../spec/diagnostics.js';
import { vendored } from '../vendor.js';
import { LineMap, SpanTable, type Path } from './spans.js';

const { isAlias, isMap, isScalar, isSeq, parseDocument } = vendored<typeof YAML>('yaml');

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
  const binary = binaryAt(text);
  if (binary !== undefined) {
    // The source is not kept: printing a line of it would echo raw bytes to the terminal.
    const at = lines.span(binary, binary + 1);
    return {
      value: { data: undefined, spans },
      diagnostics: [{ code: 'TDC0106', severity: 'error', message: `not a YAML text file: binary data at line ${at.line}, column ${at.col}`, span: at, hint: 'give the spec file (.yaml), not an image, archive or build output' }],
    };
  }
  spans.addSource(file, text);
  // yaml's own duplicate-key check compares each key with every earlier one (quadratic: a mapping of 300k vars
  // never finished); duplicateKeys finds the same keys with one Set per mapping.
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false, keepSourceTokens: true });
  const diagnostics: Diagnostic[] = [];
  let fatal = false;
  const seenLines = new Set<number>();
  const errors: Array<Pick<YAMLError, 'code' | 'pos' | 'message'>> = [...doc.errors, ...duplicateKeys(doc.contents)];
  errors.sort((a, b) => a.pos[0] - b.pos[0]);
  for (const err of errors) {
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
  let data: unknown = null;
  if (root) {
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      // yaml throws a ReferenceError when aliases expand past maxAliasCount (a "billion laughs" document).
      if (!(e instanceof ReferenceError)) throw e;
      const alias = firstAlias(root);
      diagnostics.push({
        code: 'TDC0107',
        severity: 'error',
        message: `YAML aliases expand the document past ${MAX_ALIAS_COUNT} copies of an anchored value`,
        span: (alias && rangeSpan(alias, lines)) ?? lines.span(0, 1),
        hint: 'write the values out, or anchor a smaller part',
      });
      return { value: { data: undefined, spans }, diagnostics };
    }
  }
  return { value: { data, spans }, diagnostics };
}

/** How many times aliases may expand an anchored value (yaml's resource-exhaustion guard). */
const MAX_ALIAS_COUNT = 1000;

/**
 * Offset of the first character no YAML text holds (NUL or another C0 control other than tab/newline/CR), or of
 * the first of several U+FFFD left by decoding non-UTF-8 bytes; undefined for a text file.
 */
function binaryAt(text: string): number | undefined {
  let replacements = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 32 && c !== 9 && c !== 10 && c !== 13) return i;
    if (c === 0xfffd && ++replacements >= 4) return text.indexOf('\ufffd');
  }
  return undefined;
}

/** The first alias node (`*name`) of a document, in document order. */
function firstAlias(node: unknown): Node | undefined {
  if (isAlias(node)) return node;
  if (isMap(node)) {
    for (const p of node.items) {
      const found = firstAlias(p.key) ?? firstAlias(p.value);
      if (found) return found;
    }
  } else if (isSeq(node)) {
    for (const item of node.items) {
      const found = firstAlias(item);
      if (found) return found;
    }
  }
  return undefined;
}

function yamlErrorDiagnostic(err: Pick<YAMLError, 'code' | 'pos' | 'message'>, lines: LineMap, text: string): Diagnostic {
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

/** Every key that repeats an earlier key of its mapping (scalar keys, compared by value), as yaml reports them. */
function duplicateKeys(root: Node | null): Array<Pick<YAMLError, 'code' | 'pos' | 'message'>> {
  const out: Array<Pick<YAMLError, 'code' | 'pos' | 'message'>> = [];
  const visit = (node: unknown): void => {
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const k = pair.key;
        if (isScalar(k) && k.range) {
          if (seen.has(k.value)) out.push({ code: 'DUPLICATE_KEY', pos: [k.range[0], k.range[1]], message: 'Map keys must be unique' });
          seen.add(k.value);
        }
        visit(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) visit(item);
    }
  };
  visit(root);
  return out;
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
