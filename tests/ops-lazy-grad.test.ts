/**
 * lazyCustomGrad (runtime/ops/lazy-grad.ts): an input's gradient function runs only when a backward pass needs it
 * (tfjs's and the trainer's), the gradients equal the analytic ones, and nothing is left behind.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { lazyCustomGrad, type LazyGradBody } from '../runtime/ops/lazy-grad.js';
import { variableGradsLowMemory } from '../runtime/train/grads.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('lazyCustomGrad', () => {
  // y = x · w (elementwise): dx = dy · w, dw = dy · x; counts how often each gradient function runs.
  const calls = { x: 0, w: 0 };
  const body: LazyGradBody = ([x, w], save) => {
    save([x!, w!]);
    return {
      value: tf.mul(x!, w!),
      grads: (dy, [xs, ws]) => [
        () => (calls.x++, tf.mul(dy, ws!)),
        () => (calls.w++, tf.mul(dy, xs!)),
      ],
    };
  };
  const xv = [1, -2, 3];
  const wv = [0.5, 4, -1];

  for (const [name, grads] of [
    ['tf.variableGrads', (f: () => tf.Scalar, vs: tf.Variable[]) => tf.variableGrads(f, vs)],
    ['the trainer backward pass', variableGradsLowMemory],
  ] as const) {
    it(`under ${name}, computes the gradient of a variable and not of a constant input`, () => {
      calls.x = calls.w = 0;
      const x = tf.tensor1d(xv);
      const w = tf.variable(tf.tensor1d(wv));
      const before = tf.memory().numTensors;
      // L = Σ (x·w)²: dL/dw = 2·x·w·x
      const { value, grads: g } = grads(() => tf.sum(tf.square(lazyCustomGrad(body, x, w))) as tf.Scalar, [w]);
      expect(Array.from(g[w.name]!.dataSync())).toEqual(xv.map((xi, i) => 2 * xi * wv[i]! * xi));
      expect(value.dataSync()[0]).toBeCloseTo(xv.reduce((s, xi, i) => s + (xi * wv[i]!) ** 2, 0), 5);
      expect(calls).toEqual({ x: 0, w: 1 });
      tf.dispose([value, ...Object.values(g)]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, w]);
    });
  }

  it('computes both gradients when both inputs need one', () => {
    calls.x = calls.w = 0;
    const x = tf.tensor1d(xv);
    const w = tf.tensor1d(wv);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(lazyCustomGrad(body, a, b)))([x, w]);
    expect([Array.from(dx!.dataSync()), Array.from(dw!.dataSync())]).toEqual([wv, xv]);
    expect(calls).toEqual({ x: 1, w: 1 });
    tf.dispose([x, w, dx!, dw!]);
  });
});
