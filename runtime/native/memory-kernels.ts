/**
 * Memory-bound kernels the stock cpu backend runs as single-threaded JS (per-element index arithmetic for Transpose,
 * Slice, PadV2, Reverse), as the addon's OpenMP loops: elementwise arithmetic (Add/Sub/Multiply/RealDiv/Maximum/
 * Minimum, Relu, Step, Neg, Relu6, Exp, AddN), a one-pass relu gradient, training batch norm forward and backward in
 * two passes each, sums, means and maxima over a block of axes, layout changes (Transpose, Slice, SplitV, PadV2,
 * Reverse, Concat, GatherV2), max pooling (2D and 3D) and its gradient, bilinear resizing.
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_APPLY_KERNEL, BATCH_NORM_GRAD_KERNEL, BATCH_NORM_TRAIN_KERNEL, RELU_GRAD_KERNEL } from '../ops/kernel-names.js';
import { copyParams, f32, size, stridesOf, type CpuLike, type KernelArgs, type KernelContext, type TensorInfo } from './kernels.js';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** Registers the memory-bound kernels. */
export function memoryKernels(ctx: KernelContext): void {
  elementwiseKernels(ctx);
  batchNormKernels(ctx);
  reductionKernels(ctx);
  layoutKernels(ctx);
  poolKernels(ctx);
  resizeKernels(ctx);
}

/**
 * How the addon's binary loop covers a broadcast: 0 when both sides have the output's size, one is a scalar, or
 * the smaller one is a trailing block of the output's axes ([B, H, W, C] op [C]); 1 when the smaller one is a
 * leading block ([N, K] op [N, 1]); null for anything else (per-axis broadcasting: binaryStrided's job).
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


/**
 * The addon's binaryStrided params for a per-axis broadcast: the output box and each input's strides over it (0
 * along an axis it broadcasts), with size-1 axes dropped and neighbouring axes merged wherever both inputs step
 * through them as one ([2, 1, C] op [2, M, C] stays rank 3; [B, 1, 1, C] op [B, H, W, C] becomes [B, H·W, C]).
 */
export function broadcastParams(a: number[], b: number[], out: number[]): Int32Array {
  const stridesOver = (s: number[]) => {
    const full = [...new Array<number>(out.length - s.length).fill(1), ...s];
    const st = stridesOf(full);
    return full.map((d, i) => (d === 1 ? 0 : st[i]!));
  };
  const sa = stridesOver(a);
  const sb = stridesOver(b);
  const dims: [number, number, number][] = [];
  out.forEach((d, i) => {
    if (d === 1) return;
    const last = dims[dims.length - 1];
    // Merge axis i into the previous one when, for both inputs, one step there equals d steps here.
    if (last && last[1] === sa[i]! * d && last[2] === sb[i]! * d) {
      last[0] *= d;
      last[1] = sa[i]!;
      last[2] = sb[i]!;
    } else dims.push([d, sa[i]!, sb[i]!]);
  });
  if (dims.length === 0) dims.push([1, 0, 0]);
  return Int32Array.from([dims.length, ...dims.map((x) => x[0]), ...dims.map((x) => x[1]), ...dims.map((x) => x[2])]);
}

