// Loss terms vs a plain-JS float64 re-computation: values and gradients (central finite differences).
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  bceLoss,
  classWeightsFromFrequencies,
  makeSegLoss,
  presence,
  segLoss,
  softmaxCeLoss,
  syncLoss,
  type SegLossArgs,
} from '../runtime/losses/index.js';
import { Rng } from '../runtime/rng.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---------- float64 references (independent of tfjs) ----------

function softmaxRow(z: Float64Array, off: number, k: number): number[] {
  let m = -Infinity;
  for (let j = 0; j < k; j++) m = Math.max(m, z[off + j]!);
  const e: number[] = [];
  let s = 0;
  for (let j = 0; j < k; j++) {
    e.push(Math.exp(z[off + j]! - m));
    s += e[j]!;
  }
  return e.map((v) => v / s);
}

function segRef(z: Float64Array, labels: number[], k: number, a: SegLossArgs, batch = 1): number {
  const n = labels.length;
  const eps = a.eps ?? 1;
  // Per image (default): one IoU per image of the batch, then their mean; 'batch': one pooled IoU.
  const groups = a.iouReduction === 'batch' ? 1 : batch;
  const per = n / groups;
  let num = 0;
  let den = 0;
  let iouSum = 0;
  for (let g = 0; g < groups; g++) {
  const inter = new Array<number>(k).fill(0);
  const union = new Array<number>(k).fill(0);
  for (let i = g * per; i < (g + 1) * per; i++) {
    const p = softmaxRow(z, i * k, k);
    const y = labels[i]!;
    const w = a.classWeights ? a.classWeights[y]! : 1;
    num += -w * Math.log(p[y]!);
    den += w;
    for (let j = 0; j < k; j++) {
      const t = j === y ? 1 : 0;
      inter[j] += p[j]! * t;
      union[j] += p[j]! + t - p[j]! * t;
    }
  }
  let iou = 0;
  for (let j = 0; j < k; j++) iou += (inter[j]! + eps) / (union[j]! + eps);
  iouSum += iou / k;
  }
  return a.ce * (num / den) + a.iou * (1 - iouSum / groups);
}

function bceRef(x: Float64Array, t: ArrayLike<number>, posWeight?: number[]): number {
  const c = posWeight?.length ?? 1;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const sig = 1 / (1 + Math.exp(-x[i]!));
    const pw = posWeight ? posWeight[i % c]! : 1;
    s += -(pw * t[i]! * Math.log(sig) + (1 - t[i]!) * Math.log(1 - sig));
  }
  return s / x.length;
}

function softmaxCeRef(x: Float64Array, t: number[], s: number): number {
  const b = x.length / s;
  let acc = 0;
  for (let i = 0; i < b; i++) {
    const p = softmaxRow(x, i * s, s);
    for (let j = 0; j < s; j++) acc += -t[i * s + j]! * Math.log(p[j]!);
  }
  return acc / b;
}

/** Soft presence [B*K]: max over pixels of the softmax probability. */
function softPresenceRef(z: Float64Array, b: number, k: number): number[] {
  const n = z.length / (b * k);
  const out = new Array<number>(b * k).fill(0);
  for (let bi = 0; bi < b; bi++) {
    for (let i = 0; i < n; i++) {
      const p = softmaxRow(z, (bi * n + i) * k, k);
      for (let j = 0; j < k; j++) out[bi * k + j] = Math.max(out[bi * k + j]!, p[j]!);
    }
  }
  return out;
}

function hardPresenceRef(z: Float64Array, b: number, k: number): number[] {
  const n = z.length / (b * k);
  const out = new Array<number>(b * k).fill(0);
  for (let bi = 0; bi < b; bi++) {
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (z[(bi * n + i) * k + j]! > z[(bi * n + i) * k + best]!) best = j;
      out[bi * k + best] = 1;
    }
  }
  return out;
}

// ---------- helpers ----------

function randn(rng: Rng, n: number, scale = 1.5): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * rng.normal();
  return a;
}

