/**
 * The oneDNN kernels of the 'native' backend against the stock tfjs cpu backend (an independent implementation:
 * plain JS loops), on the same inputs: values to 1e-4 relative for every registered kernel over stride 1/2,
 * 'same'/'valid'/explicit pads, dilation, 1×1, non-square maps and kernels, batch > 1. Each case also checks that
 * the native path really ran (not its fallback). Where the addon cannot exist (no oneDNN headers or no compiler on
 * this machine) only the silent-fallback contract is tested; where it can, its absence is a failure.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm } from '../runtime/layers/index.js';
import { buildNet as buildNetwork, type NetDesc as NetworkArgs } from './helpers/network.js';
import { atrousConv2d, atrousConv3d, convBiasAct } from '../runtime/ops/index.js';
import { nativeAvailable, nativeUnavailableReason, registerNativeBackend } from '../runtime/backend/index.js';
import { variableGradsLowMemory } from '../runtime/train/grads.js';
import { RELU_GRAD_KERNEL } from '../runtime/ops/kernel-names.js';
import { atrousFallbacks, fusedConvFallbacks, loadNative, nativeKernelStats, resetNativeKernelStats } from '../runtime/native/index.js';
import { lcgValues as values } from './helpers/values.js';

const canBuild = (() => {
  if (process.env.TDC_NO_NATIVE === '1' || process.platform !== 'linux') return false;
  if (!existsSync('/usr/include/oneapi/dnnl/dnnl.hpp')) return false;
  try {
    execFileSync(process.env.CXX || 'g++', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const available = nativeAvailable();


const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Runs one kernel on `backend` with inputs built from the given shapes/seeds; returns its values. */
async function runOn(backend: string, kernel: string, inputs: Record<string, [number[], number]>, attrs: Record<string, unknown>): Promise<{ shape: number[]; data: Float32Array }> {
  await tf.setBackend(backend);
  const ts: Record<string, tf.Tensor> = {};
  for (const [k, [shape, seed]] of Object.entries(inputs)) ts[k] = tf.tensor(values(sizeOf(shape), seed), shape);
  const out = tf.engine().runKernel(kernel, ts as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
  const res = { shape: out.shape, data: out.dataSync() as Float32Array };
  tf.dispose([out, ...Object.values(ts)]);
  return res;
}

/** max |a − b| / max |b|, after checking shapes agree. */
function relErr(a: { shape: number[]; data: Float32Array }, b: { shape: number[]; data: Float32Array }): number {
  expect(a.shape).toEqual(b.shape);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.data.length; i++) {
    diff = Math.max(diff, Math.abs(a.data[i]! - b.data[i]!));
    scale = Math.max(scale, Math.abs(b.data[i]!));
  }
  expect(scale).toBeGreaterThan(0);
  return diff / scale;
}

async function compare(kernel: string, inputs: Record<string, [number[], number]>, attrs: Record<string, unknown>, expectNative = true): Promise<void> {
  const ref = await runOn('cpu', kernel, inputs, attrs);
  resetNativeKernelStats();
  const got = await runOn('native', kernel, inputs, attrs);
  expect(relErr(got, ref)).toBeLessThan(1e-4);
  const s = nativeKernelStats()[kernel];
  if (expectNative) {
    expect(s?.lastError ?? '').toBe('');
    expect(s?.native).toBe(1);
  } else {
    expect(s?.fallback).toBe(1);
  }
}

describe('native addon availability', () => {
  it(canBuild ? 'is built and loads (oneDNN and a compiler are present)' : 'falls back silently when it cannot be built', () => {
    if (canBuild) {
      expect(nativeUnavailableReason()).toBe('');
      expect(available).toBe(true);
    } else {
      expect(available).toBe(false);
      expect(registerNativeBackend()).toBeNull();
      expect(nativeUnavailableReason()).not.toBe('');
    }
  });
});

