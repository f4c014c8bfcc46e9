/**
 * Public API of the optional native (oneDNN) addon and the tfjs kernels built on it. The 'native' backend itself
 * is registered by runtime/backend (registerNativeBackend), which sits above this folder.
 *   loadNative(): NativeAddon | null; nativeUnavailableReason(): string   // '' when available
 *   nativeKernelConfigs(addon, fallbacks): tf.KernelConfig[]             // the kernels, each with its fallback
 *   composedFallbacks(), atrousFallbacks(), fusedConvFallbacks()         // fallbacks of kernels that replace none
 *   nativeKernelStats(): Record<string, NativeKernelStats>; resetNativeKernelStats(): void
 *   withBufferPool(backend), bufferPoolStats(), setBufferPoolCap(bytes)  // reuse of kernel output arrays
 *   sgdUpdateInPlace(items, step): boolean[]                             // one SGD step in place: which it did
 */
export { bufferPoolStats, setBufferPoolCap, setBufferPoolFloor, wasReadOut, withBufferPool } from './buffer-pool.js';
export type { BufferPoolStats } from './buffer-pool.js';
export { composedFallbacks, atrousFallbacks, fusedConvFallbacks } from './fallbacks.js';
export { nativeKernelConfigs, nativeKernelStats, resetNativeKernelStats } from './kernels.js';
export type { NativeKernelStats } from './kernels.js';
export { loadNative, nativeUnavailableReason } from './loader.js';
export { SGD_UPDATE, sgdUpdateInPlace } from './optimizer.js';
export type { SgdItem, SgdStep } from './optimizer.js';
export type { NativeAddon } from './loader.js';
