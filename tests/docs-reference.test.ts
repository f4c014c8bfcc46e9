/**
 * docs/spec-reference.md is generated from spec/tdc.schema.json: this test fails when the committed file drifts
 * from what compiler/docs/reference.ts renders (`npm run docs` rewrites it), and checks the renderer's phrases.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allowedOf, hoverMarkdown, referenceEntries, renderSchemaFile, renderSpecReference, typeOf, type SchemaNode } from '../compiler/docs/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const schema = JSON.parse(readFileSync(join(ROOT, 'spec/tdc.schema.json'), 'utf8')) as SchemaNode;
const REFERENCE = join(ROOT, 'docs/spec-reference.md');
const SCHEMA = join(ROOT, 'spec/tdc.schema.json');

describe('docs/spec-reference.md', () => {
  it('is what the generator renders from the schema (run npm run docs after editing the schema)', () => {
    // The schema's hover texts (markdownDescription) are derived from its other fields, so they are refreshed first.
    const schemaText = renderSchemaFile(schema);
    const generated = renderSpecReference(JSON.parse(schemaText) as SchemaNode);
    if (process.env.UPDATE_DOCS === '1') {
      writeFileSync(SCHEMA, schemaText);
      writeFileSync(REFERENCE, generated);
    }
    expect(readFileSync(SCHEMA, 'utf8')).toBe(schemaText);
    expect(readFileSync(REFERENCE, 'utf8')).toBe(generated);
  });

  it('gives every key a hover text with its facts (yaml-language-server shows markdownDescription only)', () => {
    for (const e of referenceEntries(schema)) expect(e.node.markdownDescription, e.path).toBe(hoverMarkdown(e.node, schema));
    const dilations = referenceEntries(schema).find((e) => e.path === 'model.context.dilations')!.node;
    expect(dilations.markdownDescription).toBe(
      'Dilation rates of the cascade, in order (paper: 63, 31, 15, 3, 1) (required when pairs is not empty).\n\nType: list of integer or expression (at least 1) · Allowed: each: ≥ 1 · Example: `[63, 31, 15, 3, 1]` · Paper: section III-B',
    );
  });

  it('lists every key path of the schema, conditional branches included, once per branch', () => {
    const text = renderSpecReference(schema);
    const paths = referenceEntries(schema).map((e) => `${e.path}${e.when ? ` when ${e.when}` : ''}`);
    expect(new Set(paths).size).toBe(paths.length);
    for (const p of ['model.context.dilations', 'model.encoder.stages when type: vgg16', 'losses.<name>.presence when type: sync', 'data.scenes.file when from: file', 'stages[].freeze', 'task.classes[].color']) {
      expect(paths).toContain(p);
    }
    for (const e of referenceEntries(schema)) expect(text).toContain(`| \`${e.path}\``);
    expect(text).toContain('| `model.encoder.stages`<br>when `type: vgg16` | integer | `5` | ≥ 1, ≤ 5 |');
  });

  it('phrases types and constraints like a reader expects', () => {
    expect(typeOf({ type: 'array', minItems: 2, maxItems: 3, items: { $ref: '#/$defs/intOrExpr' } }, schema)).toBe('list of integer or expression (2–3 items)');
    expect(typeOf({ enum: [1, 2, 4] }, schema)).toBe('integer');
    expect(typeOf({ type: 'object', additionalProperties: { $ref: '#/$defs/numOrExpr' } }, schema)).toBe('mapping name → number or expression');
    expect(allowedOf({ type: 'number', minimum: 0, exclusiveMaximum: 1 })).toBe('≥ 0, < 1');
    expect(allowedOf({ type: 'array', uniqueItems: true, items: { enum: ['a', 'b'] } })).toBe('no repeats; each: `a`, `b`');
  });
});

describe('docs/tutorial.md', () => {
  it('names every step from tdc init to tdc report with the real commands', () => {
    const tutorial = readFileSync(join(ROOT, 'docs/tutorial.md'), 'utf8');
    const order = ['tdc init', 'tdc check', 'tdc explain', 'tdc build', 'tdc train', 'tdc eval', 'tdc predict', 'tdc report'];
    const at = order.map((c) => tutorial.indexOf(`\n${c}`));
    expect(at.every((i) => i >= 0), order.filter((_, i) => at[i]! < 0).join(', ')).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});

describe('docs/data.md', () => {
  const text = readFileSync(join(ROOT, 'docs/data.md'), 'utf8');
  const formats = ((schema.properties!['data'] as SchemaNode).properties!['format'] as { enum: string[] }).enum;

  it('draws every layout of data.format as a folder tree, with where its scenes come from', async () => {
    const { expectedLayout } = await import('../runtime/data/dataset.js');
    for (const f of formats) {
      const section = text.split(/\n## /).find((s) => s.startsWith(`${f} `));
      expect(section, `a '## ${f} —' section`).toBeDefined();
      expect(section!, f).toMatch(/```\n<root>\/\n[\s\S]*?```/);
      expect(section!, f).toMatch(/\*\*Scenes\*\*/);
      // The one-line layout a "no samples found" error prints names the same folders as the tree.
      const dims = f === 'brats18' ? 3 : 2;
      const line = expectedLayout({ format: f, root: '<root>' } as never, { dims, modalities: undefined } as never);
      for (const dir of line.match(/<root>\/[A-Za-z_0-9-]+/g) ?? []) expect(section!, `${f}: ${dir}`).toContain(dir.slice('<root>/'.length));
    }
    expect(text).toMatch(/2D or\s+3D/);
  });

  it('is linked from the README and from the reference entry of data.format', () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('(docs/data.md)');
    const row = readFileSync(REFERENCE, 'utf8').split('\n').find((l) => l.startsWith('| `data.format`'));
    expect(row).toContain('[docs/data.md](data.md)');
  });
});
