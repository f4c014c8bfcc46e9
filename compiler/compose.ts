/** Composition of a spec from files: `extends` chains (deep merge, arrays replace) and `--set` overrides. */
import type { Diagnostic, Result } from '../spec/diagnostics.js';
import { parseYaml, SpanTable, LineMap, type ComposedDoc, type Path, type SpanIndex } from './parse/index.js';
import { didYouMean } from './suggest.js';
import { displayPath, schemaAt } from './validate/index.js';

/** The only window onto the disk: the CLI passes a real one, tests an in-memory one. */
export interface SpecHost {
  /** The file's text, or undefined when it does not exist or cannot be read. */
  readFile(path: string): string | undefined;
  /** The path of `rel` written inside `fromFile` (normalized, so that the same file always has the same name). */
  resolve(fromFile: string, rel: string): string;
}

interface Loaded {
  data: unknown;
  spans: SpanTable;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Reads `entry`, follows its `extends` chain and applies `overrides` (`a.b.c=<yaml value>`, in order).
 * The value is undefined when a file cannot be read or is not YAML; other problems (schema errors) are left
 * to validation, so one run reports as much as possible.
 */
export function composeSpec(
  entry: string,
  host: SpecHost,
  overrides: readonly string[] = [],
): Result<ComposedDoc | undefined> & { spans?: SpanIndex } {
  const diagnostics: Diagnostic[] = [];
  const files: string[] = [];
  const text = host.readFile(entry);
  if (text === undefined) {
    diagnostics.push({ code: 'TDC0901', severity: 'error', message: `cannot read spec file '${entry}'`, hint: 'check the path' });
    return { value: undefined, diagnostics };
  }
  // Sources of every file read, for printing; filled even when a file is not YAML.
  const sources = new SpanTable();
  const loaded = loadChain(entry, text, host, [entry], files, diagnostics, sources);
  if (!loaded) return { value: undefined, diagnostics, spans: sources };
  overrides.forEach((o, i) => applyOverride(o, i + 1, loaded, diagnostics));
  return { value: { file: entry, data: loaded.data, spans: loaded.spans, files }, diagnostics, spans: loaded.spans };
}

function loadChain(
  file: string,
  text: string,
  host: SpecHost,
  chain: string[],
  files: string[],
  diagnostics: Diagnostic[],
  sources: SpanTable,
): Loaded | undefined {
  files.push(file);
  const parsed = parseYaml(file, text);
  // A binary file's bytes are never printed back (parseYaml keeps no source for it either).
  if (!parsed.diagnostics.some((d) => d.code === 'TDC0106')) sources.addSource(file, text);
  diagnostics.push(...parsed.diagnostics);
  const { data, spans } = parsed.value;
  if (data === undefined) return undefined;
  if (!isObj(data) || typeof data.extends !== 'string') return { data, spans };
  const parentFile = host.resolve(file, data.extends);
  const at = spans.get(['extends']);
  if (chain.includes(parentFile)) {
    diagnostics.push({
      code: 'TDC0301',
      severity: 'error',
      message: `extends cycle: ${[...chain, parentFile].join(' -> ')}`,
      span: at,
      hint: 'remove one of the extends keys',
    });
    return { data, spans };
  }
  const parentText = host.readFile(parentFile);
  if (parentText === undefined) {
    diagnostics.push({ code: 'TDC0302', severity: 'error', message: `cannot read '${parentFile}', named by extends`, span: at, hint: 'extends paths are relative to the file that contains them' });
    return { data, spans };
  }
  const parent = loadChain(parentFile, parentText, host, [...chain, parentFile], files, diagnostics, sources);
  if (!parent) return undefined;
  const out = new SpanTable();
  out.copySources(parent.spans);
  out.copySources(spans);
  return { data: merge(parent.data, parent.spans, data, spans, [], out), spans: out };
}

/**
 * Deep merge of a child over its parent: mappings merge key by key; lists and scalars replace. A mapping whose
 * `type` differs from the parent's (an encoder switched from vgg16 to convstack) replaces it too: the keys of
 * the other kind would only be unknown keys.
 */
function merge(parent: unknown, pSpans: SpanTable, child: unknown, cSpans: SpanTable, path: Path, out: SpanTable): unknown {
  if (!isObj(parent) || !isObj(child) || ('type' in child && 'type' in parent && child.type !== parent.type)) {
    out.copyFrom(cSpans, path);
    return child;
  }
  out.copyNode(cSpans, path);
  const result: Obj = {};
  for (const [k, v] of Object.entries(parent)) {
    if (!(k in child)) {
      result[k] = v;
      out.copyFrom(pSpans, [...path, k]);
    }
  }
  for (const [k, v] of Object.entries(child)) {
    result[k] = k in parent ? merge(parent[k], pSpans, v, cSpans, [...path, k], out) : v;
    if (!(k in parent)) out.copyFrom(cSpans, [...path, k]);
  }
  return result;
}

function applyOverride(text: string, n: number, doc: Loaded, diagnostics: Diagnostic[]): void {
  const file = `<--set ${n}>`;
  const lines = new LineMap(file, text);
  doc.spans.addSource(file, text);
  const eq = text.indexOf('=');
  const pathText = eq < 0 ? text : text.slice(0, eq);
  if (eq <= 0 || pathText.trim() === '' || pathText.split('.').some((s) => s.trim() === '')) {
    diagnostics.push({
      code: 'TDC0303',
      severity: 'error',
      message: `--set expects path=value, got '${text}'`,
      span: lines.span(0, Math.max(text.length, 1)),
      hint: 'for example --set model.context.dilations=[15,7,3,1]',
    });
    return;
  }
  // Segment spans inside the override text, for pointing at the bad part of the path.
  const segs: { name: string | number; start: number; end: number }[] = [];
  let pos = 0;
  for (const raw of pathText.split('.')) {
    const start = pos + (raw.length - raw.trimStart().length);
    const name = raw.trim();
    segs.push({ name: /^\d+$/.test(name) ? Number(name) : name, start, end: start + name.length });
    pos += raw.length + 1;
  }
  const path: Path = segs.map((s) => s.name);
  const lookup = schemaAt(path);
  if (!lookup.ok) {
    const bad = segs[lookup.at]!;
    const hint = typeof bad.name === 'string' ? didYouMean(bad.name, lookup.allowed) : undefined;
    const inWhat = lookup.at === 0 ? 'the spec' : displayPath(path.slice(0, lookup.at));
    diagnostics.push({
      code: 'TDC0304',
      severity: 'error',
      message: `--set path '${pathText.trim()}': ${
        lookup.kind === 'not-a-list' ? `${inWhat} is not a list` : lookup.kind === 'is-a-list' ? `${inWhat} is a list; use an index` : `${inWhat} has no key '${bad.name}'`
      }`,
      span: lines.span(bad.start, bad.end),
      ...(hint ? { hint } : {}),
    });
    return;
  }
  // Pad the value so the YAML parser's offsets are offsets into the whole `path=value` text.
  const parsed = parseYaml(file, ' '.repeat(eq + 1) + text.slice(eq + 1));
  if (parsed.value.data === undefined || parsed.diagnostics.some((d) => d.severity === 'error')) {
    for (const d of parsed.diagnostics) {
      diagnostics.push({ ...d, code: 'TDC0305', message: `--set value is not valid YAML: ${d.message.replace(/^YAML syntax error: /, '')}` });
    }
    return;
  }
  parsed.value.spans.addSource(file, text);
  // Walk to the parent container, creating mappings the spec does not have yet.
  let cur: unknown = doc.data;
  if (!isObj(cur)) return;
  for (let i = 0; i < segs.length - 1; i++) {
    const seg = segs[i]!;
    const container = cur as Obj | unknown[];
    if (Array.isArray(container) && (typeof seg.name !== 'number' || seg.name >= container.length)) {
      diagnostics.push(indexError(pathText, path.slice(0, i), container.length, lines.span(seg.start, seg.end)));
      return;
    }
    let next = (container as Record<string | number, unknown>)[seg.name];
    if (next === undefined || next === null) {
      next = typeof segs[i + 1]!.name === 'number' ? [] : {};
      (container as Record<string | number, unknown>)[seg.name] = next;
      doc.spans.set(path.slice(0, i + 1), lines.span(seg.start, seg.end), lines.span(seg.start, seg.end));
    }
    if (typeof next !== 'object') {
      diagnostics.push({
        code: 'TDC0304',
        severity: 'error',
        message: `--set path '${pathText.trim()}': ${displayPath(path.slice(0, i + 1))} is ${JSON.stringify(next)}, not a mapping or list`,
        span: lines.span(segs[i + 1]!.start, segs[i + 1]!.end),
      });
      return;
    }
    cur = next;
  }
  const last = segs[segs.length - 1]!;
  // One past the end appends an item; further out would leave holes.
  if (Array.isArray(cur) && (typeof last.name !== 'number' || last.name > cur.length)) {
    diagnostics.push(indexError(pathText, path.slice(0, -1), cur.length, lines.span(last.start, last.end), true));
    return;
  }
  (cur as Record<string | number, unknown>)[last.name] = parsed.value.data;
  doc.spans.dropBelow(path);
  doc.spans.set(path, undefined, lines.span(last.start, last.end));
  doc.spans.graft(parsed.value.spans, path);
}

function indexError(pathText: string, listPath: Path, length: number, span: Diagnostic['span'], canAppend = false): Diagnostic {
  const top = canAppend ? length : length - 1;
  return {
    code: 'TDC0304',
    severity: 'error',
    message: `--set path '${pathText.trim()}': ${displayPath(listPath)} has ${length} item${length === 1 ? '' : 's'}`,
    span,
    hint: top >= 0 ? `use an index from 0 to ${top}` : 'the list is empty; set the whole list instead',
  };
}
