/** BatchNorm: channels-last batch normalization for any rank (tfjs-layers' own refuses rank-5 3D feature maps). */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_APPLY_KERNEL, BATCH_NORM_GRAD_KERNEL, BATCH_NORM_TRAIN_KERNEL } from '../ops/kernel-names.js';
import { backendHasKernels } from '../ops/registered.js';
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
  /** Read at every training call: the trainer sets it from `train.bn_momentum` (runtime/train/batch-norm-stats.ts). */
  momentum: number;
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
      return this.trainNormalize(x, gamma, beta);
    });
  }

  /**
   * Training-mode normalization as one differentiable op with its gradient written out (tf.customGrad): the
   * gradient tape keeps only the input and three per-channel vectors, instead of the five full-size
   * intermediates that autodiff through moments → sub → mul → add keeps. On 3D maps (BRATS crops, 19×144×144×32
   * per conv) that is most of a train step's memory. The moving statistics are updated inside the forward pass,
   * which the tape does not record, so they add nothing to the gradient.
   *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ·σ⁻¹/N · (N·dy − dβ − x̂·dγ),  x̂ = (x − μ)·σ⁻¹  (sums over all but channels)
   */
  private trainNormalize(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    const eps = this.epsilon;
    const decay = 1 - this.momentum;
    const update = (v: tf.LayerVariable, batch: tf.Tensor) => v.write(tf.tidy(() => tf.sub(v.read(), tf.mul(tf.sub(v.read(), batch), decay))));
    // Where the backend has the one-call kernels (native), forward and backward are two passes over the map each
    // instead of tfjs's chain of elementwise kernels; same values, same saved tensors.
    const fused = x.dtype === 'float32' && backendHasKernels(BATCH_NORM_TRAIN_KERNEL, BATCH_NORM_GRAD_KERNEL);
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [input, g, b] = args as [tf.Tensor, tf.Tensor, tf.Tensor];
      const save = args[3] as tf.GradSaveFunc;
      let value: tf.Tensor;
      let mean: tf.Tensor;
      let variance: tf.Tensor;
      let invstd: tf.Tensor;
      if (fused) {
        const outs = tf.engine().runKernel(BATCH_NORM_TRAIN_KERNEL, { x: input, gamma: g, beta: b }, { epsilon: eps });
        [value, mean, variance, invstd] = outs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      } else {
        ({ mean, variance } = tf.moments(input, axes));
        invstd = tf.rsqrt(tf.add(variance, eps));
        value = tf.add(tf.mul(tf.sub(input, mean), tf.mul(g, invstd)), b);
      }
      update(this.movingMean!, mean);
      update(this.movingVariance!, variance);
      save([input, mean, invstd, g]);
      const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): tf.Tensor[] => {
        const d = Array.isArray(dy) ? dy[0]! : dy;
        const [xs, mu, inv, gam] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        if (fused) return tf.engine().runKernel(BATCH_NORM_GRAD_KERNEL, { dy: d, x: xs, mean: mu, invstd: inv, gamma: gam }, {}) as tf.Tensor[];
        const n = xs.size / xs.shape[xs.rank - 1]!;
        const xhat = tf.mul(tf.sub(xs, mu), inv);
        const dbeta = tf.sum(d, axes);
        const dgamma = tf.sum(tf.mul(d, xhat), axes);
        const dx = tf.mul(tf.mul(gam, tf.div(inv, n)), tf.sub(tf.sub(tf.mul(d, n), dbeta), tf.mul(xhat, dgamma)));
        return [dx, dgamma, dbeta];
      };
      return { value, gradFunc };
    });
    return op(x, gamma, beta);
  }

  private normalize(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, this.epsilon)));
    // One pass over the map where the backend has the kernel (native), instead of three (sub, mul, add). The kernel
    // has no gradient, so only where none is being recorded (inference; a frozen layer inside a train step keeps
    // the differentiable ops, through which its input's gradient flows).
    if (x.dtype === 'float32' && tf.engine().state.gradientDepth === 0 && backendHasKernels(BATCH_NORM_APPLY_KERNEL)) {
      return tf.engine().runKernel(BATCH_NORM_APPLY_KERNEL, { x, mean, scale, beta }, {}) as tf.Tensor;
    }
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
