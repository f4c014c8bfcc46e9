/**
 * The 'native' backend's oneDNN kernels: Conv2D, FusedConv2D (bias + relu), Conv2DBackpropInput/Filter, Conv3D,
 * Conv3DBackpropInputV2/FilterV2, BatchMatMul and the atrous op's dilated conv with its two gradients (TdcAtrous*).
 * Shapes and pads come from tfjs's own computeConv2DInfo / computeConv3DInfo, i.e. exactly what the stock kernels
 * compute (the atrous kernels get their pads from the op, see atrousParams).
 */
import * as tf from '@tensorflow/tfjs';
import {
  ATROUS_BACKPROP_FILTER_KERNEL,
  ATROUS_BACKPROP_INPUT_KERNEL,
  ATROUS_CONV_KERNEL,
  CONV3D_BIAS_ACT_KERNEL,
  CONV_BACKPROP_FILTER_BIAS_KERNEL,
} from '../ops/kernel-names.js';
import { f32, size, type KernelArgs, type KernelContext, type CpuLike, type TensorInfo } from './kernels.js';

/** [nd, N, IC, OC, in[nd], k[nd], out[nd], stride[nd], dilation[nd], padBefore[nd], padAfter[nd]] for the addon. */
function params2d(c: tf.backend_util.Conv2DInfo): Int32Array {
  const p = c.padInfo;
  return Int32Array.from([
    2, c.batchSize, c.inChannels, c.outChannels,
    c.inHeight, c.inWidth, c.filterHeight, c.filterWidth, c.outHeight, c.outWidth,
    c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth,
    p.top, p.left, p.bottom, p.right,
  ]);
}

function params3d(c: tf.backend_util.Conv3DInfo): Int32Array {
  const p = c.padInfo;
  return Int32Array.from([
    3, c.batchSize, c.inChannels, c.outChannels,
    c.inDepth, c.inHeight, c.inWidth, c.filterDepth, c.filterHeight, c.filterWidth, c.outDepth, c.outHeight, c.outWidth,
    c.strideDepth, c.strideHeight, c.strideWidth, c.dilationDepth, c.dilationHeight, c.dilationWidth,
    p.front, p.top, p.left, p.back, p.bottom, p.right,
  ]);
}

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

interface Conv2DAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

interface Conv3DAttrs {
  strides: number | [number, number, number];
  pad: 'valid' | 'same';
  dataFormat?: 'NDHWC' | 'NCDHW';
  dilations?: number | [number, number, number];
}

const info2d = (x: number[], f: number[], a: Conv2DAttrs) =>
  tf.backend_util.computeConv2DInfo(
    x as [number, number, number, number],
    f as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad as 'valid',
    a.dimRoundingMode,
    false,
    'channelsLast',
  );

