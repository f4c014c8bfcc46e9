/** Unit tests of schema validation: defaults, error mapping to YAML spans, and did-you-mean. */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { composeSpec, type SpecHost } from '../compiler/compose.js';
import type { ComposedDoc } from '../compiler/parse/index.js';
import { closest, damerauLevenshtein, didYouMean } from '../compiler/suggest.js';
import { pointerToPath, validateSpec } from '../compiler/validate/index.js';

const quickstart = readFileSync(new URL('../examples/quickstart.yaml', import.meta.url), 'utf8');

function doc(text: string, overrides: string[] = []): ComposedDoc {
  const host: SpecHost = { readFile: (p) => (p === 's.yaml' ? text : undefined), resolve: (_f, r) => r };
  const r = composeSpec('s.yaml', host, overrides);
  expect(r.diagnostics).toEqual([]);
  return r.value!;
}

describe('damerauLevenshtein (optimal string alignment)', () => {
  test.each([
    ['', '', 0],
    ['kitten', 'sitting', 3],
    ['flaw', 'lawn', 2],
    ['ca', 'abc', 3], // 2 under unrestricted Damerau-Levenshtein; OSA may not edit a transposed pair again
    ['dilation', 'dilations', 1],
    ['presense', 'presence', 1],
    ['abcdef', 'abdcef', 1],
  ])('%s / %s = %i', (a, b, d) => {
    expect(damerauLevenshtein(a, b)).toBe(d);
    expect(damerauLevenshtein(b, a)).toBe(d);
  });
});

describe('closest / didYouMean', () => {
  test('close words, case and separators, and no suggestion for far ones', () => {
    expect(closest('dilation', ['pairs', 'dilations', 'filters'])).toBe('dilations');
    expect(closest('outputStride', ['stages', 'output_stride'])).toBe('output_stride');
    expect(closest('cmobine', ['combine', 'pairs'])).toBe('combine');
    expect(closest('clss', new Set(['seg', 'class', 'scene']))).toBe('class');
    expect(closest('xyz', ['pairs', 'dilations'])).toBeUndefined();
    expect(closest('ab', ['cd'])).toBeUndefined();
    expect(didYouMean('cmobine', ['combine'])).toBe("did you mean 'combine'?");
  });
});

describe('validateSpec', () => {
  test('fills defaults into a copy and leaves the input alone', () => {
    const d = doc(quickstart);
    const before = structuredClone(d.data);
    const r = validateSpec(d);
    expect(r.diagnostics).toEqual([]);
    expect(d.data).toEqual(before);
    const v = r.value as Record<string, any>;
    expect(v.data.cache).toEqual({ samples: 64, prefetch: 2 });
    expect(v.data.on_corrupt).toBe('stop');
    expect(v.data.augment).toEqual({ hflip: 0.5, vflip: 0.5, zflip: 0, rgb_shift: 0, brightness: [1, 1], contrast: [1, 1] });
    expect(v.model.encoder.norm).toBe('none'); // the convstack branch's default
    expect(v.model.decoder.image_pooling).toBe(true);
    expect(v.model.heads.class.dropout).toBe(0);
    expect(v.losses.sync).toEqual({ type: 'sync', presence: 'hard', direction: 'seg->class' });
    expect(v.optimizer).toEqual({ type: 'adam', momentum: 0.9, weight_decay: 1e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    expect(v.stages[1].from).toBe('previous');
    expect(v.stages[1].freeze).toEqual([]);
    expect(v.train.best_metric).toBe('miou');
  });

  test('defaults of the chosen branch only: aniso3d gets norm batch', () => {
    const r = validateSpec(doc(quickstart, ['model.encoder={type: aniso3d}']));
    expect(r.diagnostics).toEqual([]);
    expect((r.value as any).model.encoder).toEqual({ type: 'aniso3d', filters: 32, blocks: 2, downsample: 2, dilations: [1, 2], norm: 'batch' });
  });

  test('several errors in one run, each at its node, with messages that never show ajv wording', () => {
    const r = validateSpec(
      doc(quickstart, ['model.context.combine=add', 'data.augment.hflip=2', 'model.encoder.kernal=3', 'task.size=[1]', 'stages.0.steps=0']),
    );
    const got = r.diagnostics.map((d) => [d.code, d.span!.file, d.message, d.hint]);
    expect(got).toEqual(
      expect.arrayContaining([
        ['TDC0204', '<--set 1>', "model.context.combine must be one of 'sum', 'concat', 'cascade', got 'add'", undefined],
        ['TDC0205', '<--set 2>', 'data.augment.hflip must be between 0 and 1, got 2', undefined],
        ['TDC0203', '<--set 3>', "unknown key 'kernal' in model.encoder", "did you mean 'kernel'?"],
        ['TDC0206', '<--set 4>', 'task.size must have 2 or 3 items, got 1', undefined],
        ['TDC0205', '<--set 5>', 'stages[0].steps must be at least 1, got 0', undefined],
      ]),
    );
    expect(got.length).toBe(5);
    for (const d of r.diagnostics) expect(d.message).not.toMatch(/must NOT|must match|must be equal to|schema/);
  });

  test('a bad discriminator gives one error, not one per branch', () => {
    const r = validateSpec(doc(quickstart, ['losses.sync.type=synk']));
    expect(r.diagnostics.map((d) => [d.code, d.hint])).toEqual([['TDC0204', "did you mean 'sync'?"]]);
  });

  test('an empty spec and a non-mapping spec', () => {
    expect(validateSpec(doc('# nothing\n')).diagnostics.map((d) => [d.code, d.message])).toEqual([['TDC0105', 'the spec is empty']]);
    expect(validateSpec(doc('just text\n')).diagnostics.map((d) => d.code)).toEqual(['TDC0105']);
  });
});

test('pointerToPath makes indices numbers only inside lists and unescapes ~0 ~1', () => {
  const data = { a: [{ '0': 1, 'x/y': 2 }] };
  expect(pointerToPath('/a/0/0', data)).toEqual(['a', 0, '0']);
  expect(pointerToPath('/a/0/x~1y', data)).toEqual(['a', 0, 'x/y']);
  expect(pointerToPath('', data)).toEqual([]);
});
