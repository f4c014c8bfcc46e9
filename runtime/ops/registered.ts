/** Whether the active tfjs backend registers kernels tdc adds (the 'native' backend's fast paths). */
import * as tf from '@tensorflow/tfjs';

/** True when every one of `names` is a registered kernel of the active backend. */
export function backendHasKernels(...names: string[]): boolean {
  const backend = tf.getBackend();
  return names.every((name) => tf.getKernel(name, backend) !== undefined);
}
