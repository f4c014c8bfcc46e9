/**
 * Kernels of the 'native' backend that hand a cpu-backend tensor's Float32Array straight to the addon: on oneDNN,
 * Conv2D, FusedConv2D (bias + relu), Conv2DBackpropInput/Filter, Conv3D, Conv3DBackpropInputV2/FilterV2,
 * BatchMatMul and the atrous op's dilated conv with its two gradients (TdcAtrous*); as OpenMP loops, the
 * memory-bound ops a training step is otherwise dominated by (measured on the ROBOT18 network at 128×160:
 * 12.5 s → 2.3 s per step): Add/Sub/Multiply/RealDiv/Maximum/Minimum, Relu, Step,
 * Neg, Relu6, Exp, AddN, Sum, Mean, Max, Transpose, Slice, SplitV, PadV2, Reverse, Concat, MaxPool(3D), MaxPool(3D)Grad,
 * a one-pass relu gradient, and training batch norm forward and backward in two passes each.
 *
 * Every kernel keeps the kernel it replaces as its fallback: cases the addon does not take (NCHW, non-float32
 * inputs, activations other than linear/relu, prelu weights, matmul batch shapes that broadcast per axis) and any
 * error it throws run the replaced kernel instead, so registering these can only change speed (the atrous kernels,
 * which replace none, fall back to the atrous op's forward-conv formulation run as stock kernels: see backend.ts).
 * Shapes and pads come from tfjs's own computeConv2DInfo / computeConv3DInfo, i.e. exactly what the stock kernels
 * compute (the atrous kernels get their pads from the op, see atrousParams).
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_GRAD_KERNEL, BATCH_NORM_TRAIN_KERNEL } from '../layers/batch-norm.js';
import { ATROUS_BACKPROP_FILTER_KERNEL, ATROUS_BACKPROP_INPUT_KERNEL, ATROUS_CONV_KERNEL } from '../ops/atrous.js';
import { RELU_GRAD_KERNEL } from '../ops/lean-grads.js';
import type { NativeAddon } from './loader.js';

type TensorInfo = tf.TensorInfo;
type KernelFunc = tf.KernelConfig['kernelFunc'];
type KernelArgs = Parameters<KernelFunc>[0];

/** The parts of tfjs's MathBackendCPU the kernels use (its tensors are plain typed arrays). */
interface CpuLike {
  data: { get(id: tf.DataId): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): TensorInfo;
}

/** How often each kernel ran natively and how often it fell back (tests check the native path really ran). */
export interface NativeKernelStats {
  native: number;
  fallback: number;
  /** message of the last error that caused a fallback ('' if none) */
  lastError: string;
}

const stats = new Map<string, NativeKernelStats>();

/** A copy of the per-kernel counters since the last reset. */
export function nativeKernelStats(): Record<string, NativeKernelStats> {
  return Object.fromEntries([...stats].map(([k, v]) => [k, { ...v }]));
}

/** Zeroes the counters. */
export function resetNativeKernelStats(): void {
  stats.clear();
}

function count(name: string, native: boolean, err = ''): void {
  const s = stats.get(name) ?? { native: 0, fallback: 0, lastError: '' };
  if (native) s.native++;
  else {
    s.fallback++;
    if (err) s.lastError = err;
  }
  stats.set(name, s);
}