const info3d = (x: number[], f: number[], a: Conv3DAttrs) =>
  tf.backend_util.computeConv3DInfo(
    x as [number, number, number, number, number],
    f as [number, number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    false,
    'channelsLast',
  );

/** Attributes of the atrous kernels (runtime/ops/atrous.ts): per spatial axis, the rate and [before, after] pads. */
interface AtrousAttrs {
  rates: number[];
  pads: Array<[number, number]>;
}

/**
 * The addon's params for a stride-1 dilated conv with explicit pads, and its output shape; null when the shapes
 * do not fit (the fallback then reports the error). Built directly rather than through computeConv3DInfo, which
 * takes no per-side 3D pads: out = in + before + after − (k − 1)·rate, the same arithmetic as its 'valid' case on
 * the padded input.
 */
function atrousParams(xShape: number[], fShape: number[], a: AtrousAttrs): { params: Int32Array; outShape: number[] } | null {
  const nd = xShape.length - 2;
  if ((nd !== 2 && nd !== 3) || fShape.length !== nd + 2 || fShape[nd] !== xShape[nd + 1]) return null;
  if (a.rates.length !== nd || a.pads.length !== nd) return null;
  if (a.rates.some((r) => !Number.isInteger(r) || r < 1) || a.pads.some(([p, q]) => p < 0 || q < 0)) return null;
  const inSp = xShape.slice(1, nd + 1);
  const k = fShape.slice(0, nd);
  const out = inSp.map((d, i) => d + a.pads[i]![0] + a.pads[i]![1] - (k[i]! - 1) * a.rates[i]!);
  if (out.some((d) => d < 1)) return null;
  const params = Int32Array.from([
    nd, xShape[0]!, xShape[nd + 1]!, fShape[nd + 1]!,
    ...inSp, ...k, ...out, ...new Array<number>(nd).fill(1), ...a.rates,
    ...a.pads.map((p) => p[0]), ...a.pads.map((p) => p[1]),
  ]);
  return { params, outShape: [xShape[0]!, ...out, fShape[nd + 1]!] };
}



/**
 * dx of a stride-1 convolution with explicit pads (dy: [N, …out, OC], filter [...k, IC, OC]), written into `dx`.
 * dx is also the forward conv of dy, at the same rates, with the filter flipped and in/out swapped and pads
 * (k − 1)·rate − pad, and oneDNN 2.6's forward primitive is the faster one at every rate: its backward-data is
 * slower even at rate 1 and with dilation falls back to gemm (measured for one [2, 19, 36, 36, 128] 1×3×3 conv:
 * 88 → 73 ms at rate 1, 80 → 72 ms at [1, 2, 2], 433 → 64 ms at [1, 7, 7], 118 → 50 ms at [1, 15, 15]). Pads beyond
 * (k − 1)·rate (a tap reading only padding) would be negative there: those go to backward-data with `params`.
 */
function backwardDataByForward(
  ctx: KernelContext, dyv: Float32Array, dyShape: number[], wv: Float32Array, filterShape: number[], dx: Float32Array,
  a: AtrousAttrs, params: Int32Array,
): void {
  const nd = a.rates.length;
  const k = filterShape.slice(0, nd);
  const flipPads = a.pads.map(([before, after], i): [number, number] => [(k[i]! - 1) * a.rates[i]! - before, (k[i]! - 1) * a.rates[i]! - after]);
  const q = flipPads.every(([before, after]) => before >= 0 && after >= 0)
    ? atrousParams(dyShape, [...k, filterShape[nd + 1]!, filterShape[nd]!], { rates: a.rates, pads: flipPads })
    : null;
  if (!q) {
    ctx.addon.convBackwardData(dyv, wv, dx, params);
    return;
  }
  ctx.addon.convBackwardDataByForward(dyv, wv, dx, q.params);
}

/** The stock backprop-input kernels' case for backwardDataByForward: stride 1, no dilation, pads from tfjs. */
function unitStridePads(c: tf.backend_util.Conv2DInfo | tf.backend_util.Conv3DInfo): AtrousAttrs | null {
  const p = c.padInfo as { top: number; bottom: number; left: number; right: number; front?: number; back?: number };
  if ('inDepth' in c) {
    if (c.strideDepth !== 1 || c.strideHeight !== 1 || c.strideWidth !== 1) return null;
    if (c.dilationDepth !== 1 || c.dilationHeight !== 1 || c.dilationWidth !== 1) return null;
    return { rates: [1, 1, 1], pads: [[p.front!, p.back!], [p.top, p.bottom], [p.left, p.right]] };
  }
  if (c.strideHeight !== 1 || c.strideWidth !== 1 || c.dilationHeight !== 1 || c.dilationWidth !== 1) return null;
  return { rates: [1, 1], pads: [[p.top, p.bottom], [p.left, p.right]] };
}

/** Registers the convolution, atrous and matrix-product kernels. */
export function convKernels(ctx: KernelContext): void {
  conv2dKernels(ctx);
  conv3dKernels(ctx);
  atrousKernels(ctx);
  filterBiasKernel(ctx);
  matMulKernel(ctx);
}

/** dW and db of a 2D or 3D convolution in one oneDNN backward-weights primitive (it sums dy as it reads it). */
function filterBiasKernel(ctx: KernelContext): void {
  const { addon, add, outputUninit } = ctx;
  add(CONV_BACKPROP_FILTER_BIAS_KERNEL, (args, b) => {
    const { x, dy } = args.inputs as Record<string, TensorInfo>;
    const xv = f32(b, x);
    const dyv = f32(b, dy);
    if (!xv || !dyv) return null;
    const a = args.attrs as unknown as { filterShape: number[]; dataFormat?: string };
    let params: Int32Array;
    if (x!.shape.length === 4) {
      if ((a.dataFormat ?? 'NHWC') !== 'NHWC') return null;
      params = params2d(info2d(x!.shape, a.filterShape, { ...(a as unknown as Conv2DAttrs), dilations: 1 }));
    } else if (x!.shape.length === 5) {
      if ((a.dataFormat ?? 'NDHWC') !== 'NDHWC') return null;
      params = params3d(info3d(x!.shape, a.filterShape, { ...(a as unknown as Conv3DAttrs), dilations: 1 }));
    } else {
      return null;
    }
    const oc = a.filterShape[a.filterShape.length - 1]!;
    const dw = outputUninit(size(a.filterShape));
    const db = outputUninit(oc);
    addon.convBackwardWeights(xv, dyv, dw, params, db);
    return [b.makeTensorInfo([...a.filterShape], 'float32', dw), b.makeTensorInfo([oc], 'float32', db)] as unknown as TensorInfo;
  });
}

function conv2dKernels(ctx: KernelContext): void {
  const { addon, add, outputUninit } = ctx;
  // Forward 2D convolution, plain and fused with bias + relu.
  const conv2d = (args: KernelArgs, b: CpuLike, fused: boolean): TensorInfo | null => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const a = args.attrs as unknown as Conv2DAttrs & { activation?: string };
    if ((a.dataFormat ?? 'NHWC') !== 'NHWC' || preluActivationWeights) return null;
    const act = fused ? (a.activation ?? 'linear') : 'linear';
    if (act !== 'linear' && act !== 'relu') return null;
    const xv = f32(b, x);
    const wv = f32(b, filter);
    if (!xv || !wv) return null;
    let bv: Float32Array | null = null;
    if (fused && bias) {
      bv = f32(b, bias);
      if (!bv || size(bias.shape) !== filter!.shape[3]) return null;
    }
    const info = info2d(x!.shape, filter!.shape, a);
    const y = outputUninit(size(info.outShape));
    addon.convForward(xv, wv, bv, y, params2d(info), act === 'relu' ? 1 : 0);
    return b.makeTensorInfo(info.outShape, 'float32', y);
  };
  add('Conv2D', (args, b) => conv2d(args, b, false));
  add('FusedConv2D', (args, b) => conv2d(args, b, true));

  add('Conv2DBackpropInput', (args, b) => {
    const { dy, filter } = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as Conv2DAttrs & { inputShape: number[] };
    if ((a.dataFormat ?? 'NHWC') !== 'NHWC') return null;
    const dyv = f32(b, dy);
    const wv = f32(b, filter);
    if (!dyv || !wv) return null;
    const info = info2d(a.inputShape, filter!.shape, { ...a, dilations: 1 });
    const dx = outputUninit(size(a.inputShape));
    const unit = unitStridePads(info);
    if (unit) backwardDataByForward(ctx, dyv, dy!.shape, wv, filter!.shape, dx, unit, params2d(info));
    else addon.convBackwardData(dyv, wv, dx, params2d(info));
    return b.makeTensorInfo([...a.inputShape], 'float32', dx);
  });

  add('Conv2DBackpropFilter', (args, b) => {
    const { x, dy } = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as Conv2DAttrs & { filterShape: number[] };
    if ((a.dataFormat ?? 'NHWC') !== 'NHWC') return null;
    const xv = f32(b, x);
    const dyv = f32(b, dy);
    if (!xv || !dyv) return null;
    const info = info2d(x!.shape, a.filterShape, { ...a, dilations: 1 });
    const dw = outputUninit(size(a.filterShape));
    addon.convBackwardWeights(xv, dyv, dw, params2d(info), null);
    return b.makeTensorInfo([...a.filterShape], 'float32', dw);
  });
}

