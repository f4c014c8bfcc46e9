/** The segmentation loss of the paper's equation (1): weighted softmax cross-entropy plus (1 − soft IoU). */

import * as tf from '@tensorflow/tfjs';

export interface SegLossArgs {
  /** Weight of the cross-entropy term (the paper uses 1). */
  ce: number;
  /** Weight of the (1 − soft IoU) term (the paper uses 1). */
  iou: number;
  /**
   * Optional per-class weights of the cross-entropy (length K), e.g. from `classWeightsFromFrequencies`.
   * The weighted CE is normalised by the summed weights of the pixels' true classes (PyTorch's
   * `CrossEntropyLoss(weight=…)` convention), so uniform weights give exactly the unweighted mean.
   */
  classWeights?: number[];
  /** Smoothing added to the numerator and the denominator of every class's IoU (default 1). */
  eps?: number;
  /**
   * 'per-image' (default): the soft IoU of every image, then their mean, as eq. (1) sums CE + (1 − IoU) over the
   * images x; 'batch': one IoU over all pixels of the batch.
   */
  iouReduction?: 'per-image' | 'batch';
}

/** A segmentation loss bound to its arguments: logits [B, ...spatial, K], labels int32 [B, ...spatial]. */
export type SegLossFn = (logits: tf.Tensor, labels: tf.Tensor) => tf.Scalar;

/**
 * L_seg = ce · CE + iou · (1 − IoU) for logits [B, ...spatial, K] (2D or 3D) and int32 class ids
 * [B, ...spatial].
 *
 * CE = Σ_i w[y_i] · (−log softmax(z_i)[y_i]) / Σ_i w[y_i] over all pixels i of the batch (w ≡ 1 without
 * `classWeights`), computed with logSoftmax so large logits do not overflow.
 *
 * IoU = (1/K) Σ_k (I_k + eps) / (U_k + eps) with p = softmax(z), y = one-hot labels, I_k = Σ_i p_ik·y_ik and
 * U_k = Σ_i (p_ik + y_ik − p_ik·y_ik). With `iouReduction: 'per-image'` (the default) the sums run over the pixels
 * of one image and the IoU is averaged over the images of the batch: eq. (1) writes L_seg as a sum over images
 * x of CE + (1 − IoU(Y(x), Ŷ(x))). With 'batch' they run over all pixels of the whole batch (one pooled IoU;
 * tdc's earlier behaviour, whose gradient for a rare class is less noisy). Each class counts equally in the
 * mean (a macro average), so small classes matter as much as the background. A class absent from both target
 * and prediction has I ≈ 0 and U ≈ Σ p ≪ eps, hence contributes ≈ 1 (no penalty) — this is what eps = 1 is for.
 *
 * Labels outside [0, K) (e.g. 255 for "not annotated") are ignored by both terms: they add nothing to the
 * CE's numerator or denominator, nor to any class's I or U.
 */
export function segLoss(logits: tf.Tensor, labels: tf.Tensor, args: SegLossArgs): tf.Scalar {
  const k = logits.shape[logits.rank - 1]!;
  if (labels.rank !== logits.rank - 1 || labels.shape.some((d, i) => d !== logits.shape[i])) {
    throw new Error(
      `segLoss: labels shape [${labels.shape.join(', ')}] does not match logits [${logits.shape.join(', ')}] without the class axis`,
    );
  }
  if (args.classWeights !== undefined && args.classWeights.length !== k) {
    throw new Error(`segLoss: ${args.classWeights.length} class weights for ${k} classes`);
  }
  const eps = args.eps ?? 1;
  return tf.tidy(() => {
    const z = tf.reshape(logits, [-1, k]);
    const y = tf.oneHot(tf.reshape(tf.cast(labels, 'int32'), [-1]) as tf.Tensor1D, k).toFloat();
    const logP = tf.logSoftmax(z);
    const nll = tf.neg(tf.sum(tf.mul(y, logP), -1)); // [N]
    // An id outside [0, K) one-hot encodes to a zero row: such pixels weigh 0 below (ignore-index semantics).
    const valid = tf.sum(y, -1, true); // [N, 1], 1 or 0
    const wPix = args.classWeights ? tf.sum(tf.mul(y, tf.tensor1d(args.classWeights)), -1) : tf.reshape(valid, [-1]);
    const ce = tf.div(tf.sum(tf.mul(wPix, nll)), tf.maximum(tf.sum(wPix), 1e-12)) as tf.Scalar;
    const p = tf.mul(tf.exp(logP), valid);
    // Per image: [B, pixels, K] sums over axis 1 give [B, K]; pooled: [1, N, K] gives [1, K].
    const batch = args.iouReduction === 'batch' ? 1 : logits.shape[0]!;
    const p3 = tf.reshape(p, [batch, -1, k]);
    const y3 = tf.reshape(y, [batch, -1, k]);
    const inter = tf.sum(tf.mul(p3, y3), 1);
    const union = tf.sub(tf.add(tf.sum(p3, 1), tf.sum(y3, 1)), inter);
    const iou = tf.mean(tf.div(tf.add(inter, eps), tf.add(union, eps)));
    return tf.add(tf.mul(args.ce, ce), tf.mul(args.iou, tf.sub(1, iou))) as tf.Scalar;
  });
}

/** Thin factory: binds the arguments once (the trainer calls the result every step). */
export function makeSegLoss(args: SegLossArgs): SegLossFn {
  const frozen: SegLossArgs = { ...args, classWeights: args.classWeights ? [...args.classWeights] : undefined };
  return (logits, labels) => segLoss(logits, labels, frozen);
}
