/** AtrousConv, UpsampleTo and GlobalAvgPool: config round trips, shapes, and forwards against plain-JS float64 references. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AtrousConv, BatchNorm, GlobalAvgPool, SeedSequence, UpsampleTo, atrousConv, upsampleTo } from '../runtime/layers/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Rebuilds a layer from its config through the class registry (what model.json loading does). */
function fromRegistry<T>(className: string, config: tf.serialization.ConfigDict): T {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`${className} is not registered`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config) as T;
}

/** Deterministic pseudo-random values (no Math.random): a small LCG. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

/**
 * Reference N-D dilated convolution, channels-last, stride 1, float64, TensorFlow's 'same' split (total padding
 * rate·(k−1): floor before, ceil after).
 */
function refConv(
  x: Float32Array, xShape: number[], w: Float32Array, kShape: number[], bias: Float32Array,
  rates: number[], padding: 'same' | 'valid', relu: boolean,
): { data: Float64Array; shape: number[] } {
  const nd = kShape.length - 2;
  const [B] = xShape;
  const sp = xShape.slice(1, 1 + nd);
  const cin = xShape[nd + 1]!;
  const cout = kShape[nd + 1]!;
  const ks = kShape.slice(0, nd);
  const before = ks.map((k, i) => (padding === 'same' ? Math.floor((rates[i]! * (k - 1)) / 2) : 0));
  const out = sp.map((s, i) => (padding === 'same' ? s : s - rates[i]! * (ks[i]! - 1)));
  const outCount = out.reduce((a, b) => a * b, 1);
  const kCount = ks.reduce((a, b) => a * b, 1);
  const data = new Float64Array(B! * outCount * cout);
  const unravel = (idx: number, dims: number[]) => {
    const r: number[] = [];
    for (let i = dims.length - 1; i >= 0; i--) {
      r[i] = idx % dims[i]!;
      idx = Math.floor(idx / dims[i]!);
    }
    return r;
  };
  const ravel = (pos: number[], dims: number[]) => pos.reduce((a, p, i) => a * dims[i]! + p, 0);
  for (let b = 0; b < B!; b++) {
    for (let o = 0; o < outCount; o++) {
      const op = unravel(o, out);
      for (let co = 0; co < cout; co++) {
        let acc = bias[co]!;
        for (let k = 0; k < kCount; k++) {
          const kp = unravel(k, ks);
          const ip = op.map((p, i) => p + kp[i]! * rates[i]! - before[i]!);
          if (ip.some((p, i) => p < 0 || p >= sp[i]!)) continue;
          const xi = (b * sp.reduce((a, c) => a * c, 1) + ravel(ip, sp)) * cin;
          for (let ci = 0; ci < cin; ci++) acc += x[xi + ci]! * w[(k * cin + ci) * cout + co]!;
        }
        data[(b * outCount + o) * cout + co] = relu ? Math.max(0, acc) : acc;
      }
    }
  }
  return { data, shape: [B!, ...out, cout] };
}

function runLayer(layer: tf.layers.Layer, x: tf.Tensor, kernel: Float32Array, bias: Float32Array): Float32Array {
  layer.apply(x); // builds the layer
  const [k, b] = layer.getWeights();
  layer.setWeights([tf.tensor(kernel, k!.shape), tf.tensor(bias, b!.shape)]);
  return (layer.apply(x) as tf.Tensor).dataSync() as Float32Array;
}