function conv3dKernels(ctx: KernelContext): void {
  const { addon, add, outputUninit } = ctx;
  add('Conv3D', (args, b) => {
    const { x, filter } = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as Conv3DAttrs;
    if ((a.dataFormat ?? 'NDHWC') !== 'NDHWC') return null;
    const xv = f32(b, x);
    const wv = f32(b, filter);
    if (!xv || !wv) return null;
    const info = info3d(x!.shape, filter!.shape, a);
    const y = outputUninit(size(info.outShape));
    addon.convForward(xv, wv, null, y, params3d(info), 0);
    return b.makeTensorInfo(info.outShape, 'float32', y);
  });

  // conv + bias + relu in one oneDNN primitive (bias and relu as post-ops), as FusedConv2D does in 2D.
  add(CONV3D_BIAS_ACT_KERNEL, (args, b) => {
    const { x, filter, bias } = args.inputs as Record<string, TensorInfo | undefined>;
    const a = args.attrs as unknown as { pad: 'same' | 'valid'; activation: string };
    if (a.activation !== 'linear' && a.activation !== 'relu') return null;
    const xv = f32(b, x);
    const wv = f32(b, filter);
    const bv = bias ? f32(b, bias) : null;
    if (!xv || !wv || (bias && (!bv || size(bias.shape) !== filter!.shape[4]))) return null;
    const info = info3d(x!.shape, filter!.shape, { strides: 1, pad: a.pad, dilations: 1 });
    const y = outputUninit(size(info.outShape));
    addon.convForward(xv, wv, bv, y, params3d(info), a.activation === 'relu' ? 1 : 0);
    return b.makeTensorInfo(info.outShape, 'float32', y);
  });

  add('Conv3DBackpropInputV2', (args, b) => {
    const { dy, filter } = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as Conv3DAttrs & { inputShape: number[] };
    const dyv = f32(b, dy);
    const wv = f32(b, filter);
    if (!dyv || !wv) return null;
    const info = info3d(a.inputShape, filter!.shape, { ...a, dilations: 1 });
    const dx = outputUninit(size(a.inputShape));
    const unit = unitStridePads(info);
    if (unit) backwardDataByForward(ctx, dyv, dy!.shape, wv, filter!.shape, dx, unit, params3d(info));
    else addon.convBackwardData(dyv, wv, dx, params3d(info));
    return b.makeTensorInfo([...a.inputShape], 'float32', dx);
  });

  add('Conv3DBackpropFilterV2', (args, b) => {
    const { x, dy } = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as Conv3DAttrs & { filterShape: number[] };
    const xv = f32(b, x);
    const dyv = f32(b, dy);
    if (!xv || !dyv) return null;
    const info = info3d(x!.shape, a.filterShape, { ...a, dilations: 1 });
    const dw = outputUninit(size(a.filterShape));
    addon.convBackwardWeights(xv, dyv, dw, params3d(info), null);
    return b.makeTensorInfo([...a.filterShape], 'float32', dw);
  });
}

