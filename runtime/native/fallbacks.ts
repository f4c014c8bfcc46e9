/**
 * What each native kernel that replaces no stock kernel runs when the addon declines or throws: the same computation
 * as a chain of the 'native' backend's stock kernels (tdc's one-pass relu gradient, training batch norm, the atrous
 * convolution and its gradients).
 */
import * as tf from '@tensorflow/tfjs';
import {
  ATROUS_BACKPROP_FILTER_KERNEL,
  ATROUS_BACKPROP_INPUT_KERNEL,
  ATROUS_CONV_KERNEL,
  BATCH_NORM_APPLY_KERNEL,
  BATCH_NORM_GRAD_KERNEL,
  BATCH_NORM_TRAIN_KERNEL,
  CONV3D_BIAS_ACT_KERNEL,
  CONV_BACKPROP_FILTER_BIAS_KERNEL,
  RELU_GRAD_KERNEL,
} from '../ops/kernel-names.js';

type KernelFunc = tf.KernelConfig['kernelFunc'];
type Info = tf.TensorInfo;

/** What a fallback body gets: `run` a stock 'native' kernel, or make a float32 scalar; both are freed afterwards. */
interface Compose {
  run(name: string, inputs: Record<string, Info>, attrs?: Record<string, unknown>): Info;
  scalar(v: number): Info;
}

/**
 * Runs a fallback written as a chain of this backend's stock kernels. Inside a kernel there is no engine to tidy
 * up, so every intermediate is freed here, except what the body returns (one output or several).
 */
function compose(args: Parameters<KernelFunc>[0], body: (k: Compose) => Info | Info[]): Info | Info[] {
  const backend = args.backend as tf.KernelBackend & { makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): Info };
  const temps: Info[] = [];
  const track = (t: Info) => (temps.push(t), t);
  const k: Compose = {
    run: (name, inputs, attrs = {}) =>
      track(tf.getKernel(name, 'native')!.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as Info),
    scalar: (v) => track(backend.makeTensorInfo([], 'float32', Float32Array.of(v))),
  };
  let out: Info | Info[] = [];
  try {
    out = body(k);
    return out;
  } finally {
    const kept = new Set(Array.isArray(out) ? out : [out]);
    for (const t of temps) if (!kept.has(t)) backend.disposeData(t.dataId);
  }
}

/** The one-pass relu gradient's fallback: tfjs's own mul(dy, step(x)). */
export function reluGradFallbacks(): Record<string, KernelFunc> {
  return {
    [RELU_GRAD_KERNEL]: (args) =>
      compose(args, (k) => {
        const { dy, x } = args.inputs as { dy: Info; x: Info };
        return k.run('Multiply', { a: dy, b: k.run('Step', { x }, { alpha: 0 }) });
      }) as Info,
  };
}

