/**
 * The 'native' tfjs backend: the stock cpu backend (same tensor storage, same kernels) with its convolutions and
 * matrix products running on oneDNN through the addon, multi-threaded with OpenMP.
 */
import * as tf from '@tensorflow/tfjs';
import { trainingKernelsFor } from '../backend/kernels.js';
import { ATROUS_BACKPROP_FILTER_KERNEL, ATROUS_BACKPROP_INPUT_KERNEL, ATROUS_CONV_KERNEL } from '../ops/atrous.js';
import { registerLeanGradients } from '../ops/lean-grads.js';
import { BATCH_NORM_GRAD, BATCH_NORM_TRAIN, nativeKernelConfigs, RELU_GRAD } from './kernels.js';
import { loadNative, nativeUnavailableReason } from './loader.js';

export interface RegisterNativeArgs {
  /** OpenMP threads for the native kernels (default: OMP_NUM_THREADS, else all logical cores). */
  threads?: number;
}

export interface NativeBackendInfo {
  /** always 'native' */
  name: string;
  /** threads the native kernels compute with */
  threads: number;
  /** e.g. "oneDNN 2.6.3" */
  library: string;
  /** kernels that run natively (each falls back to the cpu kernel for cases it does not take) */
  kernels: string[];
}

let registered: NativeBackendInfo | null = null;

/**
 * Registers the 'native' backend (idempotent) and returns what it runs, or null when the addon is unavailable
 * (`nativeUnavailableReason()` says why). Does not switch the active backend: `tf.setBackend('native')` does.
 */
