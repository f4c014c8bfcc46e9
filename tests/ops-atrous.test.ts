// Atrous convolutions: forward against tf.conv2d/conv3d with dilations, gradients against float64 central
// finite differences of an independent plain-JS convolution.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { atrousConv2d, atrousConv3d } from '../runtime/ops/index.js';
import {
  centralDiff,
  dot,
  ndArray,
  referenceConv,
  relError,
  seededValues,
} from './helpers/reference-conv.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** float32-exact values so tfjs and the float64 reference see the same numbers. */
function f32Values(n: number, seed: number): Float64Array {
  return seededValues(n, seed).map((v) => Math.fround(v));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

interface Case {
  x: number[];
  k: number[];
  rates: number[];
  padding: 'same' | 'valid';
}

function runAtrous(x: tf.Tensor, w: tf.Tensor, rates: number[], padding: 'same' | 'valid'): tf.Tensor {
  return rates.length === 2
    ? atrousConv2d(x as tf.Tensor4D, w as tf.Tensor4D, rates as [number, number], padding)
    : atrousConv3d(x as tf.Tensor5D, w as tf.Tensor5D, rates as [number, number, number], padding);
}

function runTf(x: tf.Tensor, w: tf.Tensor, rates: number[], padding: 'same' | 'valid'): tf.Tensor {
  return rates.length === 2
    ? tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, padding, 'NHWC', rates as [number, number])
    : tf.conv3d(x as tf.Tensor5D, w as tf.Tensor5D, 1, padding, 'NDHWC', rates as [number, number, number]);
}

const forwardCases: Case[] = [];
for (const rate of [1, 2, 3, 15]) {
  for (const padding of ['same', 'valid'] as const) {
    for (const k of [3, 2]) {
      const span = (k - 1) * rate;
      const h = padding === 'valid' ? span + 4 : 9;
      const w = padding === 'valid' ? span + 6 : 11;
      forwardCases.push({ x: [2, h, w, 3], k: [k, k, 3, 4], rates: [rate, rate], padding });
    }
  }
}
forwardCases.push({ x: [1, 16, 20, 2], k: [3, 3, 2, 3], rates: [63, 63], padding: 'same' });
forwardCases.push({ x: [1, 16, 20, 2], k: [4, 4, 2, 3], rates: [20, 5], padding: 'same' });
forwardCases.push({ x: [1, 16, 20, 2], k: [2, 2, 2, 3], rates: [63, 63], padding: 'same' });
forwardCases.push({ x: [1, 12, 10, 2], k: [3, 5, 2, 2], rates: [2, 3], padding: 'same' });
for (const rate of [1, 2, 3, 15]) {
  for (const padding of ['same', 'valid'] as const) {
    const span = 2 * rate;
    const hw = padding === 'valid' ? [span + 3, span + 4] : [7, 9];
    forwardCases.push({ x: [1, 4, hw[0], hw[1], 2], k: [3, 3, 3, 2, 3], rates: [1, rate, rate], padding });
  }
}
forwardCases.push({ x: [1, 5, 6, 7, 2], k: [2, 2, 2, 2, 2], rates: [2, 2, 2], padding: 'same' });
forwardCases.push({ x: [1, 3, 8, 8, 1], k: [3, 3, 3, 1, 2], rates: [1, 63, 63], padding: 'same' });

describe('atrous forward equals tf.conv* with dilations', () => {
  for (const c of forwardCases) {
    it(`${c.rates.length}D x=[${c.x}] k=[${c.k}] rates=[${c.rates}] ${c.padding}`, () => {
      const xv = f32Values(c.x.reduce((a, b) => a * b, 1), 11);
      const wv = f32Values(c.k.reduce((a, b) => a * b, 1), 12);
      const x = tf.tensor(Float32Array.from(xv), c.x);
      const w = tf.tensor(Float32Array.from(wv), c.k);
      const y = runAtrous(x, w, c.rates, c.padding);
      const ref = runTf(x, w, c.rates, c.padding);
      expect(y.shape).toEqual(ref.shape);
      if (c.padding === 'same') expect(y.shape).toEqual([...c.x.slice(0, -1), c.k[c.k.length - 1]]);
      expect(maxAbsDiff(y.dataSync(), ref.dataSync())).toBeLessThan(1e-5);
      // The independent float64 convolution agrees too (guards against tfjs's own dilated forward).
      const r64 = referenceConv(ndArray(c.x, xv), ndArray(c.k, wv), c.rates, c.padding);
      expect(maxAbsDiff(y.dataSync(), r64.data)).toBeLessThan(1e-5);
      tf.dispose([x, w, y, ref]);
    });
  }
});

