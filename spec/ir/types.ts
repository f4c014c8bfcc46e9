/**
 * The model IR: a plain, serializable description of the exact network a spec builds, block by block. It is the
 * one place the topology is decided (spec/ir/lower.ts makes it); every consumer reads it: `tdc explain` and the
 * shape checks print and check it, the generated model.ts embeds it, the tfjs runtime builds it layer by layer
 * (runtime/layers/network.ts), `tdc export` and pretrained-weight loading find layers by its names, and other
 * code generators (PyTorch) can follow it without the spec.
 *
 * Shapes are per sample and channels-last: 2D [H, W, C], 3D [Z, Y, X, C]. Kernels, dilations, pools and
 * receptive fields list the spatial axes in the same order (2D [h, w], 3D [z, y, x]). Padding is always 'same'
 * for convolutions; max-pools are 'valid' with stride = pool size.
 *
 * Layer names: vgg16 keeps Keras names block{s}_conv{i} / block{s}_pool (ImageNet weights load by name); the
 * other encoders use enc_stem_conv, enc_level{l}_block{b}_conv{1|2} / _add, enc_level{l}_fuse, enc_level{l}_pool,
 * enc_stage{s}_conv{i}, enc_stage{s}_pool; then context_proj, context_{a}_{b}_{i} (cascade step i from 0),
 * context_{a}_{b}_sum, context_sum | context_concat + context_fuse; aspp_rate{r}, aspp_pool, aspp_pool_conv,
 * aspp_pool_broadcast, aspp_concat, aspp_project; seg_logits, seg_upsample; {class|scene}_pool, _hidden,
 * _dropout, _logits. A conv with batch norm is realised as three layers named by spec/ir/names.ts.
 */
import type { Dims, TaskName } from '../types.js';

/** Model parts, as named by a stage's `freeze` list ('input' only for the input layer). */
export type Part = 'input' | 'encoder' | 'context' | 'decoder' | 'seg' | 'class' | 'scene';
export const PARTS: readonly Part[] = ['encoder', 'context', 'decoder', 'seg', 'class', 'scene'];

/** Receptive field in input pixels per spatial axis, or 'global' once a global pooling lies upstream. */
export type ReceptiveField = number[] | 'global';

interface LayerBase {
  /** Unique in the whole model; encoder convs keep Keras VGG16 names (block{s}_conv{i}) for ImageNet weights. */
  name: string;
  /** The model part the layer's weights belong to (what a stage's `freeze` names). */
  part: Part;
  /** Names of the tensors this layer reads (other layers' names, or 'input'). */
  inputs: string[];
  outShape: number[];
  /** Parameter count (weights + biases; BatchNorm counts gamma, beta, moving mean and variance, as Keras does). */
  params: number;
  /** Forward FLOPs per sample: 2 × multiply-adds (bias adds, pooling, activations and resizing count 0). */
  flops: number;
  rf: ReceptiveField;
}

export interface InputLayer extends LayerBase {
  kind: 'input';
}

export interface ConvLayer extends LayerBase {
  /** 'atrous-conv' when any dilation exceeds 1 (the runtime needs its trainable dilated path there). */
  kind: 'conv' | 'atrous-conv';
  kernel: number[];
  dilation: number[];
  filters: number;
  /** Applied after the (optional) BatchNorm. */
  activation: 'relu' | 'linear';
  norm: 'none' | 'batch';
  /** 'same' keeps the size (÷ strides); 'valid' has no padding (Keras's ResNet stem, after a zero-pad). */
  padding: 'same' | 'valid';
  useBias: boolean;
  /** Per spatial axis; absent = 1 on every axis (every conv but a ResNet's down-sampling ones). */
  strides?: number[];
}

/** Zero padding of the spatial axes, [before, after] per axis (Keras's ZeroPadding2D). */
export interface ZeroPadLayer extends LayerBase {
  kind: 'zero-pad';
  pads: [number, number][];
}

/**
 * A separate activation of inputs[0]: ReLU after a residual sum (Keras's `_out` layers), or PReLU with one
 * learned slope per channel (Wang et al.'s anisotropic nets; its parameters are those C slopes).
 */
export interface ActivationLayer extends LayerBase {
  kind: 'activation';
  activation: 'relu' | 'prelu';
}

/** A separate batch norm over every axis but channels (pre-activation residual blocks); 4C parameters as Keras counts. */
export interface BatchNormLayer extends LayerBase {
  kind: 'batch-norm';
}

export interface MaxPoolLayer extends LayerBase {
  kind: 'maxpool';
  pool: number[];
  strides: number[];
}

