/** The three encoders (VGG16, anisotropic 3D residual, plain conv stack) as functional-graph blocks. */
import * as tf from '@tensorflow/tfjs';
import { SeedSequence } from './init.js';
import { channelsOf, convUnit, inPlanePool, log2Exact, spatialRank, type BlockInitArgs, type Norm } from './units.js';

/** VGG16's conv layers per stage and widths (Simonyan & Zisserman 2015, configuration D). */
export const VGG16_CONVS = [2, 2, 3, 3, 3] as const;
export const VGG16_WIDTHS = [64, 128, 256, 512, 512] as const;

export interface Vgg16EncoderArgs extends BlockInitArgs {
  /** Number of stages used, 1..5 (5 = all 13 conv layers). */
  stages: number;
  /** Width multiplier on 64-128-256-512-512; channels are round(width·base) (1 = the original VGG16). */
  width: number;
  /** Total stride: a 2×2 max-pool follows each of the first log2(outputStride) stages only. */
  outputStride: number;
  /** 'batch' adds BatchNormalization after every conv (named block{s}_bn{i}). */
  norm: Norm;
}

/**
 * VGG16's convolutional part on [B, H, W, C] with Keras layer names (block{s}_conv{i}, block{s}_pool), so the
 * ImageNet weights of keras.applications load by name. Later pools are dropped to keep the resolution the
 * dilated context module needs (DeepLab-style output stride).
 */
export function vgg16Encoder(x: tf.SymbolicTensor, args: Vgg16EncoderArgs): tf.SymbolicTensor {
  if (spatialRank(x, 'vgg16Encoder') !== 2) throw new Error('vgg16Encoder: the VGG16 encoder is 2D only');
  if (!Number.isInteger(args.stages) || args.stages < 1 || args.stages > 5) {
    throw new Error(`vgg16Encoder: stages must be 1..5, got ${args.stages}`);
  }
  if (!(args.width > 0)) throw new Error(`vgg16Encoder: width must be > 0, got ${args.width}`);
  const pools = log2Exact(args.outputStride, 'vgg16Encoder: outputStride');
  if (pools > args.stages) {
    throw new Error(`vgg16Encoder: outputStride ${args.outputStride} needs ${pools} stages, only ${args.stages} used`);
  }
  const seeds = new SeedSequence(args.seed ?? 0);
  const init = args.kernelInitializer ?? 'glorotUniform';
  let y = x;
  for (let s = 1; s <= args.stages; s++) {
    const filters = Math.max(1, Math.round(VGG16_WIDTHS[s - 1]! * args.width));
    for (let i = 1; i <= VGG16_CONVS[s - 1]!; i++) {
      y = convUnit(y, {
        name: `block${s}_conv${i}`,
        bnName: `block${s}_bn${i}`,
        reluName: `block${s}_relu${i}`,
        filters,
        kernelSize: [3, 3],
        norm: args.norm,
        seed: seeds.next(),
        kernelInitializer: init,
      });
    }
    if (s <= pools) y = inPlanePool(y, `block${s}_pool`);
  }
  return y;
}

export interface Aniso3dEncoderArgs extends BlockInitArgs {
  /** Channels of the stem and the first stage; doubled by each down-sampling step. */
  filters: number;
  /** Residual blocks per stage. */
  blocks: number;
  /** In-plane down-sampling steps (each halves y and x, never z). */
  downsample: number;
  /** In-plane dilation of the intra-slice convs; residual block j of every stage uses dilations[j % len]. */
  dilations: number[];
  /** 'batch' adds BatchNormalization after every conv. */
  norm: Norm;
}

/**
 * The anisotropic 3D encoder of Wang et al. 2017 on [B, Z, Y, X, C]: intra-slice [1,3,3] residual blocks with
 * in-plane dilation, inter-slice [3,1,1] convs fusing neighbouring slices, and in-plane-only pooling because
 * BraTS crops have few slices (19). Output in-plane stride 2^downsample, z unchanged,
 * channels filters·2^downsample.
 *
 * Layer names (the model IR's names with an enc_ prefix): enc_stem_conv; enc_level{l}_block{b}_conv{1|2}
 * (+ _bn{1|2}, _relu{1|2}) and enc_level{l}_block{b}_add (b from 1); enc_level{l}_fuse (the inter-slice conv),
 * enc_level{l}_pool. The fuse conv of a level outputs the next level's width, so every residual add joins
 * tensors of equal width without a projection.
 */
