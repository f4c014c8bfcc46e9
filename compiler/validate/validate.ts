/** Schema validation of a composed spec: ajv errors become one-line diagnostics at the YAML node they concern. */
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Diagnostic, Result } from '../../spec/diagnostics.js';
import type { ComposedDoc, Path, SpanIndex } from '../parse/index.js';
import { allowedKeys, schemaAt, specValidator, type SchemaNode } from './schema.js';
import { didYouMean } from '../suggest.js';

/** Human wording for the schema's patterns (ajv would print the regular expression). */
const PATTERNS: Record<string, string> = {
  '^[A-Za-z][A-Za-z0-9_-]*$': 'a name of letters, digits, - and _ that starts with a letter',
  '^[A-Za-z_][A-Za-z0-9_]*$': 'a name of letters, digits and _ that does not start with a digit',
  '^[A-Za-z0-9][A-Za-z0-9_+.-]*$': 'a name of letters, digits and _ + . - that starts with a letter or digit',
};

/**
 * Validates `doc.data` against the published schema. The value is a deep copy of the data with schema defaults
 * filled in (the input is never modified), or undefined when there are errors.
 */
export function validateSpec(doc: ComposedDoc): Result<unknown> {
  return validateDocument(doc, specValidator());
}

/**
 * Validates a parsed document against a compiled schema (the spec's, or another file format's such as a study):
 * ajv's errors become diagnostics at the YAML nodes. `what` names the document in messages ("the spec").
 */
export function validateDocument(doc: Pick<ComposedDoc, 'file' | 'data' | 'spans'>, validate: ValidateFunction, what = 'the spec', hint = 'start from examples/quickstart.yaml'): Result<unknown> {
  const data = structuredClone(doc.data);
  if (data === null || data === undefined || typeof data !== 'object' || Array.isArray(data)) {
    const empty = data === null || data === undefined;
    return {
      value: undefined,
      diagnostics: [
        {
          code: 'TDC0105',
          severity: 'error',
          message: empty ? `${what} is empty` : `${what} must be a mapping of keys to values, got ${describeValue(data)}`,
          span: doc.spans.get([]) ?? { file: doc.file, line: 1, col: 1, endLine: 1, endCol: 1, offset: 0, endOffset: 0 },
          hint,
        },
      ],
    };
  }
  if (validate(data)) return { value: data, diagnostics: [] };
  const diagnostics = mergeMissing(dedupe((validate.errors ?? []).flatMap((e) => toDiagnostic(e, doc.data, doc.spans))));
  return { value: undefined, diagnostics };
}

