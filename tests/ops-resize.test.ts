// Resizes: forward against tf.image.resizeBilinear and a direct float64 re-computation, gradients against float64
// central finite differences, on non-square maps (where the cpu backend's own gradient has the wrong shape).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resizeBilinear2d, resizeNearestNd, resizeTrilinear3d } from '../runtime/ops/index.js';
import { centralDiff, dot, relError, seededValues, stridesOf } from './helpers/reference-conv.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function f32Values(n: number, seed: number): Float64Array {
  return seededValues(n, seed).map((v) => Math.fround(v));
}

/** Source coordinate of output index o along one axis, as tfjs's ResizeBilinear (halfPixelCenters = false). */
function taps(o: number, inLen: number, outLen: number, align: boolean): [number, number, number] {
  const scale = align && outLen > 1 ? (inLen - 1) / (outLen - 1) : inLen / outLen;
  const src = o * scale;
  const lo = Math.max(0, Math.floor(src));
  const hi = Math.min(inLen - 1, Math.ceil(src));
  return [lo, hi, src - lo];
}

/** Direct float64 N-linear resize of x [B, ...S, C] (2^n corner taps per output, no matrices). */
function referenceResize(x: Float64Array, shape: number[], size: number[], align: boolean): Float64Array {
  const nsp = size.length;
  const B = shape[0];
  const C = shape[nsp + 1];
  const S = shape.slice(1, 1 + nsp);
  const outShape = [B, ...size, C];
  const xs = stridesOf(shape);
  const ys = stridesOf(outShape);
  const y = new Float64Array(outShape.reduce((a, b) => a * b, 1));
  const count = size.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(nsp).fill(0);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < count; o++) {
      let rem = o;
      for (let a = nsp - 1; a >= 0; a--) {
        idx[a] = rem % size[a];
        rem = Math.floor(rem / size[a]);
      }
      const t = idx.map((i, a) => taps(i, S[a], size[a], align));
      let yBase = b * ys[0];
      for (let a = 0; a < nsp; a++) yBase += idx[a] * ys[a + 1];
      for (let corner = 0; corner < 1 << nsp; corner++) {
        let wgt = 1;
        let xBase = b * xs[0];
        for (let a = 0; a < nsp; a++) {
          const upper = (corner >> (nsp - 1 - a)) & 1;
          const [lo, hi, frac] = t[a];
          wgt *= upper ? frac : 1 - frac;
          xBase += (upper ? hi : lo) * xs[a + 1];
        }
        if (wgt === 0) continue;
        for (let c = 0; c < C; c++) y[yBase + c] += wgt * x[xBase + c];
      }
    }
  }
  return y;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const cases2d: Array<{ x: [number, number, number, number]; size: [number, number]; align: boolean }> = [
  { x: [2, 8, 10, 3], size: [32, 40], align: false },
  { x: [1, 8, 10, 2], size: [32, 40], align: true },
  { x: [1, 7, 5, 2], size: [3, 11], align: false },
  { x: [1, 6, 9, 1], size: [6, 4], align: true },
  { x: [1, 5, 4, 1], size: [1, 8], align: true },
];

describe('resizeBilinear2d', () => {
  for (const c of cases2d) {
    it(`[${c.x}] → [${c.size}] alignCorners=${c.align}: forward and gradient`, () => {
      const n = c.x.reduce((a, b) => a * b, 1);
      const xv = f32Values(n, 5);
      const x = tf.tensor(Float32Array.from(xv), c.x) as tf.Tensor4D;
      const y = resizeBilinear2d(x, c.size, c.align);
      const outShape = [c.x[0], ...c.size, c.x[3]];
      expect(y.shape).toEqual(outShape);
      const tfY = tf.image.resizeBilinear(x, c.size, c.align);
      expect(maxAbsDiff(y.dataSync(), tfY.dataSync())).toBeLessThan(1e-5);
      expect(maxAbsDiff(y.dataSync(), referenceResize(xv, c.x, c.size, c.align))).toBeLessThan(1e-5);

      const rv = f32Values(outShape.reduce((a, b) => a * b, 1), 6);
      const R = tf.tensor(Float32Array.from(rv), outShape);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(resizeBilinear2d(a as tf.Tensor4D, c.size, c.align), R)))(x);
      expect(g.shape).toEqual(c.x);
      const fd = centralDiff((v) => dot(referenceResize(v, c.x, c.size, c.align), rv), xv);
      expect(relError(g.dataSync(), fd)).toBeLessThan(1e-3);
      tf.dispose([x, y, tfY, R, g]);
    });
  }
});

const cases3d: Array<{ x: [number, number, number, number, number]; size: [number, number, number]; align: boolean }> = [
  { x: [1, 3, 4, 5, 2], size: [6, 8, 10], align: false },
  { x: [2, 4, 3, 5, 1], size: [7, 9, 4], align: true },
  { x: [1, 5, 6, 4, 2], size: [2, 3, 8], align: false },
];

