/**
 * Kernels of the 'native' backend that hand a cpu-backend tensor's Float32Array straight to the addon: the
 * convolutions, matrix products and atrous kernels on oneDNN (conv-kernels.ts), and, as OpenMP loops, the
 * memory-bound ops a training step is otherwise dominated by (memory-kernels.ts; measured on the ROBOT18 network at
 * 128×160: 12.5 s → 2.3 s per step).
 *
 * Every kernel keeps the kernel it replaces as its fallback: cases the addon does not take (NCHW, non-float32
 * inputs, activations other than linear/relu, prelu weights, matmul batch shapes that broadcast per axis) and any
 * error it throws run the replaced kernel instead, so registering these can only change speed (kernels that replace
 * none fall back to the same computation as a chain of stock kernels: fallbacks.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { bufferPool } from './buffer-pool.js';
import { convKernels } from './conv-kernels.js';
import type { NativeAddon } from './loader.js';
import { memoryKernels } from './memory-kernels.js';

export type TensorInfo = tf.TensorInfo;
export type KernelFunc = tf.KernelConfig['kernelFunc'];
export type KernelArgs = Parameters<KernelFunc>[0];

/** The parts of tfjs's MathBackendCPU the kernels use (its tensors are plain typed arrays). */
export interface CpuLike {
  data: { get(id: tf.DataId): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): TensorInfo;
}

/** A kernel body: the output(s), or null to decline (the fallback runs). */
export type Fast = (args: KernelArgs, backend: CpuLike) => TensorInfo | null;

/** What each group of kernels is given: the addon, `add` to register a kernel, `output` to allocate its result. */
export interface KernelContext {
  addon: NativeAddon;
  add(name: string, fast: Fast): void;
  /**
   * A zeroed Float32Array of n elements for a kernel's output: a disposed output's array when one of that length is
   * free (buffer-pool.ts), else a new one (large ones advised onto huge pages).
   */
  output(n: number): Float32Array;
  /** As `output`, contents arbitrary: for kernels that write every element (a reused array is not zeroed first). */
  outputUninit(n: number): Float32Array;
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

/** Counts one run of `name`: native, or a fallback (with the error that caused it, if any). */
export function count(name: string, native: boolean, err = ''): void {
  const s = stats.get(name) ?? { native: 0, fallback: 0, lastError: '' };
  if (native) s.native++;
  else {
    s.fallback++;
    if (err) s.lastError = err;
  }
  stats.set(name, s);
}

/** The Float32Array behind a float32 tensor, or null (other dtypes, complex tensors). */
export function f32(backend: CpuLike, t: TensorInfo | undefined): Float32Array | null {
  if (!t || t.dtype !== 'float32') return null;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : null;
}

export const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Row-major strides of `shape`. */
export function stridesOf(shape: number[]): number[] {
  const st = new Array<number>(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) st[d] = st[d + 1]! * shape[d + 1]!;
  return st;
}

/** The stridedCopy params for copying the box `shape`. */
export function copyParams(shape: number[], srcOff: number, srcStrides: number[], dstOff: number, dstStrides: number[]): Int32Array {
  // A rank-0 copy is a rank-1 copy of one element.
  if (shape.length === 0) return Int32Array.from([1, 1, srcOff, 1, dstOff, 1]);
  return Int32Array.from([shape.length, ...shape, srcOff, ...srcStrides, dstOff, ...dstStrides]);
}

/** A kernel that runs `fast` and, when it declines (returns null) or throws, `fallback`. */
function kernel(name: string, fallback: KernelFunc, fast: Fast): tf.KernelConfig {
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
 * Outputs from this many elements up are advised onto transparent huge pages (addon.adviseHuge); TDC_HUGE_PAGES=0
 * turns that off (to measure it, or where the kernel's huge-page compaction stalls).
 */
const HUGE_MIN = 1 << 20;
const hugePages = process.env.TDC_HUGE_PAGES !== '0';

/**
 * The native kernels, each falling back to `fallbacks[kernelName]` (the kernel registered before it). Kernels with
 * no fallback given are left out.
 */
export function nativeKernelConfigs(addon: NativeAddon, fallbacks: Record<string, KernelFunc | undefined>): tf.KernelConfig[] {
  const out: tf.KernelConfig[] = [];
  bufferPool.freePages = (a) => addon.adviseFree(a);
  const fresh = (n: number): Float32Array => {
    const a = new Float32Array(n);
    bufferPool.adopt(a);
    if (hugePages && n >= HUGE_MIN) addon.adviseHuge(a);
    return a;
  };
  const ctx: KernelContext = {
    addon,
    add: (name, fast) => {
      const fb = fallbacks[name];
      if (fb) out.push(kernel(name, fb, fast));
    },
    output: (n) => {
      const reused = bufferPool.take(n);
      if (reused) addon.fill(reused, 0);
      return reused ?? fresh(n);
    },
    outputUninit: (n) => bufferPool.take(n) ?? fresh(n),
  };
  convKernels(ctx);
  memoryKernels(ctx);
  return out;
}
