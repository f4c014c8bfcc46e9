/**
 * The shipped examples and the published schema: every example loads without errors through tdc, and — so
 * that editors and other tools can rely on it — validates against spec/tdc.schema.json with plain ajv and the
 * yaml package alone (no tdc code).
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { loadSpec } from '../compiler/frontend.js';
import type { SpecHost } from '../compiler/compose.js';

const root = new URL('../', import.meta.url);
const read = (rel: string) => readFileSync(new URL(rel, root), 'utf8');
const EXAMPLES = ['robot18', 'brats18', 'refuge18', 'quickstart'];
const schema = JSON.parse(read('spec/tdc.schema.json'));

describe('published schema, plain ajv', () => {
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  test.each(EXAMPLES)('%s.yaml is valid', (name) => {
    const ok = validate(parse(read(`examples/${name}.yaml`)));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });
  test('and rejects a spec with an unknown key', () => {
    const data = parse(read('examples/quickstart.yaml'));
    data.model.context.dilation = [1];
    expect(validate(data)).toBe(false);
  });
});

describe('examples through tdc', () => {
  const host: SpecHost = { readFile: (p) => read(p), resolve: (_f, r) => r };
  test.each(EXAMPLES)('%s.yaml loads with no diagnostics', (name) => {
    const r = loadSpec(`examples/${name}.yaml`, host);
    expect(r.diagnostics).toEqual([]);
    expect(r.value).toBeDefined();
  });
  test.each(EXAMPLES)('%s.yaml names the schema for editors', (name) => {
    expect(read(`examples/${name}.yaml`).split('\n')[0]).toBe('# yaml-language-server: $schema=../spec/tdc.schema.json');
  });
});

describe('schema hygiene', () => {
  /** Every property of every object schema (including discriminated branches) has a description. */
  function undocumented(node: unknown, at: string, out: string[]): string[] {
    if (!node || typeof node !== 'object') return out;
    const n = node as Record<string, unknown>;
    for (const [k, v] of Object.entries((n.properties as Record<string, unknown>) ?? {})) {
      if (v === true) continue; // `type: true` re-admits the discriminator inside a branch
      if (!(v as { description?: string }).description) out.push(`${at}.${k}`);
      undocumented(v, `${at}.${k}`, out);
    }
    for (const key of ['items', 'additionalProperties']) if (n[key] && typeof n[key] === 'object') undocumented(n[key], `${at}[${key}]`, out);
    for (const [i, b] of ((n.allOf as { then?: unknown }[]) ?? []).entries()) undocumented(b.then, `${at}.allOf${i}`, out);
    return out;
  }
  test('every key has a description', () => {
    expect(undocumented(schema, '$', [])).toEqual([]);
  });
  test('every object schema forbids unknown keys', () => {
    const open: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if (n.properties && n.additionalProperties !== false && !n.allOf) open.push(at);
      for (const [k, v] of Object.entries((n.properties as Record<string, unknown>) ?? {})) walk(v, `${at}.${k}`);
      for (const key of ['items', 'additionalProperties']) walk(n[key], `${at}[${key}]`);
      for (const [i, b] of ((n.allOf as { then?: unknown }[]) ?? []).entries()) {
        const t = (b.then ?? {}) as Record<string, unknown>;
        if (t.additionalProperties !== false) open.push(`${at}.allOf${i}`);
        walk(t, `${at}.allOf${i}`);
      }
    };
    walk(schema, '$');
    expect(open).toEqual([]);
  });
});
