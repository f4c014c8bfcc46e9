/**
 * The trainer's view of batch normalization: setting every batch-norm layer's momentum from the run's setting, and
 * measuring how far the running statistics (what inference uses) are from a training batch's statistics.
 * Works on tdc's BatchNorm and on tfjs-layers' BatchNormalization: both keep Keras' `momentum` (the weight of the
 * old value) and `moving_mean` / `moving_variance` weights, and update them in training mode.
 */
import * as tf from '@tensorflow/tfjs';

interface BatchNormLike {
  layer: tf.layers.Layer & { momentum: number; epsilon: number };
  mean: tf.LayerVariable;
  variance: tf.LayerVariable;
}

/** The model's batch-norm layers (found by their moving-statistics weights and momentum). */
export function batchNormLayers(model: tf.LayersModel): BatchNormLike[] {
  const out: BatchNormLike[] = [];
  for (const layer of model.layers) {
    const l = layer as tf.layers.Layer & { momentum?: unknown; epsilon?: unknown };
    if (typeof l.momentum !== 'number') continue;
    const mean = layer.weights.find((w) => /(^|\/)moving_mean(_\d+)?$/.test(w.originalName));
    const variance = layer.weights.find((w) => /(^|\/)moving_variance(_\d+)?$/.test(w.originalName));
    if (!mean || !variance) continue;
    out.push({ layer: l as BatchNormLike['layer'], mean, variance });
  }
  return out;
}

/**
 * Sets every batch-norm layer's momentum from `newWeight`, PyTorch's convention (running ← (1 − m)·running +
 * m·batch, default 0.1); the layers keep Keras' convention (the weight of the old value), so they get 1 − m.
 */
export function setBatchNormMomentum(model: tf.LayersModel, newWeight: number): void {
  if (!(newWeight > 0 && newWeight <= 1)) throw new RangeError(`batch-norm momentum must be in (0, 1], got ${newWeight}`);
  for (const b of batchNormLayers(model)) b.layer.momentum = 1 - newWeight;
}

/** The layer whose running statistics are furthest from a batch's. */
export interface BatchNormDrift {
  layer: string;
  /** max over channels of |running mean − batch mean| / batch standard deviation. */
  meanShift: number;
  /** max over channels of the ratio of running and batch variance, the larger over the smaller (≥ 1). */
  varianceRatio: number;
}

/** Thresholds of a warning: a mean one batch standard deviation off, or a variance off by 4×. */
const MEAN_SHIFT = 1;
const VARIANCE_RATIO = 4;

/**
 * Runs `image` through the model in training mode with every batch-norm momentum at 0, so that each layer's moving
 * statistics become the batch's (each layer seeing its input as training sees it), reads them, and puts back the
 * running statistics and momenta exactly. Returns the worst layer when it crosses a threshold, else null.
 */
export async function batchNormDrift(model: tf.LayersModel, image: tf.Tensor): Promise<BatchNormDrift | null> {
  const layers = batchNormLayers(model).filter((b) => b.layer.trainable);
  if (layers.length === 0) return null;
  const saved = layers.map((b) => ({ b, momentum: b.layer.momentum, mean: tf.keep(b.mean.read().clone()), variance: tf.keep(b.variance.read().clone()) }));
  let worst: BatchNormDrift | null = null;
  try {
    for (const s of saved) s.b.layer.momentum = 0;
    tf.tidy(() => {
      model.apply(image, { training: true });
    });
    for (const s of saved) {
      const [shift, ratio] = tf.tidy(() => {
        const eps = s.b.layer.epsilon;
        const batchMean = s.b.mean.read();
        const batchVar = tf.add(s.b.variance.read(), eps);
        const runVar = tf.add(s.variance, eps);
        const shiftT = tf.max(tf.div(tf.abs(tf.sub(s.mean, batchMean)), tf.sqrt(batchVar)));
        const r = tf.div(runVar, batchVar);
        const ratioT = tf.max(tf.maximum(r, tf.reciprocal(r)));
        return [shiftT, ratioT];
      });
      const meanShift = (await shift.data())[0]!;
      const varianceRatio = (await ratio.data())[0]!;
      tf.dispose([shift, ratio]);
      const score = Math.max(meanShift / MEAN_SHIFT, varianceRatio / VARIANCE_RATIO);
      if (score > 1 && (worst === null || score > Math.max(worst.meanShift / MEAN_SHIFT, worst.varianceRatio / VARIANCE_RATIO))) {
        worst = { layer: s.b.layer.name, meanShift, varianceRatio };
      }
    }
  } finally {
    for (const s of saved) {
      s.b.layer.momentum = s.momentum;
      s.b.mean.write(s.mean);
      s.b.variance.write(s.variance);
      tf.dispose([s.mean, s.variance]);
    }
  }
  return worst;
}

/** One line for the run's output. */
export function formatDrift(d: BatchNormDrift): string {
  return (
    `batch-norm running statistics are far from a training batch's (layer ${d.layer}: mean off by ${d.meanShift.toFixed(1)} batch std, ` +
    `variance off by ${d.varianceRatio.toFixed(1)}×); validation and eval use the running statistics, so they score a different ` +
    `network than training does: train longer or raise train.bn_momentum`
  );
}
