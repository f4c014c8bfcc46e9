/** Unit tests of composition: extends (merge rules, spans, cycles, missing parents) and --set overrides. */
import { describe, expect, test } from 'vitest';
import { composeSpec, type SpecHost } from '../compiler/compose.js';
import { loadSpec } from '../compiler/frontend.js';

/** An in-memory SpecHost; paths are plain strings joined POSIX-style. */
function memHost(files: Record<string, string>): SpecHost {
  return {
    readFile: (p) => files[p],
    resolve: (from, rel) => {
      const parts = from.split('/').slice(0, -1);
      for (const seg of rel.split('/')) {
        if (seg === '..') parts.pop();
        else if (seg !== '.') parts.push(seg);
      }
      return parts.join('/');
    },
  };
}

const parent = 'name: base\nmodel:\n  context: { dilations: [7, 3, 1], combine: sum }\n  encoder: { type: vgg16, stages: 3 }\nlist: [1, 2, 3]\n';

describe('extends', () => {
  test('objects merge, lists and scalars replace, spans come from the file that supplied the value', () => {
    const child = 'extends: ../base/parent.yaml\nname: child\nmodel:\n  context: { dilations: [5] }\n';
    const r = composeSpec('specs/child.yaml', memHost({ 'specs/child.yaml': child, 'base/parent.yaml': parent }));
    expect(r.diagnostics).toEqual([]);
    const doc = r.value!;
    expect(doc.files).toEqual(['specs/child.yaml', 'base/parent.yaml']);
    expect(doc.data).toEqual({
      name: 'child',
      model: { context: { dilations: [5], combine: 'sum' }, encoder: { type: 'vgg16', stages: 3 } },
      list: [1, 2, 3],
      extends: '../base/parent.yaml',
    });
    const file = (p: (string | number)[]) => doc.spans.get(p)!.file;
    expect(file(['model', 'context', 'dilations'])).toBe('specs/child.yaml');
    expect(file(['model', 'context', 'dilations', 0])).toBe('specs/child.yaml');
    expect(file(['model', 'context', 'combine'])).toBe('base/parent.yaml');
    expect(file(['list', 2])).toBe('base/parent.yaml');
    // The replaced list's old items must not leave spans behind.
    expect(doc.spans.get(['model', 'context', 'dilations', 2])).toEqual(doc.spans.get(['model', 'context', 'dilations']));
    expect(doc.spans.source('base/parent.yaml')).toBe(parent);
  });

  test('a mapping whose type changes replaces the parent mapping', () => {
    const child = 'extends: p.yaml\nmodel:\n  encoder: { type: convstack, filters: [8] }\n';
    const r = composeSpec('c.yaml', memHost({ 'c.yaml': child, 'p.yaml': parent }));
    expect((r.value!.data as { model: { encoder: unknown } }).model.encoder).toEqual({ type: 'convstack', filters: [8] });
  });

  test('a cycle is reported with its chain at the extends value that closes it', () => {
    const r = composeSpec('a.yaml', memHost({ 'a.yaml': 'extends: b.yaml\n', 'b.yaml': 'x: 1\nextends: a.yaml\n' }));
    expect(r.diagnostics.map((d) => [d.code, d.span!.file, d.span!.line, d.span!.col])).toEqual([['TDC0301', 'b.yaml', 2, 10]]);
    expect(r.diagnostics[0]!.message).toBe('extends cycle: a.yaml -> b.yaml -> a.yaml');
  });

  test('a missing parent is an error at the extends value; loadSpec then reports nothing else', () => {
    const host = memHost({ 'c.yaml': 'version: 1\nextends: gone.yaml\n' });
    const r = loadSpec('c.yaml', host);
    expect(r.value).toBeUndefined();
    expect(r.diagnostics.map((d) => [d.code, d.span!.line, d.span!.col])).toEqual([['TDC0302', 2, 10]]);
  });

  test('a missing entry file has no span', () => {
    const r = composeSpec('nope.yaml', memHost({}));
    expect(r.diagnostics.map((d) => [d.code, d.span])).toEqual([['TDC0901', undefined]]);
  });
});

describe('--set', () => {
  const base = 'version: 1\nmodel:\n  context: { dilations: [7, 3, 1] }\nstages:\n  - { name: a, steps: 10 }\n';
  const host = memHost({ 's.yaml': base });

  test('values are parsed as YAML and replace wholesale; new mappings are created', () => {
    const r = composeSpec('s.yaml', host, ['model.context.dilations=[5, 1]', 'stages.0.steps=2*n', 'data.augment.hflip=0.5', 'stages.1={name: b}']);
    expect(r.diagnostics).toEqual([]);
    expect(r.value!.data).toEqual({
      version: 1,
      model: { context: { dilations: [5, 1] } },
      stages: [{ name: 'a', steps: '2*n' }, { name: 'b' }],
      data: { augment: { hflip: 0.5 } },
    });
    const s = r.value!.spans.get(['model', 'context', 'dilations', 1])!;
    expect([s.file, s.line, s.col]).toEqual(['<--set 1>', 1, 29]);
    expect(r.value!.spans.source('<--set 1>')).toBe('model.context.dilations=[5, 1]');
  });

  test('problems: no =, unknown key (did you mean), index out of range, invalid YAML', () => {
    const r = composeSpec('s.yaml', host, ['model', 'model.contxt.dilations=[1]', 'stages.4.steps=1', 'task.size=[1,', 'task.size.x=1']);
    expect(r.diagnostics.map((d) => [d.code, d.span!.file, d.span!.col, d.hint])).toEqual([
      ['TDC0303', '<--set 1>', 1, 'for example --set model.context.dilations=[15,7,3,1]'],
      ['TDC0304', '<--set 2>', 7, "did you mean 'context'?"],
      ['TDC0304', '<--set 3>', 8, 'use an index from 0 to 0'],
      ['TDC0305', '<--set 4>', 11, "add the closing ']'"],
      ['TDC0304', '<--set 5>', 11, undefined],
    ]);
    expect(r.diagnostics[4]!.message).toBe("--set path 'task.size.x': task.size is a list; use an index");
  });

  test('paths through scalars and indices into mappings are unknown paths', () => {
    const r = composeSpec('s.yaml', host, ['name.first=x', 'model.0=1']);
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['TDC0304', "--set path 'name.first': name has no key 'first'"],
      ['TDC0304', "--set path 'model.0': model is not a list"],
    ]);
  });

  test('an override of the wrong type is a schema error in the pseudo-file', () => {
    const full = memHost({ 'q.yaml': readExample('quickstart') });
    const r = loadSpec('q.yaml', full, ['data.batch_size=four']);
    expect(r.diagnostics.map((d) => [d.code, d.span!.file, d.span!.col, d.message])).toEqual([
      ['TDC0201', '<--set 1>', 17, "data.batch_size must be a whole number, got 'four'"],
    ]);
  });
});

import { readFileSync } from 'node:fs';
function readExample(name: string): string {
  return readFileSync(new URL(`../examples/${name}.yaml`, import.meta.url), 'utf8');
}
