/** BatchNorm: channels-last batch normalization for any rank (tfjs-layers' own refuses rank-5 3D feature maps). */
import * as tf from '@tensorflow/tfjs';
import { singleShape, type LayerArgs } from './atrous-conv.js';

export interface BatchNormArgs extends LayerArgs {
  /** Weight of the old value in the moving averages (Keras default 0.99). */
  momentum?: number;
  /** Added to the variance before the square root (Keras default 1e-3). */
  epsilon?: number;
}

/**
 * Normalizes over every axis but the last (channels). Training mode uses the batch's mean and (biased) variance
 * and moves the stored statistics toward them; inference, and a layer with trainable = false, use the stored ones. Weights carry Keras' names
 * (gamma, beta, moving_mean, moving_variance), so Keras BatchNormalization weights load by name.
 */
export class BatchNorm extends tf.layers.Layer {
  static className = 'BatchNorm';
  readonly momentum: number;
  readonly epsilon: number;
  private gamma: tf.LayerVariable | null = null;
  private beta: tf.LayerVariable | null = null;
  private movingMean: tf.LayerVariable | null = null;
  private movingVariance: tf.LayerVariable | null = null;

  constructor(args: BatchNormArgs = {}) {
    super(args);
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = singleShape(inputShape);
    const c = shape[shape.length - 1];
    if (c == null) throw new Error(`BatchNorm '${this.name}': the channel axis of the input must be known`);
    this.gamma = this.addWeight('gamma', [c], 'float32', tf.initializers.ones());
    this.beta = this.addWeight('beta', [c], 'float32', tf.initializers.zeros());
    this.movingMean = this.addWeight('moving_mean', [c], 'float32', tf.initializers.zeros(), undefined, false);
    this.movingVariance = this.addWeight('moving_variance', [c], 'float32', tf.initializers.ones(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const gamma = this.gamma!.read();
      const beta = this.beta!.read();
      // A frozen layer normalizes with its stored statistics even in training mode (Keras 2 semantics), so
      // freezing a pretrained encoder for a stage does not drift its statistics toward the new data.
      if (!kwargs.training || !this.trainable) {
        return this.normalize(x, this.movingMean!.read(), this.movingVariance!.read(), gamma, beta);
      }
      const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
      const { mean, variance } = tf.moments(x, axes);
      // The moving statistics are state: written outside the loss, so they add nothing to its gradient.
      const decay = 1 - this.momentum;
      const update = (v: tf.LayerVariable, batch: tf.Tensor) =>
        v.write(tf.tidy(() => tf.sub(v.read(), tf.mul(tf.sub(v.read(), batch), decay))));
      update(this.movingMean!, mean);
      update(this.movingVariance!, variance);
      return this.normalize(x, mean, variance, gamma, beta);
    });
  }

  /**
   * (x − mean) · γ / √(var + ε) + β from elementwise ops: tf.batchNorm's gradient breaks on rank-5 inputs (its
   * FusedBatchNorm gradient tiles with rank-4 reps), and autodiff through these ops works at any rank.
   */
  private normalize(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, this.epsilon)));
    return tf.add(tf.mul(tf.sub(x, mean), scale), beta);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), momentum: this.momentum, epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(BatchNorm);

/** Channels-last batch normalization for 2D and 3D maps. */
export function batchNorm(args: BatchNormArgs = {}): BatchNorm {
  return new BatchNorm(args);
}