function fdGrad(f: (x: Float64Array) => number, x0: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x0.length);
  const x = Float64Array.from(x0);
  for (let i = 0; i < x.length; i++) {
    x[i] = x0[i]! + h;
    const fp = f(x);
    x[i] = x0[i]! - h;
    const fm = f(x);
    x[i] = x0[i]!;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-12);
}

function randLabels(rng: Rng, n: number, k: number): number[] {
  return Array.from({ length: n }, () => rng.int(k));
}

function checkSeg(shape: number[], args: SegLossArgs, seed: number): void {
  const rng = new Rng(seed);
  const k = shape[shape.length - 1]!;
  const n = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const z0 = randn(rng, n * k);
  const labels = randLabels(rng, n, k);
  const lab = tf.tensor(labels, shape.slice(0, -1), 'int32');
  const z = tf.tensor(Array.from(z0), shape, 'float32');
  const value = segLoss(z, lab, args).dataSync()[0]!;
  expect(value).toBeCloseTo(segRef(z0, labels, k, args, shape[0]), 5);
  const g = tf.grad((x: tf.Tensor) => segLoss(x, lab, args))(z).dataSync();
  const gfd = fdGrad((x) => segRef(x, labels, k, args, shape[0]), z0);
  expect(relErr(g, gfd)).toBeLessThan(1e-3);
  tf.dispose([lab, z]);
}

// ---------- tests ----------