const gradCases: Case[] = [
  { x: [1, 9, 11, 2], k: [3, 3, 2, 2], rates: [1, 1], padding: 'same' },
  { x: [1, 9, 11, 2], k: [3, 3, 2, 2], rates: [2, 2], padding: 'same' },
  { x: [1, 9, 11, 2], k: [3, 3, 2, 2], rates: [3, 3], padding: 'same' },
  { x: [1, 9, 11, 2], k: [2, 2, 2, 2], rates: [3, 2], padding: 'same' },
  { x: [1, 9, 11, 2], k: [3, 3, 2, 2], rates: [15, 15], padding: 'same' },
  { x: [1, 20, 20, 1], k: [3, 3, 1, 2], rates: [15, 15], padding: 'same' },
  { x: [1, 9, 11, 2], k: [3, 3, 2, 2], rates: [2, 3], padding: 'valid' },
  { x: [2, 32, 33, 1], k: [3, 3, 1, 1], rates: [15, 15], padding: 'valid' },
  { x: [1, 4, 7, 8, 2], k: [3, 3, 3, 2, 2], rates: [1, 1, 1], padding: 'same' },
  { x: [1, 4, 7, 8, 2], k: [3, 3, 3, 2, 2], rates: [1, 2, 2], padding: 'same' },
  { x: [1, 4, 7, 8, 1], k: [3, 3, 3, 1, 2], rates: [1, 3, 3], padding: 'same' },
  { x: [1, 3, 20, 20, 1], k: [1, 3, 3, 1, 1], rates: [1, 15, 15], padding: 'same' },
  { x: [1, 5, 9, 9, 1], k: [2, 3, 3, 1, 2], rates: [2, 3, 3], padding: 'valid' },
];

describe('atrous gradients equal float64 finite differences', () => {
  for (const c of gradCases) {
    it(`${c.rates.length}D x=[${c.x}] k=[${c.k}] rates=[${c.rates}] ${c.padding}`, () => {
      const nx = c.x.reduce((a, b) => a * b, 1);
      const nw = c.k.reduce((a, b) => a * b, 1);
      const xv = f32Values(nx, 21);
      const wv = f32Values(nw, 22);
      const outShape = referenceConv(ndArray(c.x, xv), ndArray(c.k, wv), c.rates, c.padding).shape;
      const rv = f32Values(outShape.reduce((a, b) => a * b, 1), 23);
      const x = tf.tensor(Float32Array.from(xv), c.x);
      const w = tf.tensor(Float32Array.from(wv), c.k);
      const R = tf.tensor(Float32Array.from(rv), outShape);
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(runAtrous(a, b, c.rates, c.padding), R)))([
        x,
        w,
      ]);
      expect(gx.shape).toEqual(c.x);
      expect(gw.shape).toEqual(c.k);
      const lossX = (v: Float64Array) => dot(referenceConv(ndArray(c.x, v), ndArray(c.k, wv), c.rates, c.padding).data, rv);
      const lossW = (v: Float64Array) => dot(referenceConv(ndArray(c.x, xv), ndArray(c.k, v), c.rates, c.padding).data, rv);
      const fdx = centralDiff(lossX, xv);
      const fdw = centralDiff(lossW, wv);
      expect(relError(gx.dataSync(), fdx)).toBeLessThan(1e-3);
      expect(relError(gw.dataSync(), fdw)).toBeLessThan(1e-3);
      tf.dispose([x, w, R, gx, gw]);
    });
  }

  it('rate 63 on a 16×20 map: only the centre tap gets a gradient, shape kept', () => {
    const x = tf.tensor(Float32Array.from(f32Values(16 * 20 * 2, 31)), [1, 16, 20, 2]) as tf.Tensor4D;
    const w = tf.tensor(Float32Array.from(f32Values(9 * 2 * 3, 32)), [3, 3, 2, 3]) as tf.Tensor4D;
    const gw = tf.grad((b: tf.Tensor) => tf.sum(atrousConv2d(x, b as tf.Tensor4D, [63, 63], 'same')))(w);
    const g = gw.arraySync() as number[][][][];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const norm = g[i][j].flat().reduce((s, v) => s + Math.abs(v), 0);
        if (i === 1 && j === 1) expect(norm).toBeGreaterThan(0);
        else expect(norm).toBe(0);
      }
    }
  });

  it('even kernel at rate 63 on a 16×20 map reads only padding: zero output, zero gradients of the right shapes', () => {
    const x = tf.tensor(Float32Array.from(f32Values(16 * 20 * 2, 33)), [1, 16, 20, 2]) as tf.Tensor4D;
    const w = tf.tensor(Float32Array.from(f32Values(4 * 2 * 3, 34)), [2, 2, 2, 3]) as tf.Tensor4D;
    const y = atrousConv2d(x, w, [63, 63], 'same');
    expect(y.shape).toEqual([1, 16, 20, 3]);
    expect(Math.max(...Array.from(y.dataSync(), Math.abs))).toBe(0);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(atrousConv2d(a as tf.Tensor4D, b as tf.Tensor4D, [63, 63], 'same')))([x, w]);
    expect(gx.shape).toEqual(x.shape);
    expect(gw.shape).toEqual(w.shape);
    expect(Math.max(...Array.from(gx.dataSync(), Math.abs), ...Array.from(gw.dataSync(), Math.abs))).toBe(0);
  });

  it('trains inside tf.train optimizer (variables as inputs)', () => {
    const x = tf.tensor(Float32Array.from(f32Values(1 * 10 * 12 * 2, 41)), [1, 10, 12, 2]) as tf.Tensor4D;
    // A reachable target (made by a known filter), so the loss can fall far if the gradient is right.
    const wStar = tf.tensor(Float32Array.from(f32Values(9 * 4, 42)), [3, 3, 2, 2]) as tf.Tensor4D;
    const target = tf.conv2d(x, wStar, 1, 'same', 'NHWC', [2, 3]);
    const w = tf.variable(tf.tensor(Float32Array.from(f32Values(9 * 4, 43)).map((v) => v * 0.1), [3, 3, 2, 2]));
    const opt = tf.train.sgd(0.2);
    const loss = () => tf.mean(tf.square(tf.sub(atrousConv2d(x, w as unknown as tf.Tensor4D, [2, 3], 'same'), target))) as tf.Scalar;
    const first = loss().dataSync()[0];
    for (let i = 0; i < 30; i++) opt.minimize(loss);
    expect(loss().dataSync()[0]).toBeLessThan(first * 0.2);
  });

  it('rejects bad arguments with one clear line', () => {
    const x = tf.zeros([1, 5, 5, 2]) as tf.Tensor4D;
    expect(() => atrousConv2d(x, tf.zeros([3, 3, 3, 1]) as tf.Tensor4D, [2, 2], 'same')).toThrow(/input channels/);
    expect(() => atrousConv2d(x, tf.zeros([3, 3, 2, 1]) as tf.Tensor4D, [0, 2], 'same')).toThrow(/positive integers/);
    expect(() => atrousConv2d(x, tf.zeros([3, 3, 2, 1]) as tf.Tensor4D, [3, 3], 'valid')).toThrow(/at least 7/);
  });
});