/** The Float32Array behind a float32 tensor, or null (other dtypes, complex tensors). */
function f32(backend: CpuLike, t: TensorInfo | undefined): Float32Array | null {
  if (!t || t.dtype !== 'float32') return null;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : null;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

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

/** A kernel that runs `fast` and, when it declines (returns null) or throws, `fallback`. */
function kernel(name: string, fallback: KernelFunc, fast: (args: KernelArgs, backend: CpuLike) => TensorInfo | null): tf.KernelConfig {
  return {
    kernelName: name,
    backendName: 'native',
    kernelFunc: (args) => {
      let out: TensorInfo | null = null;
      let err = '';
      try {
        out = fast(args, args.backend as unknown as CpuLike);
      } catch (e) {
        err = e instanceof Error ? e.message : String(e);
      }
      count(name, out !== null, err);
      return out ?? fallback(args);
    },
  };
}

/**
 * The native kernels, each falling back to `fallbacks[kernelName]` (the kernel registered before it). Kernels with
 * no fallback given are left out.
 */
export function nativeKernelConfigs(addon: NativeAddon, fallbacks: Record<string, KernelFunc | undefined>): tf.KernelConfig[] {
  const out: tf.KernelConfig[] = [];
  const add = (name: string, fast: (args: KernelArgs, backend: CpuLike) => TensorInfo | null) => {
    const fb = fallbacks[name];
    if (fb) out.push(kernel(name, fb, fast));
  };

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
    const y = new Float32Array(size(info.outShape));
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
    const dx = new Float32Array(size(a.inputShape));
    addon.convBackwardData(dyv, wv, dx, params2d(info));
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
    const dw = new Float32Array(size(a.filterShape));
    addon.convBackwardWeights(xv, dyv, dw, params2d(info));
    return b.makeTensorInfo([...a.filterShape], 'float32', dw);
  });

  add('Conv3D', (args, b) => {
    const { x, filter } = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as Conv3DAttrs;
    if ((a.dataFormat ?? 'NDHWC') !== 'NDHWC') return null;
    const xv = f32(b, x);
    const wv = f32(b, filter);
    if (!xv || !wv) return null;
    const info = info3d(x!.shape, filter!.shape, a);
    const y = new Float32Array(size(info.outShape));
    addon.convForward(xv, wv, null, y, params3d(info), 0);
    return b.makeTensorInfo(info.outShape, 'float32', y);
  });

  add('Conv3DBackpropInputV2', (args, b) => {
    const { dy, filter } = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as Conv3DAttrs & { inputShape: number[] };
    const dyv = f32(b, dy);
    const wv = f32(b, filter);
    if (!dyv || !wv) return null;
    const info = info3d(a.inputShape, filter!.shape, { ...a, dilations: 1 });
    const dx = new Float32Array(size(a.inputShape));
    addon.convBackwardData(dyv, wv, dx, params3d(info));
    return b.makeTensorInfo([...a.inputShape], 'float32', dx);
  });

  add('Conv3DBackpropFilterV2', (args, b) => {
    const { x, dy } = args.inputs as Record<string, TensorInfo>;
    const a = args.attrs as unknown as Conv3DAttrs & { filterShape: number[] };
    const xv = f32(b, x);
    const dyv = f32(b, dy);
    if (!xv || !dyv) return null;
    const info = info3d(x!.shape, a.filterShape, { ...a, dilations: 1 });
    const dw = new Float32Array(size(a.filterShape));
    addon.convBackwardWeights(xv, dyv, dw, params3d(info));
    return b.makeTensorInfo([...a.filterShape], 'float32', dw);
  });

  // The atrous op's conv and its two gradients (runtime/ops/atrous.ts), dilation and pads given to oneDNN as they
  // are: one primitive each, where the forward-conv formulation pads, flips and transposes around three convs.
  add(ATROUS_CONV_KERNEL, (args, b) => {
    const { x, filter } = args.inputs as Record<string, TensorInfo>;
    const xv = f32(b, x);
    const wv = f32(b, filter);
    if (!xv || !wv) return null;
    const p = atrousParams(x!.shape, filter!.shape, args.attrs as unknown as AtrousAttrs);
    if (!p) return null;
    const y = new Float32Array(size(p.outShape));
    addon.convForward(xv, wv, null, y, p.params, 0);
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
    const dx = new Float32Array(size(a.inputShape));
    // dx is also the forward conv of dy, at the same rates, with the filter flipped and in/out swapped and pads
    // (k − 1)·rate − pad, and oneDNN 2.6's forward primitive is the faster one: its dilated backward-data falls
    // back to gemm (measured for one [2, 19, 36, 36, 128] 1×3×3 conv: 118 → 50 ms at rates [1, 15, 15], 433 → 64 ms
    // at [1, 7, 7], 80 → 72 ms at [1, 2, 2]). Pads beyond (k − 1)·rate (a single cropped tap reading partly
    // outside the map) would be negative there: those go to backward-data.
    const nd = a.rates.length;
    const k = filter!.shape.slice(0, nd);
    const flipPads = a.pads.map(([before, after], i): [number, number] => [(k[i]! - 1) * a.rates[i]! - before, (k[i]! - 1) * a.rates[i]! - after]);
    if (flipPads.some(([before, after]) => before < 0 || after < 0)) {
      addon.convBackwardData(dyv, wv, dx, p.params);
    } else {
      const [ic, oc] = [filter!.shape[nd]!, filter!.shape[nd + 1]!];
      const flipShape = [...k, oc, ic];
      const st = stridesOf(filter!.shape);
      const flipped = new Float32Array(wv.length);
      const from = k.reduce((acc, d, i) => acc + (d - 1) * st[i]!, 0);
      addon.stridedCopy(wv, flipped, copyParams(flipShape, from, [...k.map((_, i) => -st[i]!), 1, oc], 0, stridesOf(flipShape)));
      const q = atrousParams(dy!.shape, flipShape, { rates: a.rates, pads: flipPads })!;
      addon.convForward(dyv, flipped, null, dx, q.params, 0);
    }
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
    const dw = new Float32Array(size(a.filterShape));
    addon.convBackwardWeights(xv, dyv, dw, p.params);
    return b.makeTensorInfo([...a.filterShape], 'float32', dw);
  });

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
    const c = new Float32Array(batch * M * N);
    addon.batchMatMul(av, bv, c, Int32Array.from([batch, batchA, batchB, M, K, N, transposeA ? 1 : 0, transposeB ? 1 : 0]));
    return b.makeTensorInfo([...outer, M, N], 'float32', c);
  });
  addMemoryBound(addon, add);
  return out;
}

