/**
 * Trainable dilated (atrous) convolutions, 2D (NHWC) and 3D (NDHWC), stride 1: tfjs 4.22 throws "dilation rates
 * greater than 1 are not yet supported in gradients" for conv2d/conv3d on every backend.
 *
 * Method: `tf.customGrad` around the backend's own dilated forward conv, with both gradients computed as forward
 * convolutions (chosen over space-to-batch → conv → batch-to-space):
 *   - forward: one `tf.conv2d/conv3d` with `dilations` (2D: the pads as the conv's explicit pads; 3D: 'valid' on
 *     a padded copy); XNNPACK (wasm) and the cpu kernel run dilated taps natively, so no space-to-batch copies;
 *     space-to-batch would need the map padded to a multiple of the rate, which at rate 15–63 on a 16×20 map
 *     multiplies the work and the batch (rate² sub-images of 1–2 pixels each). Measured on wasm (1×32×40×128,
 *     3×3×128×128, forward + both gradients): 49 ms at rate 2 and 51 ms at rate 4, against 80 and 88 ms for
 *     space-to-batch. In 2D, where the pads take 40 % or more of the multiply-adds (rate 7 and 15 on a 16×16 map),
 *     one matrix product per tap over only the outputs that tap reads inside x instead (`convByRegions`).
 *   - dx[p] = Σ_k dy[p − k·r] · W[k]ᵀ: a dilated conv of dy with the spatially flipped, in/out-swapped filter,
 *     padded (or cropped) so that it yields exactly the unpadded x's gradient (`inputGradPads`; the padded
 *     border's gradient is never computed); by regions as the forward where the pads dominate.
 *   - dW[k] = Σ_{b,i} x[b, i + k·r] ⊗ dy[b, i]: the backend's ATROUS_BACKPROP_FILTER_KERNEL where it has one
 *     (wasm, 2D: one matrix product per tap, runtime/backend/kernels.ts); else a forward conv with x transposed to
 *     [cin, (D,) H, W, B] as the "batch" and dy transposed to [(oD,) oH, oW, B, cout] as the "filter", strides =
 *     rates, dilation 1, the result [cin, (kd,) kh, kw, cout] transposed back (see
 *     /work/shared/notes/tfjs-on-node.md); it needs no Conv2DBackpropFilter kernel.
 * Before convolving, taps that can only ever read padding (rate ≥ map size along an axis, e.g. ASPP rate 18 on a
 * 16-row map) are cropped from the filter: their output contribution and gradient are exactly zero, so this
 * is exact and turns such convs into cheaper ones (a 3×3 at rate 63 on a 16×20 map becomes a 1×1).
 * Rate 1 on every remaining axis delegates to tf.conv2d/conv3d, whose own gradients are correct.
 *
 * On a backend that registers the three ATROUS_* kernels below (the 'native' one: oneDNN convolutions take the
 * dilation and explicit pads directly), the padded-and-dilated conv and both its gradients are one kernel each
 * instead: no padded copies of x or dy, no transposed x or dy (3–4× faster forward + backward on BRATS18's
 * shapes). The tap cropping above is kept (it still makes the conv cheaper); only its zero padding becomes the
 * kernels' pads. Other backends (wasm, which registers only the filter-gradient kernel, and cpu) take the
 * forward-conv formulation.
 */
import * as tf from '@tensorflow/tfjs';
import type { ConvActivation } from './conv-bias-act.js';
import { flipSwapFilter } from './flip-filter.js';
import { ATROUS_BACKPROP_FILTER_KERNEL, ATROUS_BACKPROP_INPUT_KERNEL, ATROUS_CONV_KERNEL } from './kernel-names.js';
import { lazyCustomGrad, type LazyGradBody, type LazyGradFunc } from './lazy-grad.js';
import { biasAdd, biasGrad, reluGradFromOutput } from './lean-grads.js';
import { backendHasKernels } from './registered.js';
import { readCount, tapReads } from './tap-regions.js';


export type AtrousPadding = 'same' | 'valid';