/** Element-wise sum of all inputs (same shapes). */
export interface AddLayer extends LayerBase {
  kind: 'add';
}

/** Concatenation of all inputs along channels. */
export interface ConcatLayer extends LayerBase {
  kind: 'concat';
}

/** Mean over every spatial position: output [C]. */
export interface GlobalAvgPoolLayer extends LayerBase {
  kind: 'global-avg-pool';
}

/** Repeats a [1, …, 1, C] tensor (inputs[0]) over the spatial size of inputs[1]. */
export interface BroadcastLayer extends LayerBase {
  kind: 'broadcast';
}

export interface DenseLayer extends LayerBase {
  kind: 'dense';
  units: number;
  activation: 'relu' | 'linear';
}

export interface DropoutLayer extends LayerBase {
  kind: 'dropout';
  rate: number;
}

/** Resize by integer factors per spatial axis (3D: [1, s, s], z untouched). */
export interface UpsampleLayer extends LayerBase {
  kind: 'upsample';
  factor: number[];
  method: 'bilinear' | 'trilinear' | 'nearest';
}

/** A layer with no sub-layers. */
export type Layer =
  | InputLayer
  | ConvLayer
  | MaxPoolLayer
  | AddLayer
  | ConcatLayer
  | GlobalAvgPoolLayer
  | BroadcastLayer
  | DenseLayer
  | DropoutLayer
  | UpsampleLayer
  | ZeroPadLayer
  | ActivationLayer
  | BatchNormLayer;

interface CompositeBase extends LayerBase {
  /** The sub-layers in execution order; their inputs name siblings or the composite's own inputs. */
  layers: Layer[];
  /** Name of the sub-layer whose output is the composite's output. */
  output: string;
}

/**
 * Residual block: the anisotropic 3D encoder's (two intra-slice convs, output = input + second conv) and the
 * ResNets' (basic or bottleneck convs + identity or 1×1 projection shortcut, summed, then ReLU).
 */
export interface ResBlock extends CompositeBase {
  kind: 'res-block';
}

/**
 * One context-ensemble branch for a task pair: a cascade of dilated convs; output = inputs[1] (the identity:
 * the branch input, or its 1×1 projection when channels differ) + every cascade step's output (D-LinkNet).
 * The first conv reads inputs[0].
 */
export interface ContextBranch extends CompositeBase {
  kind: 'context-branch';
  pair: [TaskName, TaskName];
  /** The dilation of each cascade step, in order (each conv's `dilation` is [d, d], 3D [1, d, d]). */
  dilations: number[];
}

/** Atrous spatial pyramid pooling: parallel convs (+ image pooling) → concat → 1×1 conv. */
export interface AsppBlock extends CompositeBase {
  kind: 'aspp';
  /** The dilation of each parallel branch (1: a 1×1 conv), DeepLab's atrous rates. */
  dilations: number[];
  imagePooling: boolean;
}

/**
 * One U-Net up-sampling level: upsample inputs[0] by 2 in-plane, concatenate the encoder's skip feature
 * (inputs[1], the map before that stage's pooling), then `convs` convs + ReLU at the skip's width.
 */
export interface UnetUpBlock extends CompositeBase {
  kind: 'unet-up';
  /** Name of the encoder block whose output is joined (= inputs[1]). */
  skip: string;
}

/** 1×1 conv to the class logits, then upsampling to the input size (by input size / decoded size per axis). */
export interface SegHead extends CompositeBase {
  kind: 'seg-head';
  classes: number;
}

/** Global average pool → dense(hidden) + ReLU → dropout → dense(logits): class presence or scene. */
export interface DenseHead extends CompositeBase {
  kind: 'dense-head';
  task: 'class' | 'scene';
  units: number;
}

export type Composite = ResBlock | ContextBranch | AsppBlock | UnetUpBlock | SegHead | DenseHead;
export type Block = Layer | Composite;
export type BlockKind = Block['kind'];

export interface ModelIR {
  dims: Dims;
  /** Per-sample input shape, channels-last. */
  inputShape: number[];
  /** Encoder's total in-plane stride (latent size = input size / stride in-plane; z kept in 3D). */
  stride: number;
  /** Block names of the encoder output and of the shared latent space (context-ensemble output; the encoder
   *  output itself when the spec has no context ensemble). */
  encoderOutput: string;
  latent: string;
  /** Block names of the three logits outputs. */
  outputs: { seg: string; class: string; scene: string };
  /** Top-level blocks in execution order. */
  blocks: Block[];
  totals: { params: number; flops: number };
}
