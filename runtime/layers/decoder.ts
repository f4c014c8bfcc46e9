/** The decoders over the shared latent map: ASPP (paper III-C), the segmentation head and the dense class/scene heads. */
import * as tf from '@tensorflow/tfjs';
import { makeInitializer, SeedSequence } from './init.js';
import { channelsOf, convUnit, spatialRank, type BlockInitArgs } from './units.js';
import { globalAvgPool, upsampleTo, type UpsampleMode } from './upsample.js';

export interface AsppArgs extends BlockInitArgs {
  /** Atrous rates; rate 1 is a 1×1 conv (DeepLab convention), others 3×3 (3D: [1,3,3], in-plane dilation). */
  rates: number[];
  /** Channels of every branch and of the output. */
  filters: number;
  /** Add the image-pooling branch: global average pool → 1×1 conv → ReLU → broadcast to the map size. */
  imagePooling: boolean;
}

/**
 * Atrous spatial pyramid pooling (DeepLab v3). Layer names: aspp_rate{r} (one per rate), aspp_pool (global
 * average pool), aspp_pool_conv, aspp_pool_broadcast, aspp_concat, aspp_project. The spatial size is kept.
 */
export function aspp(x: tf.SymbolicTensor, args: AsppArgs): tf.SymbolicTensor {
  const dims = spatialRank(x, 'aspp');
  channelsOf(x, 'aspp');
  if (args.rates.length === 0 || args.rates.some((r) => !Number.isInteger(r) || r < 1)) {
    throw new Error(`aspp: rates must be positive integers, got [${args.rates}]`);
  }
  const seeds = new SeedSequence(args.seed ?? 0);
  const init = args.kernelInitializer ?? 'glorotUniform';
  const one = Array<number>(dims).fill(1);
  if (new Set(args.rates).size !== args.rates.length) throw new Error(`aspp: rates must be distinct, got [${args.rates}]`);
  const branches = args.rates.map((rate) =>
    convUnit(x, {
      name: `aspp_rate${rate}`,
      filters: args.filters,
      kernelSize: rate === 1 ? one : dims === 2 ? [3, 3] : [1, 3, 3],
      rates: rate === 1 ? one : dims === 2 ? [rate, rate] : [1, rate, rate],
      norm: 'none',
      seed: seeds.next(),
      kernelInitializer: init,
    }),
  );
  if (args.imagePooling) {
    const size = x.shape.slice(1, -1);
    if (size.some((s) => s == null)) throw new Error('aspp: image pooling needs a known spatial size');
    let p = globalAvgPool({ name: 'aspp_pool', keepDims: true }).apply(x) as tf.SymbolicTensor;
    p = convUnit(p, { name: 'aspp_pool_conv', filters: args.filters, kernelSize: one, norm: 'none', seed: seeds.next(), kernelInitializer: init });
    // Nearest resize from a 1-pixel map is an exact broadcast (bilinear would give the same, at more cost).
    p = upsampleTo({ name: 'aspp_pool_broadcast', size: size as number[], mode: 'nearest' }).apply(p) as tf.SymbolicTensor;
    branches.push(p);
  }
  const cat =
    branches.length === 1 ? branches[0]! : (tf.layers.concatenate({ name: 'aspp_concat', axis: -1 }).apply(branches) as tf.SymbolicTensor);
  return convUnit(cat, { name: 'aspp_project', filters: args.filters, kernelSize: one, norm: 'none', seed: seeds.next(), kernelInitializer: init });
}

export interface SegHeadArgs extends BlockInitArgs {
  /** Number of segmentation classes K (logit channels). */
  numClasses: number;
  /** Output spatial size (the network input's): 2D [H, W]; 3D [Z, Y, X]. */
  size: number[];
  /** How the logits are brought back to the input size. */
  upsample: UpsampleMode;
}

/** 1×1 conv to K logits, then resized to the input size. Layer names seg_logits (the conv), seg_upsample (the output). */
export function segHead(x: tf.SymbolicTensor, args: SegHeadArgs): tf.SymbolicTensor {
  const dims = spatialRank(x, 'segHead');
  const seeds = new SeedSequence(args.seed ?? 0);
  const y = convUnit(x, {
    name: 'seg_logits',
    filters: args.numClasses,
    kernelSize: Array<number>(dims).fill(1),
    norm: 'none',
    relu: false,
    seed: seeds.next(),
    kernelInitializer: args.kernelInitializer ?? 'glorotUniform',
  });
  return upsampleTo({ name: 'seg_upsample', size: args.size, mode: args.upsample }).apply(y) as tf.SymbolicTensor;
}

export interface DenseHeadArgs extends BlockInitArgs {
  /** Layer-name prefix, e.g. 'class' or 'scene'. */
  name: string;
  /** Hidden units of the first dense layer. */
  hidden: number;
  /** Dropout rate after the hidden layer (0 = no dropout layer). */
  dropout: number;
  /** Number of output logits. */
  units: number;
}

/**
 * Global average pool → dense(hidden) + ReLU (→ dropout) → dense(units) logits, for the multi-label class and
 * scene heads. Layer names {name}_pool, {name}_hidden, {name}_dropout, {name}_logits (the output).
 */
export function denseHead(x: tf.SymbolicTensor, args: DenseHeadArgs): tf.SymbolicTensor {
  spatialRank(x, 'denseHead');
  const seeds = new SeedSequence(args.seed ?? 0);
  const init = args.kernelInitializer ?? 'glorotUniform';
  const makeInit = (seed: number) => makeInitializer(init, seed);
  let y = globalAvgPool({ name: `${args.name}_pool` }).apply(x) as tf.SymbolicTensor;
  y = tf.layers
    .dense({ name: `${args.name}_hidden`, units: args.hidden, activation: 'relu', kernelInitializer: makeInit(seeds.next()) })
    .apply(y) as tf.SymbolicTensor;
  if (args.dropout > 0) {
    // No layer seed: tfjs would then draw the same mask at every step (a fresh generator from the seed per call).
    // Unseeded, each step's mask comes from Math.random, which the trainer draws from its checkpointed generator.
    seeds.next(); // still drawn, so the logits' initial weights do not change
    y = tf.layers.dropout({ name: `${args.name}_dropout`, rate: args.dropout }).apply(y) as tf.SymbolicTensor;
  }
  return tf.layers
    .dense({ name: `${args.name}_logits`, units: args.units, kernelInitializer: makeInit(seeds.next()) })
    .apply(y) as tf.SymbolicTensor;
}
