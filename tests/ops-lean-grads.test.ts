/**
 * The runtime's lean-memory gradients (runtime/ops/lean-grads.ts) against independent references: biasAdd's
 * gradient against central finite differences of a float64 sum, and the registered ReLU gradient (taken from the
 * output) against the textbook step(x) at negative, zero and positive inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { biasAdd, registerLeanGradients } from '../runtime/ops/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerLeanGradients();
});

describe('biasAdd', () => {
  it('adds a per-channel bias over every position, for 4D and 5D maps', () => {
    const x = tf.tensor(Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => i * 0.5), [2, 2, 3, 3]);
    const b = tf.tensor1d([1, -2, 0.25]);
    const y = biasAdd(x, b).arraySync() as number[][][][];
    const xs = x.arraySync() as number[][][][];
    for (let n = 0; n < 2; n++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let c = 0; c < 3; c++) {
      expect(y[n]![i]![j]![c]).toBeCloseTo(xs[n]![i]![j]![c]! + [1, -2, 0.25][c]!, 6);
    }
    const x5 = tf.ones([1, 2, 2, 2, 2]);
    expect(Array.from(biasAdd(x5, tf.tensor1d([3, 4])).dataSync())).toEqual(Array.from({ length: 16 }, (_, i) => (i % 2 ? 5 : 4)));
  });

  it('has the gradient of L = Σ w·(x + b) by central finite differences (float64)', () => {
    const shape = [2, 3, 4, 3];
    const size = shape.reduce((a, b) => a * b, 1);
    const xv = Array.from({ length: size }, (_, i) => Math.sin(i * 1.3));
    const bv = [0.3, -0.7, 1.1];
    const wv = Array.from({ length: size }, (_, i) => Math.cos(i * 0.7));
    const loss64 = (x: number[], b: number[]) => x.reduce((s, v, i) => s + wv[i]! * (v + b[i % 3]!), 0);
    const w = tf.tensor(wv, shape);
    const f = (x: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(w, biasAdd(x, b)));
    const [gx, gb] = tf.grads(f)([tf.tensor(xv, shape), tf.tensor1d(bv)]);
    const eps = 1e-3;
    const gxv = gx!.dataSync();
    for (const i of [0, 7, size - 1]) {
      const p = xv.slice(); p[i]! += eps;
      const m = xv.slice(); m[i]! -= eps;
      expect(gxv[i]).toBeCloseTo((loss64(p, bv) - loss64(m, bv)) / (2 * eps), 4);
    }
    const gbv = gb!.dataSync();
    for (let c = 0; c < 3; c++) {
      const p = bv.slice(); p[c]! += eps;
      const m = bv.slice(); m[c]! -= eps;
      expect(gbv[c]).toBeCloseTo((loss64(xv, p) - loss64(xv, m)) / (2 * eps), 4);
    }
  });
});

describe('the registered ReLU gradient', () => {
  it('is dy·step(x): 0 for x < 0 and x = 0, dy for x > 0', () => {
    const x = tf.tensor1d([-2, -1e-7, 0, 1e-7, 3]);
    const dy = tf.tensor1d([5, 6, 7, 8, 9]);
    const g = tf.grad((t: tf.Tensor) => tf.relu(t))(x, dy);
    expect(Array.from(g.dataSync())).toEqual([0, 0, 0, 8, 9]);
  });

  it('saves the ReLU output, not its input, on the tape', () => {
    const x = tf.variable(tf.tensor1d([-1, 2]), true, 'lean_relu_x');
    const y = tf.tensor1d([1, 1]);
    const engine = tf.engine() as unknown as { state: { activeTape: { kernelName: string; saved?: tf.Tensor[]; outputs: tf.Tensor[] }[] | null } };
    let savedOutput = false;
    const { grads } = tf.variableGrads(() => {
      const r = tf.relu(x);
      const node = engine.state.activeTape!.find((n) => n.kernelName === 'Relu')!;
      savedOutput = node.saved!.length === 1 && Array.from(node.saved![0]!.dataSync()).join() === '0,2';
      return tf.sum(tf.mul(r, y));
    }, [x]);
    expect(savedOutput).toBe(true);
    expect(Array.from(grads[x.name]!.dataSync())).toEqual([0, 1]);
    x.dispose();
  });
});