function elementwiseKernels(ctx: KernelContext): void {
  const { addon, add, output, outputUninit } = ctx;
  // The addon's binary ops, by the tfjs kernel each one runs (its one table: tdc_native.cc's TDC_BINARY_OPS).
  for (const [name, op] of Object.entries(addon.binaryOps)) {
    if (name === RELU_GRAD_KERNEL) continue; // inputs { dy, x }: below
    add(name, (args, b) => {
      const { a: ta, b: tb } = args.inputs as Record<string, TensorInfo>;
      const av = f32(b, ta);
      const bv = f32(b, tb);
      if (!av || !bv) return null;
      const shape = tf.backend_util.assertAndGetBroadcastShape(ta!.shape, tb!.shape);
      const n = size(shape);
      if (n === 0 || av.length !== size(ta!.shape) || bv.length !== size(tb!.shape)) return null;
      const mode = broadcastMode(ta!.shape, tb!.shape, shape);
      const out = outputUninit(n);
      if (mode === null) addon.binaryStrided(op, av, bv, out, broadcastParams(ta!.shape, tb!.shape, shape));
      else addon.binary(op, av, bv, out, mode);
      return b.makeTensorInfo(shape, 'float32', out);
    });
  }

  for (const [name, op] of Object.entries(addon.unaryOps)) {
    add(name, (args, b) => {
      const { x } = args.inputs as Record<string, TensorInfo>;
      const xv = f32(b, x);
      if (!xv || xv.length !== size(x!.shape)) return null;
      const alpha = name === 'Step' ? ((args.attrs as { alpha?: number }).alpha ?? 0) : 0;
      const out = outputUninit(xv.length);
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
    const out = output(n);
    if (ins.length === 1) out.set(vals[0]!);
    else {
      addon.binary(addon.binaryOps.Add!, vals[0]!, vals[1]!, out, 0);
      for (let i = 2; i < vals.length; i++) addon.binary(addon.binaryOps.Add!, out, vals[i]!, out, 0);
    }
    return b.makeTensorInfo([...ins[0]!.shape], 'float32', out);
  });

  // The relu's gradient in one pass (tfjs computes mul(dy, step(x)): two passes, two arrays); see lean-grads.ts.
  const reluGrad = addon.binaryOps[RELU_GRAD_KERNEL];
  if (reluGrad !== undefined) add(RELU_GRAD_KERNEL, (args, b) => {
    const { dy, x } = args.inputs as Record<string, TensorInfo>;
    const dyv = f32(b, dy);
    const xv = f32(b, x);
    if (!dyv || !xv || dyv.length !== xv.length || dyv.length === 0) return null;
    const out = outputUninit(xv.length);
    addon.binary(reluGrad, dyv, xv, out, 0);
    return b.makeTensorInfo([...x!.shape], 'float32', out);
  });
}

function batchNormKernels(ctx: KernelContext): void {
  const { addon, add, output, outputUninit } = ctx;
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
    const y = outputUninit(xv.length);
    const mean = output(c);
    const variance = output(c);
    const invstd = output(c);
    addon.batchNormTrain(xv, gv, bv, y, mean, variance, invstd, epsilon);
    return [
      b.makeTensorInfo([...x!.shape], 'float32', y),
      b.makeTensorInfo([c], 'float32', mean),
      b.makeTensorInfo([c], 'float32', variance),
      b.makeTensorInfo([c], 'float32', invstd),
    ] as unknown as TensorInfo;
  });
  add(BATCH_NORM_APPLY_KERNEL, (args, b) => {
    const { x, mean, scale, beta } = args.inputs as Record<string, TensorInfo>;
    const xv = f32(b, x);
    const vs = [mean, scale, beta].map((t) => f32(b, t));
    if (!xv || vs.some((v) => !v) || x!.shape.length === 0) return null;
    const c = x!.shape[x!.shape.length - 1]!;
    if (xv.length === 0 || xv.length !== size(x!.shape) || [mean, scale, beta].some((t, i) => vs[i]!.length !== c || size(t!.shape) !== c)) return null;
    const y = outputUninit(xv.length);
    addon.batchNormApply(xv, vs[0]!, vs[1]!, vs[2]!, y);
    return b.makeTensorInfo([...x!.shape], 'float32', y);
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
    const dx = outputUninit(xv.length);
    const dgamma = output(c);
    const dbeta = output(c);
    addon.batchNormGrad(dyv, xv, mv, iv, gv, dx, dgamma, dbeta);
    return [
      b.makeTensorInfo([...x!.shape], 'float32', dx),
      b.makeTensorInfo([c], 'float32', dgamma),
      b.makeTensorInfo([c], 'float32', dbeta),
    ] as unknown as TensorInfo;
  });
}

function reductionKernels(ctx: KernelContext): void {
  const { addon, add, output } = ctx;
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
    const out = output(outer * inner);
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
    const out = output(outer * inner);
    addon.reduceMax(xv, out, Int32Array.from([outer, mid, inner]));
    const outShape = keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
    return b.makeTensorInfo(outShape, 'float32', out);
  });
}

