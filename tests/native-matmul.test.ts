/**
 * The native BatchMatMul's path for one small, mostly-zero matrix applied to many slices (what a separable
 * resize runs: runtime/ops/resize.ts), against the stock cpu backend: plain and transposed A, a batched or single
 * B, and the whole trilinear resize forward and backward. A dense A takes the sgemm path; both are checked.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeAvailable, registerNativeBackend } from '../runtime/backend/index.js';
import { nativeKernelStats, resetNativeKernelStats } from '../runtime/native/index.js';
import { interpolationMatrix, resizeTrilinear3d } from '../runtime/ops/resize.js';
import { lcgValues as values } from './helpers/values.js';

const available = nativeAvailable();


function maxRelErr(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let sc = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    sc = Math.max(sc, Math.abs(b[i]!));
  }
  return d / sc;
}

async function on<T>(backend: string, f: () => T): Promise<T> {
  await tf.setBackend(backend);
  return f();
}

describe.skipIf(!available)('native BatchMatMul: a sparse matrix over many slices', () => {
  beforeAll(() => {
    registerNativeBackend();
  });

  const cases: Array<[string, number, number, boolean, boolean]> = [
    // name, in, out, transposeA, sparse A
    ['interpolation 9 → 36 over 40 slices', 9, 36, false, true],
    ['its transpose (the gradient)', 9, 36, true, true],
    ['a dense A (sgemm per slice)', 9, 36, false, false],
  ];
  for (const [name, n, o, ta, sparse] of cases) {
    it(name, async () => {
      const aVals = sparse ? interpolationMatrix(n, o, false) : values(n * o, 3);
      const run = () =>
        tf.tidy(() => {
          const a = tf.tensor3d(aVals, [1, o, n]);
          const b = tf.tensor3d(values(40 * (ta ? o : n) * 6, 4), [40, ta ? o : n, 6]);
          return tf.matMul(a, b, ta, false).dataSync() as Float32Array;
        });
      const ref = await on('cpu', run);
      resetNativeKernelStats();
      const got = await on('native', run);
      expect(nativeKernelStats().BatchMatMul?.native).toBe(1);
      expect(maxRelErr(got, ref)).toBeLessThan(1e-5);
    });
  }

  it('trilinear resize of a [2, 12, 10, 3, 4] volume to [2, 48, 40, 3, 4]: values and gradient equal cpu', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor5d(values(2 * 12 * 10 * 3 * 4, 7), [2, 12, 10, 3, 4]);
        const w = tf.tensor(values(2 * 48 * 40 * 3 * 4, 8), [2, 48, 40, 3, 4]);
        const f = (t: tf.Tensor) => tf.sum(tf.mul(resizeTrilinear3d(t as tf.Tensor5D, [48, 40, 3]), w));
        const y = resizeTrilinear3d(x, [48, 40, 3]).dataSync() as Float32Array;
        const g = tf.grad(f)(x).dataSync() as Float32Array;
        return { y, g };
      });
    const ref = await on('cpu', run);
    resetNativeKernelStats();
    const got = await on('native', run);
    expect(nativeKernelStats().BatchMatMul?.native ?? 0).toBeGreaterThan(0);
    expect(maxRelErr(got.y, ref.y)).toBeLessThan(1e-5);
    expect(maxRelErr(got.g, ref.g)).toBeLessThan(1e-5);
  });
});