describe('flipSwapValues (the input gradient\'s filter as one loop)', () => {
  it('equals tf.reverse over the spatial axes then the in/out swap, 2D and 3D', async () => {
    const { flipSwapValues } = await import('../runtime/ops/flip-filter.js');
    for (const shape of [[3, 3, 4, 5], [2, 3, 1, 2], [1, 3, 3, 3, 2], [2, 1, 3, 2, 4]]) {
      const nsp = shape.length - 2;
      const w = tf.tensor(Float32Array.from(f32Values(shape.reduce((a, b) => a * b, 1), 301)), shape);
      const perm = [...Array.from({ length: nsp }, (_, i) => i), nsp + 1, nsp];
      const ref = tf.transpose(tf.reverse(w, Array.from({ length: nsp }, (_, i) => i)), perm);
      expect(Array.from(flipSwapValues(w.dataSync() as Float32Array, shape))).toEqual(Array.from(ref.dataSync()));
      tf.dispose([w, ref]);
    }
  });
});

describe('atrous conv over the taps\' regions (2D, pads most of the work)', () => {
  it('rate 15 on a 20×20 map: forward and input gradient as per-tap matrix products, no Conv2D; rate 2 as one conv', async () => {
    const x = tf.tensor(Float32Array.from(f32Values(2 * 20 * 20 * 3, 51)), [2, 20, 20, 3]) as tf.Tensor4D;
    const w = tf.tensor(Float32Array.from(f32Values(9 * 3 * 4, 52)), [3, 3, 3, 4]) as tf.Tensor4D;
    const kernels = async (rate: number) => {
      const p = await tf.profile(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(atrousConv2d(a as tf.Tensor4D, b as tf.Tensor4D, [rate, rate], 'same')))([x, w]));
      const names = p.kernels.map((k) => k.name);
      return { conv: names.filter((n) => n === 'Conv2D').length, matMul: names.filter((n) => n === 'BatchMatMul').length };
    };
    // Rate 15: 1 Conv2D (the filter gradient's transposed conv, cpu), 2 × 9 products (forward and input gradient).
    expect(await kernels(15)).toEqual({ conv: 1, matMul: 18 });
    // Rate 2: forward, input gradient and filter gradient as one conv each.
    expect(await kernels(2)).toEqual({ conv: 3, matMul: 0 });
    tf.dispose([x, w]);
  });
});