export interface AtrousConvArgs {
  /** per-axis dilation rates (2D: [rh, rw]; 3D: [rd, rh, rw], e.g. [1, r, r] for in-plane only) */
  rates: number[];
  /** 'same' keeps the spatial size (TensorFlow's split: total pad (k−1)·r, floor before, ceil after); 'valid' adds none */
  padding: AtrousPadding;
}

/** How one spatial axis is convolved after dropping the taps that only read padding. */
interface AxisPlan {
  /** first and one-past-last kept filter tap */
  kLo: number;
  kHi: number;
  /** rate to use (1 when a single tap is left, so the plain-conv path can be taken) */
  rate: number;
  /** input range read, before padding: [cropLo, cropHi) */
  cropLo: number;
  cropHi: number;
  /** zero padding added around the cropped range */
  padBefore: number;
  padAfter: number;
  /** output length along this axis */
  outLen: number;
}

function checkRates(op: string, rates: readonly number[], n: number): void {
  if (rates.length !== n || rates.some((r) => !Number.isInteger(r) || r < 1)) {
    throw new Error(`${op}: rates must be ${n} positive integers, got [${rates.join(', ')}]`);
  }
}

/** Plans one axis; returns null when no tap ever reads an input element (the output along it is all zeros). */
function planAxis(
  op: string,
  inLen: number,
  k: number,
  r: number,
  padding: AtrousPadding,
): AxisPlan | null {
  const span = (k - 1) * r;
  let padBefore = 0;
  let outLen = inLen - span;
  if (padding === 'same') {
    padBefore = Math.floor(span / 2);
    outLen = inLen;
  }
  if (outLen < 1) {
    throw new Error(
      `${op}: 'valid' padding needs an input of at least ${span + 1} along each dilated axis (kernel ${k}, rate ${r}), got ${inLen}`,
    );
  }
  // Tap t reads input rows [t·r − padBefore, t·r − padBefore + outLen − 1]; keep the taps that overlap [0, inLen).
  let kLo = -1;
  let kHi = -1;
  for (let t = 0; t < k; t++) {
    const o = t * r - padBefore;
    if (o <= inLen - 1 && o + outLen - 1 >= 0) {
      if (kLo < 0) kLo = t;
      kHi = t + 1;
    }
  }
  if (kLo < 0) return null;
  const oLo = kLo * r - padBefore;
  const oHi = (kHi - 1) * r - padBefore + outLen; // exclusive end of the range read
  return {
    kLo,
    kHi,
    rate: kHi - kLo === 1 ? 1 : r,
    cropLo: Math.max(0, oLo),
    cropHi: Math.min(inLen, oHi),
    padBefore: Math.max(0, -oLo),
    padAfter: Math.max(0, oHi - inLen),
    outLen,
  };
}

/**
 * The input gradient of a stride-1 conv whose input was zero-padded by `pads` (per spatial axis, kernel span
 * (k − 1)·r each), as a 'valid' forward conv of dy: dy is cropped by `crop` and zero-padded by `pad` so that the
 * result covers exactly the unpadded input (the padded border's gradient is never computed: for a rate-15 3×3 conv
 * on a 16×16 map that border was 7/8 of a full-size result).
 */
function inputGradPads(spans: number[], pads: Array<[number, number]>): { crop: Array<[number, number]>; pad: Array<[number, number]> } {
  return {
    crop: pads.map(([before, after], a) => [Math.max(0, before - spans[a]!), Math.max(0, after - spans[a]!)]),
    pad: pads.map(([before, after], a) => [Math.max(0, spans[a]! - before), Math.max(0, spans[a]! - after)]),
  };
}

/** dy cropped per spatial axis by `crop` ([before, after] each), channels-last. */
function cropSpatial(dy: tf.Tensor, crop: Array<[number, number]>): tf.Tensor {
  if (crop.every(([before, after]) => before === 0 && after === 0)) return dy;
  return sliceByAxes(dy, [0, ...crop.map(([before]) => before), 0], [-1, ...crop.map(([before, after], a) => dy.shape[a + 1]! - before - after), -1]);
}