/**
 * The atrous op's conv and its two gradients (runtime/ops/atrous.ts), dilation and pads given to oneDNN as they are:
 * one primitive each, where the forward-conv formulation pads, flips and transposes around three convs.
 */
function atrousKernels(ctx: KernelContext): void {
  const { addon, add, outputUninit } = ctx;
  // With an optional bias input and activation attr ('linear' | 'relu'), applied by the primitive's post-ops.
  add(ATROUS_CONV_KERNEL, (args, b) => {
    const { x, filter, bias } = args.inputs as Record<string, TensorInfo | undefined>;
    const a = args.attrs as unknown as AtrousAttrs & { activation?: string };
    const act = a.activation ?? 'linear';
    if (act !== 'linear' && act !== 'relu') return null;
    const xv = f32(b, x);
    const wv = f32(b, filter);
    const bv = bias ? f32(b, bias) : null;
    if (!xv || !wv || (bias && (!bv || size(bias.shape) !== filter!.shape[filter!.shape.length - 1]))) return null;
    const p = atrousParams(x!.shape, filter!.shape, a);
    if (!p) return null;
    const y = outputUninit(size(p.outShape));
    addon.convForward(xv, wv, bv, y, p.params, act === 'relu' ? 1 : 0);
    return b.makeTensorInfo(p.outShape, 'float32', y);
  });

  add(ATROUS_BACKPROP_INPUT_KERNEL, (args, b) => {
    const { dy, filter } = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as AtrousAttrs & { inputShape: number[] };
    const dyv = f32(b, dy);
    const wv = f32(b, filter);
    if (!dyv || !wv) return null;
    const p = atrousParams(a.inputShape, filter!.shape, a);
    if (!p || p.outShape.some((d, i) => d !== dy!.shape[i])) return null;
    const dx = outputUninit(size(a.inputShape));
    backwardDataByForward(ctx, dyv, dy!.shape, wv, filter!.shape, dx, a, p.params);
    return b.makeTensorInfo([...a.inputShape], 'float32', dx);
  });

  add(ATROUS_BACKPROP_FILTER_KERNEL, (args, b) => {
    const { x, dy } = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as AtrousAttrs & { filterShape: number[] };
    const xv = f32(b, x);
    const dyv = f32(b, dy);
    if (!xv || !dyv) return null;
    const p = atrousParams(x!.shape, a.filterShape, a);
    if (!p || p.outShape.some((d, i) => d !== dy!.shape[i])) return null;
    const dw = outputUninit(size(a.filterShape));
    addon.convBackwardWeights(xv, dyv, dw, p.params, null);
    return b.makeTensorInfo([...a.filterShape], 'float32', dw);
  });
}