describe('AtrousConv', () => {
  const cases = [
    { name: '2D rates [2,3] same relu', x: [1, 7, 9, 3], k: [3, 3], dilation: [2, 3], padding: 'same' as const, relu: true },
    { name: '2D rate 1 same (fused path)', x: [2, 5, 6, 2], k: [3, 3], dilation: [1, 1], padding: 'same' as const, relu: false },
    { name: '2D rate 2 valid', x: [1, 8, 7, 2], k: [3, 3], dilation: [2, 2], padding: 'valid' as const, relu: false },
    { name: '2D rate larger than the map', x: [1, 4, 5, 2], k: [3, 3], dilation: [6, 6], padding: 'same' as const, relu: false },
    { name: '3D in-plane rates [1,2,2]', x: [1, 3, 6, 5, 2], k: [1, 3, 3], dilation: [1, 2, 2], padding: 'same' as const, relu: true },
    { name: '3D rate 1 [3,1,1]', x: [1, 4, 3, 3, 2], k: [3, 1, 1], dilation: [1, 1, 1], padding: 'same' as const, relu: false },
  ];
  for (const c of cases) {
    it(`matches a float64 reference: ${c.name}`, () => {
      const cin = c.x[c.x.length - 1]!;
      const cout = 4;
      const xv = values(c.x.reduce((a, b) => a * b, 1), 1);
      const kv = values(c.k.reduce((a, b) => a * b, 1) * cin * cout, 2);
      const bv = values(cout, 3);
      const layer = atrousConv({ filters: cout, kernelSize: c.k, dilation: c.dilation, padding: c.padding, activation: c.relu ? 'relu' : 'linear' });
      const x = tf.tensor(xv, c.x);
      const got = runLayer(layer, x, kv, bv);
      const ref = refConv(xv, c.x, kv, [...c.k, cin, cout], bv, c.dilation, c.padding, c.relu);
      expect(layer.computeOutputShape(c.x)).toEqual(ref.shape);
      expect(got.length).toBe(ref.data.length);
      let maxErr = 0;
      for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i]! - ref.data[i]!));
      expect(maxErr).toBeLessThan(1e-5);
      x.dispose();
    });
  }

  it('round-trips its config and rebuilds an equal layer', () => {
    const layer = new AtrousConv({ name: 'ctx', filters: 5, kernelSize: [1, 3, 3], dilation: [1, 4, 4], padding: 'valid', useBias: false, activation: 'relu', kernelInitializer: 'heNormal', seed: 7 });
    const config = layer.getConfig();
    const copy = fromRegistry<AtrousConv>('AtrousConv', config);
    expect(copy).toBeInstanceOf(AtrousConv);
    expect(copy.getConfig()).toEqual(config);
    expect(config).toMatchObject({ filters: 5, kernelSize: [1, 3, 3], dilation: [1, 4, 4], padding: 'valid', useBias: false, activation: 'relu', kernelInitializer: 'heNormal', seed: 7 });
  });

  it('names its weights Keras-style and initializes them from the seed', () => {
    const make = (seed: number) => {
      const l = atrousConv({ name: 'block1_conv1', filters: 4, kernelSize: [3, 3], seed });
      l.apply(tf.input({ shape: [6, 6, 3] }));
      return l;
    };
    const a = make(11);
    const b = make(11);
    const c = make(12);
    expect(a.weights.map((w) => w.originalName)).toEqual(['block1_conv1/kernel', 'block1_conv1/bias']);
    const ka = a.getWeights()[0]!.dataSync();
    expect(Array.from(b.getWeights()[0]!.dataSync())).toEqual(Array.from(ka));
    expect(Array.from(c.getWeights()[0]!.dataSync())).not.toEqual(Array.from(ka));
    // glorotUniform bound sqrt(6 / (fanIn + fanOut)) = sqrt(6 / (27 + 36))
    const bound = Math.sqrt(6 / (27 + 36));
    expect(Math.max(...Array.from(ka).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Array.from(a.getWeights()[1]!.dataSync())).toEqual([0, 0, 0, 0]);
  });

  it('rejects bad arguments with one line', () => {
    expect(() => atrousConv({ filters: 2, kernelSize: [3] })).toThrow(/kernelSize must have 2 or 3 entries/);
    expect(() => atrousConv({ filters: 2, kernelSize: [3, 3], dilation: [0, 1] })).toThrow(/dilation must be 2 positive integers/);
    const l = atrousConv({ filters: 2, kernelSize: [3, 3] });
    expect(() => l.apply(tf.input({ shape: [4, 4, 4, 1] }))).toThrow(/needs a rank-4 input/);
  });

  it('gets distinct seeds from a SeedSequence', () => {
    const s = new SeedSequence(42);
    const seen = new Set(Array.from({ length: 100 }, () => s.next()));
    expect(seen.size).toBe(100);
    expect([...seen].every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 31)).toBe(true);
    expect(new SeedSequence(42).next()).toBe(new SeedSequence(42).next());
  });
});

