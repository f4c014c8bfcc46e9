/** Classification losses of the class and scene heads (the paper's equation (2)), from logits. */

import * as tf from '@tensorflow/tfjs';

export interface BceLossArgs {
  /**
   * Optional weight of the positive term per label (length = number of labels), as PyTorch's
   * `BCEWithLogitsLoss(pos_weight=…)`: > 1 raises recall on rare labels.
   */
  posWeight?: number[];
}

/** A bound classification loss: logits and targets of the same shape [B, C]. */
export type ClassLossFn = (logits: tf.Tensor, targets: tf.Tensor) => tf.Scalar;

/**
 * Multi-label sigmoid binary cross-entropy from logits x and targets t ∈ [0, 1], mean over all elements.
 * Written in the overflow-free form max(x, 0) − x·t + log(1 + e^−|x|); with `posWeight` pw it is
 * (1 − t)·x + (1 + (pw − 1)·t)·(log(1 + e^−|x|) + max(−x, 0)), which equals the former when pw = 1.
 */
export function bceLoss(logits: tf.Tensor, targets: tf.Tensor, args: BceLossArgs = {}): tf.Scalar {
  if (logits.shape.length !== targets.shape.length || logits.shape.some((d, i) => d !== targets.shape[i])) {
    throw new Error(`bceLoss: logits [${logits.shape.join(', ')}] and targets [${targets.shape.join(', ')}] differ`);
  }
  const c = logits.shape[logits.rank - 1]!;
  if (args.posWeight !== undefined && args.posWeight.length !== c) {
    throw new Error(`bceLoss: ${args.posWeight.length} positive weights for ${c} labels`);
  }
  return tf.tidy(() => {
    const x = logits.toFloat();
    const t = targets.toFloat();
    const softplusNegAbs = tf.log1p(tf.exp(tf.neg(tf.abs(x))));
    if (!args.posWeight) {
      return tf.mean(tf.add(tf.sub(tf.relu(x), tf.mul(x, t)), softplusNegAbs)) as tf.Scalar;
    }
    const pw = tf.tensor1d(args.posWeight);
    const coef = tf.add(1, tf.mul(tf.sub(pw, 1), t));
    const term = tf.add(tf.mul(tf.sub(1, t), x), tf.mul(coef, tf.add(softplusNegAbs, tf.relu(tf.neg(x)))));
    return tf.mean(term) as tf.Scalar;
  });
}

/** Factory for `bceLoss` with fixed arguments. */
export function makeBceLoss(args: BceLossArgs = {}): ClassLossFn {
  const frozen: BceLossArgs = { posWeight: args.posWeight ? [...args.posWeight] : undefined };
  return (logits, targets) => bceLoss(logits, targets, frozen);
}

/**
 * Softmax cross-entropy for a single-label scene head: logits [B, S], one-hot (or soft) targets [B, S];
 * −Σ_s t_s·logSoftmax(x)_s, mean over the batch.
 */
export function softmaxCeLoss(logits: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  if (logits.shape.length !== oneHot.shape.length || logits.shape.some((d, i) => d !== oneHot.shape[i])) {
    throw new Error(`softmaxCeLoss: logits [${logits.shape.join(', ')}] and targets [${oneHot.shape.join(', ')}] differ`);
  }
  return tf.tidy(() => tf.mean(tf.neg(tf.sum(tf.mul(oneHot.toFloat(), tf.logSoftmax(logits.toFloat())), -1))) as tf.Scalar);
}

/** Factory for `softmaxCeLoss` (it has no arguments; kept for symmetry with the other terms). */
export function makeSoftmaxCeLoss(): ClassLossFn {
  return (logits, targets) => softmaxCeLoss(logits, targets);
}
