/**
 * Resizes with correct gradients on every backend: 2D bilinear and 3D trilinear (tfjs has no 3D resize, and the
 * cpu backend's ResizeBilinearGrad returns a [B, W, H, C] gradient on non-square maps).
 *
 * Linear interpolation is separable: along each axis it is a fixed [outLen, inLen] matrix A with at most two
 * non-zeros per row, built in float64 with exactly tfjs's coordinate rule (halfPixelCenters = false, the
 * tf.image.resizeBilinear default: src = dst · in/out, or dst · (in−1)/(out−1) with alignCorners). Applying A
 * along an axis is one batched matMul after a free reshape (the axis is the second-to-last dim of
 * [before, axis, after·C]), and its gradient is the same product with Aᵀ.
 *   - resizeBilinear2d: forward is tf.image.resizeBilinear (native and fastest on each backend), wrapped in
 *     tf.customGrad so the gradient is Aᵀ-products instead of the backend's ResizeBilinearGrad kernel.
 *   - resizeTrilinear3d: forward and gradient are the matMul chain (gradients come from matMul).
 *   - resizeNearestNd: forward is one gather per axis; the gradient is the Aᵀ-product with A's 0/1 rows, not
 *     gather's own gradient (an unsortedSegmentSum that the cpu/wasm/native backends run as one masked sum
 *     per output index: quadratic in the map size, which made `upsample: nearest` train 5–20× slower).
 */
import * as tf from '@tensorflow/tfjs';

/**
 * The [outLen, inLen] row-major linear-interpolation matrix of tfjs's resizeBilinear along one axis
 * (same formulas as tfjs-backend-cpu's ResizeBilinear with halfPixelCenters = false).
 */
export function interpolationMatrix(inLen: number, outLen: number, alignCorners: boolean): Float32Array {
  const effIn = alignCorners && outLen > 1 ? inLen - 1 : inLen;
  const effOut = alignCorners && outLen > 1 ? outLen - 1 : outLen;
  const scale = effIn / effOut;
  const m = new Float64Array(outLen * inLen);
  for (let o = 0; o < outLen; o++) {
    const src = scale * o;
    const lo = Math.max(0, Math.floor(src));
    const hi = Math.min(inLen - 1, Math.ceil(src));
    const frac = src - lo;
    m[o * inLen + lo] += 1 - frac;
    m[o * inLen + hi] += frac;
  }
  return Float32Array.from(m);
}

/** The nearest-neighbour source index along one axis: floor(o·in/out), tf.image's default rule. */
function nearestIndex(inLen: number, outLen: number): Int32Array {
  const idx = new Int32Array(outLen);
  for (let o = 0; o < outLen; o++) idx[o] = Math.min(inLen - 1, Math.floor((o * inLen) / outLen));
  return idx;
}

/** The [outLen, inLen] 0/1 matrix of a nearest-neighbour resize along one axis (one 1 per row). */
export function nearestMatrix(inLen: number, outLen: number): Float32Array {
  const m = new Float32Array(outLen * inLen);
  nearestIndex(inLen, outLen).forEach((i, o) => {
    m[o * inLen + i] = 1;
  });
  return m;
}

/** Applies one [out, in] matrix per spatial axis (null = leave the axis alone) to x [B, ...S, C]. */
function applyAlongAxes(x: tf.Tensor, mats: Array<tf.Tensor2D | null>): tf.Tensor {
  const shape = [...x.shape];
  let y = x;
  for (let a = 0; a < mats.length; a++) {
    const m = mats[a];
    if (m === null) continue;
    const axis = a + 1;
    const before = shape.slice(0, axis).reduce((p, q) => p * q, 1);
    const after = shape.slice(axis + 1).reduce((p, q) => p * q, 1);
    const r = tf.reshape(y, [before, shape[axis], after]) as tf.Tensor3D;
    y = tf.matMul(tf.reshape(m, [1, m.shape[0], m.shape[1]]) as tf.Tensor3D, r);
    shape[axis] = m.shape[0];
  }
  return tf.reshape(y, shape);
}

function checkSize(op: string, x: tf.Tensor, size: readonly number[], rank: number): void {
  if (x.rank !== rank) throw new Error(`${op}: input must have rank ${rank}, got shape [${x.shape.join(', ')}]`);
  if (size.length !== rank - 2 || size.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`${op}: size must be ${rank - 2} positive integers, got [${size.join(', ')}]`);
  }
}

/** Interpolation matrices for each spatial axis, transposed when `transpose` (for the gradient). */
function matrices(inSizes: number[], outSizes: number[], alignCorners: boolean, transpose: boolean): Array<tf.Tensor2D | null> {
  return inSizes.map((n, a) => {
    const o = outSizes[a];
    if (n === o) return null; // scale 1 (also with alignCorners): identity
    const m = tf.tensor2d(interpolationMatrix(n, o, alignCorners), [o, n]);
    return transpose ? (tf.transpose(m) as tf.Tensor2D) : m;
  });
}

/**
 * Bilinear resize of NHWC maps to `size` = [h, w] (tfjs semantics, halfPixelCenters = false), with a gradient
 * that is correct on every backend.
 */
export function resizeBilinear2d(x: tf.Tensor4D, size: [number, number], alignCorners = false): tf.Tensor4D {
  checkSize('resizeBilinear2d', x, size, 4);
  const inSizes = [x.shape[1], x.shape[2]];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.image.resizeBilinear(args[0] as tf.Tensor4D, size, alignCorners),
    gradFunc: (dy: tf.Tensor4D) => tf.tidy(() => applyAlongAxes(dy, matrices(inSizes, size, alignCorners, true))),
  }));
  return op(x) as tf.Tensor4D;
}

/**
 * Trilinear resize of NDHWC volumes to `size` = [d, h, w]: separable linear interpolation along depth, height
 * and width with tf.image.resizeBilinear's coordinate rule on each axis.
 */
export function resizeTrilinear3d(
  x: tf.Tensor5D,
  size: [number, number, number],
  alignCorners = false,
): tf.Tensor5D {
  checkSize('resizeTrilinear3d', x, size, 5);
  return tf.tidy(
    () => applyAlongAxes(x, matrices([x.shape[1], x.shape[2], x.shape[3]], size, alignCorners, false)) as tf.Tensor5D,
  );
}

/**
 * Nearest-neighbour resize of [B, …spatial, C] maps (2D or 3D) to `size`, source index floor(i·in/out) on each
 * axis. From a 1-pixel map this is an exact broadcast (the ASPP image-pooling branch).
 */
export function resizeNearestNd(x: tf.Tensor, size: readonly number[]): tf.Tensor {
  if (x.rank !== size.length + 2) checkSize('resizeNearestNd', x, size, size.length + 2);
  const inSizes = x.shape.slice(1, -1);
  if (inSizes.every((n, a) => n === size[a])) return x;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    let y = args[0] as tf.Tensor;
    size.forEach((out, a) => {
      if (inSizes[a] !== out) y = tf.gather(y, tf.tensor1d(nearestIndex(inSizes[a]!, out), 'int32'), a + 1);
    });
    return {
      value: y,
      gradFunc: (dy: tf.Tensor) =>
        tf.tidy(() =>
          applyAlongAxes(
            dy,
            inSizes.map((n, a) => (n === size[a] ? null : (tf.transpose(tf.tensor2d(nearestMatrix(n, size[a]!), [size[a]!, n])) as tf.Tensor2D))),
          ),
        ),
    };
  });
  return op(x);
}