describe('segLoss', () => {
  it('2D value and gradient match float64 (CE + 1 - IoU)', () => {
    checkSeg([2, 3, 4, 3], { ce: 1, iou: 1 }, 1);
  });
  it('3D value and gradient match float64', () => {
    checkSeg([1, 2, 3, 2, 4], { ce: 1, iou: 1 }, 2);
    checkSeg([2, 2, 3, 2, 3], { ce: 1, iou: 1 }, 7);
  });
  it('batch-pooled soft IoU matches float64 (value and gradient)', () => {
    checkSeg([2, 3, 4, 3], { ce: 1, iou: 1, iouReduction: 'batch' }, 1);
  });
  it('eq. (1) per image vs pooled on a hand-computed batch of two', () => {
    // Near-hard predictions (logits ±20), K = 2, eps = 1. Image 1: gt 0011, pred 0111 → IoU (2/3 + 3/4)/2;
    // image 2: gt 0001, pred 0000 → (4/5 + 1/2)/2. Per image: mean 0.679167; pooled: (5/7 + 3/5)/2 = 0.657143.
    const gt = [0, 0, 1, 1, 0, 0, 0, 1];
    const pred = [0, 1, 1, 1, 0, 0, 0, 0];
    const z = tf.tensor(pred.flatMap((c) => (c === 0 ? [20, -20] : [-20, 20])), [2, 2, 2, 2]);
    const y = tf.tensor(gt, [2, 2, 2], 'int32');
    const per = segLoss(z, y, { ce: 0, iou: 1 }).dataSync()[0]!;
    const pooled = segLoss(z, y, { ce: 0, iou: 1, iouReduction: 'batch' }).dataSync()[0]!;
    expect(per).toBeCloseTo(1 - (2 / 3 + 3 / 4 + 4 / 5 + 1 / 2) / 4, 5);
    expect(pooled).toBeCloseTo(1 - (5 / 7 + 3 / 5) / 2, 5);
    tf.dispose([z, y]);
  });
  it('term weights, eps and class weights enter as documented (value and gradient)', () => {
    checkSeg([2, 2, 3, 3], { ce: 0.7, iou: 2, eps: 0.1, classWeights: [0.2, 1, 5] }, 3);
    checkSeg([1, 3, 3, 4], { ce: 0, iou: 1 }, 4);
    checkSeg([1, 3, 3, 4], { ce: 1, iou: 0, classWeights: [1, 2, 3, 4] }, 5);
  });
  it('class weights change the value; uniform weights do not', () => {
    const rng = new Rng(6);
    const z0 = randn(rng, 2 * 2 * 2 * 3);
    const labels = [0, 0, 0, 1, 2, 0, 0, 1];
    const z = tf.tensor(Array.from(z0), [2, 2, 2, 3]);
    const lab = tf.tensor(labels, [2, 2, 2], 'int32');
    const plain = segLoss(z, lab, { ce: 1, iou: 0 }).dataSync()[0]!;
    const uniform = segLoss(z, lab, { ce: 1, iou: 0, classWeights: [3, 3, 3] }).dataSync()[0]!;
    const weighted = makeSegLoss({ ce: 1, iou: 0, classWeights: [0.1, 1, 10] })(z, lab).dataSync()[0]!;
    expect(uniform).toBeCloseTo(plain, 6);
    expect(weighted).toBeCloseTo(segRef(z0, labels, 3, { ce: 1, iou: 0, classWeights: [0.1, 1, 10] }), 5);
    expect(Math.abs(weighted - plain)).toBeGreaterThan(1e-3);
  });
  it('is stable for huge logits and a perfect prediction gives ~0', () => {
    const z = tf.tensor([1000, -1000, -1000, 1000], [1, 2, 1, 2]);
    const lab = tf.tensor([0, 1], [1, 2, 1], 'int32');
    const v = segLoss(z, lab, { ce: 1, iou: 1, eps: 1e-6 }).dataSync()[0]!;
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeLessThan(1e-5);
    const bad = segLoss(tf.tensor([-1000, 1000], [1, 1, 1, 2]), tf.tensor([0], [1, 1, 1], 'int32'), { ce: 1, iou: 0 });
    expect(bad.dataSync()[0]).toBeCloseTo(2000, 1);
  });
  it('ignores labels outside [0, K): same loss as without those pixels', () => {
    const rng = new Rng(8);
    const z0 = randn(rng, 6 * 3);
    const labels = [0, 2, 255, 1, 1, -1];
    const keep = [0, 1, 3, 4];
    const zKeep = Float64Array.from(keep.flatMap((i) => [z0[3 * i]!, z0[3 * i + 1]!, z0[3 * i + 2]!]));
    for (const args of [{ ce: 1, iou: 1 }, { ce: 1, iou: 1, classWeights: [1, 2, 3] }]) {
      const v = segLoss(tf.tensor(Array.from(z0), [1, 2, 3, 3]), tf.tensor(labels, [1, 2, 3], 'int32'), args).dataSync()[0]!;
      expect(v).toBeCloseTo(segRef(zKeep, keep.map((i) => labels[i]!), 3, args), 5);
    }
  });
  it('rejects mismatched shapes with one clear line', () => {
    expect(() => segLoss(tf.zeros([1, 2, 2, 3]), tf.zeros([1, 2, 3], 'int32'), { ce: 1, iou: 1 })).toThrow(/labels shape/);
    expect(() => segLoss(tf.zeros([1, 2, 2, 3]), tf.zeros([1, 2, 2], 'int32'), { ce: 1, iou: 1, classWeights: [1] })).toThrow(
      /1 class weights for 3 classes/,
    );
  });
});

