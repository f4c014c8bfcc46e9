/** UpsampleTo and GlobalAvgPool: resizing a feature map to a fixed spatial size, and pooling it to one vector. */
import * as tf from '@tensorflow/tfjs';
import { resizeBilinear2d, resizeNearestNd, resizeTrilinear3d } from '../ops/index.js';
import { singleShape, type LayerArgs } from './atrous-conv.js';

/** 'bilinear' and 'trilinear' both mean linear interpolation on every spatial axis (the spec names either). */
export type UpsampleMode = 'bilinear' | 'trilinear' | 'nearest';

export interface UpsampleToArgs extends LayerArgs {
  /** Target spatial size: 2D [height, width]; 3D [z, y, x] (channels-last [B, Z, Y, X, C] order). */
  size: number[];
  /** Interpolation (default 'bilinear'; on a 3D input 'bilinear' and 'trilinear' are the same). */
  mode?: UpsampleMode;
  /** Linear modes only: map corner pixels onto each other (default false = tf.image.resizeBilinear's src = dst·in/out). */
  alignCorners?: boolean;
}

export class UpsampleTo extends tf.layers.Layer {
  static className = 'UpsampleTo';
  readonly size: number[];
  readonly mode: UpsampleMode;
  readonly alignCorners: boolean;

  constructor(args: UpsampleToArgs) {
    super(args);
    if ((args.size.length !== 2 && args.size.length !== 3) || args.size.some((s) => !Number.isInteger(s) || s < 1)) {
      throw new Error(`UpsampleTo '${this.name}': size must be 2 or 3 positive integers, got [${args.size}]`);
    }
    this.size = [...args.size];
    this.mode = args.mode ?? 'bilinear';
    this.alignCorners = args.alignCorners ?? false;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = singleShape(inputShape);
    if (shape.length !== this.size.length + 2) {
      throw new Error(`UpsampleTo '${this.name}': a ${this.size.length}D size needs a rank-${this.size.length + 2} input, got [${shape}]`);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = singleShape(inputShape);
    return [shape[0]!, ...this.size, shape[shape.length - 1]!];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      if (this.mode === 'nearest') return resizeNearestNd(x, this.size);
      if (this.size.length === 2) {
        return resizeBilinear2d(x as tf.Tensor4D, [this.size[0]!, this.size[1]!], this.alignCorners);
      }
      return resizeTrilinear3d(x as tf.Tensor5D, [this.size[0]!, this.size[1]!, this.size[2]!], this.alignCorners);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size, mode: this.mode, alignCorners: this.alignCorners };
  }
}
tf.serialization.registerClass(UpsampleTo);

/** Resizes a [B, …spatial, C] map to `size` (linear or nearest); see UpsampleToArgs. */
export function upsampleTo(args: UpsampleToArgs): UpsampleTo {
  return new UpsampleTo(args);
}

export interface GlobalAvgPoolArgs extends LayerArgs {
  /** Keep the spatial axes as size 1 ([B, 1, 1, C]) instead of returning [B, C] (default false). */
  keepDims?: boolean;
}

/** Mean over every spatial axis of a 2D or 3D map (tfjs-layers has no 3D global pooling). */
export class GlobalAvgPool extends tf.layers.Layer {
  static className = 'GlobalAvgPool';
  readonly keepDims: boolean;

  constructor(args: GlobalAvgPoolArgs = {}) {
    super(args);
    this.keepDims = args.keepDims ?? false;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = singleShape(inputShape);
    const channels = shape[shape.length - 1]!;
    return this.keepDims ? [shape[0]!, ...shape.slice(1, -1).map(() => 1), channels] : [shape[0]!, channels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const axes = Array.from({ length: x.rank - 2 }, (_, i) => i + 1);
      return tf.mean(x, axes, this.keepDims);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), keepDims: this.keepDims };
  }
}
tf.serialization.registerClass(GlobalAvgPool);

/** Global average pooling over the spatial axes of [B, …spatial, C]. */
export function globalAvgPool(args: GlobalAvgPoolArgs = {}): GlobalAvgPool {
  return new GlobalAvgPool(args);
}
