/**
 * The filter of a convolution's input gradient taken as a forward convolution: every spatial axis reversed and the
 * in/out channels swapped, W[k..., ci, co] → W'[K−1−k..., co, ci], as one loop over a Float32Array. On wasm the same
 * as tf.reverse then tf.transpose runs two single-threaded kernels (~77 ms for a 3×3×512×512 filter under load, in
 * a train step whose convolutions run on every core).
 */
import * as tf from '@tensorflow/tfjs';
import { FLIP_SWAP_FILTER_KERNEL } from './kernel-names.js';
import { backendHasKernels } from './registered.js';

/**
 * The values of W'[K−1−k..., co, ci] from W[k..., ci, co] (row-major, `shape` = [...k, ci, co]), into `out` (of w's
 * length, not overlapping w) where given.
 */
export function flipSwapValues(w: Float32Array, shape: readonly number[], out: Float32Array = new Float32Array(w.length)): Float32Array {
  const ci = shape[shape.length - 2]!;
  const co = shape[shape.length - 1]!;
  const taps = w.length / (ci * co);
  const plane = ci * co;
  for (let t = 0; t < taps; t++) {
    // Reversing every spatial axis of a row-major tap index is reversing the flat tap index.
    const src = (taps - 1 - t) * plane;
    const dst = t * plane;
    for (let a = 0; a < ci; a++) {
      const s = src + a * co;
      for (let b = 0; b < co; b++) out[dst + b * ci + a] = w[s + b]!;
    }
  }
  return out;
}

/**
 * A new [...k, co, ci] tensor: for float32 the backend's FLIP_SWAP_FILTER_KERNEL where it has one (wasm: the loop on
 * its heap, no copies out and in), else flipSwapValues on the values read out; tf.reverse then tf.transpose for any
 * other dtype.
 */
export function flipSwapFilter(w: tf.Tensor): tf.Tensor {
  const k = w.shape.slice(0, -2);
  if (w.dtype !== 'float32') {
    const n = k.length;
    return tf.tidy(() => tf.transpose(tf.reverse(w, k.map((_, i) => i)), [...k.map((_, i) => i), n + 1, n]));
  }
  if (backendHasKernels(FLIP_SWAP_FILTER_KERNEL)) return tf.engine().runKernel(FLIP_SWAP_FILTER_KERNEL, { x: w }, {}) as tf.Tensor;
  const [ci, co] = w.shape.slice(-2) as [number, number];
  return tf.tensor(flipSwapValues(w.dataSync() as Float32Array, w.shape), [...k, co, ci], 'float32');
}