describe('bceLoss and softmaxCeLoss', () => {
  it('bce value and gradient match float64, with and without posWeight', () => {
    const rng = new Rng(10);
    const x0 = randn(rng, 3 * 4, 3);
    const t: number[] = Array.from({ length: 12 }, () => (rng.next() < 0.5 ? 1 : 0));
    t[5] = 0.3; // soft targets are allowed
    for (const pw of [undefined, [1, 2.5, 0.5, 4]]) {
      const x = tf.tensor(Array.from(x0), [3, 4]);
      const tt = tf.tensor(t, [3, 4]);
      const args = pw ? { posWeight: pw } : {};
      expect(bceLoss(x, tt, args).dataSync()[0]).toBeCloseTo(bceRef(x0, t, pw), 5);
      const g = tf.grad((v: tf.Tensor) => bceLoss(v, tt, args))(x).dataSync();
      expect(relErr(g, fdGrad((v) => bceRef(v, t, pw), x0))).toBeLessThan(1e-3);
    }
  });
  it('bce is finite for logits of ±100', () => {
    const v = bceLoss(tf.tensor([[100, -100]]), tf.tensor([[0, 1]])).dataSync()[0]!;
    expect(v).toBeCloseTo(100, 3);
  });
  it('softmax CE value and gradient match float64', () => {
    const rng = new Rng(11);
    const x0 = randn(rng, 4 * 3, 2);
    const t = [1, 0, 0, 0, 0, 1, 0, 1, 0, 0.5, 0.5, 0];
    const x = tf.tensor(Array.from(x0), [4, 3]);
    const tt = tf.tensor(t, [4, 3]);
    expect(softmaxCeLoss(x, tt).dataSync()[0]).toBeCloseTo(softmaxCeRef(x0, t, 3), 5);
    const g = tf.grad((v: tf.Tensor) => softmaxCeLoss(v, tt))(x).dataSync();
    expect(relErr(g, fdGrad((v) => softmaxCeRef(v, t, 3), x0))).toBeLessThan(1e-3);
  });
});

describe('presence and syncLoss', () => {
  const B = 2;
  const K = 3;
  const shape = [B, 2, 3, K];
  const nSeg = B * 2 * 3 * K;

  it('hard presence is the boolean "some pixel has argmax k"; soft is the max probability', () => {
    const rng = new Rng(20);
    const z0 = randn(rng, nSeg, 3);
    const z = tf.tensor(Array.from(z0), shape);
    expect(Array.from(presence(z, 'hard').dataSync())).toEqual(hardPresenceRef(z0, B, K));
    const soft = presence(z, 'soft').dataSync();
    const ref = softPresenceRef(z0, B, K);
    for (let i = 0; i < ref.length; i++) expect(soft[i]).toBeCloseTo(ref[i]!, 6);
    // a class that wins nowhere: 0 in hard presence
    const one = tf.tensor([5, 0, 0, 5, 0, 0], [1, 2, 1, 3]);
    expect(Array.from(presence(one, 'hard').dataSync())).toEqual([1, 0, 0]);
    expect(tf.grad((v: tf.Tensor) => tf.sum(presence(v, 'hard')))(z).dataSync().every((g) => g === 0)).toBe(true);
  });

  function setup(seed: number) {
    const rng = new Rng(seed);
    const zs0 = randn(rng, nSeg, 2);
    const zc0 = randn(rng, B * K, 2);
    const zs = tf.tensor(Array.from(zs0), shape);
    const zc = tf.tensor(Array.from(zc0), [B, K]);
    return { zs0, zc0, zs, zc };
  }

  it("soft + 'seg->class': zero gradient into seg, FD-exact gradient into class", () => {
    const { zs0, zc0, zs, zc } = setup(21);
    const args = { presence: 'soft', direction: 'seg->class' } as const;
    const P = softPresenceRef(zs0, B, K);
    expect(syncLoss(zs, zc, args).dataSync()[0]).toBeCloseTo(bceRef(zc0, P), 5);
    const [gs, gc] = tf.grads((a: tf.Tensor, b: tf.Tensor) => syncLoss(a, b, args))([zs, zc]);
    expect(gs!.dataSync().every((v) => v === 0)).toBe(true);
    expect(relErr(gc!.dataSync(), fdGrad((v) => bceRef(v, P), zc0))).toBeLessThan(1e-3);
  });

  it("soft + 'both': gradients into seg and class match FD", () => {
    const { zs0, zc0, zs, zc } = setup(22);
    const args = { presence: 'soft', direction: 'both' } as const;
    const [gs, gc] = tf.grads((a: tf.Tensor, b: tf.Tensor) => syncLoss(a, b, args))([zs, zc]);
    const fdS = fdGrad((v) => bceRef(zc0, softPresenceRef(v, B, K)), zs0);
    const fdC = fdGrad((v) => bceRef(v, softPresenceRef(zs0, B, K)), zc0);
    expect(Math.max(...Array.from(fdS).map(Math.abs))).toBeGreaterThan(1e-3); // the check is not vacuous
    expect(relErr(gs!.dataSync(), fdS)).toBeLessThan(1e-3);
    expect(relErr(gc!.dataSync(), fdC)).toBeLessThan(1e-3);
  });

  it("hard + 'seg->class' is the paper's loss: value on the boolean P, gradient into class only", () => {
    const { zs0, zc0, zs, zc } = setup(23);
    const args = { presence: 'hard', direction: 'seg->class' } as const;
    const P = hardPresenceRef(zs0, B, K);
    expect(P.some((v) => v === 0) && P.some((v) => v === 1)).toBe(true);
    expect(syncLoss(zs, zc, args).dataSync()[0]).toBeCloseTo(bceRef(zc0, P), 5);
    const [gs, gc] = tf.grads((a: tf.Tensor, b: tf.Tensor) => syncLoss(a, b, args))([zs, zc]);
    expect(gs!.dataSync().every((v) => v === 0)).toBe(true);
    expect(relErr(gc!.dataSync(), fdGrad((v) => bceRef(v, P), zc0))).toBeLessThan(1e-3);
  });

  it("hard + 'both': value on the boolean P, straight-through soft gradient into seg", () => {
    const { zs0, zc0, zs, zc } = setup(24);
    const args = { presence: 'hard', direction: 'both' } as const;
    const P = hardPresenceRef(zs0, B, K);
    const S0 = softPresenceRef(zs0, B, K);
    expect(syncLoss(zs, zc, args).dataSync()[0]).toBeCloseTo(bceRef(zc0, P), 5);
    const [gs] = tf.grads((a: tf.Tensor, b: tf.Tensor) => syncLoss(a, b, args))([zs, zc]);
    const fdS = fdGrad((v) => {
      const S = softPresenceRef(v, B, K);
      return bceRef(zc0, P.map((p, i) => p + S[i]! - S0[i]!));
    }, zs0);
    expect(relErr(gs!.dataSync(), fdS)).toBeLessThan(1e-3);
  });

  it('rejects a class head with the wrong number of classes', () => {
    expect(() => syncLoss(tf.zeros([1, 2, 2, 3]), tf.zeros([1, 4]), { presence: 'soft', direction: 'both' })).toThrow(
      /must be \[1, 3\]/,
    );
  });
});