/**
 * A stride-1 dilated 2D conv with explicit zero pads as one matrix product per tap over only the outputs whose input
 * that tap reads inside x (tap-regions.ts), each placed into the output and summed; null where the pads take less
 * than 40 % of the conv's multiply-adds (one conv is then faster). A rate-15 3×3 conv on a 16×16 map reads x in
 * 14 % of them (a corner tap in one output pixel), rate 7 in 50 %: a conv kernel multiplies the padding too.
 */
function convByRegions(x: tf.Tensor4D, w: tf.Tensor4D, rates: [number, number], pads: Array<[number, number]>): tf.Tensor4D | null {
  const [B, H, W, cin] = x.shape;
  const [kh, kw, , cout] = w.shape;
  const oh = H + pads[0]![0] + pads[0]![1] - (kh - 1) * rates[0];
  const ow = W + pads[1]![0] + pads[1]![1] - (kw - 1) * rates[1];
  const rows = tapReads(kh, rates[0], pads[0]![0], H, oh);
  const cols = tapReads(kw, rates[1], pads[1]![0], W, ow);
  if (readCount(rows) * readCount(cols) >= 0.6 * kh * kw * oh * ow) return null;
  return tf.tidy(() => {
    let y: tf.Tensor | null = null;
    for (const [i, [r0, r1]] of rows.entries()) {
      for (const [j, [c0, c1]] of cols.entries()) {
        if (r1 <= r0 || c1 <= c0) continue;
        const xs = tf.slice(x, [0, r0 + i * rates[0] - pads[0]![0], c0 + j * rates[1] - pads[1]![0], 0], [B, r1 - r0, c1 - c0, cin]);
        const wt = tf.reshape(tf.slice(w, [i, j, 0, 0], [1, 1, cin, cout]), [cin, cout]);
        const part = tf.reshape(tf.matMul(tf.reshape(xs, [-1, cin]), wt), [B, r1 - r0, c1 - c0, cout]);
        const placed = r1 - r0 === oh && c1 - c0 === ow ? part : tf.pad(part, [[0, 0], [r0, oh - r1], [c0, ow - c1], [0, 0]]);
        y = y ? tf.add(y, placed) : placed;
      }
    }
    return (y ?? tf.zeros([B, oh, ow, cout])) as tf.Tensor4D;
  });
}

/**
 * Stride-1 dilated conv, 2D, with explicit zero pads (the conv reads them: no padded copy of x), gradients as
 * forward convs (see file header). dW is the backend's ATROUS_BACKPROP_FILTER_KERNEL where it has one (wasm: one
 * matrix product per tap, runtime/backend/kernels.ts), else the transposed-conv formulation.
 */
const dilatedPadded2d = (rates: [number, number], pads: Array<[number, number]>) =>
  tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x4, w4, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([x4, w4]);
    const explicit = [[0, 0], pads[0]!, pads[1]!, [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
    const value = convByRegions(x4, w4, rates, pads) ?? tf.conv2d(x4, w4, 1, explicit, 'NHWC', rates);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const g = dy as tf.Tensor4D;
      const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
      const [kh, kw] = ws.shape;
      const { crop, pad } = inputGradPads([(kh - 1) * rates[0], (kw - 1) * rates[1]], pads);
      const wFlip = flipSwapFilter(ws) as tf.Tensor4D;
      const gc = cropSpatial(g, crop) as tf.Tensor4D;
      const dx = convByRegions(gc, wFlip, rates, pad) ?? tf.conv2d(gc, wFlip, 1, [[0, 0], pad[0]!, pad[1]!, [0, 0]], 'NHWC', rates);
      if (xs.dtype === 'float32' && backendHasKernels(ATROUS_BACKPROP_FILTER_KERNEL)) {
        const dw = tf.engine().runKernel(ATROUS_BACKPROP_FILTER_KERNEL, { x: xs, dy: g }, { filterShape: ws.shape, rates, pads } as unknown as tf.NamedAttrMap) as tf.Tensor;
        return [dx, dw];
      }
      const xT = tf.transpose(xs, [3, 1, 2, 0]) as tf.Tensor4D; // [cin, H, W, B]
      const gT = tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D; // [oH, oW, B, cout]
      const dwT = tf.conv2d(xT, gT, rates, explicit); // [cin, kh, kw, cout]
      return [dx, tf.transpose(dwT, [1, 2, 0, 3])];
    };
    return { value, gradFunc };
  });