function layoutKernels(ctx: KernelContext): void {
  const { addon, add, output } = ctx;
  add('Transpose', (args, b) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const { perm } = args.attrs as unknown as { perm: number[] };
    const xv = f32(b, x);
    if (!xv || x!.shape.length === 0) return null;
    const st = stridesOf(x!.shape);
    const outShape = perm.map((p) => x!.shape[p]!);
    const out = output(xv.length);
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
    const out = output(size(sizes!));
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
      const out = output(size(shape));
      if (out.length > 0) addon.stridedCopy(xv, out, copyParams(shape, at * st[ax]!, st, 0, stridesOf(shape)));
      at += len;
      return b.makeTensorInfo(shape, 'float32', out);
    }) as unknown as TensorInfo;
  });

  // Gather along one axis (batchDims 0): one strided copy per index (the ASPP image pooling's nearest upsampling
  // from one pixel gathers a [B, D, H, 1, C] map W times; the stock kernel computes every element's index in JS).
  add('GatherV2', (args, b) => {
    const { x, indices } = args.inputs as Record<string, TensorInfo>;
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims?: number };
    const xv = f32(b, x);
    const iv = indices?.dtype === 'int32' ? b.data.get(indices.dataId).values : null;
    if (!xv || !(iv instanceof Int32Array) || (batchDims ?? 0) !== 0 || x!.shape.length === 0) return null;
    const ax = tf.util.parseAxisParam(axis, x!.shape)[0]!;
    const n = x!.shape[ax]!;
    // Out-of-range indices (an error or zeros, by backend) are the stock kernel's to report.
    if (iv.length !== size(indices!.shape) || iv.some((i) => i < 0 || i >= n)) return null;
    const outer = size(x!.shape.slice(0, ax));
    const inner = size(x!.shape.slice(ax + 1));
    const m = iv.length;
    const outShape = [...x!.shape.slice(0, ax), ...indices!.shape, ...x!.shape.slice(ax + 1)];
    const out = output(outer * m * inner);
    if (out.length > 0) iv.forEach((i, j) => addon.stridedCopy(xv, out, copyParams([outer, inner], i * inner, [n * inner, 1], j * inner, [m * inner, 1])));
    return b.makeTensorInfo(outShape, 'float32', out);
  });

  add('PadV2', (args, b) => {
    const { x } = args.inputs as Record<string, TensorInfo>;
    const { paddings, constantValue } = args.attrs as unknown as { paddings: [number, number][]; constantValue: number };
    const xv = f32(b, x);
    if (!xv || x!.shape.length === 0 || paddings.some(([p, q]) => p < 0 || q < 0)) return null;
    const outShape = x!.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]);
    const ost = stridesOf(outShape);
    const out = output(size(outShape));
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
    const out = output(xv.length);
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
    const out = output(size(outShape));
    let at = 0;
    ins.forEach((t, i) => {
      if (size(t.shape) > 0) addon.stridedCopy(vals[i]!, out, copyParams(t.shape, 0, stridesOf(t.shape), at * ost[ax]!, ost));
      at += t.shape[ax]!;
    });
    return b.makeTensorInfo(outShape, 'float32', out);
  });
}

function poolKernels(ctx: KernelContext): void {
  const { addon, add, outputUninit } = ctx;
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
      const y = outputUninit(size(outShape));
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
      const dx = outputUninit(xv.length); // the addon zeroes dx itself unless the windows tile the input
      addon.maxPoolGrad(dyv, xv, dx, p);
      return b.makeTensorInfo([...input!.shape], 'float32', dx);
    });
  }
}

function resizeKernels(ctx: KernelContext): void {
  const { addon, add, outputUninit } = ctx;
  add('ResizeBilinear', (args, b) => {
    const { images } = args.inputs as Record<string, TensorInfo>;
    const { alignCorners, halfPixelCenters, size: sz } = args.attrs as unknown as { alignCorners: boolean; halfPixelCenters: boolean; size: [number, number] };
    const xv = f32(b, images);
    if (!xv || images!.shape.length !== 4) return null;
    const [batch, h, w, c] = images!.shape as [number, number, number, number];
    const [oh, ow] = sz;
    if (xv.length !== batch * h * w * c || h < 1 || w < 1) return null;
    // The stock kernel's source-coordinate ratios (in JS doubles, as it computes them).
    const ratio = (inSize: number, outSize: number) => (alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize);
    const y = outputUninit(batch * oh * ow * c);
    if (y.length > 0) addon.resizeBilinear(xv, y, Int32Array.from([batch, h, w, c, oh, ow, halfPixelCenters ? 1 : 0]), ratio(h, oh), ratio(w, ow));
    return b.makeTensorInfo([batch, oh, ow, c], 'float32', y);
  });
}
