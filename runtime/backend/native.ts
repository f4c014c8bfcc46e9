/**
 * The 'native' tfjs backend: the stock cpu backend (same tensor storage, same kernels) with its convolutions,
 * matrix products and memory-bound kernels running on oneDNN / OpenMP through the addon (runtime/native).
 */
import * as tf from '@tensorflow/tfjs';
import { composedFallbacks, loadNative, nativeKernelConfigs, nativeUnavailableReason, withBufferPool } from '../native/index.js';
import { registerLeanGradients } from '../ops/lean-grads.js';
import { trainingKernelsFor } from './kernels.js';

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
  // Its kernels' large outputs are reused once disposed (runtime/native/buffer-pool.ts).
  tf.registerBackend('native', () => withBufferPool(new Cpu()), 0);

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
  Object.assign(fallbacks, composedFallbacks());
  const kernels = nativeKernelConfigs(addon, fallbacks);
  for (const k of kernels) put(k);
  registerLeanGradients(); // its Relu gradient runs RELU_GRAD_KERNEL where registered
  registered = { name: 'native', threads: addon.threads(), library: addon.version(), kernels: kernels.map((k) => k.kernelName) };
  return { ...registered };
}

/** Whether the addon loaded (then the 'native' backend can be registered). */
export function nativeAvailable(): boolean {
  return loadNative() !== null;
}

export { nativeUnavailableReason };