describe('classWeightsFromFrequencies', () => {
  it('inverse keeps the expected pixel weight at 1; median is median/f', () => {
    const freq = [700, 200, 100, 0];
    const inv = classWeightsFromFrequencies(freq, 'inverse');
    expect(inv[0]).toBeCloseTo(1 / (3 * 0.7), 12);
    expect(inv[2]).toBeCloseTo(1 / (3 * 0.1), 12);
    expect(inv[3]).toBe(0);
    expect(0.7 * inv[0]! + 0.2 * inv[1]! + 0.1 * inv[2]!).toBeCloseTo(1, 12);
    expect(classWeightsFromFrequencies(freq, 'median')).toEqual([0.2 / 0.7, 1, 0.2 / 0.1, 0].map((v) => expect.closeTo(v, 12)));
    expect(classWeightsFromFrequencies([1, 1, 2, 4], 'median')).toEqual([1.5, 1.5, 0.75, 0.375]);
  });
  it('rejects empty, negative and all-zero frequencies', () => {
    expect(() => classWeightsFromFrequencies([], 'inverse')).toThrow(/no class/);
    expect(() => classWeightsFromFrequencies([1, -1], 'inverse')).toThrow(/non-negative/);
    expect(() => classWeightsFromFrequencies([0, 0], 'median')).toThrow(/all class frequencies are zero/);
  });
});