describe.skipIf(!available)('native kernels match the stock cpu backend', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    const info = registerNativeBackend();
    expect(info?.kernels).toEqual(
      expect.arrayContaining(['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'Conv3D', 'Conv3DBackpropInputV2', 'Conv3DBackpropFilterV2', 'BatchMatMul']),
    );
    expect(info!.threads).toBeGreaterThanOrEqual(1);
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  // [x shape, filter shape, strides, pad, dilations]
  const conv2dCases: [string, number[], number[], number | [number, number], unknown, number | [number, number]][] = [
    ['3×3 stride 1 same, batch 2', [2, 7, 9, 5], [3, 3, 5, 6], 1, 'same', 1],
    ['3×3 stride 2 same, odd sizes', [1, 9, 11, 4], [3, 3, 4, 3], 2, 'same', 1],
    ['3×3 stride 2 valid', [2, 10, 8, 3], [3, 3, 3, 4], 2, 'valid', 1],
    ['2×4 non-square kernel, strides [1, 2]', [1, 8, 12, 3], [2, 4, 3, 5], [1, 2], 'same', 1],
    ['1×1', [2, 5, 6, 7], [1, 1, 7, 4], 1, 'valid', 1],
    ['4×2 even kernel, stride 1 same (pads differ before / after)', [1, 7, 8, 3], [4, 2, 3, 2], 1, 'same', 1],
    ['explicit pads', [1, 6, 7, 3], [3, 3, 3, 2], 1, [[0, 0], [2, 0], [1, 3], [0, 0]], 1],
    ['352 → 352 channels (a filter of ≥ 1M values: its reorders run on every thread)', [1, 2, 2, 352], [3, 3, 352, 352], 1, 'same', 1],
  ];

  for (const [name, xs, ws, strides, pad] of conv2dCases) {
    it(`Conv2D ${name}`, async () => {
      await compare('Conv2D', { x: [xs, 1], filter: [ws, 2] }, { strides, pad, dataFormat: 'NHWC', dilations: 1 });
    });
    it(`Conv2DBackpropInput ${name}`, async () => {
      const info = tf.backend_util.computeConv2DInfo(xs as [number, number, number, number], ws as [number, number, number, number], strides, 1, pad as 'same');
      await compare('Conv2DBackpropInput', { dy: [info.outShape, 3], filter: [ws, 4] }, { strides, pad, dataFormat: 'NHWC', inputShape: xs });
    });
    it(`Conv2DBackpropFilter ${name}`, async () => {
      const info = tf.backend_util.computeConv2DInfo(xs as [number, number, number, number], ws as [number, number, number, number], strides, 1, pad as 'same');
      await compare('Conv2DBackpropFilter', { x: [xs, 5], dy: [info.outShape, 6] }, { strides, pad, dataFormat: 'NHWC', filterShape: ws });
    });
  }

  it('Conv2D with dilation [2, 3], same and valid', async () => {
    await compare('Conv2D', { x: [[2, 11, 13, 3], 7], filter: [[3, 3, 3, 4], 8] }, { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: [2, 3] });
    await compare('Conv2D', { x: [[1, 11, 13, 3], 9], filter: [[3, 2, 3, 4], 10] }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: [2, 3] });
  });

  it('FusedConv2D with bias + relu, bias only, and dilation', async () => {
    const base = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined, leakyreluAlpha: 0 };
    await compare('FusedConv2D', { x: [[2, 6, 7, 3], 11], filter: [[3, 3, 3, 5], 12], bias: [[5], 13] }, { ...base, activation: 'relu' });
    await compare('FusedConv2D', { x: [[1, 6, 7, 3], 14], filter: [[3, 3, 3, 5], 15], bias: [[5], 16] }, { ...base, strides: 2, activation: 'linear' });
    await compare('FusedConv2D', { x: [[1, 9, 8, 2], 17], filter: [[3, 3, 2, 3], 18], bias: [[3], 19] }, { ...base, dilations: 2, activation: 'relu' });
  });

  it('FusedConv2D with an activation oneDNN is not given (elu) runs the stock kernel', async () => {
    await compare('FusedConv2D', { x: [[1, 5, 5, 2], 20], filter: [[3, 3, 2, 3], 21], bias: [[3], 22] }, { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, activation: 'elu' }, false);
  });

  // [x shape, filter shape, strides, pad, dilations]
  const conv3dCases: [string, number[], number[], number | [number, number, number], 'same' | 'valid', number | [number, number, number]][] = [
    ['3×3×3 stride 1 same, batch 2', [2, 4, 6, 5, 3], [3, 3, 3, 3, 4], 1, 'same', 1],
    ['1×3×3 (anisotropic) valid', [1, 3, 7, 6, 2], [1, 3, 3, 2, 3], 1, 'valid', 1],
    ['3×3×3 stride 2 same', [1, 5, 7, 6, 2], [3, 3, 3, 2, 2], 2, 'same', 1],
    ['1×1×1', [2, 3, 4, 5, 6], [1, 1, 1, 6, 2], 1, 'same', 1],
    ['2×4×2 even kernel, stride 1 same (pads differ before / after)', [1, 4, 6, 5, 2], [2, 4, 2, 2, 3], 1, 'same', 1],
  ];
  for (const [name, xs, ws, strides, pad] of conv3dCases) {
    it(`Conv3D ${name}`, async () => {
      await compare('Conv3D', { x: [xs, 31], filter: [ws, 32] }, { strides, pad, dataFormat: 'NDHWC', dilations: 1 });
    });
    it(`Conv3DBackpropInputV2 ${name}`, async () => {
      const info = tf.backend_util.computeConv3DInfo(xs as [number, number, number, number, number], ws as [number, number, number, number, number], strides, 1, pad);
      await compare('Conv3DBackpropInputV2', { dy: [info.outShape, 33], filter: [ws, 34] }, { strides, pad, inputShape: xs });
    });
    it(`Conv3DBackpropFilterV2 ${name}`, async () => {
      const info = tf.backend_util.computeConv3DInfo(xs as [number, number, number, number, number], ws as [number, number, number, number, number], strides, 1, pad);
      await compare('Conv3DBackpropFilterV2', { x: [xs, 35], dy: [info.outShape, 36] }, { strides, pad, filterShape: ws });
    });
  }

  it('Conv3D with dilation [1, 2, 2]', async () => {
    await compare('Conv3D', { x: [[1, 3, 9, 8, 2], 37], filter: [[1, 3, 3, 2, 3], 38] }, { strides: 1, pad: 'same', dataFormat: 'NDHWC', dilations: [1, 2, 2] });
  });

  // The atrous op (runtime/ops/atrous.ts): on native its conv and both gradients are the TdcAtrous* kernels (one
  // oneDNN primitive each), on cpu the forward-conv formulation. [x, filter, rates, padding]
  const atrousCases: [number[], number[], number[], 'same' | 'valid'][] = [
    [[2, 9, 11, 5], [3, 3, 5, 6], [2, 2], 'same'],
    [[2, 12, 10, 3], [3, 3, 3, 7], [3, 1], 'valid'],
    [[2, 9, 11, 5], [3, 3, 5, 6], [3, 1], 'same'],
    [[2, 10, 9, 3], [2, 3, 3, 5], [3, 2], 'same'], // even kernel: pads split unevenly
    [[2, 9, 20, 5], [3, 3, 5, 6], [15, 15], 'same'], // off-centre rows outside the map: cropped to a 1×3 at rates [1, 15]
    [[2, 16, 20, 3], [4, 4, 3, 5], [20, 5], 'same'], // cropped to the two middle taps along H
    [[2, 2, 6, 3], [2, 3, 3, 5], [3, 2], 'same'], // a row of x no tap reads: x itself cropped
    [[2, 3, 7, 3], [2, 3, 3, 4], [5, 2], 'same'], // one tap left along H, reading 2 rows of padding: dx by backward-data
    [[2, 4, 7, 8, 3], [3, 3, 3, 3, 5], [1, 2, 3], 'same'],
    [[2, 4, 7, 9, 3], [3, 3, 3, 3, 5], [1, 2, 3], 'valid'],
    [[2, 3, 9, 20, 5], [1, 3, 3, 5, 6], [1, 15, 15], 'same'], // BRATS context module; rows outside a 9-row map
    [[2, 3, 12, 10, 5], [1, 3, 3, 5, 6], [1, 3, 2], 'same'],
  ];
  const atrousRun = async (backend: string, xs: number[], ws: number[], rates: number[], padding: 'same' | 'valid') => {
    await tf.setBackend(backend);
    const x = tf.tensor(values(sizeOf(xs), 201), xs);
    const w = tf.tensor(values(sizeOf(ws), 202), ws);
    const op = (a: tf.Tensor, b: tf.Tensor) =>
      rates.length === 2
        ? atrousConv2d(a as tf.Tensor4D, b as tf.Tensor4D, rates as [number, number], padding)
        : atrousConv3d(a as tf.Tensor5D, b as tf.Tensor5D, rates as [number, number, number], padding);
    const y = op(x, w);
    const r = tf.tensor(values(y.size, 203), y.shape);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a, b), r)))([x, w]);
    const out = [y, gx!, gw!].map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
    tf.dispose([x, w, y, r, gx!, gw!]);
    return out;
  };
  for (const [xs, ws, rates, padding] of atrousCases) {
    it(`atrous op x=[${xs}] k=[${ws}] rates=[${rates}] ${padding}: forward and both gradients run natively and equal cpu`, async () => {
      const ref = await atrousRun('cpu', xs, ws, rates, padding);
      resetNativeKernelStats();
      const got = await atrousRun('native', xs, ws, rates, padding);
      for (let i = 0; i < 3; i++) expect(relErr(got[i]!, ref[i]!)).toBeLessThan(1e-5);
      const s = nativeKernelStats();
      // two forwards (the value, then inside tf.grads), one of each gradient
      expect(s.TdcAtrousConv).toEqual({ native: 2, fallback: 0, lastError: '' });
      expect(s.TdcAtrousBackpropInput).toEqual({ native: 1, fallback: 0, lastError: '' });
      expect(s.TdcAtrousBackpropFilter).toEqual({ native: 1, fallback: 0, lastError: '' });
      // no flipped or transposed tensors, no second conv (PadV2 remains only as the gradient of a tap/map crop)
      for (const k of ['Reverse', 'Transpose', 'Conv2D', 'Conv3D']) expect(s[k]).toBeUndefined();
    });
  }

  it('atrous op with bias + relu: one fused kernel forward (no Add, no Relu), values and all three gradients equal cpu', async () => {
    const run = async (backend: string, xs: number[], ws: number[], rates: number[]) => {
      await tf.setBackend(backend);
      const x = tf.tensor(values(sizeOf(xs), 221), xs);
      const w = tf.tensor(values(sizeOf(ws), 222), ws);
      const bias = tf.tensor1d(values(ws[ws.length - 1]!, 223));
      const op = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        rates.length === 2
          ? atrousConv2d(a as tf.Tensor4D, b as tf.Tensor4D, rates as [number, number], 'same', c as tf.Tensor1D, 'relu')
          : atrousConv3d(a as tf.Tensor5D, b as tf.Tensor5D, rates as [number, number, number], 'same', c as tf.Tensor1D, 'relu');
      const y = op(x, w, bias);
      const r = tf.tensor(values(y.size, 224), y.shape);
      const gs = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(op(a, b, c), r)))([x, w, bias]);
      const out = [y, ...gs].map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
      tf.dispose([x, w, bias, y, r, ...gs]);
      return out;
    };
    for (const [xs, ws, rates] of [
      [[2, 9, 11, 5], [3, 3, 5, 6], [2, 3]],
      [[2, 3, 7, 8, 4], [1, 3, 3, 4, 5], [1, 2, 2]],
    ] as [number[], number[], number[]][]) {
      const ref = await run('cpu', xs, ws, rates);
      resetNativeKernelStats();
      const got = await run('native', xs, ws, rates);
      for (let i = 0; i < 4; i++) expect(relErr(got[i]!, ref[i]!)).toBeLessThan(1e-5);
      const s = nativeKernelStats();
      expect(s.TdcAtrousConv).toEqual({ native: 2, fallback: 0, lastError: '' });
      expect(s.TdcReluGrad?.native).toBe(1);
      for (const k of ['Relu', 'Add']) expect(s[k]).toBeUndefined();
    }
  });

  it('an atrous conv cropped to its centre tap (rate 15 on a 7×9 map) is a plain conv on native too', async () => {
    const ref = await atrousRun('cpu', [2, 7, 9, 5], [3, 3, 5, 6], [15, 15], 'same');
    resetNativeKernelStats();
    const got = await atrousRun('native', [2, 7, 9, 5], [3, 3, 5, 6], [15, 15], 'same');
    for (let i = 0; i < 3; i++) expect(relErr(got[i]!, ref[i]!)).toBeLessThan(1e-5);
    const s = nativeKernelStats();
    expect(s.TdcAtrousConv).toBeUndefined();
    expect(s.Conv2D?.native).toBe(2);
    expect(s.Conv2DBackpropInput?.native).toBe(1);
    expect(s.Conv2DBackpropFilter?.native).toBe(1);
  });

  it('the atrous kernels\' fallbacks (stock kernels) equal the native kernels, 2D and 3D', async () => {
    await tf.setBackend('native');
    const fb = atrousFallbacks();
    const cases: [number[], number[], number[], [number, number][]][] = [
      [[2, 9, 11, 5], [3, 2, 5, 6], [2, 3], [[2, 2], [1, 2]]],
      [[2, 4, 7, 8, 3], [3, 3, 3, 3, 5], [1, 2, 3], [[1, 1], [0, 4], [3, 3]]],
    ];
    for (const [xs, ws, rates, pads] of cases) {
      const outShape = [xs[0]!, ...xs.slice(1, -1).map((d, i) => d + pads[i]![0] + pads[i]![1] - (ws[i]! - 1) * rates[i]!), ws[ws.length - 1]!];
      const calls: [string, Record<string, [number[], number]>, Record<string, unknown>][] = [
        ['TdcAtrousConv', { x: [xs, 211], filter: [ws, 212] }, { rates, pads }],
        ['TdcAtrousConv', { x: [xs, 217], filter: [ws, 218], bias: [[ws[ws.length - 1]!], 219] }, { rates, pads, activation: 'relu' }],
        ['TdcAtrousBackpropInput', { dy: [outShape, 213], filter: [ws, 214] }, { rates, pads, inputShape: xs }],
        ['TdcAtrousBackpropFilter', { x: [xs, 215], dy: [outShape, 216] }, { rates, pads, filterShape: ws }],
      ];
      for (const [kernel, inputs, attrs] of calls) {
        const ts: Record<string, tf.Tensor> = {};
        for (const [k, [shape, seed]] of Object.entries(inputs)) ts[k] = tf.tensor(values(sizeOf(shape), seed), shape);
        const nat = tf.engine().runKernel(kernel, ts as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
        const infos = Object.fromEntries(Object.entries(ts).map(([k, t]) => [k, { dataId: t.dataId, shape: t.shape, dtype: t.dtype }]));
        const info = fb[kernel]!({ inputs: infos, backend: tf.backend(), attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
        const viaFallback = tf.engine().makeTensorFromTensorInfo(info);
        expect(relErr({ shape: viaFallback.shape, data: viaFallback.dataSync() as Float32Array }, { shape: nat.shape, data: nat.dataSync() as Float32Array })).toBeLessThan(1e-5);
        tf.dispose([nat, viaFallback, ...Object.values(ts)]);
      }
    }
  });

  it('BatchMatMul: plain, transposed, batched, broadcast', async () => {
    await compare('BatchMatMul', { a: [[5, 7], 41], b: [[7, 3], 42] }, { transposeA: false, transposeB: false });
    await compare('BatchMatMul', { a: [[7, 5], 43], b: [[3, 7], 44] }, { transposeA: true, transposeB: true });
    await compare('BatchMatMul', { a: [[3, 4, 6], 45], b: [[3, 6, 2], 46] }, { transposeA: false, transposeB: false });
    await compare('BatchMatMul', { a: [[1, 4, 6], 47], b: [[3, 2, 6], 48] }, { transposeA: false, transposeB: true });
    await compare('BatchMatMul', { a: [[2, 3, 6, 4], 49], b: [[6, 5], 50] }, { transposeA: true, transposeB: false });
  });

  it('BatchMatMul with per-axis batch broadcasting runs the stock kernel', async () => {
    await compare('BatchMatMul', { a: [[2, 1, 3, 4], 51], b: [[1, 3, 4, 2], 52] }, { transposeA: false, transposeB: false }, false);
  });

  it('elementwise Add / Sub / Multiply / RealDiv / Maximum / Minimum: same shape, scalar, trailing broadcast', async () => {
    for (const k of ['Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum']) {
      await compare(k, { a: [[2, 3, 4, 5], 81], b: [[2, 3, 4, 5], 82] }, {});
      await compare(k, { a: [[2, 3, 4, 5], 83], b: [[5], 84] }, {});
      await compare(k, { a: [[1, 1, 5], 85], b: [[3, 4, 5], 86] }, {});
      await compare(k, { a: [[], 87], b: [[40, 900], 88] }, {});
    }
    // leading-block broadcasting ([N, K] op [N, 1], as in logSoftmax) runs natively too
    await compare('Sub', { a: [[6, 5, 4], 91], b: [[6, 5, 1], 92] }, {});
    await compare('RealDiv', { a: [[6, 1], 93], b: [[6, 7], 94] }, {});
  });

  it('elementwise ops with per-axis broadcasting (binaryStrided): middle axes, both sides broadcasting, rank 5', async () => {
    for (const k of ['Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum']) {
      // a mean's gradient [B, 1, 1, C] · [B, H, W, C]; the seg loss's [B, 1, K] · [B, N, K]
      await compare(k, { a: [[2, 1, 1, 5], 95], b: [[2, 3, 4, 5], 96] }, {});
      await compare(k, { a: [[2, 7, 3], 97], b: [[2, 1, 3], 98] }, {});
      // both sides broadcast ([2, 1, 3] op [4, 1] → [2, 4, 3]), and a 3D map's [B, 1, H, 1, C] op [B, D, H, W, C]
      await compare(k, { a: [[2, 1, 3], 89], b: [[4, 1], 90] }, {});
      await compare(k, { a: [[2, 1, 4, 1, 3], 99], b: [[2, 5, 4, 6, 3], 100] }, {});
    }
  });

  it('Relu, Step (alpha), Neg, Relu6, Exp and AddN', async () => {
    await compare('Relu', { x: [[3, 50, 7], 91] }, {});
    await compare('Step', { x: [[3, 50, 7], 92] }, { alpha: 0.25 });
    await compare('Neg', { x: [[3, 50, 7], 93] }, {});
    await compare('Relu6', { x: [[1000], 94] }, {});
    await compare('Exp', { x: [[3, 50, 7], 95] }, {});
    const ref = await (async () => {
      await tf.setBackend('cpu');
      return tf.addN([1, 2, 3].map((i) => tf.tensor(values(600, 95 + i), [20, 30]))).dataSync();
    })();
    resetNativeKernelStats();
    await tf.setBackend('native');
    const got = tf.addN([1, 2, 3].map((i) => tf.tensor(values(600, 95 + i), [20, 30]))).dataSync();
    expect(nativeKernelStats().AddN?.native).toBe(1);
    expect(relErr({ shape: [600], data: got as Float32Array }, { shape: [600], data: ref as Float32Array })).toBeLessThan(1e-6);
  });

  it('the relu gradient (one pass on native) equals tfjs mul(dy, step(x)) on cpu', async () => {
    const grad = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor(values(3 * 40 * 7, 131), [3, 40, 7]);
      const dy = tf.tensor(values(3 * 40 * 7, 132), [3, 40, 7]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), dy)))(x);
      return { shape: g.shape, data: g.dataSync() as Float32Array };
    };
    const ref = await grad('cpu');
    resetNativeKernelStats();
    const got = await grad('native');
    expect(nativeKernelStats().TdcReluGrad?.native).toBe(1);
    expect(relErr(got, ref)).toBe(0);
    // The vectorized loop's bit-mask blend: NaN inputs pass through, ±Inf, ±0 and subnormals as dy · step(x) has
    // them (11 elements: a vector body and a scalar tail).
    const x = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 1e-45, NaN, 2, -3];
    const dy = [1, 2, 3, Infinity, NaN, -2, NaN, -0, -0, -0, 4];
    await tf.setBackend('cpu');
    const want = Array.from(tf.mul(tf.tensor1d(dy), tf.step(tf.tensor1d(x))).dataSync());
    await tf.setBackend('native');
    resetNativeKernelStats();
    const have = Array.from((tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: tf.tensor1d(dy), x: tf.tensor1d(x) }) as tf.Tensor).dataSync());
    expect(nativeKernelStats().TdcReluGrad?.native).toBe(1);
    expect(have).toEqual(want);
  });

  it('Max over a block of axes, and SplitV', async () => {
    await compare('Max', { x: [[2, 6, 7, 5], 141] }, { reductionIndices: [-1], keepDims: true });
    await compare('Max', { x: [[2, 6, 7, 5], 142] }, { reductionIndices: [1, 2], keepDims: false });
    const split = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor(values(2 * 6 * 7 * 5, 143), [2, 6, 7, 5]);
      return tf.split(x, [1, 4, 2], 2).map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
    };
    const ref = await split('cpu');
    resetNativeKernelStats();
    const got = await split('native');
    expect(nativeKernelStats().SplitV?.native).toBe(1);
    expect(got.length).toBe(3);
    got.forEach((g, i) => expect(relErr(g, ref[i]!)).toBe(0));
  });

  it('Sum and Mean over leading, trailing, middle and all axes (keepDims both ways); gaps fall back', async () => {
    for (const k of ['Sum', 'Mean']) {
      await compare(k, { x: [[2, 6, 7, 5], 101] }, { axis: [0, 1, 2], keepDims: false });
      await compare(k, { x: [[2, 6, 7, 5], 102] }, { axis: [-1], keepDims: true });
      await compare(k, { x: [[2, 6, 7, 5], 103] }, { axis: [1, 2], keepDims: true });
      await compare(k, { x: [[40000], 104] }, { axis: 0, keepDims: false });
      await compare(k, { x: [[2, 6, 7, 5], 105] }, { axis: [0, 2], keepDims: false }, false);
    }
  });

  it('Transpose, Slice, PadV2, Reverse and Concat (non-contiguous boxes)', async () => {
    await compare('Transpose', { x: [[2, 3, 4, 5], 111] }, { perm: [3, 1, 2, 0] });
    await compare('Transpose', { x: [[6, 7], 112] }, { perm: [1, 0] });
    await compare('Slice', { x: [[2, 6, 7, 5], 113] }, { begin: [1, 2, 1, 1], size: [1, 3, -1, 3] });
    await compare('PadV2', { x: [[2, 3, 4, 5], 114] }, { paddings: [[0, 1], [2, 0], [1, 3], [0, 0]], constantValue: 0 });
    await compare('PadV2', { x: [[3, 4], 115] }, { paddings: [[1, 1], [0, 2]], constantValue: -1.5 });
    await compare('Reverse', { x: [[3, 3, 4, 5], 116] }, { dims: [0, 1] });
    await compare('Reverse', { x: [[4, 6], 117] }, { dims: [-1] });
    const ins = (seed: number) => [[2, 3, 4, 2], [2, 3, 4, 5], [2, 3, 4, 1]].map((shape, i) => tf.tensor(values(sizeOf(shape), seed + i), shape));
    for (const axis of [3, 1]) {
      const mk = (seed: number) => (axis === 3 ? ins(seed) : ins(seed).map((t) => tf.transpose(t, [0, 3, 2, 1])));
      await tf.setBackend('cpu');
      const ref = tf.concat(mk(118), axis);
      const refV = { shape: ref.shape, data: ref.dataSync() as Float32Array };
      await tf.setBackend('native');
      resetNativeKernelStats();
      const got = tf.concat(mk(118), axis);
      expect(nativeKernelStats().Concat?.native).toBe(1);
      expect(relErr({ shape: got.shape, data: got.dataSync() as Float32Array }, refV)).toBe(0);
    }
  });

  it('GatherV2 along first, middle and last axes, repeated indices, 2D indices; out-of-range indices fall back', async () => {
    const gather = async (backend: string, shape: number[], idx: number[], idxShape: number[], axis: number) => {
      await tf.setBackend(backend);
      const x = tf.tensor(values(sizeOf(shape), 151), shape);
      const out = tf.gather(x, tf.tensor(idx, idxShape, 'int32'), axis);
      return { shape: out.shape, data: out.dataSync() as Float32Array };
    };
    for (const [shape, idx, idxShape, axis] of [
      [[2, 3, 4, 1, 5], [0, 0, 0, 0, 0, 0], [6], 3], // the image pooling's 1 → W nearest upsampling
      [[5, 4], [4, 0, 2, 2], [4], 0],
      [[2, 6, 3], [5, 1, 0, 1, 3, 4], [2, 3], 1],
      [[3, 7], [6, 0], [2], -1],
    ] as [number[], number[], number[], number][]) {
      const ref = await gather('cpu', shape, idx, idxShape, axis);
      resetNativeKernelStats();
      const got = await gather('native', shape, idx, idxShape, axis);
      expect(nativeKernelStats().GatherV2?.native).toBe(1);
      expect(relErr(got, ref)).toBe(0);
    }
    resetNativeKernelStats();
    await gather('native', [3, 4], [1, 3], [2], 0).catch(() => undefined);
    expect(nativeKernelStats().GatherV2?.fallback).toBe(1);
  });

  it('ResizeBilinear up and down, alignCorners and halfPixelCenters: the cpu kernel bit for bit', async () => {
    for (const [shape, size, alignCorners, halfPixelCenters] of [
      [[2, 4, 5, 3], [16, 20], false, false], // the seg head's upsampling
      [[1, 5, 7, 2], [12, 9], true, false],
      [[1, 6, 5, 3], [4, 11], false, true],
      [[2, 9, 8, 1], [1, 3], true, false], // alignCorners with a size-1 output axis
    ] as [number[], [number, number], boolean, boolean][]) {
      const attrs = { size, alignCorners, halfPixelCenters };
      const ref = await runOn('cpu', 'ResizeBilinear', { images: [shape, 161] }, attrs);
      resetNativeKernelStats();
      const got = await runOn('native', 'ResizeBilinear', { images: [shape, 161] }, attrs);
      expect(nativeKernelStats().ResizeBilinear).toMatchObject({ native: 1, fallback: 0 });
      expect(relErr(got, ref)).toBe(0);
    }
  });

  it('MaxPool and MaxPoolGrad: 2×2/2, 3×3/2 same (overlapping windows), odd sizes', async () => {
    for (const [filterSize, strides, pad, shape] of [
      [2, 2, 'valid', [2, 8, 10, 3]],
      [3, 2, 'same', [1, 9, 7, 4]],
      [[2, 3], [1, 2], 'valid', [2, 5, 9, 2]],
      // non-overlapping windows (the addon's per-window path): partial windows at odd sizes, gaps (stride > size)
      [2, 2, 'same', [2, 7, 9, 3]],
      [2, 3, 'same', [1, 9, 7, 4]],
    ] as [number | number[], number | number[], string, number[]][]) {
      const attrs = { filterSize, strides, pad, dimRoundingMode: undefined };
      await compare('MaxPool', { x: [shape, 121] }, attrs);
      const info = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], filterSize as number, strides as number, 1, pad as 'same');
      const ref = await runOn('cpu', 'MaxPool', { x: [shape, 122] }, attrs);
      await compare('MaxPoolGrad', { dy: [info.outShape, 123], input: [shape, 122], output: [ref.shape, 122] }, attrs);
    }
  });

  it('MaxPool3D and MaxPool3DGrad: 1×2×2 / 1×2×2 (BRATS18), 2×2×2 / 2 same, and windows of ties (post-relu zeros)', async () => {
    for (const [filterSize, strides, pad, shape] of [
      [[1, 2, 2], [1, 2, 2], 'valid', [2, 3, 8, 6, 3]],
      [2, 2, 'same', [1, 5, 7, 6, 2]],
      [3, 1, 'same', [1, 4, 5, 4, 2]],
    ] as [number | number[], number | number[], string, number[]][]) {
      const attrs = { filterSize, strides, pad, dimRoundingMode: undefined, dataFormat: 'NDHWC' };
      await compare('MaxPool3D', { x: [shape, 151] }, attrs);
      const info = tf.backend_util.computePool3DInfo(shape as [number, number, number, number, number], filterSize as number, strides as number, 1, pad as 'same');
      await compare('MaxPool3DGrad', { dy: [info.outShape, 152], input: [shape, 153] }, attrs);
    }
    // Ties: relu'd inputs are mostly 0; tfjs's 3D gradient routes each dy to the *last* maximal tap, its 2D one to
    // the first.
    // Both the overlapping (stride 1) and the tiling (2×2 / 2, the paper's encoders: dx written without a zero fill)
    // windows.
    const tied = async (backend: string, threeD: boolean, stride: number) => {
      await tf.setBackend(backend);
      const shape = threeD ? [1, 2, 4, 4, 2] : [1, 4, 4, 2];
      const x = tf.relu(tf.tensor(values(sizeOf(shape), 154), shape));
      const f = (t: tf.Tensor) =>
        tf.sum(tf.mul(threeD ? tf.maxPool3d(t as tf.Tensor5D, [2, 2, 2], stride, 'same') : tf.maxPool(t as tf.Tensor4D, 2, stride, 'same'), 2.5));
      const g = tf.grad(f)(x);
      return { shape: g.shape, data: g.dataSync() as Float32Array };
    };
    for (const threeD of [false, true]) {
      for (const stride of [1, 2]) {
        const ref = await tied('cpu', threeD, stride);
        resetNativeKernelStats();
        const got = await tied('native', threeD, stride);
        expect(nativeKernelStats()[threeD ? 'MaxPool3DGrad' : 'MaxPoolGrad']).toMatchObject({ native: 1, fallback: 0 });
        expect(Array.from(got.data)).toEqual(Array.from(ref.data));
      }
    }
  });

  /** The BatchNorm layer's training step on `backend`: output, moving statistics, and dx, dγ, dβ of Σ y·dy. */
  type Got = { shape: number[]; data: Float32Array };
  const bnStep = async (backend: string, shape: number[], offset: number, seed: number) => {
    await tf.setBackend(backend);
    const n = sizeOf(shape);
    const c = shape[shape.length - 1]!;
    const bn = new BatchNorm({ momentum: 0.9, epsilon: 1e-3 });
    const x = tf.variable(tf.tensor(values(n, seed).map((v) => offset + 2 * v), shape));
    bn.apply(x); // build
    bn.setWeights([
      tf.tensor1d(values(c, seed + 1).map((v) => 1 + v)),
      tf.tensor1d(values(c, seed + 2)),
      tf.tensor1d(values(c, seed + 3)),
      tf.tensor1d(values(c, seed + 4).map((v) => 1.5 + v)),
    ]);
    const dy = tf.tensor(values(n, seed + 5), shape);
    const [gamma, beta] = bn.trainableWeights.map((w) => w.read() as tf.Variable);
    let y: Got | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const out = bn.apply(x, { training: true }) as tf.Tensor;
      y = { shape: out.shape, data: out.dataSync() as Float32Array };
      return tf.sum(tf.mul(out, dy)) as tf.Scalar;
    }, [x, gamma!, beta!]);
    const got = (t: tf.Tensor): Got => ({ shape: t.shape, data: t.dataSync() as Float32Array });
    const w = bn.getWeights();
    const out: Record<string, Got> = {
      y: y!,
      movingMean: got(w[2]!),
      movingVariance: got(w[3]!),
      dx: got(grads[x.name]!),
      dgamma: got(grads[gamma!.name]!),
      dbeta: got(grads[beta!.name]!),
    };
    tf.dispose([x, dy, value, ...Object.values(grads)]);
    bn.dispose();
    return out;
  };
  /** The same step in float64, from the same inputs. */
  const bnReference = (shape: number[], offset: number, seed: number): Record<string, Got> => {
    const n = sizeOf(shape);
    const c = shape[shape.length - 1]!;
    const m = n / c;
    const x = Float64Array.from(values(n, seed).map((v) => offset + 2 * v));
    const g = Float64Array.from(values(c, seed + 1).map((v) => 1 + v));
    const b = values(c, seed + 2);
    const mm = values(c, seed + 3);
    const mv = values(c, seed + 4).map((v) => 1.5 + v);
    const dy = values(n, seed + 5);
    const mean = new Float64Array(c);
    const vari = new Float64Array(c);
    const db = new Float64Array(c);
    const dg = new Float64Array(c);
    for (let i = 0; i < n; i++) mean[i % c]! += x[i]! / m;
    for (let i = 0; i < n; i++) vari[i % c]! += (x[i]! - mean[i % c]!) ** 2 / m;
    const inv = vari.map((v) => 1 / Math.sqrt(v + 1e-3));
    const xhat = x.map((v, i) => (v - mean[i % c]!) * inv[i % c]!);
    for (let i = 0; i < n; i++) {
      db[i % c]! += dy[i]!;
      dg[i % c]! += dy[i]! * xhat[i]!;
    }
    const f = (shp: number[], a: ArrayLike<number>): Got => ({ shape: shp, data: Float32Array.from(a) });
    return {
      y: f(shape, xhat.map((v, i) => v * g[i % c]! + b[i % c]!)),
      movingMean: f([c], mean.map((v, k) => 0.9 * mm[k]! + 0.1 * v)),
      movingVariance: f([c], vari.map((v, k) => 0.9 * mv[k]! + 0.1 * v)),
      dx: f(shape, xhat.map((v, i) => ((g[i % c]! * inv[i % c]!) / m) * (m * dy[i]! - db[i % c]! - v * dg[i % c]!))),
      dgamma: f([c], dg),
      dbeta: f([c], db),
    };
  };

  it('BatchNorm training step (one-call native kernels): output, moving statistics, dx, dγ, dβ equal the cpu backend', async () => {
    // [shape, offset]: rank 5 and 4, channel counts that are not multiples of 8, and data around 1000.
    const cases: [number[], number][] = [
      [[2, 3, 5, 6, 5], 0],
      [[2, 7, 9, 11], 0],
      [[2, 3, 4, 5, 3], 1000],
      [[3, 6, 7, 13], 1000],
    ];
    for (const [i, [shape, offset]] of cases.entries()) {
      const seed = 160 + 10 * i;
      const ref = await bnStep('cpu', shape, offset, seed);
      resetNativeKernelStats();
      const got = await bnStep('native', shape, offset, seed);
      const s = nativeKernelStats();
      expect(s.TdcBatchNormTrain).toEqual({ native: 1, fallback: 0, lastError: '' });
      expect(s.TdcBatchNormGrad).toEqual({ native: 1, fallback: 0, lastError: '' });
      // Against float64 the bound is looser only because a float32 mean near 1000 is itself ±3e-5 off (both backends).
      const exact = bnReference(shape, offset, seed);
      for (const k of ['y', 'movingMean', 'movingVariance', 'dx', 'dgamma', 'dbeta']) {
        expect(relErr(got[k]!, ref[k]!), `${k} of ${shape.join('×')} + ${offset}`).toBeLessThan(1e-5);
        expect(relErr(got[k]!, exact[k]!), `${k} of ${shape.join('×')} + ${offset} (float64)`).toBeLessThan(offset ? 5e-5 : 1e-6);
      }
    }
    // and a training step leaves no tensor behind
    await tf.setBackend('native');
    const bn = new BatchNorm({ epsilon: 1e-3 });
    const x = tf.tensor(values(2 * 3 * 4 * 6, 199), [2, 3, 4, 6]);
    bn.apply(x);
    const [gamma, beta] = bn.trainableWeights.map((w) => w.read() as tf.Variable);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(bn.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, [gamma!, beta!]);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(x);
    bn.dispose();
  });

  it('BatchNorm inference in one pass (TdcBatchNormApply) equals cpu bit for bit; under a gradient it keeps the ops', async () => {
    const infer = async (backend: string, shape: number[]) => {
      await tf.setBackend(backend);
      const c = shape[shape.length - 1]!;
      const bn = new BatchNorm({ epsilon: 1e-3 });
      const x = tf.tensor(values(sizeOf(shape), 231), shape).mul(3).add(2);
      bn.apply(x);
      // stored statistics and affine weights that are not the initial ones
      bn.setWeights([1, 2, 3, 4].map((s) => tf.tensor1d(values(c, 231 + s).map((v) => (s === 4 ? 1.5 + v : v)))));
      const y = bn.apply(x, { training: false }) as tf.Tensor;
      const out = { shape: y.shape, data: y.dataSync() as Float32Array };
      // a frozen layer inside a gradient: the input's gradient flows through it (the kernel has none)
      bn.trainable = false;
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(bn.apply(t, { training: true }) as tf.Tensor)))(x);
      const grad = { shape: g.shape, data: g.dataSync() as Float32Array };
      tf.dispose([x, y, g]);
      bn.dispose();
      return [out, grad];
    };
    for (const shape of [[2, 3, 5, 6, 5], [2, 7, 9, 11]]) {
      const ref = await infer('cpu', shape);
      resetNativeKernelStats();
      const got = await infer('native', shape);
      // the two inference calls (the building one and the measured one), not the one under the gradient
      expect(nativeKernelStats().TdcBatchNormApply).toEqual({ native: 2, fallback: 0, lastError: '' });
      expect(relErr(got[0]!, ref[0]!)).toBe(0);
      expect(relErr(got[1]!, ref[1]!)).toBeLessThan(1e-6);
    }
    // the fallback (sub, mul, add as kernels) on an int32 x
    await tf.setBackend('native');
    const xi = tf.tensor([[1, -2, 3], [4, 5, -6]], [2, 3], 'int32');
    const [mean, scale, beta] = [[0.5, 1, -1], [2, 0.25, 1], [0, 1, 2]].map((v) => tf.tensor1d(v));
    resetNativeKernelStats();
    const y = tf.engine().runKernel('TdcBatchNormApply', { x: xi, mean: mean!, scale: scale!, beta: beta! }, {}) as tf.Tensor;
    expect(nativeKernelStats().TdcBatchNormApply?.fallback).toBe(1);
    expect(Array.from(y.dataSync())).toEqual([1, 0.25, 6, 7, 2, -3]);
    tf.dispose([xi, mean!, scale!, beta!, y]);
  });

  it('the batch-norm kernels fall back to tfjs expressions on inputs they do not take (int32 x), with the same values', async () => {
    await tf.setBackend('native');
    const shape = [2, 5, 4, 7];
    const n = sizeOf(shape);
    const xi = Int32Array.from(values(n, 201), (v) => Math.round(50 * v));
    const gamma = tf.tensor1d(values(7, 202).map((v) => 1 + v));
    const beta = tf.tensor1d(values(7, 203));
    const dy = tf.tensor(values(n, 204), shape);
    const run = (x: tf.Tensor) => {
      const [y, mean, variance, invstd] = tf.engine().runKernel('TdcBatchNormTrain', { x, gamma, beta }, { epsilon: 1e-3 }) as tf.Tensor[];
      const grads = tf.engine().runKernel('TdcBatchNormGrad', { dy, x, mean: mean!, invstd: invstd!, gamma }, {}) as tf.Tensor[];
      return [y!, mean!, variance!, invstd!, ...grads].map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync()) }));
    };
    resetNativeKernelStats();
    const fast = run(tf.tensor(Float32Array.from(xi), shape));
    const slow = run(tf.tensor(xi, shape, 'int32'));
    const s = nativeKernelStats();
    expect([s.TdcBatchNormTrain?.native, s.TdcBatchNormTrain?.fallback, s.TdcBatchNormGrad?.native, s.TdcBatchNormGrad?.fallback]).toEqual([1, 1, 1, 1]);
    expect(slow.length).toBe(7);
    slow.forEach((t, i) => expect(relErr(fast[i]!, t)).toBeLessThan(1e-5));
  });

  // convBiasAct (runtime/ops/conv-bias-act.ts) against tfjs's unfused conv → add → relu and its own gradients, on
  // cpu; on native, its fused forward, one-pass relu gradient and one-call filter + bias gradient must have run.
  for (const [name, act, withBias, pad, xs, ws] of [
    ['2D relu with bias, same', 'relu', true, 'same', [2, 9, 10, 5], [3, 3, 5, 6]],
    ['2D linear with bias, valid', 'linear', true, 'valid', [2, 9, 10, 5], [3, 3, 5, 6]],
    ['2D relu without bias, same', 'relu', false, 'same', [2, 9, 10, 5], [3, 3, 5, 6]],
    ['3D relu with bias, same', 'relu', true, 'same', [2, 4, 6, 5, 3], [3, 3, 3, 3, 4]],
    ['3D linear with bias (the conv before a batch norm), same', 'linear', true, 'same', [1, 3, 7, 6, 2], [1, 3, 3, 2, 3]],
  ] as const) {
    it(`convBiasAct ${name}: value and gradients match conv + add + relu on cpu`, async () => {
      const twoD = xs.length === 4;
      const runWith = async (backend: string, fused: boolean) => {
        await tf.setBackend(backend);
        const x = tf.tensor(values(sizeOf([...xs]), 81), [...xs]);
        const w = tf.tensor(values(sizeOf([...ws]), 82), [...ws]);
        const b = tf.tensor1d(values(ws[ws.length - 1]!, 83));
        const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor = b) => {
          let y: tf.Tensor;
          if (fused) {
            y = twoD
              ? convBiasAct(xi as tf.Tensor4D, wi as tf.Tensor4D, withBias ? (bi as tf.Tensor1D) : undefined, act, pad)
              : convBiasAct(xi as tf.Tensor5D, wi as tf.Tensor5D, withBias ? (bi as tf.Tensor1D) : undefined, act, pad);
          } else {
            const c = twoD ? tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 1, pad) : tf.conv3d(xi as tf.Tensor5D, wi as tf.Tensor5D, 1, pad);
            const cb = withBias ? tf.add(c, bi) : c;
            y = act === 'relu' ? tf.relu(cb) : cb;
          }
          return tf.sum(tf.mul(y, tf.tensor(values(y.size, 84), y.shape)));
        };
        const { value, grads } = tf.valueAndGrads(f)(withBias ? [x, w, b] : [x, w]);
        const out = [value, ...grads].map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync()) }));
        tf.dispose([x, w, b, value, ...grads]);
        return out;
      };
      const ref = await runWith('cpu', false);
      const cpu = await runWith('cpu', true);
      cpu.forEach((t, i) => expect(relErr(t, ref[i]!)).toBeLessThan(1e-5));
      resetNativeKernelStats();
      const got = await runWith('native', true);
      got.forEach((t, i) => expect(relErr(t, ref[i]!)).toBeLessThan(1e-4));
      const s = nativeKernelStats();
      expect((twoD ? s.FusedConv2D : s.TdcConv3DBiasAct)?.native).toBe(1);
      expect((twoD ? s.Conv2DBackpropInput : s.Conv3DBackpropInputV2)?.native).toBe(1);
      if (act === 'relu') expect(s.TdcReluGrad?.native).toBe(1);
      expect((withBias ? s.TdcConvBackpropFilterBias : s.Conv2DBackpropFilter)?.native).toBe(1);
    });
  }

  // The first conv of a network reads the input image, which needs no gradient: its backprop-input kernel must not
  // run (runtime/ops/lazy-grad.ts), in tfjs's backward pass and in the trainer's, while every weight gradient still
  // equals the unfused ops' on cpu.
  for (const op of ['convBiasAct', 'atrous'] as const) {
    it(`${op} on the input image: the weights' gradients equal cpu and the input's gradient kernel never runs`, async () => {
      const runWith = async (backend: string, fused: boolean, lowMemory: boolean) => {
        await tf.setBackend(backend);
        const x = tf.tensor(values(2 * 9 * 10 * 3, 121), [2, 9, 10, 3]);
        const w1 = tf.variable(tf.tensor(values(3 * 3 * 3 * 5, 122), [3, 3, 3, 5]), true, `w1${backend}${fused}${lowMemory}`);
        const b1 = tf.variable(tf.tensor1d(values(5, 123)), true, `b1${backend}${fused}${lowMemory}`);
        const w2 = tf.variable(tf.tensor(values(3 * 3 * 5 * 4, 124), [3, 3, 5, 4]), true, `w2${backend}${fused}${lowMemory}`);
        const rates: [number, number] = op === 'atrous' ? [2, 3] : [1, 1];
        const loss = () => {
          const h = fused
            ? op === 'atrous'
              ? atrousConv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, rates, 'same', b1 as tf.Tensor1D, 'relu')
              : convBiasAct(x as tf.Tensor4D, w1 as tf.Tensor4D, b1 as tf.Tensor1D, 'relu', 'same')
            : tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same', 'NHWC', rates), b1));
          // A second conv whose input does need a gradient: its backprop-input kernel runs once.
          const y = fused ? convBiasAct(h as tf.Tensor4D, w2 as tf.Tensor4D, undefined, 'linear', 'same') : tf.conv2d(h as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'same');
          return tf.sum(tf.mul(y, tf.tensor(values(y.size, 125), y.shape))) as tf.Scalar;
        };
        const vars = [w1, b1, w2];
        const { value, grads } = lowMemory ? variableGradsLowMemory(loss, vars) : tf.variableGrads(loss, vars);
        const out = [value, grads[w1.name]!, grads[b1.name]!, grads[w2.name]!].map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync()) }));
        tf.dispose([x, value, ...Object.values(grads), ...vars]);
        return out;
      };
      // tfjs has no dilated conv gradient: the atrous reference is the cpu backend's forward-conv formulation.
      const ref = await runWith('cpu', op === 'atrous', false);
      for (const lowMemory of [false, true]) {
        resetNativeKernelStats();
        const got = await runWith('native', true, lowMemory);
        got.forEach((t, i) => expect(relErr(t, ref[i]!)).toBeLessThan(1e-4));
        const s = nativeKernelStats();
        expect(s.Conv2DBackpropInput?.native).toBe(1);
        expect(s.TdcAtrousBackpropInput?.native ?? 0).toBe(0);
        if (op === 'atrous') {
          expect(s.TdcAtrousBackpropFilter?.native).toBe(1);
        } else {
          expect(s.TdcConvBackpropFilterBias?.native).toBe(1);
          expect(s.Conv2DBackpropFilter?.native).toBe(1);
        }
      }
    });
  }

  it("TdcConv3DBiasAct's fallback (stock Conv3D, Add, Relu) gives the native kernel's values", async () => {
    await tf.setBackend('native');
    const x = tf.tensor(values(2 * 4 * 6 * 5 * 3, 95), [2, 4, 6, 5, 3]);
    const w = tf.tensor(values(3 * 3 * 3 * 3 * 4, 96), [3, 3, 3, 3, 4]);
    const bias = tf.tensor1d(values(4, 97));
    const attrs = { pad: 'same', activation: 'relu' } as unknown as tf.NamedAttrMap;
    const fast = tf.engine().runKernel('TdcConv3DBiasAct', { x, filter: w, bias }, attrs) as tf.Tensor;
    const slow = fusedConvFallbacks()['TdcConv3DBiasAct']!({ inputs: { x, filter: w, bias }, attrs, backend: tf.backend() }) as tf.TensorInfo;
    const slowT = tf.engine().makeTensorFromTensorInfo(slow);
    expect(relErr({ shape: fast.shape, data: fast.dataSync() as Float32Array }, { shape: slowT.shape, data: slowT.dataSync() as Float32Array })).toBeLessThan(1e-5);
    tf.dispose([x, w, bias, fast, slowT]);
  });

  it('TdcConvBackpropFilterBias in 3D (and strided 2D) matches Conv3DBackpropFilterV2 + Sum on cpu', async () => {
    const run = async (backend: string, x: number[], dy: number[], attrs: Record<string, unknown>) => {
      await tf.setBackend(backend);
      const xt = tf.tensor(values(sizeOf(x), 91), x);
      const dyt = tf.tensor(values(sizeOf(dy), 92), dy);
      const outs = tf.engine().runKernel('TdcConvBackpropFilterBias', { x: xt, dy: dyt }, attrs as tf.NamedAttrMap) as tf.Tensor[];
      const res = outs.map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync()) }));
      tf.dispose([xt, dyt, ...outs]);
      return res;
    };
    const cases: [number[], number[], Record<string, unknown>][] = [
      [[2, 4, 6, 5, 3], [2, 4, 6, 5, 4], { strides: 1, pad: 'same', filterShape: [3, 3, 3, 3, 4] }],
      [[1, 9, 11, 4], [1, 5, 6, 3], { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 4, 3] }],
    ];
    for (const [x, dy, attrs] of cases) {
      // cpu has no such kernel: its reference is the stock filter gradient and a sum.
      await tf.setBackend('cpu');
      const xt = tf.tensor(values(sizeOf(x), 91), x);
      const dyt = tf.tensor(values(sizeOf(dy), 92), dy);
      const dw = tf.engine().runKernel(x.length === 5 ? 'Conv3DBackpropFilterV2' : 'Conv2DBackpropFilter', { x: xt, dy: dyt }, attrs as tf.NamedAttrMap) as tf.Tensor;
      const db = tf.sum(dyt, dy.slice(0, -1).map((_, i) => i));
      const ref = [dw, db].map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync()) }));
      tf.dispose([xt, dyt, dw, db]);
      resetNativeKernelStats();
      const got = await run('native', x, dy, attrs);
      expect(nativeKernelStats().TdcConvBackpropFilterBias?.native).toBe(1);
      got.forEach((t, i) => expect(relErr(t, ref[i]!)).toBeLessThan(1e-4));
    }
  });

  it('backward weights by each of its three paths (oneDNN on nhwc, on blocked activations, one product per tap) equals cpu, with and without the bias gradient', async () => {
    const addon = loadNative()!;
    // [x, dy, attrs, path]: the path tdc_native.cc's weightsPath picks for that shape
    const cases: [number[], number[], Record<string, unknown>, 'nhwc' | 'blocked' | 'taps'][] = [
      [[2, 5, 6, 256], [2, 5, 6, 8], { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [1, 1, 256, 8] }, 'taps'],
      [[1, 4, 5, 300], [1, 4, 5, 3], { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [1, 1, 300, 3] }, 'taps'],
      [[2, 6, 7, 256], [2, 4, 4, 6], { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 4, 256, 6] }, 'nhwc'],
      [[1, 6, 7, 256], [1, 3, 4, 4], { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 256, 4] }, 'nhwc'],
      [[2, 3, 6, 7, 16], [2, 3, 6, 7, 64], { strides: 1, pad: 'same', filterShape: [1, 3, 3, 16, 64] }, 'blocked'],
      [[1, 5, 4, 3, 8], [1, 5, 4, 3, 64], { strides: 1, pad: 'same', filterShape: [3, 1, 1, 8, 64] }, 'blocked'],
      [[1, 3, 6, 7, 16], [1, 3, 6, 7, 32], { strides: 1, pad: 'same', filterShape: [1, 3, 3, 16, 32] }, 'nhwc'],
    ];
    for (const [x, dy, attrs, path] of cases) {
      const stock = x.length === 5 ? 'Conv3DBackpropFilterV2' : 'Conv2DBackpropFilter';
      await tf.setBackend('cpu');
      const xt = tf.tensor(values(sizeOf(x), 93), x);
      const dyt = tf.tensor(values(sizeOf(dy), 94), dy);
      const dw = tf.engine().runKernel(stock, { x: xt, dy: dyt }, attrs as tf.NamedAttrMap) as tf.Tensor;
      const db = tf.sum(dyt, dy.slice(0, -1).map((_, i) => i));
      const ref = [dw, db].map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync()) }));
      tf.dispose([xt, dyt, dw, db]);
      for (const kernel of [stock, 'TdcConvBackpropFilterBias']) {
        await tf.setBackend('native');
        const before = addon.weightsPaths();
        resetNativeKernelStats();
        const xn = tf.tensor(values(sizeOf(x), 93), x);
        const dyn = tf.tensor(values(sizeOf(dy), 94), dy);
        const out = tf.engine().runKernel(kernel, { x: xn, dy: dyn }, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
        const outs = Array.isArray(out) ? out : [out];
        const got = outs.map((t) => ({ shape: t.shape, data: Float32Array.from(t.dataSync()) }));
        tf.dispose([xn, dyn, ...outs]);
        expect(nativeKernelStats()[kernel]).toEqual({ native: 1, fallback: 0, lastError: '' });
        const after = addon.weightsPaths();
        expect(after[path] - before[path], `${kernel} [${x}] → ${path}`).toBe(1);
        got.forEach((t, i) => expect(relErr(t, ref[i]!)).toBeLessThan(1e-4));
      }
    }
  });

  it('2D backward weights by the blocked-activation rule (3×3 on maps from 64×64) equals a float64 recomputation', async () => {
    // The stock cpu kernel takes ~40 s at 64 → 128 channels on 64×64, so the reference is a direct float64 sum
    // (3×3, stride 1, same). [h, w, ic, oc, path]: blocked with a few input channels or 9·ic·oc / (ic + oc) ≥ 384,
    // on nhwc below a 64×64 map or below that ratio; the 64 → 128 case twice (stock kernel, then with the bias
    // gradient) after the 3-channel one, so the kept buffers grow and are reused.
    const addon = loadNative()!;
    const cases: [number, number, number, number, 'nhwc' | 'blocked'][] = [
      [64, 64, 3, 64, 'blocked'],
      [64, 64, 64, 128, 'blocked'],
      [63, 64, 3, 64, 'nhwc'],
      [64, 64, 16, 64, 'nhwc'],
    ];
    await tf.setBackend('native');
    for (const [h, w, ic, oc, path] of cases) {
      const xv = values(h * w * ic, 95);
      const dyv = values(h * w * oc, 96);
      const ref = new Float64Array(9 * ic * oc);
      const refDb = new Float64Array(oc);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const d = (y * w + x) * oc;
          for (let o = 0; o < oc; o++) refDb[o]! += dyv[d + o]!;
          for (let t = 0; t < 9; t++) {
            const sy = y + Math.floor(t / 3) - 1, sx = x + (t % 3) - 1;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
            const s = (sy * w + sx) * ic;
            for (let i = 0; i < ic; i++) {
              const xi = xv[s + i]!, row = (t * ic + i) * oc;
              for (let o = 0; o < oc; o++) ref[row + o]! += xi * dyv[d + o]!;
            }
          }
        }
      }
      for (const kernel of ['Conv2DBackpropFilter', 'TdcConvBackpropFilterBias']) {
        const before = addon.weightsPaths()[path];
        resetNativeKernelStats();
        const xt = tf.tensor(xv, [1, h, w, ic]);
        const dyt = tf.tensor(dyv, [1, h, w, oc]);
        const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, ic, oc] };
        const out = tf.engine().runKernel(kernel, { x: xt, dy: dyt }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
        const outs = Array.isArray(out) ? out : [out];
        const got = outs.map((t) => Float32Array.from(t.dataSync()));
        tf.dispose([xt, dyt, ...outs]);
        expect(nativeKernelStats()[kernel]).toEqual({ native: 1, fallback: 0, lastError: '' });
        expect(addon.weightsPaths()[path] - before, `${kernel} ${h}×${w} ${ic} → ${oc}`).toBe(1);
        [ref, refDb].slice(0, got.length).forEach((r, k) => {
          const scale = r.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          const err = got[k]!.reduce((m, v, j) => Math.max(m, Math.abs(v - r[j]!)), 0);
          expect(err / scale, `${kernel} ${h}×${w} ${ic} → ${oc} output ${k}`).toBeLessThan(1e-5);
        });
      }
    }
  });

  it("per-tap products where oneDNN's backward weights would fall back to im2col + gemm (a dilated kernel wider than the map)", async () => {
    const addon = loadNative()!;
    // rate 5 on a 7×9 map: (3 − 1)·5 + 1 = 11 > 7, 9; the taps at ±5 each read a few rows and columns of x
    for (const [xs, ws, rates] of [
      [[2, 7, 9, 8], [3, 3, 8, 6], [5, 5]],
      [[1, 2, 6, 8, 4], [1, 3, 3, 4, 5], [1, 4, 6]],
    ] as [number[], number[], number[]][]) {
      const ref = await atrousRun('cpu', xs, ws, rates, 'same');
      const before = addon.weightsPaths().taps;
      resetNativeKernelStats();
      const got = await atrousRun('native', xs, ws, rates, 'same');
      expect(nativeKernelStats().TdcAtrousBackpropFilter).toEqual({ native: 1, fallback: 0, lastError: '' });
      expect(addon.weightsPaths().taps - before).toBe(1);
      for (let i = 0; i < 3; i++) expect(relErr(got[i]!, ref[i]!)).toBeLessThan(1e-5);
    }
  });

  it('a whole small network: outputs and every weight gradient match the cpu backend', async () => {
    const args: NetworkArgs = {
      dims: 2,
      size: [16, 20],
      channels: 3,
      numClasses: 3,
      numScenes: 2,
      encoder: { type: 'convstack', filters: [4, 6], convsPerStage: 1, kernel: 3, outputStride: 4, norm: 'none' },
      context: { pairs: [['seg', 'class'], ['seg', 'scene'], ['class', 'scene']], dilations: [2, 1], filters: 6, combine: 'sum' },
      decoder: { type: 'aspp', dilations: [1, 2], filters: 4, imagePooling: true },
      heads: { seg: { upsample: 'bilinear' }, class: { hidden: 4, dropout: 0 }, scene: { hidden: 4, dropout: 0 } },
      seed: 3,
      kernelInitializer: 'heNormal',
    };
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const { model } = buildNetwork(args);
      const x = tf.tensor(values(2 * 16 * 20 * 3, 61), [2, 16, 20, 3]);
      const { value, grads } = tf.variableGrads(() => {
        const outs = model.apply(x, { training: true }) as tf.Tensor[];
        return tf.addN(outs.map((o, i) => tf.sum(tf.mul(o, tf.tensor(values(o.size, 70 + i), o.shape))))) as tf.Scalar;
      });
      const out = { loss: value.dataSync()[0]!, grads: model.trainableWeights.map((w) => ({ shape: grads[(w.read() as tf.Variable).name]!.shape, data: grads[(w.read() as tf.Variable).name]!.dataSync() as Float32Array })) };
      tf.dispose([x, value, ...Object.values(grads)]);
      model.dispose();
      return out;
    };
    const ref = await run('cpu');
    resetNativeKernelStats();
    const got = await run('native');
    const s = nativeKernelStats();
    expect(s.FusedConv2D?.native ?? 0).toBeGreaterThan(0);
    expect(s.TdcConvBackpropFilterBias?.native ?? 0).toBeGreaterThan(0);
    expect(s.Conv2DBackpropInput?.native ?? 0).toBeGreaterThan(0);
    expect(Math.abs(got.loss - ref.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.loss)));
    expect(got.grads.length).toBe(ref.grads.length);
    for (let i = 0; i < ref.grads.length; i++) expect(relErr(got.grads[i]!, ref.grads[i]!)).toBeLessThan(1e-4);
  });
});