/** Fallbacks of the batch-norm kernels: the layer's own expressions (runtime/layers/batch-norm.ts). */
export function batchNormFallbacks(): Record<string, KernelFunc> {
  const leading = (x: Info) => ({ axis: x.shape.slice(0, -1).map((_, i) => i), keepDims: false });
  // Kernels, unlike ops, do not upcast: a cpu Sub of int32 and float32 inputs is int32. Cast first, as tf.sub does.
  const floats = <K extends string>(k: Compose, ins: Record<K, Info>) =>
    Object.fromEntries(
      Object.entries<Info>(ins).map(([name, t]) => [name, t.dtype === 'float32' ? t : k.run('Cast', { x: t }, { dtype: 'float32' })]),
    ) as Record<K, Info>;
  return {
    // moments → y = (x − mean)·(gamma·invstd) + beta, invstd = rsqrt(variance + eps), as trainNormalize writes it.
    [BATCH_NORM_TRAIN_KERNEL]: (args) =>
      compose(args, (k) => {
        const { x, gamma, beta } = floats(k, args.inputs as Record<'x' | 'gamma' | 'beta', Info>);
        const mean = k.run('Mean', { x }, leading(x));
        const centered = k.run('Sub', { a: x, b: mean });
        const variance = k.run('Mean', { x: k.run('Square', { x: centered }) }, leading(x));
        const eps = k.scalar((args.attrs as unknown as { epsilon: number }).epsilon);
        const invstd = k.run('Rsqrt', { x: k.run('Add', { a: variance, b: eps }) });
        const scaled = k.run('Multiply', { a: centered, b: k.run('Multiply', { a: gamma, b: invstd }) });
        return [k.run('Add', { a: scaled, b: beta }), mean, variance, invstd];
      }) as unknown as Info,
    // (x − mean)·scale + beta, as BatchNorm.normalize writes it.
    [BATCH_NORM_APPLY_KERNEL]: (args) =>
      compose(args, (k) => {
        const { x, mean, scale, beta } = floats(k, args.inputs as Record<'x' | 'mean' | 'scale' | 'beta', Info>);
        return k.run('Add', { a: k.run('Multiply', { a: k.run('Sub', { a: x, b: mean }), b: scale }), b: beta });
      }) as Info,
    // dβ = Σ dy, dγ = Σ dy·x̂, dx = γ·σ⁻¹/M · (M·dy − dβ − x̂·dγ).
    [BATCH_NORM_GRAD_KERNEL]: (args) =>
      compose(args, (k) => {
        const { dy, x, mean, invstd, gamma } = floats(k, args.inputs as Record<'dy' | 'x' | 'mean' | 'invstd' | 'gamma', Info>);
        const m = k.scalar(x.shape.slice(0, -1).reduce((a, b) => a * b, 1));
        const xhat = k.run('Multiply', { a: k.run('Sub', { a: x, b: mean }), b: invstd });
        const dbeta = k.run('Sum', { x: dy }, leading(x));
        const dgamma = k.run('Sum', { x: k.run('Multiply', { a: dy, b: xhat }) }, leading(x));
        const coef = k.run('Multiply', { a: gamma, b: k.run('RealDiv', { a: invstd, b: m }) });
        const t1 = k.run('Sub', { a: k.run('Multiply', { a: dy, b: m }), b: dbeta });
        const t3 = k.run('Sub', { a: t1, b: k.run('Multiply', { a: xhat, b: dgamma }) });
        return [k.run('Multiply', { a: coef, b: t3 }), dgamma, dbeta];
      }) as unknown as Info,
  };
}

/**
 * Fallbacks of the atrous kernels (run when the addon declines or throws): the forward-conv formulation of
 * runtime/ops/atrous.ts as 'native' kernels — the conv on x padded explicitly; dx as a dilated conv of dy padded by
 * (k − 1)·rate with the flipped, in/out-swapped filter, then the pads sliced off; dW as a conv of x (padded,
 * transposed to [cin, …, B]) with dy (transposed to [(oD,) oH, oW, B, cout]) at strides = rates, transposed back.
 */
