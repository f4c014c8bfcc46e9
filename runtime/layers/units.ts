/** Small wiring helpers shared by the blocks: a conv (+ optional batch norm) + ReLU unit, pooling and checks. */
import * as tf from '@tensorflow/tfjs';
import { AtrousConv } from './atrous-conv.js';
import { BatchNorm } from './batch-norm.js';
import type { KernelInit } from './init.js';

export type Norm = 'none' | 'batch';

/** What every block needs to create its layers deterministically. */
export interface BlockInitArgs {
  /** Base seed of the block's initializers; each layer draws its own seed from it (default 0). */
  seed?: number;
  /** Kernel initializer of every conv and dense layer of the block (default 'glorotUniform'). */
  kernelInitializer?: KernelInit;
}

export interface ConvUnitArgs {
  /** Name of the conv layer; its weights are `<name>/kernel` and `<name>/bias`. */
  name: string;
  filters: number;
  kernelSize: number[];
  rates?: number[];
  /** 'batch' inserts BatchNormalization (named `bnName`) between the conv and the ReLU. */
  norm: Norm;
  bnName?: string;
  /** Name of the separate ReLU layer used when norm = 'batch' (default `<name>_relu`). */
  reluName?: string;
  /** false = no ReLU (the conv's output is returned as is, after the norm). */
  relu?: boolean;
  seed: number;
  kernelInitializer: KernelInit;
}

/** conv (+ bias) → [batch norm] → ReLU; without a norm the ReLU is fused into the conv layer. */
export function convUnit(x: tf.SymbolicTensor, args: ConvUnitArgs): tf.SymbolicTensor {
  const relu = args.relu ?? true;
  const fused = args.norm === 'none';
  let y = new AtrousConv({
    name: args.name,
    filters: args.filters,
    kernelSize: args.kernelSize,
    rates: args.rates,
    padding: 'same',
    activation: relu && fused ? 'relu' : 'linear',
    kernelInitializer: args.kernelInitializer,
    seed: args.seed,
  }).apply(x) as tf.SymbolicTensor;
  if (!fused) {
    y = new BatchNorm({ name: args.bnName ?? `${args.name}_bn` }).apply(y) as tf.SymbolicTensor;
    if (relu) y = tf.layers.reLU({ name: args.reluName ?? `${args.name}_relu` }).apply(y) as tf.SymbolicTensor;
  }
  return y;
}

/** 2×2 max-pool in 2D; [1, 2, 2] (in-plane only, z kept) in 3D. */
export function inPlanePool(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  if (x.rank === 4) {
    return tf.layers.maxPooling2d({ name, poolSize: [2, 2], strides: [2, 2], padding: 'valid' }).apply(x) as tf.SymbolicTensor;
  }
  return tf.layers
    .maxPooling3d({ name, poolSize: [1, 2, 2], strides: [1, 2, 2], padding: 'valid' })
    .apply(x) as tf.SymbolicTensor;
}

/** Spatial rank of a channels-last symbolic tensor: 2 for [B, H, W, C], 3 for [B, Z, Y, X, C]. */
export function spatialRank(x: tf.SymbolicTensor, who: string): 2 | 3 {
  if (x.rank === 4) return 2;
  if (x.rank === 5) return 3;
  throw new Error(`${who}: expected a [B, H, W, C] or [B, Z, Y, X, C] input, got shape [${x.shape}]`);
}

/** Number of channels of a channels-last symbolic tensor (must be known to size the next kernel). */
export function channelsOf(x: tf.SymbolicTensor, who: string): number {
  const c = x.shape[x.shape.length - 1];
  if (c == null) throw new Error(`${who}: the channel count of the input must be known`);
  return c;
}

/** log2 of a power of two ≥ 1, or an error naming the argument. */
export function log2Exact(n: number, what: string): number {
  const k = Math.round(Math.log2(n));
  if (!Number.isInteger(n) || n < 1 || 2 ** k !== n) throw new Error(`${what} must be a power of two ≥ 1, got ${n}`);
  return k;
}