/**
 * Stride-1 dilated conv, 3D, on x zero-padded by `pads` (tf.conv3d takes no explicit pads), gradients as forward
 * convs (see file header); dx only over the unpadded x.
 */
const dilatedPadded3d = (rates: [number, number, number], pads: Array<[number, number]>) =>
  tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x5, w5, save] = args as [tf.Tensor5D, tf.Tensor5D, tf.GradSaveFunc];
    const padded = pads.some(([before, after]) => before > 0 || after > 0);
    const xp = (padded ? tf.pad(x5, [[0, 0], ...pads, [0, 0]]) : x5) as tf.Tensor5D;
    save([xp, w5]);
    const value = tf.conv3d(xp, w5, 1, 'valid', 'NDHWC', rates);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const g = dy as tf.Tensor5D;
      const [xs, ws] = saved as [tf.Tensor5D, tf.Tensor5D];
      const spans = ws.shape.slice(0, 3).map((k, a) => (k - 1) * rates[a]!);
      const { crop, pad } = inputGradPads(spans, pads);
      const wFlip = flipSwapFilter(ws) as tf.Tensor5D;
      const gPad = tf.pad(cropSpatial(g, crop), [[0, 0], ...pad, [0, 0]]) as tf.Tensor5D;
      const dx = tf.conv3d(gPad, wFlip, 1, 'valid', 'NDHWC', rates);
      const xT = tf.transpose(xs, [4, 1, 2, 3, 0]) as tf.Tensor5D; // [cin, D, H, W, B]
      const gT = tf.transpose(g, [1, 2, 3, 0, 4]) as tf.Tensor5D; // [oD, oH, oW, B, cout]
      const dwT = tf.conv3d(xT, gT, rates, 'valid'); // [cin, kd, kh, kw, cout]
      const dw = tf.transpose(dwT, [1, 2, 3, 0, 4]);
      return [dx, dw];
    };
    return { value, gradFunc };
  });

/**
 * Stride-1 dilated conv with explicit pads, 2D or 3D, as the backend's ATROUS_* kernels, with the bias and the
 * activation in the forward kernel (oneDNN post-ops: no separate bias-add and relu passes over the output). It
 * saves x unpadded (where the forward-conv formulation saves the padded copy) and, for relu, the output, from which
 * the gradient takes the relu's derivative in one pass; db is the sum of that gradient. Each gradient is computed
 * only when the backward pass asks for it (lazy-grad.ts).
 */
const atrousByKernels = (rates: number[], pads: Array<[number, number]>, activation: ConvActivation): LazyGradBody => ([x, w, bias], save) => {
  const run = (kernel: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>) =>
    tf.engine().runKernel(kernel, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  const value = run(ATROUS_CONV_KERNEL, bias ? { x: x!, filter: w!, bias } : { x: x!, filter: w! }, { rates, pads, activation });
  save(activation === 'relu' ? [x!, w!, value] : [x!, w!]);
  const grads: LazyGradFunc = (dy, saved) => {
    const [xs, ws, ys] = saved as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const g = activation === 'relu' ? reluGradFromOutput(dy, ys!) : dy;
    const dx = () => run(ATROUS_BACKPROP_INPUT_KERNEL, { dy: g, filter: ws }, { inputShape: xs.shape, rates, pads });
    const dw = () => run(ATROUS_BACKPROP_FILTER_KERNEL, { x: xs, dy: g }, { filterShape: ws.shape, rates, pads });
    return bias ? [dx, dw, () => biasGrad(g)] : [dx, dw];
  };
  return { value, grads };
};

/** Output of zeros (every tap reads padding on some axis), still connected to x and the filter with zero gradients. */
const zerosOut = (outShape: number[]) =>
  tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, w] = args as [tf.Tensor, tf.Tensor];
    return { value: tf.zeros(outShape), gradFunc: () => [tf.zerosLike(x), tf.zerosLike(w)] };
  });

