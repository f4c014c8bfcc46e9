/**
 * The schema as editor help: every key (properties of every object schema, in `$defs` and in conditional
 * branches) carries a description and an example, examples and defaults are valid values of their own key,
 * and `x-paper` names a real section of the paper.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { SchemaNode } from '../compiler/docs/index.js';
import { sharedDir } from './helpers/shared-data.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const schema = JSON.parse(readFileSync(join(ROOT, 'spec/tdc.schema.json'), 'utf8')) as SchemaNode;
/** The paper's text (/work/shared/paper/*.txt, read from the shared folder beside the repo). */
const PAPER_DIR = join(sharedDir(), 'paper');
const PAPER = readdirSync(PAPER_DIR)
  .filter((f) => f.endsWith('.txt'))
  .map((f) => readFileSync(join(PAPER_DIR, f), 'utf8'))
  .join('\n');

/** Every schema node reachable from `node`, with a JSON-pointer-like location, and whether it is an object property. */
function* nodes(node: unknown, at: string, isProperty = false): Generator<{ at: string; node: SchemaNode; isProperty: boolean }> {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return;
  const n = node as SchemaNode & Record<string, unknown>;
  yield { at, node: n, isProperty };
  for (const [k, v] of Object.entries(n.properties ?? {})) if (typeof v === 'object') yield* nodes(v, `${at}/properties/${k}`, true);
  if (typeof n.additionalProperties === 'object') yield* nodes(n.additionalProperties, `${at}/additionalProperties`);
  if (n.items) yield* nodes(n.items, `${at}/items`);
  for (const [i, b] of (n.allOf ?? []).entries()) {
    yield* nodes(b.if, `${at}/allOf/${i}/if`);
    yield* nodes(b.then, `${at}/allOf/${i}/then`);
  }
  for (const [k, v] of Object.entries(n.$defs ?? {})) yield* nodes(v, `${at}/$defs/${k}`);
}

const all = [...nodes(schema, '#')];
/** Nodes of the `if` parts only restate the discriminator; they are matching logic, not keys a user writes. */
const keys = all.filter((e) => e.isProperty && !/\/if\//.test(e.at));

describe('spec/tdc.schema.json as editor help', () => {
  it('walks the whole schema, branches and $defs included', () => {
    expect(keys.length).toBeGreaterThan(120);
    expect(keys.some((e) => e.at.includes('/allOf/0/then/properties/stages'))).toBe(true);
    expect(all.some((e) => e.at.startsWith('#/$defs/'))).toBe(true);
  });

  it('every key has a description and at least one example', () => {
    const missing = keys.filter((e) => !e.node.description).map((e) => e.at);
    expect(missing).toEqual([]);
    const noExample = keys.filter((e) => !Array.isArray(e.node.examples) || e.node.examples.length === 0).map((e) => e.at);
    expect(noExample).toEqual([]);
    // List items and named entries show on hover inside a list or mapping too.
    const items = all.filter((e) => /\/(items|additionalProperties)$/.test(e.at) && !e.node.description).map((e) => e.at);
    expect(items).toEqual([]);
    for (const [name, def] of Object.entries(schema.$defs ?? {})) expect(def.description, name).toBeTruthy();
  });

  it('examples and defaults are valid values of their key', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const bad: string[] = [];
    for (const e of keys) {
      const check = ajv.compile({ ...e.node, $defs: schema.$defs });
      for (const v of [...(e.node.examples ?? []), ...('default' in e.node ? [e.node.default] : [])]) {
        if (!check(v)) bad.push(`${e.at}: ${JSON.stringify(v)} ${ajv.errorsText(check.errors)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('x-paper names a section that exists in the paper (III-A … IV-D)', () => {
    const sections = new Set<string>(['III', 'IV']);
    let major = '';
    for (const line of PAPER.split('\n')) {
      const top = /^(III|IV|V|VI|II|I)\. /.exec(line);
      if (top) major = top[1]!;
      const sub = /^([A-E])\. [A-Z]/.exec(line);
      if (sub && (major === 'III' || major === 'IV')) sections.add(`${major}-${sub[1]}`);
    }
    expect(sections).toContain('III-B');
    const tagged = keys.filter((e) => e.node['x-paper'] !== undefined);
    expect(tagged.length).toBeGreaterThan(40);
    const unknown = tagged.filter((e) => !sections.has(e.node['x-paper']!)).map((e) => `${e.at}: ${e.node['x-paper']}`);
    expect(unknown).toEqual([]);
    const byPath = (p: string) => keys.find((e) => e.at === p)?.node['x-paper'];
    expect(byPath('#/properties/model/properties/context/properties/dilations')).toBe('III-B');
    expect(byPath('#/properties/optimizer/properties/momentum')).toBe('IV-A');
  });
});
