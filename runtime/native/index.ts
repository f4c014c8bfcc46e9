/**
 * Public API of the optional native (oneDNN) CPU path.
 *   registerNativeBackend(args?: { threads?: number }): NativeBackendInfo | null   // registers tfjs backend 'native'
 *   nativeAvailable(): boolean
 *   nativeUnavailableReason(): string                                              // '' when available
 *   nativeKernelStats(): Record<string, NativeKernelStats>; resetNativeKernelStats(): void
 *   loadNative(): NativeAddon | null                                                // the raw addon
 */
export { registerNativeBackend, nativeAvailable, nativeUnavailableReason } from './backend.js';
export type { RegisterNativeArgs, NativeBackendInfo } from './backend.js';
export { nativeKernelStats, resetNativeKernelStats } from './kernels.js';
export type { NativeKernelStats } from './kernels.js';
export { loadNative } from './loader.js';
export type { NativeAddon } from './loader.js';