const prod = (xs: number[]) => xs.reduce((p, q) => p * q, 1);

/**
 * tf.slice as one 3-D slice per cropped axis: wasm slices 2–4-D tensors natively but runs 5-D slices in JS
 * (the pad-gradient slice of a 3D atrous conv took 670 ms of a 1.1 s training step). Its gradient is made of
 * 3-D pads, also native.
 */
function sliceByAxes(x: tf.Tensor, begin: number[], size: number[]): tf.Tensor {
  let y = x;
  for (let a = 0; a < x.rank; a++) {
    const len = size[a] < 0 ? y.shape[a] - begin[a] : size[a];
    if (begin[a] === 0 && len === y.shape[a]) continue;
    const shape = [...y.shape];
    const before = prod(shape.slice(0, a));
    const after = prod(shape.slice(a + 1));
    const s3 = tf.slice(tf.reshape(y, [before, shape[a], after]), [0, begin[a], 0], [before, len, after]);
    shape[a] = len;
    y = tf.reshape(s3, shape);
  }
  return y;
}

/** tf.pad whose gradient is `sliceByAxes` (tf.pad's own gradient is a full-rank slice: slow at rank 5 on wasm). */
function padFast(x: tf.Tensor, paddings: Array<[number, number]>): tf.Tensor {
  const shape = x.shape;
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.pad(args[0] as tf.Tensor, paddings),
    gradFunc: (dy: tf.Tensor) => sliceByAxes(dy, paddings.map((p) => p[0]), shape),
  }))(x);
}

/** act(y + bias): the bias and activation of the paths whose conv does not apply them itself. */
function biasAct(y: tf.Tensor, bias: tf.Tensor | undefined, activation: ConvActivation): tf.Tensor {
  const withBias = bias ? biasAdd(y, bias) : y;
  return activation === 'relu' ? tf.relu(withBias) : withBias;
}