describe('resizeTrilinear3d', () => {
  for (const c of cases3d) {
    it(`[${c.x}] → [${c.size}] alignCorners=${c.align}: forward and gradient vs float64`, () => {
      const n = c.x.reduce((a, b) => a * b, 1);
      const xv = f32Values(n, 7);
      const x = tf.tensor(Float32Array.from(xv), c.x) as tf.Tensor5D;
      const y = resizeTrilinear3d(x, c.size, c.align);
      const outShape = [c.x[0], ...c.size, c.x[4]];
      expect(y.shape).toEqual(outShape);
      expect(maxAbsDiff(y.dataSync(), referenceResize(xv, c.x, c.size, c.align))).toBeLessThan(1e-5);
      const rv = f32Values(outShape.reduce((a, b) => a * b, 1), 8);
      const R = tf.tensor(Float32Array.from(rv), outShape);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(resizeTrilinear3d(a as tf.Tensor5D, c.size, c.align), R)))(x);
      expect(g.shape).toEqual(c.x);
      const fd = centralDiff((v) => dot(referenceResize(v, c.x, c.size, c.align), rv), xv);
      expect(relError(g.dataSync(), fd)).toBeLessThan(1e-3);
      tf.dispose([x, y, R, g]);
    });
  }

  it('with depth unchanged, each slice equals tf.image.resizeBilinear', () => {
    for (const align of [false, true]) {
      const x = tf.tensor(Float32Array.from(f32Values(2 * 3 * 8 * 10 * 2, 9)), [2, 3, 8, 10, 2]) as tf.Tensor5D;
      const y = resizeTrilinear3d(x, [3, 32, 40], align);
      // Fold depth into the batch: [B·D, H, W, C] slices through tfjs's own 2D resize.
      const slices = tf.image.resizeBilinear(tf.reshape(x, [6, 8, 10, 2]) as tf.Tensor4D, [32, 40], align);
      expect(maxAbsDiff(y.dataSync(), slices.dataSync())).toBeLessThan(1e-5);
      tf.dispose([x, y, slices]);
    }
  });

  it('rejects a bad size with one clear line', () => {
    const x = tf.zeros([1, 2, 3, 4, 1]) as tf.Tensor5D;
    expect(() => resizeTrilinear3d(x, [2, 0, 4], false)).toThrow(/positive integers/);
    expect(() => resizeBilinear2d(x as unknown as tf.Tensor4D, [2, 3])).toThrow(/rank 4/);
  });
});

/** Direct float64 nearest resize of x [B, ...S, C]: output index i reads floor(i·in/out) on each axis. */
function referenceNearest(x: Float64Array, shape: number[], size: number[]): Float64Array {
  const nsp = size.length;
  const outShape = [shape[0], ...size, shape[nsp + 1]];
  const xs = stridesOf(shape);
  const ys = stridesOf(outShape);
  const y = new Float64Array(outShape.reduce((a, b) => a * b, 1));
  for (let o = 0; o < y.length; o++) {
    let src = 0;
    for (let a = outShape.length - 1; a >= 0; a--) {
      const i = Math.floor(o / ys[a]) % outShape[a];
      const s = a === 0 || a === nsp + 1 ? i : Math.min(shape[a] - 1, Math.floor((i * shape[a]) / outShape[a]));
      src += s * xs[a];
    }
    y[o] = x[src];
  }
  return y;
}

describe('resizeNearestNd', () => {
  const cases: Array<{ x: number[]; size: number[] }> = [
    { x: [2, 5, 7, 3], size: [16, 21] },
    { x: [1, 6, 9, 2], size: [4, 20] },
    { x: [1, 1, 1, 3], size: [5, 6] },
    { x: [1, 3, 4, 5, 2], size: [6, 8, 10] },
  ];
  for (const c of cases) {
    it(`[${c.x}] → [${c.size}]: forward and gradient vs float64 finite differences`, () => {
      const xv = f32Values(c.x.reduce((a, b) => a * b, 1), 11);
      const x = tf.tensor(Float32Array.from(xv), c.x);
      const y = resizeNearestNd(x, c.size);
      const outShape = [c.x[0], ...c.size, c.x[c.x.length - 1]];
      expect(y.shape).toEqual(outShape);
      expect(maxAbsDiff(y.dataSync(), referenceNearest(xv, c.x, c.size))).toBe(0);
      if (c.x.length === 4 && c.x[1] > 1) {
        const tfY = tf.image.resizeNearestNeighbor(x as tf.Tensor4D, c.size as [number, number]);
        expect(maxAbsDiff(y.dataSync(), tfY.dataSync())).toBe(0);
        tfY.dispose();
      }
      const rv = f32Values(outShape.reduce((a, b) => a * b, 1), 12);
      const R = tf.tensor(Float32Array.from(rv), outShape);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(resizeNearestNd(a, c.size), R)))(x);
      expect(g.shape).toEqual(c.x);
      const fd = centralDiff((v) => dot(referenceNearest(v, c.x, c.size), rv), xv);
      expect(relError(g.dataSync(), fd)).toBeLessThan(1e-3);
      tf.dispose([x, y, R, g]);
    });
  }

  it('its gradient is matrix products, not one masked sum per output index (what made nearest 5–20× slower)', async () => {
    const x = tf.randomUniform([1, 16, 20, 8]);
    const info = await tf.profile(() => tf.grad((a: tf.Tensor) => tf.sum(resizeNearestNd(a, [64, 80])))(x));
    // tfjs's gather gradient is UnsortedSegmentSum, which the cpu/wasm/native backends run as one masked sum
    // over the whole map per input index.
    expect(info.kernelNames).not.toContain('UnsortedSegmentSum');
    expect(info.kernelNames).toContain('BatchMatMul');
    tf.dispose(x);
    tf.dispose(info.result as tf.Tensor);
  });
});
