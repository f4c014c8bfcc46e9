/** AtrousConv: a stride-1 2D or 3D convolution with per-axis dilation that stays trainable in tfjs. */
import * as tf from '@tensorflow/tfjs';
import { atrousConv2d, atrousConv3d, convBiasAct } from '../ops/index.js';
import { makeInitializer, type KernelInit } from './init.js';

/** The base args every tfjs layer accepts (name, trainable, inputShape, …). */
export type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

export type Activation = 'linear' | 'relu';

export interface AtrousConvArgs extends LayerArgs {
  /** Number of output channels. */
  filters: number;
  /** Kernel size per spatial axis: [kh, kw] makes a 2D conv ([B, H, W, C]), [kz, ky, kx] a 3D conv ([B, Z, Y, X, C]). */
  kernelSize: number[];
  /** Dilation per spatial axis, same length as kernelSize (default all 1 = a plain convolution). */
  dilation?: number[];
  /** 'same' keeps the spatial size; 'valid' shrinks each axis by dilation·(k − 1). Default 'same'. */
  padding?: 'same' | 'valid';
  /** Add a per-channel bias (default true). */
  useBias?: boolean;
  /** Applied after the bias (default 'linear'). */
  activation?: Activation;
  /** Kernel initializer (default 'glorotUniform', as Keras); biases start at zero. */
  kernelInitializer?: KernelInit;
  /** Seed of the kernel initializer; a fixed seed makes the initial weights reproducible (default 0). */
  seed?: number;
}

export class AtrousConv extends tf.layers.Layer {
  static className = 'AtrousConv';
  readonly filters: number;
  readonly kernelSize: number[];
  readonly dilation: number[];
  readonly padding: 'same' | 'valid';
  readonly useBias: boolean;
  readonly activation: Activation;
  readonly kernelInitializer: KernelInit;
  readonly seed: number;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: AtrousConvArgs) {
    super(args);
    const rank = args.kernelSize.length;
    if (rank !== 2 && rank !== 3) {
      throw new Error(`AtrousConv '${this.name}': kernelSize must have 2 or 3 entries, got [${args.kernelSize}]`);
    }
    const dilation = args.dilation ?? args.kernelSize.map(() => 1);
    if (dilation.length !== rank || dilation.some((r) => !Number.isInteger(r) || r < 1)) {
      throw new Error(`AtrousConv '${this.name}': dilation must be ${rank} positive integers, got [${dilation}]`);
    }
    if (!Number.isInteger(args.filters) || args.filters < 1) {
      throw new Error(`AtrousConv '${this.name}': filters must be a positive integer, got ${args.filters}`);
    }
    this.filters = args.filters;
    this.kernelSize = [...args.kernelSize];
    this.dilation = [...dilation];
    this.padding = args.padding ?? 'same';
    this.useBias = args.useBias ?? true;
    this.activation = args.activation ?? 'linear';
    this.kernelInitializer = args.kernelInitializer ?? 'glorotUniform';
    this.seed = args.seed ?? 0;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = singleShape(inputShape);
    const rank = this.kernelSize.length;
    if (shape.length !== rank + 2) {
      throw new Error(
        `AtrousConv '${this.name}': a ${rank}D kernel needs a rank-${rank + 2} input, got shape [${shape}]`,
      );
    }
    const cin = shape[shape.length - 1];
    if (cin == null) throw new Error(`AtrousConv '${this.name}': the channel axis of the input must be known`);
    this.kernel = this.addWeight(
      'kernel',
      [...this.kernelSize, cin, this.filters],
      'float32',
      makeInitializer(this.kernelInitializer, this.seed),
    );
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = singleShape(inputShape);
    const spatial = shape.slice(1, -1).map((d, i) => {
      if (d == null || this.padding === 'same') return d;
      return d - this.dilation[i]! * (this.kernelSize[i]! - 1);
    });
    return [shape[0]!, ...spatial, this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const kernel = this.kernel!.read();
      const bias = this.bias?.read();
      const plain = this.dilation.every((r) => r === 1);
      if (this.kernelSize.length === 2) {
        if (plain) {
          // conv + bias + relu as one op, fused in training too (tf.fused.conv2d unfuses when gradients are recorded).
          return convBiasAct(x as tf.Tensor4D, kernel as tf.Tensor4D, bias as tf.Tensor1D | undefined, this.activation, this.padding);
        }
        return atrousConv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, [this.dilation[0]!, this.dilation[1]!], this.padding, bias as tf.Tensor1D | undefined, this.activation);
      }
      if (plain) return convBiasAct(x as tf.Tensor5D, kernel as tf.Tensor5D, bias as tf.Tensor1D | undefined, this.activation, this.padding);
      const rates: [number, number, number] = [this.dilation[0]!, this.dilation[1]!, this.dilation[2]!];
      return atrousConv3d(x as tf.Tensor5D, kernel as tf.Tensor5D, rates, this.padding, bias as tf.Tensor1D | undefined, this.activation);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      dilation: this.dilation,
      padding: this.padding,
      useBias: this.useBias,
      activation: this.activation,
      kernelInitializer: this.kernelInitializer,
      seed: this.seed,
    };
  }
}
tf.serialization.registerClass(AtrousConv);

/** A stride-1 2D/3D convolution with per-axis dilation (rate 1 on every axis = a plain convolution). */
export function atrousConv(args: AtrousConvArgs): AtrousConv {
  return new AtrousConv(args);
}

/** The one input shape of a single-input layer (tfjs passes a list for multi-input calls). */
export function singleShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
  if (Array.isArray(inputShape[0])) return inputShape[0] as tf.Shape;
  return inputShape as tf.Shape;
}