/** Shared body of the 2D and 3D ops; `nsp` is the number of spatial axes. */
function atrousConvNd(op: string, x: tf.Tensor, filter: tf.Tensor, rates: number[], padding: AtrousPadding, bias: tf.Tensor | undefined, activation: ConvActivation): tf.Tensor {
  const nsp = rates.length;
  if (x.rank !== nsp + 2) throw new Error(`${op}: input must have rank ${nsp + 2}, got shape [${x.shape.join(', ')}]`);
  if (filter.rank !== nsp + 2) {
    throw new Error(`${op}: filter must have rank ${nsp + 2}, got shape [${filter.shape.join(', ')}]`);
  }
  checkRates(op, rates, nsp);
  if (padding !== 'same' && padding !== 'valid') throw new Error(`${op}: padding must be 'same' or 'valid', got '${padding}'`);
  const cin = x.shape[nsp + 1];
  if (filter.shape[nsp] !== cin) {
    throw new Error(`${op}: filter expects ${filter.shape[nsp]} input channels, input has ${cin}`);
  }
  const cout = filter.shape[nsp + 1];
  if (bias && (bias.rank !== 1 || bias.shape[0] !== cout)) throw new Error(`${op}: bias must have shape [${cout}], got [${bias.shape.join(', ')}]`);

  if (rates.every((r) => r === 1)) {
    return biasAct(
      nsp === 2 ? tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, padding) : tf.conv3d(x as tf.Tensor5D, filter as tf.Tensor5D, 1, padding),
      bias,
      activation,
    );
  }

  const plans = rates.map((r, a) => planAxis(op, x.shape[a + 1], filter.shape[a], r, padding));
  if (plans.some((p) => p === null)) {
    const outShape = [x.shape[0], ...plans.map((p, a) => p?.outLen ?? x.shape[a + 1]), cout];
    // A 'same' output length equals the input length, so the missing plan's length is the input length.
    return biasAct(zerosOut(outShape)(x, filter), bias, activation);
  }
  const ps = plans as AxisPlan[];
  const byKernels =
    x.dtype === 'float32' &&
    filter.dtype === 'float32' &&
    backendHasKernels(ATROUS_CONV_KERNEL, ATROUS_BACKPROP_INPUT_KERNEL, ATROUS_BACKPROP_FILTER_KERNEL);

  return tf.tidy(() => {
    let xin = x;
    if (ps.some((p, a) => p.cropLo > 0 || p.cropHi < x.shape[a + 1])) {
      xin = sliceByAxes(xin, [0, ...ps.map((p) => p.cropLo), 0], [-1, ...ps.map((p) => p.cropHi - p.cropLo), -1]);
    }
    let w = filter;
    if (ps.some((p, a) => p.kLo > 0 || p.kHi < filter.shape[a])) {
      w = sliceByAxes(w, [...ps.map((p) => p.kLo), 0, 0], [...ps.map((p) => p.kHi - p.kLo), -1, -1]);
    }
    const pads = ps.map((p): [number, number] => [p.padBefore, p.padAfter]);
    const padded = pads.some(([before, after]) => before > 0 || after > 0);
    const eff = ps.map((p) => p.rate);
    // Left with neither dilation nor pads (e.g. a 3×3 at rate 63 on a 16×20 map cropped to its centre tap), the
    // plain conv below is the same primitive and its rate-1 gradients are at least as fast.
    if (byKernels && (padded || eff.some((r) => r > 1))) {
      const fused = atrousByKernels(eff, pads, activation);
      return bias ? lazyCustomGrad(fused, xin, w, bias) : lazyCustomGrad(fused, xin, w);
    }
    if (eff.every((r) => r === 1)) {
      if (padded) xin = padFast(xin, [[0, 0], ...pads, [0, 0]]);
      return biasAct(
        nsp === 2 ? tf.conv2d(xin as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid') : tf.conv3d(xin as tf.Tensor5D, w as tf.Tensor5D, 1, 'valid'),
        bias,
        activation,
      );
    }
    return biasAct(
      nsp === 2 ? dilatedPadded2d(eff as [number, number], pads)(xin, w) : dilatedPadded3d(eff as [number, number, number], pads)(xin, w),
      bias,
      activation,
    );
  });
}

/**
 * Dilated 2D convolution, NHWC, stride 1, filter [kh, kw, cin, cout], then an optional per-channel bias and an
 * activation; forward equals `act(tf.conv2d(x, filter, 1, padding, 'NHWC', rates) + bias)` and it is
 * differentiable w.r.t. x, filter and bias.
 */
export function atrousConv2d(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  rates: [number, number],
  padding: AtrousPadding,
  bias?: tf.Tensor1D,
  activation: ConvActivation = 'linear',
): tf.Tensor4D {
  return atrousConvNd('atrousConv2d', x, filter, rates, padding, bias, activation) as tf.Tensor4D;
}

/**
 * Dilated 3D convolution, NDHWC, stride 1, filter [kd, kh, kw, cin, cout], then an optional per-channel bias and
 * an activation; forward equals `act(tf.conv3d(x, filter, 1, padding, 'NDHWC', rates) + bias)` and it is
 * differentiable w.r.t. x, filter and bias.
 */
export function atrousConv3d(
  x: tf.Tensor5D,
  filter: tf.Tensor5D,
  rates: [number, number, number],
  padding: AtrousPadding,
  bias?: tf.Tensor1D,
  activation: ConvActivation = 'linear',
): tf.Tensor5D {
  return atrousConvNd('atrousConv3d', x, filter, rates, padding, bias, activation) as tf.Tensor5D;
}