describe('UpsampleTo', () => {
  it('bilinear 2D matches a float64 reference on a non-square map', () => {
    const [h, w, H, W] = [3, 4, 7, 10];
    const xv = values(h * w * 2, 5);
    const y = upsampleTo({ size: [H, W] }).apply(tf.tensor(xv, [1, h, w, 2])) as tf.Tensor;
    expect(y.shape).toEqual([1, H, W, 2]);
    const got = y.dataSync();
    // tf.image.resizeBilinear's default rule (halfPixelCenters = false): src = dst·in/out.
    const src = (d: number, n: number, N: number) => d * (n / N);
    let maxErr = 0;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const si = src(i, h, H), sj = src(j, w, W);
        const i0 = Math.floor(si), j0 = Math.floor(sj);
        const i1 = Math.min(i0 + 1, h - 1), j1 = Math.min(j0 + 1, w - 1);
        const fi = si - i0, fj = sj - j0;
        for (let c = 0; c < 2; c++) {
          const at = (a: number, b: number) => xv[(a * w + b) * 2 + c]!;
          const ref = (1 - fi) * ((1 - fj) * at(i0, j0) + fj * at(i0, j1)) + fi * ((1 - fj) * at(i1, j0) + fj * at(i1, j1));
          maxErr = Math.max(maxErr, Math.abs(got[(i * W + j) * 2 + c]! - ref));
        }
      }
    }
    expect(maxErr).toBeLessThan(1e-5);
  });

  it('trilinear 3D of a map that is linear along every axis reproduces it at the sample points', () => {
    // f(z, y, x) = 2z + 3y − x: linear interpolation reproduces it exactly at src = dst·in/out, up to the last row.
    const [d, h, w] = [2, 3, 4];
    const [D, H, W] = [4, 6, 8];
    const xv = new Float32Array(d * h * w);
    const centre = (i: number, n: number, N: number) => i * (n / N); // output i in input coordinates
    for (let z = 0; z < d; z++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) xv[(z * h + y) * w + x] = 2 * z + 3 * y - x;
    const out = (upsampleTo({ size: [D, H, W], mode: 'trilinear' }).apply(tf.tensor(xv, [1, d, h, w, 1])) as tf.Tensor);
    expect(out.shape).toEqual([1, D, H, W, 1]);
    const got = out.dataSync();
    const clamp = (v: number, n: number) => Math.min(Math.max(v, 0), n - 1);
    let maxErr = 0;
    for (let z = 0; z < D; z++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const ref = 2 * clamp(centre(z, d, D), d) + 3 * clamp(centre(y, h, H), h) - clamp(centre(x, w, W), w);
      maxErr = Math.max(maxErr, Math.abs(got[(z * H + y) * W + x]! - ref));
    }
    expect(maxErr).toBeLessThan(1e-5);
  });

  it('nearest copies the nearest source pixel and broadcasts a 1-pixel map', () => {
    const x = tf.tensor([1, 2, 3, 4, 5, 6], [1, 2, 3, 1]);
    const y = upsampleTo({ size: [4, 6], mode: 'nearest' }).apply(x) as tf.Tensor;
    expect(Array.from(y.dataSync())).toEqual([
      1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6,
    ]);
    const one = upsampleTo({ size: [2, 3, 2], mode: 'nearest' }).apply(tf.tensor([7, 8], [1, 1, 1, 1, 2])) as tf.Tensor;
    expect(one.shape).toEqual([1, 2, 3, 2, 2]);
    expect(Array.from(one.dataSync())).toEqual(Array.from({ length: 12 }, () => [7, 8]).flat());
  });

  it('nearest agrees with tf.image.resizeNearestNeighbor at a non-integer factor', () => {
    const x = tf.tensor(values(3 * 4 * 2, 9), [1, 3, 4, 2]);
    const got = (upsampleTo({ size: [5, 7], mode: 'nearest' }).apply(x) as tf.Tensor).dataSync();
    const ref = tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [5, 7]).dataSync();
    expect(Array.from(got)).toEqual(Array.from(ref));
  });

  it('round-trips its config; GlobalAvgPool too', () => {
    const u = new UpsampleTo({ name: 'seg_logits', size: [19, 144, 144], mode: 'trilinear', alignCorners: true });
    const u2 = fromRegistry<UpsampleTo>('UpsampleTo', u.getConfig());
    expect(u2.getConfig()).toEqual(u.getConfig());
    expect(u2.computeOutputShape([null, 19, 36, 36, 4])).toEqual([null, 19, 144, 144, 4]);
    const g = new GlobalAvgPool({ name: 'gap', keepDims: true });
    const g2 = fromRegistry<GlobalAvgPool>('GlobalAvgPool', g.getConfig());
    expect(g2.getConfig()).toEqual(g.getConfig());
    expect(g2.computeOutputShape([null, 5, 6, 7, 3])).toEqual([null, 1, 1, 1, 3]);
    const mean = (new GlobalAvgPool().apply(tf.tensor([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2])) as tf.Tensor).dataSync();
    expect(Array.from(mean)).toEqual([(1 + 3 + 10 + 30) / 4, (2 + 4 + 20 + 40) / 4]);
  });
});

