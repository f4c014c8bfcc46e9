/** buildNetwork: the whole multi-task network (encoder → context ensemble → ASPP + seg head, class head, scene head). */
import * as tf from '@tensorflow/tfjs';
import { contextEnsemble, type ContextCombine } from './context.js';
import { aspp, denseHead, segHead } from './decoder.js';
import { aniso3dEncoder, convStackEncoder, vgg16Encoder } from './encoders.js';
import { SeedSequence, type KernelInit } from './init.js';
import type { Spec } from '../../spec/types.js';
import type { Norm } from './units.js';
import type { UpsampleMode } from './upsample.js';

/** Encoder choice; the fields mirror spec/types.ts EncoderSpec (a resolved spec's encoder can be passed as is). */
export type EncoderArgs =
  | { type: 'vgg16'; stages: number; width: number; outputStride: number; norm: Norm }
  | { type: 'aniso3d'; filters: number; blocks: number; downsample: number; dilations: number[]; norm: Norm }
  | { type: 'convstack'; filters: number[]; convsPerStage: number; kernel: number; outputStride: number; norm: Norm };

export interface NetworkArgs {
  /** 2 for images, 3 for volumes. */
  dims: 2 | 3;
  /** Input size as in the spec: 2D [height, width]; 3D [x, y, z] (the tensor is [B, z, y, x, C]). */
  size: number[];
  /** Input channels (RGB 3; 3D: number of modalities). */
  channels: number;
  /** Segmentation classes K (seg logits channels and class-head outputs). */
  numClasses: number;
  /** Scene labels (scene-head outputs). */
  numScenes: number;
  encoder: EncoderArgs;
  /** The context ensemble; filters defaults to the encoder's output channels. */
  context: { pairs: [string, string][]; dilations: number[]; filters?: number; combine: ContextCombine };
  decoder: { type: 'aspp'; rates: number[]; filters: number; imagePooling: boolean };
  heads: {
    seg: { upsample: UpsampleMode };
    class: { hidden: number; dropout: number };
    scene: { hidden: number; dropout: number };
  };
  /** Base seed of all weight initializers (default 0): the same seed gives the same initial weights. */
  seed?: number;
  /** Kernel initializer of every conv and dense layer (default 'glorotUniform'). */
  kernelInitializer?: KernelInit;
  /** Fixed batch size of the input (default: any). */
  batchSize?: number;
  /** Model name (default 'tdc'). */
  name?: string;
}

/** Positions of the three outputs in `model.outputs` / the list `model.predict` returns. */
export interface NetworkOutputs {
  seg: number;
  class: number;
  scene: number;
}

/** The groups a training stage can freeze, and the layer-name prefixes that make them. */
export const LAYER_GROUP_PREFIXES = {
  encoder: ['enc_', 'block'],
  context: ['context_'],
  decoder: ['aspp_'],
  seg: ['seg_'],
  class: ['class_'],
  scene: ['scene_'],
} as const satisfies Record<string, readonly string[]>;

export type LayerGroup = keyof typeof LAYER_GROUP_PREFIXES;

/** The group a layer name belongs to, or undefined (the input layer). */
export function groupOf(layerName: string): LayerGroup | undefined {
  for (const [group, prefixes] of Object.entries(LAYER_GROUP_PREFIXES)) {
    if (prefixes.some((p) => layerName.startsWith(p))) return group as LayerGroup;
  }
  return undefined;
}

/** The model's layers by group (every group present, possibly empty); freeze one with `layer.trainable = false`. */
export function layerGroups(model: tf.LayersModel): Record<LayerGroup, tf.layers.Layer[]> {
  const groups = Object.fromEntries(Object.keys(LAYER_GROUP_PREFIXES).map((g) => [g, [] as tf.layers.Layer[]])) as Record<
    LayerGroup,
    tf.layers.Layer[]
  >;
  for (const layer of model.layers) {
    const g = groupOf(layer.name);
    if (g) groups[g].push(layer);
  }
  return groups;
}

/** The input tensor shape without the batch axis: 2D [H, W, C]; 3D [Z, Y, X, C] from the spec's [x, y, z]. */
export function inputShapeOf(args: Pick<NetworkArgs, 'dims' | 'size' | 'channels'>): number[] {
  if (args.size.length !== args.dims) {
    throw new Error(`buildNetwork: a ${args.dims}D network needs ${args.dims} size entries, got [${args.size}]`);
  }
  const spatial = args.dims === 2 ? [...args.size] : [args.size[2]!, args.size[1]!, args.size[0]!];
  return [...spatial, args.channels];
}

/**
 * Wires the whole network. Outputs, in this order: seg logits [B, …input size, K], class logits [B, K],
 * scene logits [B, S]. The class and scene heads read the context ensemble's output (the shared latent space);
 * the seg head reads ASPP's.
 */
export function buildNetwork(args: NetworkArgs): { model: tf.LayersModel; outputs: NetworkOutputs } {
  const shape = inputShapeOf(args);
  const seeds = new SeedSequence(args.seed ?? 0);
  const kernelInitializer = args.kernelInitializer ?? 'glorotUniform';
  const init = () => ({ seed: seeds.next(), kernelInitializer });
  const input = tf.input({ batchShape: [args.batchSize ?? null, ...shape], name: 'input' });

  const enc = args.encoder;
  let latent: tf.SymbolicTensor;
  switch (enc.type) {
    case 'vgg16':
      latent = vgg16Encoder(input, { ...enc, ...init() });
      break;
    case 'aniso3d':
      latent = aniso3dEncoder(input, { ...enc, ...init() });
      break;
    case 'convstack':
      latent = convStackEncoder(input, { ...enc, ...init() });
      break;
  }
  latent = contextEnsemble(latent, { ...args.context, ...init() });
  const decoded = aspp(latent, { ...args.decoder, ...init() });
  const seg = segHead(decoded, {
    numClasses: args.numClasses,
    size: shape.slice(0, -1),
    upsample: args.heads.seg.upsample,
    ...init(),
  });
  const cls = denseHead(latent, { name: 'class', units: args.numClasses, ...args.heads.class, ...init() });
  const scene = denseHead(latent, { name: 'scene', units: args.numScenes, ...args.heads.scene, ...init() });
  const model = tf.model({ inputs: input, outputs: [seg, cls, scene], name: args.name ?? 'tdc' });
  return { model, outputs: { seg: 0, class: 1, scene: 2 } };
}

/** The runtime args a resolved spec describes (seed = train.seed); generated code may fill NetworkArgs directly instead. */
export function networkArgsFromSpec(spec: Spec, overrides: Partial<NetworkArgs> = {}): NetworkArgs {
  return {
    dims: spec.task.dims,
    size: [...spec.task.size],
    channels: spec.task.channels,
    numClasses: spec.task.classes.length,
    numScenes: spec.task.scenes.length,
    encoder: spec.model.encoder,
    context: spec.model.context,
    decoder: spec.model.decoder,
    heads: spec.model.heads,
    seed: spec.train.seed,
    name: spec.name,
    ...overrides,
  };
}