function matMulKernel(ctx: KernelContext): void {
  const { addon, add, outputUninit } = ctx;
  add('BatchMatMul', (args, b) => {
    const { a: ta, b: tb } = args.inputs as Record<string, TensorInfo>;
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const av = f32(b, ta);
    const bv = f32(b, tb);
    if (!av || !bv || ta!.shape.length < 2 || tb!.shape.length < 2) return null;
    const ra = ta!.shape.length;
    const rb = tb!.shape.length;
    const M = transposeA ? ta!.shape[ra - 1]! : ta!.shape[ra - 2]!;
    const K = transposeA ? ta!.shape[ra - 2]! : ta!.shape[ra - 1]!;
    const K2 = transposeB ? tb!.shape[rb - 1]! : tb!.shape[rb - 2]!;
    const N = transposeB ? tb!.shape[rb - 2]! : tb!.shape[rb - 1]!;
    if (K !== K2) return null; // the stock kernel throws the user-facing message
    const outerA = ta!.shape.slice(0, -2);
    const outerB = tb!.shape.slice(0, -2);
    const batchA = size(outerA);
    const batchB = size(outerB);
    // Same batch shape, or one side a single matrix; per-axis broadcasting is left to the stock kernel.
    let outer: number[];
    if (batchB === 1 && outerB.length <= outerA.length) outer = outerA;
    else if (batchA === 1 && outerA.length <= outerB.length) outer = outerB;
    else if (outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i])) outer = outerA;
    else return null;
    const batch = size(outer);
    const c = K === 0 ? ctx.output(batch * M * N) : outputUninit(batch * M * N); // K = 0: a sum of nothing
    addon.batchMatMul(av, bv, c, Int32Array.from([batch, batchA, batchB, M, K, N, transposeA ? 1 : 0, transposeB ? 1 : 0]));
    return b.makeTensorInfo([...outer, M, N], 'float32', c);
  });
}
