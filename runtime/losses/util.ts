/** Small tensor helpers shared by the loss terms (tfjs has no stop-gradient op). */

import * as tf from '@tensorflow/tfjs';

/**
 * Identity in the forward pass, zero gradient in the backward pass (TensorFlow's `stop_gradient`, which tfjs
 * lacks): the sync loss uses it so that its target does not pull on the segmentation branch.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = inputs[0] as tf.Tensor;
    return { value: input.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  });
  return f(x) as T;
}

/** Flattens [B, ...spatial, K] to [B, N, K]; the class axis is last (channels-last layouts). */
export function toBatchPixelsClasses(logits: tf.Tensor): tf.Tensor3D {
  if (logits.rank < 3) {
    throw new Error(`segmentation logits must be [B, ...spatial, K], got shape [${logits.shape.join(', ')}]`);
  }
  const b = logits.shape[0]!;
  const k = logits.shape[logits.rank - 1]!;
  return tf.reshape(logits, [b, -1, k]) as tf.Tensor3D;
}