export function registerNativeBackend(args: RegisterNativeArgs = {}): NativeBackendInfo | null {
  const addon = loadNative();
  if (!addon) return null;
  if (args.threads !== undefined) {
    if (!Number.isInteger(args.threads) || args.threads < 1) throw new Error(`native backend: threads must be a positive integer, got ${args.threads}`);
    addon.setThreads(args.threads);
  }
  if (registered) return { ...registered, threads: addon.threads() };

  // The cpu backend's class, without importing @tensorflow/tfjs-backend-cpu by name (it comes with @tensorflow/tfjs).
  const cpu = tf.findBackend('cpu');
  if (!cpu) return null;
  const Cpu = cpu.constructor as new () => tf.KernelBackend;
  // Priority 0: registering never makes tfjs pick 'native' on its own; selectBackend / setBackend do.
  tf.registerBackend('native', () => new Cpu(), 0);

  // Every cpu kernel, then tdc's cpu training kernels (fixed ResizeBilinearGrad, faster conv gradients) on top.
  const put = (k: tf.KernelConfig) => {
    if (tf.getKernel(k.kernelName, 'native')) tf.unregisterKernel(k.kernelName, 'native');
    tf.registerKernel({ ...k, backendName: 'native' });
  };
  for (const k of tf.getKernelsForBackend('cpu')) put(k);
  for (const k of trainingKernelsFor('cpu')) put(k);

  const fallbacks: Record<string, tf.KernelConfig['kernelFunc'] | undefined> = Object.fromEntries(
    tf.getKernelsForBackend('native').map((k) => [k.kernelName, k.kernelFunc]),
  );
  // The kernels tdc adds fall back to tfjs's own expressions, run kernel by kernel on this backend (inside a kernel
  // there is no engine: intermediates are freed by hand).
  const run = (backend: unknown, name: string, ins: Record<string, tf.TensorInfo>, attrs: Record<string, unknown> = {}) =>
    tf.getKernel(name, 'native')!.kernelFunc({ inputs: ins, backend: backend as tf.KernelBackend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
  const free = (backend: unknown, ...ts: tf.TensorInfo[]) => {
    for (const t of ts) (backend as tf.KernelBackend).disposeData(t.dataId);
  };
  const scalar = (backend: unknown, v: number) =>
    (backend as { makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo }).makeTensorInfo([], 'float32', Float32Array.of(v));
  fallbacks[RELU_GRAD] = ({ inputs, backend }) => {
    const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
    const step = run(backend, 'Step', { x }, { alpha: 0 });
    const out = run(backend, 'Multiply', { a: dy, b: step });
    free(backend, step);
    return out;
  };
  const leading = (x: tf.TensorInfo) => ({ axis: x.shape.slice(0, -1).map((_, i) => i), keepDims: false });
  // Kernels, unlike ops, do not upcast: a cpu Sub of int32 and float32 inputs is int32. Cast first, as tf.sub does.
  const floats = <K extends string>(backend: unknown, ins: Record<K, tf.TensorInfo>, casts: tf.TensorInfo[]) =>
    Object.fromEntries(
      Object.entries<tf.TensorInfo>(ins).map(([k, t]) => {
        if (t.dtype === 'float32') return [k, t];
        const c = run(backend, 'Cast', { x: t }, { dtype: 'float32' });
        casts.push(c);
        return [k, c];
      }),
    ) as Record<K, tf.TensorInfo>;
  // moments → y = (x − mean)·(gamma·invstd) + beta, invstd = rsqrt(variance + eps), as trainNormalize writes it.
  fallbacks[BATCH_NORM_TRAIN] = ({ inputs, backend, attrs }) => {
    const casts: tf.TensorInfo[] = [];
    const { x, gamma, beta } = floats(backend, inputs as Record<'x' | 'gamma' | 'beta', tf.TensorInfo>, casts);
    const mean = run(backend, 'Mean', { x }, leading(x));
    const centered = run(backend, 'Sub', { a: x, b: mean });
    const sq = run(backend, 'Square', { x: centered });
    const variance = run(backend, 'Mean', { x: sq }, leading(x));
    const eps = scalar(backend, (attrs as { epsilon: number }).epsilon);
    const shifted = run(backend, 'Add', { a: variance, b: eps });
    const invstd = run(backend, 'Rsqrt', { x: shifted });
    const scale = run(backend, 'Multiply', { a: gamma, b: invstd });
    const scaled = run(backend, 'Multiply', { a: centered, b: scale });
    const y = run(backend, 'Add', { a: scaled, b: beta });
    free(backend, centered, sq, eps, shifted, scale, scaled, ...casts);
    return [y, mean, variance, invstd] as unknown as tf.TensorInfo;
  };
  // dβ = Σ dy, dγ = Σ dy·x̂, dx = γ·σ⁻¹/M · (M·dy − dβ − x̂·dγ).
  fallbacks[BATCH_NORM_GRAD] = ({ inputs, backend }) => {
    const casts: tf.TensorInfo[] = [];
    const { dy, x, mean, invstd, gamma } = floats(backend, inputs as Record<'dy' | 'x' | 'mean' | 'invstd' | 'gamma', tf.TensorInfo>, casts);
    const m = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const centered = run(backend, 'Sub', { a: x, b: mean });
    const xhat = run(backend, 'Multiply', { a: centered, b: invstd });
    const dbeta = run(backend, 'Sum', { x: dy }, leading(x));
    const prod = run(backend, 'Multiply', { a: dy, b: xhat });
    const dgamma = run(backend, 'Sum', { x: prod }, leading(x));
    const mS = scalar(backend, m);
    const invM = run(backend, 'RealDiv', { a: invstd, b: mS });
    const coef = run(backend, 'Multiply', { a: gamma, b: invM });
    const dyM = run(backend, 'Multiply', { a: dy, b: mS });
    const t1 = run(backend, 'Sub', { a: dyM, b: dbeta });
    const t2 = run(backend, 'Multiply', { a: xhat, b: dgamma });
    const t3 = run(backend, 'Sub', { a: t1, b: t2 });
    const dx = run(backend, 'Multiply', { a: coef, b: t3 });
    free(backend, centered, xhat, prod, mS, invM, coef, dyM, t1, t2, t3, ...casts);
    return [dx, dgamma, dbeta] as unknown as tf.TensorInfo;
  };
  Object.assign(fallbacks, atrousFallbacks());
  const kernels = nativeKernelConfigs(addon, fallbacks);
  for (const k of kernels) put(k);
  registerLeanGradients(); // its Relu gradient runs RELU_GRAD where registered
  registered = { name: 'native', threads: addon.threads(), library: addon.version(), kernels: kernels.map((k) => k.kernelName) };
  return { ...registered };
}

type KernelFunc = tf.KernelConfig['kernelFunc'];

/**
 * Fallbacks of the atrous kernels (run when the addon declines or throws): the forward-conv formulation of
 * runtime/ops/atrous.ts as 'native' kernels — the conv on x padded explicitly; dx as a dilated conv of dy padded by
 * (k − 1)·rate with the flipped, in/out-swapped filter, then the pads sliced off; dW as a conv of x (padded,
 * transposed to [cin, …, B]) with dy (transposed to [(oD,) oH, oW, B, cout]) at strides = rates, transposed back.
 */
export function atrousFallbacks(): Record<string, KernelFunc> {
  type Info = tf.TensorInfo;
  interface Attrs {
    rates: number[];
    pads: Array<[number, number]>;
    inputShape?: number[];
    filterShape?: number[];
  }
  const compose = (args: Parameters<KernelFunc>[0], body: (run: (name: string, ins: Record<string, Info>, attrs: Record<string, unknown>) => Info, a: Attrs) => Info): Info => {
    const temps: Info[] = [];
    const run = (name: string, ins: Record<string, Info>, attrs: Record<string, unknown>) => {
      const out = tf.getKernel(name, 'native')!.kernelFunc({ inputs: ins, backend: args.backend, attrs: attrs as tf.NamedAttrMap }) as Info;
      temps.push(out);
      return out;
    };
    let out: Info | undefined;
    try {
      out = body(run, args.attrs as unknown as Attrs);
      return out;
    } finally {
      for (const t of temps) if (t !== out) (args.backend as tf.KernelBackend).disposeData(t.dataId);
    }
  };
  const conv = (nd: number) => (nd === 2 ? { name: 'Conv2D', dataFormat: 'NHWC' } : { name: 'Conv3D', dataFormat: 'NDHWC' });
  const spatial = (nd: number) => Array.from({ length: nd }, (_, i) => i + 1);
  return {
    [ATROUS_CONV_KERNEL]: (args) =>
      compose(args, (run, a) => {
        const { x, filter } = args.inputs as { x: Info; filter: Info };
        const nd = a.rates.length;
        const xp = run('PadV2', { x }, { paddings: [[0, 0], ...a.pads, [0, 0]], constantValue: 0 });
        const c = conv(nd);
        return run(c.name, { x: xp, filter }, { strides: 1, pad: 'valid', dataFormat: c.dataFormat, dilations: a.rates });
      }),
    [ATROUS_BACKPROP_INPUT_KERNEL]: (args) =>
      compose(args, (run, a) => {
        const { dy, filter } = args.inputs as { dy: Info; filter: Info };
        const nd = a.rates.length;
        const span = a.rates.map((r, i) => (filter.shape[i]! - 1) * r);
        const dyp = run('PadV2', { x: dy }, { paddings: [[0, 0], ...span.map((s) => [s, s]), [0, 0]], constantValue: 0 });
        const wr = run('Reverse', { x: filter }, { dims: spatial(nd).map((i) => i - 1) });
        const wt = run('Transpose', { x: wr }, { perm: [...spatial(nd).map((i) => i - 1), nd + 1, nd] });
        const c = conv(nd);
        const dxp = run(c.name, { x: dyp, filter: wt }, { strides: 1, pad: 'valid', dataFormat: c.dataFormat, dilations: a.rates });
        return run('Slice', { x: dxp }, { begin: [0, ...a.pads.map((p) => p[0]), 0], size: a.inputShape! });
      }),
    [ATROUS_BACKPROP_FILTER_KERNEL]: (args) =>
      compose(args, (run, a) => {
        const { x, dy } = args.inputs as { x: Info; dy: Info };
        const nd = a.rates.length;
        const xp = run('PadV2', { x }, { paddings: [[0, 0], ...a.pads, [0, 0]], constantValue: 0 });
        const xT = run('Transpose', { x: xp }, { perm: [nd + 1, ...spatial(nd), 0] });
        const gT = run('Transpose', { x: dy }, { perm: [...spatial(nd), 0, nd + 1] });
        const c = conv(nd);
        const dwT = run(c.name, { x: xT, filter: gT }, { strides: a.rates, pad: 'valid', dataFormat: c.dataFormat, dilations: 1 });
        return run('Transpose', { x: dwT }, { perm: [...spatial(nd), 0, nd + 1] });
      }),
  };
}

/** Whether the addon loaded (then the 'native' backend can be registered). */
export function nativeAvailable(): boolean {
  return loadNative() !== null;
}

export { nativeUnavailableReason };