export function atrousFallbacks(): Record<string, KernelFunc> {
  interface Attrs {
    rates: number[];
    pads: Array<[number, number]>;
    /** the conv's activation after its optional bias input ('linear' when absent) */
    activation?: 'linear' | 'relu';
    inputShape?: number[];
    filterShape?: number[];
  }
  const conv = (nd: number) => (nd === 2 ? { name: 'Conv2D', dataFormat: 'NHWC' } : { name: 'Conv3D', dataFormat: 'NDHWC' });
  const spatial = (nd: number) => Array.from({ length: nd }, (_, i) => i + 1);
  return {
    [ATROUS_CONV_KERNEL]: (args) =>
      compose(args, ({ run }) => {
        const a = args.attrs as unknown as Attrs;
        const { x, filter, bias } = args.inputs as { x: Info; filter: Info; bias?: Info };
        const nd = a.rates.length;
        const xp = run('PadV2', { x }, { paddings: [[0, 0], ...a.pads, [0, 0]], constantValue: 0 });
        const c = conv(nd);
        const y = run(c.name, { x: xp, filter }, { strides: 1, pad: 'valid', dataFormat: c.dataFormat, dilations: a.rates });
        const yb = bias ? run('Add', { a: y, b: bias }) : y;
        return a.activation === 'relu' ? run('Relu', { x: yb }) : yb;
      }) as Info,
    [ATROUS_BACKPROP_INPUT_KERNEL]: (args) =>
      compose(args, ({ run }) => {
        const a = args.attrs as unknown as Attrs;
        const { dy, filter } = args.inputs as { dy: Info; filter: Info };
        const nd = a.rates.length;
        const span = a.rates.map((r, i) => (filter.shape[i]! - 1) * r);
        const dyp = run('PadV2', { x: dy }, { paddings: [[0, 0], ...span.map((s) => [s, s]), [0, 0]], constantValue: 0 });
        const wr = run('Reverse', { x: filter }, { dims: spatial(nd).map((i) => i - 1) });
        const wt = run('Transpose', { x: wr }, { perm: [...spatial(nd).map((i) => i - 1), nd + 1, nd] });
        const c = conv(nd);
        const dxp = run(c.name, { x: dyp, filter: wt }, { strides: 1, pad: 'valid', dataFormat: c.dataFormat, dilations: a.rates });
        return run('Slice', { x: dxp }, { begin: [0, ...a.pads.map((p) => p[0]), 0], size: a.inputShape! });
      }) as Info,
    [ATROUS_BACKPROP_FILTER_KERNEL]: (args) =>
      compose(args, ({ run }) => {
        const a = args.attrs as unknown as Attrs;
        const { x, dy } = args.inputs as { x: Info; dy: Info };
        const nd = a.rates.length;
        const xp = run('PadV2', { x }, { paddings: [[0, 0], ...a.pads, [0, 0]], constantValue: 0 });
        const xT = run('Transpose', { x: xp }, { perm: [nd + 1, ...spatial(nd), 0] });
        const gT = run('Transpose', { x: dy }, { perm: [...spatial(nd), 0, nd + 1] });
        const c = conv(nd);
        const dwT = run(c.name, { x: xT, filter: gT }, { strides: a.rates, pad: 'valid', dataFormat: c.dataFormat, dilations: 1 });
        return run('Transpose', { x: dwT }, { perm: [...spatial(nd), 0, nd + 1] });
      }) as Info,
  };
}


/**
 * The fused-conv kernels' fallbacks: the filter-and-bias gradient as the stock filter gradient and a sum; the 3D
 * conv + bias + activation as Conv3D, Add, Relu.
 */
export function fusedConvFallbacks(): Record<string, KernelFunc> {
  return {
    [CONV3D_BIAS_ACT_KERNEL]: (args) =>
      compose(args, ({ run }) => {
        const { x, filter, bias } = args.inputs as { x: Info; filter: Info; bias?: Info };
        const a = args.attrs as unknown as { pad: 'same' | 'valid'; activation: string };
        const c = run('Conv3D', { x, filter }, { strides: 1, pad: a.pad, dataFormat: 'NDHWC', dilations: 1 });
        const cb = bias ? run('Add', { a: c, b: bias }) : c;
        return a.activation === 'relu' ? run('Relu', { x: cb }) : cb;
      }) as Info,
    [CONV_BACKPROP_FILTER_BIAS_KERNEL]: (args) =>
      compose(args, ({ run }) => {
        const { x, dy } = args.inputs as { x: Info; dy: Info };
        const dw = run(x.shape.length === 4 ? 'Conv2DBackpropFilter' : 'Conv3DBackpropFilterV2', { x, dy }, args.attrs as Record<string, unknown>);
        const db = run('Sum', { x: dy }, { axis: dy.shape.slice(0, -1).map((_, i) => i), keepDims: false });
        return [dw, db];
      }) as unknown as Info,
  };
}

/** Every fallback above, by kernel name. */
export function composedFallbacks(): Record<string, KernelFunc> {
  return { ...reluGradFallbacks(), ...batchNormFallbacks(), ...atrousFallbacks(), ...fusedConvFallbacks() };
}