/** Several keys missing from one mapping make one diagnostic ("… is missing the required keys 'a', 'b'"). */
function mergeMissing(ds: Diagnostic[]): Diagnostic[] {
  const re = /^(.*) is missing the required key '(.*)'$/;
  const groups = new Map<string, { first: Diagnostic; keys: string[] }>();
  const out: Diagnostic[] = [];
  for (const d of ds) {
    const m = d.code === 'TDC0202' ? re.exec(d.message) : null;
    if (!m) {
      out.push(d);
      continue;
    }
    const k = `${m[1]}|${d.span?.file}|${d.span?.offset}`;
    const g = groups.get(k);
    if (g) {
      g.keys.push(m[2]!);
      g.first.message = `${m[1]} is missing the required keys ${g.keys.map((x) => `'${x}'`).join(', ')}`;
      delete g.first.hint;
    } else {
      groups.set(k, { first: d, keys: [m[2]!] });
      out.push(d);
    }
  }
  return out;
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.code}|${d.message}|${d.span?.file}|${d.span?.offset}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** ajv's instancePath as a Path: numeric segments become indices where the data there is an array. */
export function pointerToPath(pointer: string, data: unknown): Path {
  if (pointer === '') return [];
  const out: (string | number)[] = [];
  let cur: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      out.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      out.push(seg);
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

/** `model.context.dilations[2]`; the whole spec is "the spec". */
export function displayPath(path: Path): string {
  if (path.length === 0) return 'the spec';
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (an empty value)';
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  return 'a mapping';
}

const TYPE_WORDS: Record<string, string> = {
  integer: 'a whole number',
  number: 'a number',
  string: 'text',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  null: 'nothing',
};

function describeType(t: string | string[]): string {
  const ts = Array.isArray(t) ? t : [t];
  if (ts.includes('string') && (ts.includes('number') || ts.includes('integer'))) {
    return `${TYPE_WORDS[ts.includes('integer') ? 'integer' : 'number']} or an expression string`;
  }
  if (ts.includes('string') && ts.includes('object')) return 'a name or a mapping';
  return ts.map((x) => TYPE_WORDS[x] ?? x).join(' or ');
}

function fmt(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : JSON.stringify(v);
}

function rangeText(s: SchemaNode): string {
  const lo = typeof s.minimum === 'number' ? { v: s.minimum, strict: false } : typeof s.exclusiveMinimum === 'number' ? { v: s.exclusiveMinimum, strict: true } : undefined;
  const hi = typeof s.maximum === 'number' ? { v: s.maximum, strict: false } : typeof s.exclusiveMaximum === 'number' ? { v: s.exclusiveMaximum, strict: true } : undefined;
  if (typeof s.exclusiveMaximum === 'number' && hi && !hi.strict && s.exclusiveMaximum <= hi.v) Object.assign(hi, { v: s.exclusiveMaximum, strict: true });
  if (lo && hi && !lo.strict && !hi.strict) return `between ${lo.v} and ${hi.v}`;
  const parts: string[] = [];
  if (lo) parts.push(lo.strict ? `greater than ${lo.v}` : `at least ${lo.v}`);
  if (hi) parts.push(hi.strict ? `less than ${hi.v}` : `at most ${hi.v}`);
  return parts.join(' and ');
}

function countText(s: SchemaNode): string {
  const min = typeof s.minItems === 'number' ? s.minItems : undefined;
  const max = typeof s.maxItems === 'number' ? s.maxItems : undefined;
  const items = (n: number) => `${n} item${n === 1 ? '' : 's'}`;
  if (min !== undefined && max !== undefined) {
    if (min === max) return `exactly ${items(min)}`;
    if (max === min + 1) return `${min} or ${items(max)}`;
    return `${min} to ${items(max)}`;
  }
  if (min !== undefined) return `at least ${items(min)}`;
  return `at most ${items(max!)}`;
}

function toDiagnostic(e: ErrorObject, root: unknown, spans: SpanIndex): Diagnostic[] {
  const path = pointerToPath(e.instancePath, root);
  const where = displayPath(path);
  const parent = (e.parentSchema ?? {}) as SchemaNode;
  const value = e.data;
  const base = (code: Diagnostic['code'], message: string, p: Path = path, hint?: string): Diagnostic => ({
    code,
    severity: 'error',
    message,
    span: spans.get(p),
    ...(hint ? { hint } : {}),
  });
  // Errors about a property *name* (propertyNames) are reported once, by the 'propertyNames' error below.
  if ((e as ErrorObject & { propertyName?: string }).propertyName !== undefined) return [];
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      const allowed = allowedKeys(parent);
      const d = base('TDC0203', `unknown key '${key}'${path.length ? ` in ${where}` : ''}`, [...path, key],
        didYouMean(key, allowed) ?? (allowed.length ? `allowed keys: ${allowed.join(', ')}` : undefined));
      d.span = spans.key([...path, key]) ?? d.span;
      return [d];
    }
    case 'required': {
      const missing = String(e.params.missingProperty);
      const d = base('TDC0202', `${where} is missing the required key '${missing}'`);
      d.span = spans.key(path) ?? spans.get(path);
      // A key required by an if/then branch is described where the object declares it.
      const declared = schemaAt([...path, missing]);
      const desc = ((parent.properties?.[missing] as SchemaNode | undefined) ?? (declared.ok ? declared.schema : undefined))?.description;
      if (desc) d.hint = `add '${missing}': ${desc.charAt(0).toLowerCase()}${desc.slice(1)}`;
      return [d];
    }
    case 'type':
      return [base('TDC0201', `${where} must be ${describeType(e.params.type as string | string[])}, got ${describeValue(value)}`)];
    case 'enum': {
      const allowed = (e.params.allowedValues as unknown[]) ?? [];
      return [base('TDC0204', `${where} must be one of ${allowed.map(fmt).join(', ')}, got ${describeValue(value)}`, path,
        typeof value === 'string' ? didYouMean(value, allowed.map(String)) : undefined)];
    }
    case 'const':
      return [base('TDC0204', `${where} must be ${fmt(e.params.allowedValue)}, got ${describeValue(value)}`)];
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return [base('TDC0205', `${where} must be ${rangeText(parent)}, got ${describeValue(value)}`)];
    case 'minItems':
    case 'maxItems':
      return [base('TDC0206', `${where} must have ${countText(parent)}, got ${Array.isArray(value) ? value.length : '?'}`)];
    case 'minLength':
      return [base('TDC0207', `${where} must not be empty`)];
    case 'pattern':
      return [base('TDC0207', `${where} must be ${PATTERNS[String(e.params.pattern)] ?? `text matching ${e.params.pattern}`}, got ${describeValue(value)}`)];
    case 'propertyNames': {
      const key = String(e.params.propertyName);
      const d = base('TDC0207', `'${key}' in ${where} is not a valid name: use ${PATTERNS['^[A-Za-z_][A-Za-z0-9_]*$']}`, [...path, key]);
      d.span = spans.key([...path, key]) ?? d.span;
      return [d];
    }
    case 'uniqueItems': {
      const j = Number(e.params.j);
      const item = Array.isArray(value) ? value[j] : undefined;
      return [base('TDC0208', `${where} lists ${describeValue(item)} twice`, [...path, j], 'remove the repeated item')];
    }
    case 'minProperties':
      return [base('TDC0209', `${where} must have at least one entry`)];
    case 'if':
      // The failing `then` branch reports its own errors.
      return [];
    default:
      // Every keyword the schema uses is handled above; this keeps an unforeseen one readable rather than raw.
      return [base('TDC0201', `${where} is not valid here`)];
  }
}
