/**
 * Every Handlebars helper the templates may use, in one place. Templates stay logic-free: the view model
 * (view.ts) precomputes every string; helpers only format values.
 */
import type Handlebars from 'handlebars';
import { canonicalJson } from './canonical.js';

const IDENT = /^[A-Za-z_$][\w$]*$/;
/** Literals that fit in this many characters stay on one line. */
const INLINE_WIDTH = 88;

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

function inline(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'NaN';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (!entries.length) return '{}';
  return `{ ${entries.map(([k, v]) => `${IDENT.test(k) ? k : quote(k)}: ${inline(v)}`).join(', ')} }`;
}

/**
 * A value as a readable TypeScript literal: identifier keys unquoted, single-quoted strings, a container on one
 * line when it fits, else one entry per line. Key order is the view model's (deterministic for a given spec).
 */
export function tsLiteral(value: unknown, indent = 0, column = indent): string {
  const one = inline(value);
  if (column + one.length <= INLINE_WIDTH || value === null || typeof value !== 'object') return one;
  const pad = ' '.repeat(indent + 2);
  const end = ' '.repeat(indent);
  if (Array.isArray(value)) return `[\n${value.map((v) => `${pad}${tsLiteral(v, indent + 2)},`).join('\n')}\n${end}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const lines = entries.map(([k, v]) => {
    const key = IDENT.test(k) ? k : quote(k);
    return `${pad}${key}: ${tsLiteral(v, indent + 2, indent + 2 + key.length + 2)},`;
  });
  return `{\n${lines.join('\n')}\n${end}}`;
}

export function registerHelpers(hb: typeof Handlebars): void {
  hb.registerHelper('literal', (value: unknown, indent: unknown) => tsLiteral(value, typeof indent === 'number' ? indent : 0));
  hb.registerHelper('json', (value: unknown) => canonicalJson(value));
  hb.registerHelper('str', (value: unknown) => quote(String(value)));
}
