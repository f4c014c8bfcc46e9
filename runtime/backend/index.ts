/**
 * Public API of backend selection and of the training kernels tdc adds to the shipped tfjs backends.
 *   selectBackend(opts?: { prefer?: string; threads?: number }): Promise<BackendInfo>
 *   formatBackendInfo(info: BackendInfo): string            // "backend: wasm (SIMD, 1 thread)"
 *   registerTrainingKernels(backendName: string): string[]  // names of the kernels (re)registered
 *   trainingKernelsFor(backendName: string): tf.KernelConfig[]  // the kernels that would be registered
 *   registerNativeBackend(args?: { threads?: number }): NativeBackendInfo | null   // registers tfjs backend 'native'
 *   nativeAvailable(): boolean; nativeUnavailableReason(): string                  // '' when available
 */
export { selectBackend, formatBackendInfo } from './select.js';
export type { BackendInfo, SelectBackendOptions } from './select.js';
export { registerTrainingKernels, trainingKernelsFor } from './kernels.js';
export { registerNativeBackend, nativeAvailable, nativeUnavailableReason } from './native.js';
export type { RegisterNativeArgs, NativeBackendInfo } from './native.js';
