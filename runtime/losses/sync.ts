/** The paper's sync-regularisation (equation (3)): class presence read off the segmentation, compared with the class head. */

import * as tf from '@tensorflow/tfjs';
import { bceLoss } from './bce.js';
import { stopGradient, toBatchPixelsClasses } from './util.js';

/** How the presence of class k is read from segmentation logits. */
export type PresenceMode = 'hard' | 'soft';
/** Which branch the sync loss trains. */
export type SyncDirection = 'seg->class' | 'both';

/**
 * Class presence P [B, K] from segmentation logits [B, ...spatial, K].
 * - 'hard': the paper's boolean "segmented volume of class k > 0": 1 iff some pixel's argmax is k. It is a
 *   constant for autodiff (zero gradient).
 * - 'soft': max over pixels of softmax(z)_k, a differentiable stand-in (its gradient reaches the pixel
 *   with the highest probability of k). Note soft ≥ 1/K always, and soft > 0.5 implies hard = 1.
 */
export function presence(segLogits: tf.Tensor, mode: PresenceMode): tf.Tensor2D {
  return tf.tidy(() => {
    const z = toBatchPixelsClasses(segLogits); // [B, N, K]
    const k = z.shape[2];
    if (mode === 'hard') {
      const winners = tf.argMax(stopGradient(z), -1) as tf.Tensor2D; // [B, N]
      // Max over pixels of the int32 one-hot, then cast: [B, K] values instead of [B, N, K].
      return tf.max(tf.oneHot(winners, k), 1).toFloat() as tf.Tensor2D;
    }
    return tf.max(tf.softmax(z, -1), 1) as tf.Tensor2D;
  });
}

export interface SyncLossArgs {
  /** Presence read-out: 'hard' = boolean volume > 0 (paper), 'soft' = max softmax probability. */
  presence: PresenceMode;
  /**
   * 'seg->class' (paper): P is a fixed target (stop-gradient), only the class logits receive gradient.
   * 'both' (the paper's future-work two-way sync): P also receives gradient, so the segmentation is pulled
   * towards the class head as well. With presence 'hard' + 'both' the *value* is the hard boolean P and
   * the gradient reaching the segmentation is the soft presence's (straight-through: P = hard + soft −
   * stopGradient(soft)), because the boolean read-out has no gradient of its own.
   */
  direction: SyncDirection;
}

/** A bound sync loss: segmentation logits [B, ...spatial, K], class logits [B, K]. */
export type SyncLossFn = (segLogits: tf.Tensor, classLogits: tf.Tensor) => tf.Scalar;

/**
 * L_sync = BCE(P(Ŷ), Ĉ): sigmoid BCE of the class logits Ĉ [B, K] against the presence P [B, K] of the
 * segmentation logits as target, mean over B·K (see `bceLoss` for the stable form). The gradient of the
 * BCE with respect to its target t is −x (the class logit), so in 'both' mode the segmentation is pushed
 * to make class k present where the class head is confident (x > 0) and absent where it is not.
 */
export function syncLoss(segLogits: tf.Tensor, classLogits: tf.Tensor, args: SyncLossArgs): tf.Scalar {
  const k = segLogits.shape[segLogits.rank - 1]!;
  if (classLogits.rank !== 2 || classLogits.shape[0] !== segLogits.shape[0] || classLogits.shape[1] !== k) {
    throw new Error(
      `syncLoss: class logits [${classLogits.shape.join(', ')}] must be [${segLogits.shape[0]}, ${k}] to match the segmentation's classes`,
    );
  }
  return tf.tidy(() => {
    let target: tf.Tensor;
    if (args.direction === 'seg->class') {
      target = stopGradient(presence(segLogits, args.presence));
    } else if (args.presence === 'soft') {
      target = presence(segLogits, 'soft');
    } else {
      const soft = presence(segLogits, 'soft');
      target = tf.add(presence(segLogits, 'hard'), tf.sub(soft, stopGradient(soft)));
    }
    return bceLoss(classLogits, target);
  });
}

/** Factory for `syncLoss` with fixed arguments. */
export function makeSyncLoss(args: SyncLossArgs): SyncLossFn {
  const frozen: SyncLossArgs = { presence: args.presence, direction: args.direction };
  return (segLogits, classLogits) => syncLoss(segLogits, classLogits, frozen);
}