export function aniso3dEncoder(x: tf.SymbolicTensor, args: Aniso3dEncoderArgs): tf.SymbolicTensor {
  if (spatialRank(x, 'aniso3dEncoder') !== 3) throw new Error('aniso3dEncoder: the anisotropic encoder is 3D only');
  for (const [k, v] of [['filters', args.filters], ['blocks', args.blocks], ['downsample', args.downsample]] as const) {
    if (!Number.isInteger(v) || v < (k === 'filters' ? 1 : 0)) throw new Error(`aniso3dEncoder: bad ${k} ${v}`);
  }
  if (args.dilations.length === 0 || args.dilations.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`aniso3dEncoder: dilations must be positive integers, got [${args.dilations}]`);
  }
  const seeds = new SeedSequence(args.seed ?? 0);
  const init = args.kernelInitializer ?? 'glorotUniform';
  let filters = args.filters;
  let y = convUnit(x, {
    name: 'enc_stem_conv',
    filters,
    kernelSize: [1, 3, 3],
    norm: args.norm,
    seed: seeds.next(),
    kernelInitializer: init,
  });
  for (let level = 0; level <= args.downsample; level++) {
    for (let b = 0; b < args.blocks; b++) {
      const d = args.dilations[b % args.dilations.length]!;
      const base = `enc_level${level}_block${b + 1}`;
      let z = y;
      for (const i of [1, 2]) {
        z = convUnit(z, {
          name: `${base}_conv${i}`,
          bnName: `${base}_bn${i}`,
          reluName: `${base}_relu${i}`,
          filters,
          kernelSize: [1, 3, 3],
          rates: [1, d, d],
          norm: args.norm,
          seed: seeds.next(),
          kernelInitializer: init,
        });
      }
      y = tf.layers.add({ name: `${base}_add` }).apply([y, z]) as tf.SymbolicTensor;
    }
    if (level === args.downsample) break; // the final level keeps its resolution
    filters *= 2;
    y = convUnit(y, {
      name: `enc_level${level}_fuse`,
      bnName: `enc_level${level}_fuse_bn`,
      reluName: `enc_level${level}_fuse_relu`,
      filters,
      kernelSize: [3, 1, 1],
      norm: args.norm,
      seed: seeds.next(),
      kernelInitializer: init,
    });
    y = inPlanePool(y, `enc_level${level}_pool`);
  }
  return y;
}

export interface ConvStackEncoderArgs extends BlockInitArgs {
  /** One entry per stage: the channels of that stage's convs. */
  filters: number[];
  /** Convs per stage. */
  convsPerStage: number;
  /** Kernel size: k×k in 2D, k×k×k in 3D. */
  kernel: number;
  /** Total stride: a 2×2 (3D: [1,2,2]) max-pool follows each of the first log2(outputStride) stages. */
  outputStride: number;
  /** 'batch' adds BatchNormalization after every conv. */
  norm: Norm;
}

/**
 * A plain VGG-like stack for 2D or 3D inputs. Layer names enc_stage{s}_conv{i} (+ _bn{i}, _relu{i}),
 * enc_stage{s}_pool (s, i from 1; the model IR's names with an enc_ prefix).
 */
export function convStackEncoder(x: tf.SymbolicTensor, args: ConvStackEncoderArgs): tf.SymbolicTensor {
  const dims = spatialRank(x, 'convStackEncoder');
  if (args.filters.length === 0) throw new Error('convStackEncoder: filters needs at least one stage');
  if (!Number.isInteger(args.convsPerStage) || args.convsPerStage < 1) {
    throw new Error(`convStackEncoder: convsPerStage must be ≥ 1, got ${args.convsPerStage}`);
  }
  const pools = log2Exact(args.outputStride, 'convStackEncoder: outputStride');
  if (pools > args.filters.length) {
    throw new Error(`convStackEncoder: outputStride ${args.outputStride} needs ${pools} stages, only ${args.filters.length} given`);
  }
  const seeds = new SeedSequence(args.seed ?? 0);
  const init = args.kernelInitializer ?? 'glorotUniform';
  channelsOf(x, 'convStackEncoder');
  let y = x;
  args.filters.forEach((filters, si) => {
    const s = si + 1;
    for (let i = 1; i <= args.convsPerStage; i++) {
      y = convUnit(y, {
        name: `enc_stage${s}_conv${i}`,
        bnName: `enc_stage${s}_bn${i}`,
        reluName: `enc_stage${s}_relu${i}`,
        filters,
        kernelSize: Array<number>(dims).fill(args.kernel),
        norm: args.norm,
        seed: seeds.next(),
        kernelInitializer: init,
      });
    }
    if (s <= pools) y = inPlanePool(y, `enc_stage${s}_pool`);
  });
  return y;
}
