/**
 * The native backend's reuse of kernel output arrays (runtime/native/buffer-pool.ts): a disposed output's array
 * serves the next output of its length, and never while anything can still see it (read out with dataSync,
 * shared by a reshape, viewed by another tensor). The reference is the same computation with reuse turned off,
 * and the stock cpu backend.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeAvailable, registerNativeBackend } from '../runtime/backend/index.js';
import { bufferPoolStats, loadNative, setBufferPoolCap, setBufferPoolFloor } from '../runtime/native/index.js';
import { variableGradsLowMemory } from '../runtime/train/grads.js';
import { buildNet, type NetDesc } from './helpers/network.js';
import { lcgValues as values } from './helpers/values.js';

const available = nativeAvailable();
const N = 1 << 17; // above the pool's minimum size


/** How many elements differ (a count, so that a failure does not print two 131,072-element arrays). */
function differing(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

describe.skipIf(!available)('native output buffer pool', () => {
  beforeAll(async () => {
    registerNativeBackend();
    await tf.setBackend('native');
    setBufferPoolCap(null);
  });
  afterAll(() => setBufferPoolCap(null));

  it('a disposed output serves the next output of its length, overwritten or zeroed as the kernel needs', () => {
    const x = tf.tensor(values(N, 1), [N]);
    const a = tf.relu(x);
    const aBuf = (tf.backend() as unknown as { data: { get(id: tf.DataId): { values: Float32Array } } }).data.get(a.dataId).values;
    a.dispose();
    const s0 = bufferPoolStats();
    const b = tf.neg(x); // overwrites every element: takes a's array as it is
    const bBuf = (tf.backend() as unknown as { data: { get(id: tf.DataId): { values: Float32Array } } }).data.get(b.dataId).values;
    expect(bBuf).toBe(aBuf);
    expect(bufferPoolStats().reused).toBe(s0.reused + 1);
    const ref = values(N, 1).map((v) => -v);
    expect(differing(b.dataSync(), ref)).toBe(0);
    // A kernel whose output relies on zeros (the pad of PadV2) on a reused array: still zero there.
    const part = tf.reshape(x, [2, N / 2]).slice([0, 0], [2, N / 2 - 8]);
    const c = tf.relu(x);
    c.dispose();
    const s1 = bufferPoolStats();
    const p = tf.pad(part, [[0, 0], [0, 8]]);
    expect(bufferPoolStats().reused).toBe(s1.reused + 1);
    const pv = p.dataSync();
    for (let r = 0; r < 2; r++) for (let j = N / 2 - 8; j < N / 2; j++) expect(pv[r * (N / 2) + j]).toBe(0);
    tf.dispose([x, b, part, p]);
  });

  it('free arrays of other lengths are dropped when a new one would take the pool past its peak use', () => {
    setBufferPoolFloor(0); // the peak rule itself (below FLOOR the pool drops nothing)
    const x = tf.tensor(values(N, 4), [N]);
    const a = tf.relu(x);
    a.dispose();
    expect(bufferPoolStats().freeBytes).toBeGreaterThanOrEqual(4 * N);
    const big = tf.concat([x, x]); // 2N: a miss; peak use is now 2N, free + out would be 3N
    expect(bufferPoolStats().freeBytes).toBe(0);
    tf.dispose([x, big]);
    setBufferPoolFloor(null);
  });

  it("a dropped array's pages go back to the OS at once (they read as zeros afterwards)", () => {
    const a = new Float32Array(1 << 20).fill(1);
    loadNative()!.adviseFree(a);
    let zeros = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === 0) zeros++;
    expect(zeros).toBeGreaterThan(a.length - 2048); // all but the partial pages at either end
  });

  it('an array read out with dataSync is never reused, even after its tensor is disposed', () => {
    const x = tf.tensor(values(N, 2), [N]);
    const a = tf.relu(x);
    const seen = a.dataSync();
    const copy = Float32Array.from(seen);
    a.dispose();
    const pinned = bufferPoolStats().pinned;
    const others = Array.from({ length: 3 }, () => tf.neg(x));
    expect(differing(seen, copy)).toBe(0);
    expect(pinned).toBeGreaterThan(0);
    tf.dispose([x, ...others]);
  });

  it('a reshape sharing the array keeps it alive; a view registered as another tensor pins it', () => {
    const x = tf.tensor(values(N, 3), [N]);
    const a = tf.relu(x);
    const r = tf.reshape(a, [2, N / 2]);
    a.dispose(); // r still holds the data
    const n1 = tf.neg(x);
    const want = values(N, 3).map((v) => Math.max(v, 0));
    expect(differing(r.dataSync(), want)).toBe(0);
    r.dispose();

    // A tensor over a view of a pooled output (as the cpu backend's Slice makes): disposing the output must not
    // free the array under the view.
    const backend = tf.backend() as unknown as { data: { get(id: tf.DataId): { values: Float32Array } }; makeTensorInfo(shape: number[], dtype: tf.DataType, v: Float32Array): tf.TensorInfo };
    const b = tf.relu(x);
    const view = backend.data.get(b.dataId).values.subarray(0, N / 2);
    const info = backend.makeTensorInfo([N / 2], 'float32', view);
    const v = tf.engine().makeTensorFromTensorInfo(info);
    b.dispose();
    const again = Array.from({ length: 3 }, () => tf.neg(x));
    expect(differing(v.dataSync(), want.subarray(0, N / 2))).toBe(0);
    tf.dispose([x, n1, v, ...again]);
  });

  it('a free array serves a shorter output through a view of its start, and comes back whole', () => {
    type Backend = { data: { get(id: tf.DataId): { values: Float32Array } } };
    const valuesOf = (t: tf.Tensor) => (tf.backend() as unknown as Backend).data.get(t.dataId).values;
    const M = 4 * N; // a quarter of it is still pooled
    const x = tf.tensor(values(M, 6), [M]);
    const a = tf.relu(x);
    const buf = valuesOf(a).buffer;
    a.dispose();
    const half = tf.tensor(values(M, 6).subarray(0, (3 * M) / 4)); // the user's array: no pooled output
    const s0 = bufferPoolStats();
    const b = tf.neg(half); // 3M/4 elements: a's array, viewed
    expect(bufferPoolStats().reused).toBe(s0.reused + 1);
    expect(valuesOf(b).buffer).toBe(buf);
    expect(valuesOf(b).length).toBe((3 * M) / 4);
    expect(differing(b.dataSync(), values(M, 6).subarray(0, (3 * M) / 4).map((v) => -v))).toBe(0);
    // b was read out: its array is pinned, so c (M elements) is a fresh one; c's comes back whole and serves d.
    b.dispose();
    const c = tf.relu(x);
    expect(valuesOf(c).buffer).not.toBe(buf);
    const cBuf = valuesOf(c).buffer;
    c.dispose();
    const d = tf.neg(x);
    expect(valuesOf(d).buffer).toBe(cBuf);
    expect(valuesOf(d).length).toBe(M);
    // An output under half the array's length takes a fresh one.
    d.dispose();
    const quarter = tf.tensor(values(M / 4 + 4, 7));
    const e = tf.neg(quarter);
    expect(valuesOf(e).buffer).not.toBe(cBuf);
    tf.dispose([x, half, quarter, e]);
  });

  it('repeated inference passes take every pooled output from the pool, with the outputs of reuse off', () => {
    // Two 1 MB maps alive at the start, then many smaller ones at once (the paper networks' shape): under the peak
    // rule alone the first maps were fresh arrays at every pass.
    const desc: NetDesc = {
      dims: 2,
      size: [128, 128],
      channels: 3,
      numClasses: 3,
      numScenes: 2,
      encoder: { type: 'convstack', filters: [8, 16], convsPerStage: 2, kernel: 3, outputStride: 4, norm: 'none' },
      context: { pairs: [['seg', 'class'], ['seg', 'scene'], ['class', 'scene']], dilations: [2, 1], filters: 32, combine: 'sum' },
      decoder: { type: 'aspp', dilations: [1, 2], filters: 32, imagePooling: true },
      heads: { seg: { upsample: 'bilinear' }, class: { hidden: 8, dropout: 0 }, scene: { hidden: 8, dropout: 0 } },
      seed: 3,
    };
    const run = (cap: number | null) => {
      setBufferPoolCap(cap);
      const net = buildNet(desc);
      const x = tf.tensor(values(2 * 128 * 128 * 3, 11), [2, 128, 128, 3]);
      const before = tf.memory().numTensors;
      const pass = () => {
        const outs = tf.tidy(() => Object.values(net.apply(x, false) as Record<string, tf.Tensor>));
        const got = outs.map((o) => Float32Array.from(o.dataSync() as Float32Array));
        tf.dispose(outs);
        return got;
      };
      pass();
      pass();
      const s0 = bufferPoolStats();
      const outs = [pass(), pass(), pass()];
      const s1 = bufferPoolStats();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(x);
      net.model.dispose();
      return { outs, fresh: s1.allocated - s0.allocated, readOut: s1.pinned - s0.pinned, reused: s1.reused - s0.reused };
    };
    const off = run(0);
    const on = run(null);
    expect(on.reused).toBeGreaterThan(3 * 10);
    expect(on.readOut).toBe(3); // the seg output of each pass, read out by dataSync: never reused
    expect(on.fresh).toBe(on.readOut);
    for (const o of [...on.outs, ...off.outs.slice(1)]) o.forEach((t, i) => expect(differing(t, off.outs[0]![i]!)).toBe(0));
  });

  it('training steps give bit-identical losses and weights with reuse on and off, and reuse happens', async () => {
    const desc: NetDesc = {
      dims: 2,
      size: [64, 64],
      channels: 3,
      numClasses: 3,
      numScenes: 2,
      encoder: { type: 'convstack', filters: [16, 24], convsPerStage: 2, kernel: 3, outputStride: 4, norm: 'batch' },
      context: { pairs: [['seg', 'class'], ['seg', 'scene']], dilations: [2, 1], filters: 16, combine: 'sum' },
      decoder: { type: 'aspp', dilations: [1, 2], filters: 16, imagePooling: true },
      heads: { seg: { upsample: 'bilinear' }, class: { hidden: 8, dropout: 0 }, scene: { hidden: 8, dropout: 0 } },
      seed: 5,
      kernelInitializer: 'heNormal',
    };
    const train = (cap: number | null) => {
      setBufferPoolCap(cap);
      const { model } = buildNet(desc);
      const x = tf.tensor(values(2 * 64 * 64 * 3, 9), [2, 64, 64, 3]);
      const opt = tf.train.sgd(0.01);
      const losses: number[] = [];
      for (let step = 0; step < 3; step++) {
        const loss = tf.tidy(() => {
          const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
          const { value, grads } = variableGradsLowMemory(() => {
            const outs = model.apply(x, { training: true }) as tf.Tensor[];
            return tf.addN(outs.map((o, i) => tf.mean(tf.square(tf.sub(o, tf.tensor(values(o.size, 20 + i), o.shape)))))) as tf.Scalar;
          }, vars);
          opt.applyGradients(grads);
          return value;
        });
        losses.push(loss.dataSync()[0]!);
        loss.dispose();
      }
      const weights = model.trainableWeights.map((w) => Float32Array.from(w.read().dataSync() as Float32Array));
      tf.dispose([x]);
      opt.dispose();
      model.dispose();
      return { losses, weights };
    };
    const off = train(0);
    const s0 = bufferPoolStats();
    const on = train(null);
    expect(bufferPoolStats().reused).toBeGreaterThan(s0.reused + 20);
    expect(on.losses).toEqual(off.losses);
    expect(on.weights.length).toBe(off.weights.length);
    on.weights.forEach((w, i) => expect(differing(w, off.weights[i]!)).toBe(0));
    expect(on.losses.every(Number.isFinite)).toBe(true);
  });
});
