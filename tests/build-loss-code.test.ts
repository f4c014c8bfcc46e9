/**
 * The stage-loss code the generator writes (compiler/emit/loss-code.ts) computes the spec's expression: the
 * generated TypeScript, run on tfjs with known term values, equals the same formula written by hand in float64.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, test } from 'vitest';
import { lossCode, termsUsed, type LossCodeNames } from '../compiler/emit/loss-code.js';
import { parseExpr } from '../compiler/expr/index.js';

const names: LossCodeNames = {
  terms: new Set(['seg', 'class', 'scene', 'sync', 'my_term']),
  weights: new Set(['w1', 'w2', 'w3']),
  vars: new Set(['k']),
};
const T = { seg: 0.7, class: 1.3, scene: 0.25, sync: 2.5, my_term: -0.4 };
const WEIGHTS = { w1: 0.5, w2: 0.2, w3: 0.1 };
const VARS = { k: 4 };

/** Runs generated code the way trainer.ts does: `t` holds scalar tensors, WEIGHTS / VARS plain numbers. */
function run(code: string): number {
  const fn = new Function('tf', 't', 'WEIGHTS', 'VARS', `return ${code};`) as (...a: unknown[]) => tf.Tensor;
  return tf.tidy(() => {
    const t = Object.fromEntries(Object.entries(T).map(([k, v]) => [k, tf.scalar(v)]));
    const out = fn(tf, t, WEIGHTS, VARS);
    expect(out.shape).toEqual([]);
    return out.dataSync()[0]!;
  });
}

function codeOf(text: string): string {
  const parsed = parseExpr(text);
  expect(parsed.errors).toEqual([]);
  return lossCode(parsed.expr!, names);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('lossCode', () => {
  const { seg, class: cls, scene, sync, my_term } = T;
  const { w1, w2, w3 } = WEIGHTS;
  const { k } = VARS;
  test.each<[string, number]>([
    ['seg', seg],
    ['seg + w1*class', seg + w1 * cls],
    ['seg + w1*class + w2*scene + w3*sync', seg + w1 * cls + w2 * scene + w3 * sync],
    ['seg - class + sync', seg - cls + sync],
    ['seg + (class + scene) + sync', seg + (cls + scene) + sync],
    ['(seg + class) * w1 / k', ((seg + cls) * w1) / k],
    ['-seg + 2 * -class + my_term', -seg + 2 * -cls + my_term],
    ['seg + w1*w2*class + 1/k*sync + 0.5', seg + w1 * w2 * cls + (1 / k) * sync + 0.5],
    ['seg / (k - 2) - (scene - 2*sync)/4', seg / (k - 2) - (scene - 2 * sync) / 4],
    ['3 * (w1 + w2)', 3 * (w1 + w2)],
  ])('%s', (text, expected) => {
    expect(run(codeOf(text))).toBeCloseTo(expected, 5);
  });

  test('a sum of three or more parts is one tf.addN, weights and vars are plain numbers', () => {
    expect(codeOf('seg + w1*class + w3*sync')).toBe('tf.addN([t.seg, tf.mul(WEIGHTS.w1, t.class), tf.mul(WEIGHTS.w3, t.sync)])');
    expect(codeOf('seg + w1*class')).toBe('tf.add(t.seg, tf.mul(WEIGHTS.w1, t.class))');
    expect(codeOf('k * w1')).toBe('tf.scalar((VARS.k * WEIGHTS.w1))');
  });

  test('termsUsed lists each term once, in first-use order', () => {
    expect(termsUsed(parseExpr('sync + w1*seg + sync - class').expr!, names)).toEqual(['sync', 'seg', 'class']);
  });
});