/**
 * How the addon's binary loop covers a broadcast: 0 when both sides have the output's size, one is a scalar, or
 * the smaller one is a trailing block of the output's axes ([B, H, W, C] op [C]); 1 when the smaller one is a
 * leading block ([N, K] op [N, 1]); null for anything else (per-axis broadcasting: the stock kernel's job).
 */
function broadcastMode(a: number[], b: number[], out: number[]): number | null {
  const n = size(out);
  const na = size(a);
  const nb = size(b);
  if ((na === n && nb === n) || na === 1 || nb === 1) return 0;
  if (na !== n && nb !== n) return null;
  const small = na < nb ? a : b;
  const s = [...new Array<number>(out.length - small.length).fill(1), ...small];
  const firstReal = s.findIndex((d) => d !== 1);
  const lastReal = s.length - 1 - [...s].reverse().findIndex((d) => d !== 1);
  // Trailing block: 1s, then exactly the output's last axes.
  if (s.slice(firstReal).every((d, i) => d === out[firstReal + i])) return 0;
  // Leading block: exactly the output's first axes, then 1s.
  if (s.slice(0, lastReal + 1).every((d, i) => d === out[i])) return 1;
  return null;
}

/** Row-major strides of `shape`. */
function stridesOf(shape: number[]): number[] {
  const st = new Array<number>(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) st[d] = st[d + 1]! * shape[d + 1]!;
  return st;
}

/** The stridedCopy params for copying the box `shape`. */
function copyParams(shape: number[], srcOff: number, srcStrides: number[], dstOff: number, dstStrides: number[]): Int32Array {
  // A rank-0 copy is a rank-1 copy of one element.
  if (shape.length === 0) return Int32Array.from([1, 1, srcOff, 1, dstOff, 1]);
  return Int32Array.from([shape.length, ...shape, srcOff, ...srcStrides, dstOff, ...dstStrides]);
}