describe('BatchNorm', () => {
  it('normalizes a rank-5 map per channel in training, moves its statistics, and uses them in inference', () => {
    const shape = [2, 3, 2, 4, 3];
    const xv = values(shape.reduce((a, b) => a * b, 1), 21).map((v, i) => v * (1 + (i % 3)) + (i % 3)); // channel c: scale 1+c, shift c
    const x = tf.tensor(xv, shape);
    const bn = new BatchNorm({ name: 'enc_bn', momentum: 0.9, epsilon: 1e-3 });
    bn.apply(x); // build
    const gamma = [1.5, 0.5, 2];
    const beta = [0.1, -0.2, 0.3];
    bn.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta), tf.tensor1d([0, 0, 0]), tf.tensor1d([1, 1, 1])]);
    const y = (bn.apply(x, { training: true }) as tf.Tensor).dataSync();
    // float64 reference: biased batch variance over every axis but channels
    const n = xv.length / 3;
    const mean = [0, 1, 2].map((c) => xv.filter((_, i) => i % 3 === c).reduce((a, v) => a + v, 0) / n);
    const vari = [0, 1, 2].map((c) => xv.filter((_, i) => i % 3 === c).reduce((a, v) => a + (v - mean[c]!) ** 2, 0) / n);
    let maxErr = 0;
    xv.forEach((v, i) => {
      const c = i % 3;
      const ref = ((v - mean[c]!) / Math.sqrt(vari[c]! + 1e-3)) * gamma[c]! + beta[c]!;
      maxErr = Math.max(maxErr, Math.abs(y[i]! - ref));
    });
    expect(maxErr).toBeLessThan(1e-4);
    const [, , mm, mv] = bn.getWeights();
    Array.from(mm!.dataSync()).forEach((v, c) => expect(v).toBeCloseTo(0.1 * mean[c]!, 5));
    Array.from(mv!.dataSync()).forEach((v, c) => expect(v).toBeCloseTo(0.9 + 0.1 * vari[c]!, 5));
    expect(bn.trainableWeights.map((w) => w.originalName)).toEqual(['enc_bn/gamma', 'enc_bn/beta']);
    // inference: the moving statistics, no update
    const z = (bn.apply(x, { training: false }) as tf.Tensor).dataSync();
    const m2 = Array.from(mm!.dataSync());
    const v2 = Array.from(mv!.dataSync());
    xv.forEach((v, i) => {
      const c = i % 3;
      const ref = ((v - m2[c]!) / Math.sqrt(v2[c]! + 1e-3)) * gamma[c]! + beta[c]!;
      expect(Math.abs(z[i]! - ref)).toBeLessThan(1e-4);
    });
    expect(Array.from(bn.getWeights()[2]!.dataSync())).toEqual(m2);
    // frozen: training mode behaves as inference and leaves the statistics alone
    bn.trainable = false;
    const frozen = (bn.apply(x, { training: true }) as tf.Tensor).dataSync();
    expect(Array.from(frozen)).toEqual(Array.from(z));
    expect(Array.from(bn.getWeights()[2]!.dataSync())).toEqual(m2);
    const copy = fromRegistry<BatchNorm>('BatchNorm', bn.getConfig());
    expect(copy.getConfig()).toEqual(bn.getConfig());
  });
  it('training-mode gradients (written out as one op) equal autodiff through the plain formula', () => {
    const shape = [2, 3, 4, 5, 3];
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(values(size, 5).map((v, i) => v * (1 + (i % 3)) + (i % 3)), shape);
    const r = tf.tensor(values(size, 6), shape); // the loss is Σ y·r, so dy = r
    const gammaV = tf.variable(tf.tensor1d([1.5, 0.5, 2]));
    const betaV = tf.variable(tf.tensor1d([0.1, -0.2, 0.3]));
    const bn = new BatchNorm({ name: 'bn_grad', epsilon: 1e-3 });
    bn.apply(x);
    bn.setWeights([gammaV, betaV, tf.zeros([3]), tf.ones([3])]);
    const [gamma, beta] = bn.trainableWeights.map((w) => w.read() as tf.Variable);
    const fused = tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(bn.apply(xx, { training: true }) as tf.Tensor, r)))([x])[0]!;
    const vg = tf.variableGrads(() => tf.sum(tf.mul(bn.apply(x, { training: true }) as tf.Tensor, r)) as tf.Scalar, [gamma!, beta!]);
    // Reference: tfjs autodiff through moments → normalize, the textbook formula (biased batch variance).
    const plain = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, [0, 1, 2, 3]);
      return tf.sum(tf.mul(tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-3))), g), b), r));
    };
    const [dx, dg, db] = tf.grads(plain)([x, gammaV, betaV]);
    const rel = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(1e-6, tf.max(tf.abs(b)).dataSync()[0]!);
    expect(rel(fused, dx!)).toBeLessThan(1e-4);
    expect(rel(vg.grads[gamma!.name]!, dg!)).toBeLessThan(1e-4);
    expect(rel(vg.grads[beta!.name]!, db!)).toBeLessThan(1e-4);
    // and a gradient pass leaves no tensor behind
    const before = tf.memory().numTensors;
    tf.dispose(tf.grads((xx: tf.Tensor) => tf.sum(bn.apply(xx, { training: true }) as tf.Tensor))([x]));
    expect(tf.memory().numTensors).toBe(before);
  });
});