/**
 * Memory-bound kernels the stock cpu backend runs as single-threaded JS (per-element index arithmetic for Transpose,
 * Slice, PadV2, Reverse): elementwise arithmetic, relu and its gradient's step, sums and means over a block of
 * axes, layout changes, concat, max pooling and its gradient.
 */
function addMemoryBound(addon: NativeAddon, add: (name: string, fast: (args: KernelArgs, backend: CpuLike) => TensorInfo | null) => void): void {
  const BINARY: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5 };
  for (const [name, op] of Object.entries(BINARY)) {
    add(name, (args, b) => {
      const { a: ta, b: tb } = args.inputs as Record<string, TensorInfo>;
      const av = f32(b, ta);
      const bv = f32(b, tb);
      if (!av || !bv) return null;
      const shape = tf.backend_util.assertAndGetBroadcastShape(ta!.shape, tb!.shape);
      const n = size(shape);
      if (n === 0 || av.length !== size(ta!.shape) || bv.length !== size(tb!.shape)) return null;
      const mode = broadcastMode(ta!.shape, tb!.shape, shape);
      if (mode === null) return null;
      const out = new Float32Array(n);
      addon.binary(op, av, bv, out, mode);
      return b.makeTensorInfo(shape, 'float32', out);
    });
  }

  const UNARY: Record<string, number> = { Relu: 0, Step: 1, Neg: 2, Relu6: 3, Exp: 4 };
  for (const [name, op] of Object.entries(UNARY)) {
    add(name, (args, b) => {
      const { x } = args.inputs as Record<string, TensorInfo>;
      const xv = f32(b, x);
      if (!xv || xv.length !== size(x!.shape)) return null;
      const alpha = name === 'Step' ? ((args.attrs as { alpha?: number }).alpha ?? 0) : 0;
      const out = new Float32Array(xv.length);
      addon.unary(op, xv, out, alpha);
      return b.makeTensorInfo([...x!.shape], 'float32', out);
    });
  }

  add('AddN', (args, b) => {
    const ins = args.inputs as unknown as TensorInfo[];
    if (!Array.isArray(ins) || ins.length === 0) return null;
    const vals = ins.map((t) => f32(b, t));
    const n = size(ins[0]!.shape);
    if (vals.some((v, i) => !v || v.length !== n || ins[i]!.shape.some((d, j) => d !== ins[0]!.shape[j]))) return null;
    const out = new Float32Array(n);
    if (ins.length === 1) out.set(vals[0]!);
    else {
      addon.binary(0, vals[0]!, vals[1]!, out, 0);
      for (let i = 2; i < vals.length; i++) addon.binary(0, out, vals[i]!, out, 0);
    }
    return b.makeTensorInfo([...ins[0]!.shape], 'float32', out);
  });

  // The relu's gradient in one pass (tfjs computes mul(dy, step(x)): two passes, two arrays); see reluGrad.ts.
  add(RELU_GRAD_KERNEL, (args, b) => {
    const { dy, x } = args.inputs as Record<string, TensorInfo>;
    const dyv = f32(b, dy);
    const xv = f32(b, x);
    if (!dyv || !xv || dyv.length !== xv.length || dyv.length === 0) return null;
    const out = new Float32Array(xv.length);
    addon.binary(6, dyv, xv, out, 0);
    return b.makeTensorInfo([...x!.shape], 'float32', out);
  });

  // Training batch norm (runtime/layers/batch-norm.ts): tfjs's expressions are ~5 passes forward and ~12 backward
  // over the map; these are 2 each. The statistics are over every axis but the last, i.e. x as [M, C].
  add(BATCH_NORM_TRAIN_KERNEL, (args, b) => {
    const { x, gamma, beta } = args.inputs as Record<string, TensorInfo>;
    const { epsilon } = args.attrs as unknown as { epsilon: number };
    const xv = f32(b, x);
    const gv = f32(b, gamma);
    const bv = f32(b, beta);
    if (!xv || !gv || !bv || x!.shape.length === 0) return null;
    const c = x!.shape[x!.shape.length - 1]!;
    // An empty batch (statistics NaN) is left to the stock kernels.
    if (xv.length === 0 || xv.length !== size(x!.shape) || gv.length !== c || bv.length !== c) return null;
    const y = new Float32Array(xv.length);
    const mean = new Float32Array(c);
    const variance = new Float32Array(c);
    const invstd = new Float32Array(c);
    addon.batchNormTrain(xv, gv, bv, y, mean, variance, invstd, epsilon);
    return [
      b.makeTensorInfo([...x!.shape], 'float32', y),
      b.makeTensorInfo([c], 'float32', mean),
      b.makeTensorInfo([c], 'float32', variance),
      b.makeTensorInfo([c], 'float32', invstd),
    ] as unknown as TensorInfo;
  });
  add(BATCH_NORM_GRAD_KERNEL, (args, b) => {
    const { dy, x, mean, invstd, gamma } = args.inputs as Record<string, TensorInfo>;
    const dyv = f32(b, dy);
    const xv = f32(b, x);
    const mv = f32(b, mean);
    const iv = f32(b, invstd);
    const gv = f32(b, gamma);
    if (!dyv || !xv || !mv || !iv || !gv || x!.shape.length === 0) return null;
    const c = x!.shape[x!.shape.length - 1]!;
    if (xv.length === 0 || xv.length !== size(x!.shape) || dyv.length !== xv.length || mv.length !== c || iv.length !== c || gv.length !== c) return null;
    const dx = new Float32Array(xv.length);
    const dgamma = new Float32Array(c);
    const dbeta = new Float32Array(c);
    addon.batchNormGrad(dyv, xv, mv, iv, gv, dx, dgamma, dbeta);
    return [
      b.makeTensorInfo([...x!.shape], 'float32', dx),
      b.makeTensorInfo([c], 'float32', dgamma),
      b.makeTensorInfo([c], 'float32', dbeta),
    ] as unknown as TensorInfo;
  });

  const reduce = (mean: boolean) => (args: KernelArgs, b: CpuLike) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const xv = f32(b, x);
    if (!xv) return null;
    const shape = x!.shape;
    const axes = tf.util.parseAxisParam(axis, shape).sort((p, q) => p - q);
    if (axes.length === 0) return null;
    // Only a contiguous block of axes maps onto [outer, mid, inner].
    if (axes.some((ax, i) => i > 0 && ax !== axes[i - 1]! + 1)) return null;
    const a0 = axes[0]!;
    const a1 = axes[axes.length - 1]!;
    const outer = size(shape.slice(0, a0));
    const mid = size(shape.slice(a0, a1 + 1));
    const inner = size(shape.slice(a1 + 1));
    if (mid === 0) return null;
    const out = new Float32Array(outer * inner);
    addon.reduceSum(xv, out, Int32Array.from([outer, mid, inner]), mean ? 1 / mid : 1);
    const outShape = keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
    return b.makeTensorInfo(outShape, 'float32', out);
  };
  add('Sum', reduce(false));
  add('Mean', reduce(true));
  add('Max', (args, b) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const { reductionIndices, keepDims } = args.attrs as unknown as { reductionIndices: number | number[]; keepDims: boolean };
    const xv = f32(b, x);
    if (!xv || xv.length === 0) return null;
    const shape = x!.shape;
    const axes = tf.util.parseAxisParam(reductionIndices, shape).sort((p, q) => p - q);
    if (axes.length === 0 || axes.some((ax, i) => i > 0 && ax !== axes[i - 1]! + 1)) return null;
    const outer = size(shape.slice(0, axes[0]!));
    const mid = size(shape.slice(axes[0]!, axes[axes.length - 1]! + 1));
    const inner = size(shape.slice(axes[axes.length - 1]! + 1));
    const out = new Float32Array(outer * inner);
    addon.reduceMax(xv, out, Int32Array.from([outer, mid, inner]));
    const outShape = keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
    return b.makeTensorInfo(outShape, 'float32', out);
  });

  add('Transpose', (args, b) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const { perm } = args.attrs as unknown as { perm: number[] };
    const xv = f32(b, x);
    if (!xv || x!.shape.length === 0) return null;
    const st = stridesOf(x!.shape);
    const outShape = perm.map((p) => x!.shape[p]!);
    const out = new Float32Array(xv.length);
    if (xv.length > 0) addon.stridedCopy(xv, out, copyParams(outShape, 0, perm.map((p) => st[p]!), 0, stridesOf(outShape)));
    return b.makeTensorInfo(outShape, 'float32', out);
  });

  add('Slice', (args, b) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const { begin, size: sz } = args.attrs as unknown as { begin: number | number[]; size?: number | number[] };
    const xv = f32(b, x);
    if (!xv || x!.shape.length === 0) return null;
    const [bg, sizes] = tf.slice_util.parseSliceParams(x!, begin, sz);
    tf.slice_util.assertParamsValid(x!, bg!, sizes!);
    const st = stridesOf(x!.shape);
    const out = new Float32Array(size(sizes!));
    if (out.length > 0) {
      const off = bg!.reduce((acc, v, i) => acc + v * st[i]!, 0);
      addon.stridedCopy(xv, out, copyParams(sizes!, off, st, 0, stridesOf(sizes!)));
    }
    return b.makeTensorInfo(sizes!, 'float32', out);
  });

  add('SplitV', (args, b) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const xv = f32(b, x);
    if (!xv || x!.shape.length === 0) return null;
    const ax = tf.util.parseAxisParam(axis, x!.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
    const st = stridesOf(x!.shape);
    let at = 0;
    // A kernel with several outputs returns a list (the engine accepts TensorInfo | TensorInfo[]).
    return sizes.map((len) => {
      const shape = [...x!.shape];
      shape[ax] = len;
      const out = new Float32Array(size(shape));
      if (out.length > 0) addon.stridedCopy(xv, out, copyParams(shape, at * st[ax]!, st, 0, stridesOf(shape)));
      at += len;
      return b.makeTensorInfo(shape, 'float32', out);
    }) as unknown as TensorInfo;
  });

  add('PadV2', (args, b) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const { paddings, constantValue } = args.attrs as unknown as { paddings: [number, number][]; constantValue: number };
    const xv = f32(b, x);
    if (!xv || x!.shape.length === 0 || paddings.some(([p, q]) => p < 0 || q < 0)) return null;
    const outShape = x!.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]);
    const ost = stridesOf(outShape);
    const out = new Float32Array(size(outShape));
    if (constantValue !== 0) addon.fill(out, constantValue);
    if (xv.length > 0) {
      const off = paddings.reduce((acc, [p], i) => acc + p * ost[i]!, 0);
      addon.stridedCopy(xv, out, copyParams(x!.shape, 0, stridesOf(x!.shape), off, ost));
    }
    return b.makeTensorInfo(outShape, 'float32', out);
  });

  add('Reverse', (args, b) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const { dims } = args.attrs as unknown as { dims: number | number[] };
    const xv = f32(b, x);
    if (!xv || x!.shape.length === 0) return null;
    const axes = tf.util.parseAxisParam(dims, x!.shape);
    const st = stridesOf(x!.shape);
    let off = 0;
    const src = st.map((s, i) => {
      if (!axes.includes(i)) return s;
      off += (x!.shape[i]! - 1) * s;
      return -s;
    });
    const out = new Float32Array(xv.length);
    if (xv.length > 0) addon.stridedCopy(xv, out, copyParams(x!.shape, off, src, 0, st));
    return b.makeTensorInfo([...x!.shape], 'float32', out);
  });

  add('Concat', (args, b) => {
    const ins = args.inputs as unknown as TensorInfo[];
    const { axis } = args.attrs as unknown as { axis: number };
    if (!Array.isArray(ins) || ins.length === 0 || ins[0]!.shape.length === 0) return null;
    const vals = ins.map((t) => f32(b, t));
    if (vals.some((v) => !v)) return null;
    const ax = tf.util.parseAxisParam(axis, ins[0]!.shape)[0]!;
    const rank = ins[0]!.shape.length;
    if (ins.some((t) => t.shape.length !== rank || t.shape.some((d, i) => i !== ax && d !== ins[0]!.shape[i]))) return null;
    const outShape = [...ins[0]!.shape];
    outShape[ax] = ins.reduce((acc, t) => acc + t.shape[ax]!, 0);
    const ost = stridesOf(outShape);
    const out = new Float32Array(size(outShape));
    let at = 0;
    ins.forEach((t, i) => {
      if (size(t.shape) > 0) addon.stridedCopy(vals[i]!, out, copyParams(t.shape, 0, stridesOf(t.shape), at * ost[ax]!, ost));
      at += t.shape[ax]!;
    });
    return b.makeTensorInfo(outShape, 'float32', out);
  });

  type PoolAttrs = { filterSize: number | number[]; strides: number | number[]; pad: Pad; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  /** The addon's pooling params; 2D pooling is 3D pooling with depth 1. */
  const poolInfo = (xShape: number[], attrs: unknown, threeD: boolean) => {
    const a = attrs as PoolAttrs;
    if (!threeD) {
      const i = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], a.filterSize as number, a.strides as number, 1, a.pad as 'same', a.dimRoundingMode);
      const p = Int32Array.from([
        i.batchSize, 1, i.inHeight, i.inWidth, i.inChannels, 1, i.outHeight, i.outWidth,
        1, i.filterHeight, i.filterWidth, 1, i.strideHeight, i.strideWidth, 0, i.padInfo.top, i.padInfo.left, 0,
      ]);
      return { outShape: i.outShape, identity: i.filterHeight === 1 && i.filterWidth === 1 && i.strideHeight === 1 && i.strideWidth === 1, p };
    }
    const i = tf.backend_util.computePool3DInfo(xShape as [number, number, number, number, number], a.filterSize as number, a.strides as number, 1, a.pad as 'same', a.dimRoundingMode);
    const p = Int32Array.from([
      i.batchSize, i.inDepth, i.inHeight, i.inWidth, i.inChannels, i.outDepth, i.outHeight, i.outWidth,
      i.filterDepth, i.filterHeight, i.filterWidth, i.strideDepth, i.strideHeight, i.strideWidth,
      i.padInfo.front, i.padInfo.top, i.padInfo.left, 1,
    ]);
    return { outShape: i.outShape, identity: false, p };
  };
  for (const threeD of [false, true]) {
    const rank = threeD ? 5 : 4;
    add(threeD ? 'MaxPool3D' : 'MaxPool', (args, b) => {
      const { x } = args.inputs as Record<string, TensorInfo>;
      const xv = f32(b, x);
      if (!xv || x!.shape.length !== rank) return null;
      if (threeD && ((args.attrs as { dataFormat?: string }).dataFormat ?? 'NDHWC') !== 'NDHWC') return null;
      const { outShape, identity, p } = poolInfo(x!.shape, args.attrs, threeD);
      // A 1×1 window with stride 1 is an identity the stock 2D kernel special-cases; leave it to it.
      if (identity) return null;
      const y = new Float32Array(size(outShape));
      addon.maxPool(xv, y, p);
      return b.makeTensorInfo(outShape, 'float32', y);
    });
    add(threeD ? 'MaxPool3DGrad' : 'MaxPoolGrad', (args, b) => {
      const { dy, input } = args.inputs as Record<string, TensorInfo>;
      const dyv = f32(b, dy);
      const xv = f32(b, input);
      if (!dyv || !xv || input!.shape.length !== rank) return null;
      const { outShape, p } = poolInfo(input!.shape, args.attrs, threeD);
      if (outShape.some((d, i) => d !== dy!.shape[i])) return null;
      const dx = new Float32Array(xv.length);
      addon.maxPoolGrad(dyv, xv, dx, p);
      return b.makeTensorInfo([...input!.shape], 'float32', dx);
    });
  }
}
