/**
 * buildNetwork: the tfjs network a model IR describes. The IR (spec/ir) decides every block; this file only
 * interprets it, with one builder per layer kind, so the runtime builds exactly what `tdc explain` prints, for any
 * IR, including ones no spec produces.
 */
import * as tf from '@tensorflow/tfjs';
import { PARTS, type Block, type Layer, type ModelIR, type Part } from '../../spec/ir/index.js';
import { realizedNames } from '../../spec/ir/names.js';
import { AtrousConv } from './atrous-conv.js';
import { BatchNorm } from './batch-norm.js';
import { makeInitializer, SeedSequence, type KernelInit } from './init.js';
import { globalAvgPool, upsampleTo } from './upsample.js';

export interface BuildNetworkOptions {
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

/** A built network whose outputs are typed by head. */
export interface Network<O> {
  model: tf.LayersModel;
  /** The IR it was built from. */
  ir: ModelIR;
  outputs: NetworkOutputs;
  /** The symbolic tensor of an IR block (after a conv's norm and activation), e.g. to cut out the encoder. */
  symbolic(block: string): tf.SymbolicTensor;
  /** Runs the network; `training` switches dropout / batch-norm to training behaviour. */
  apply(x: tf.Tensor, training: boolean): O;
}

/** What a builder gets besides its layer and input tensors: the next initializer seed of the layer's part. */
interface BuildContext {
  seed(): number;
  kernelInitializer: KernelInit;
}

type Builder<L extends Layer> = (layer: L, inputs: tf.SymbolicTensor[], ctx: BuildContext) => tf.SymbolicTensor;
type Builders = { [K in Exclude<Layer['kind'], 'input'>]: Builder<Extract<Layer, { kind: K }>> };

const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
const spatialOf = (shape: readonly number[]): number[] => shape.slice(0, -1);

/**
 * One builder per IR layer kind. A conv with batch norm is three tfjs layers (conv, BatchNorm, ReLU, named by
 * spec/ir/names.ts); without a norm its activation is fused into the conv.
 */
const BUILDERS: Builders = {
  conv: (l, [x], ctx) => conv(l, x!, ctx),
  'atrous-conv': (l, [x], ctx) => conv(l, x!, ctx),
  maxpool: (l, [x]) => {
    const args = { name: l.name, poolSize: l.pool, strides: l.strides, padding: 'valid' as const };
    return l.pool.length === 2
      ? apply(tf.layers.maxPooling2d({ ...args, poolSize: [l.pool[0]!, l.pool[1]!], strides: [l.strides[0]!, l.strides[1]!] }), x!)
      : apply(
          tf.layers.maxPooling3d({ ...args, poolSize: [l.pool[0]!, l.pool[1]!, l.pool[2]!], strides: [l.strides[0]!, l.strides[1]!, l.strides[2]!] }),
          x!,
        );
  },
  // tfjs merge layers need two inputs; a merge of one tensor is that tensor (an IR with one context pair).
  add: (l, xs) => (xs.length === 1 ? xs[0]! : apply(tf.layers.add({ name: l.name }), xs)),
  concat: (l, xs) => (xs.length === 1 ? xs[0]! : apply(tf.layers.concatenate({ name: l.name, axis: -1 }), xs)),
  'global-avg-pool': (l, [x]) => apply(globalAvgPool({ name: l.name, keepDims: l.outShape.length > 1 }), x!),
  // Nearest resize from a 1-pixel map is an exact broadcast to the size of inputs[1] (the IR's outShape).
  broadcast: (l, [x]) => apply(upsampleTo({ name: l.name, size: spatialOf(l.outShape), mode: 'nearest' }), x!),
  dense: (l, [x], ctx) =>
    apply(tf.layers.dense({ name: l.name, units: l.units, activation: l.activation, kernelInitializer: makeInitializer(ctx.kernelInitializer, ctx.seed()) }), x!),
  // No layer seed: tfjs would draw the same mask at every step (a fresh generator from the seed per call).
  // Unseeded, each step's mask comes from Math.random, which the trainer draws from its checkpointed generator;
  // the seed is still drawn so that the next layers' initial weights do not change.
  dropout: (l, [x], ctx) => (ctx.seed(), apply(tf.layers.dropout({ name: l.name, rate: l.rate }), x!)),
  upsample: (l, [x]) => apply(upsampleTo({ name: l.name, size: spatialOf(l.outShape), mode: l.method }), x!),
  'zero-pad': (l, [x]) => {
    if (l.pads.length !== 2) throw new Error(`buildNetwork: '${l.name}': zero padding is 2D only in tfjs`);
    return apply(tf.layers.zeroPadding2d({ name: l.name, padding: [l.pads[0]!, l.pads[1]!] }), x!);
  },
  // PReLU: one slope per channel (shared over every spatial axis), starting at 0.25 as in PyTorch and NiftyNet.
  activation: (l, [x]) =>
    l.activation === 'relu'
      ? apply(tf.layers.reLU({ name: l.name }), x!)
      : apply(
          tf.layers.prelu({ name: l.name, sharedAxes: Array.from({ length: l.outShape.length - 1 }, (_, i) => i + 1), alphaInitializer: tf.initializers.constant({ value: 0.25 }) }),
          x!,
        ),
  'batch-norm': (l, [x]) => apply(new BatchNorm({ name: l.name }), x!),
};

type ConvIR = Extract<Layer, { kind: 'conv' | 'atrous-conv' }>;

function stockConv(l: ConvIR, activation: 'relu' | 'linear', ctx: BuildContext): tf.layers.Layer {
  const args = {
    name: l.name,
    filters: l.filters,
    kernelSize: l.kernel,
    strides: l.strides!,
    padding: l.padding,
    useBias: l.useBias,
    activation,
    kernelInitializer: makeInitializer(ctx.kernelInitializer, ctx.seed()),
  };
  return l.kernel.length === 2 ? tf.layers.conv2d(args) : tf.layers.conv3d(args);
}

function conv(l: ConvIR, x: tf.SymbolicTensor, ctx: BuildContext): tf.SymbolicTensor {
  const names = realizedNames(l);
  const fused = l.norm === 'none';
  const strided = l.strides?.some((s) => s > 1) ?? false;
  let y = apply(
    // A down-sampling conv is tfjs's own (stride > 1 never dilates, and tfjs trains it); the rest are AtrousConv.
    strided
      ? stockConv(l, fused ? l.activation : 'linear', ctx)
      : new AtrousConv({
      name: l.name,
      filters: l.filters,
      kernelSize: l.kernel,
      dilation: l.dilation,
      padding: l.padding,
      useBias: l.useBias,
      activation: fused ? l.activation : 'linear',
          kernelInitializer: ctx.kernelInitializer,
          seed: ctx.seed(),
        }),
    x,
  );
  if (!fused) {
    y = apply(new BatchNorm({ name: names.norm }), y);
    if (l.activation === 'relu') y = apply(tf.layers.reLU({ name: names.activation }), y);
  }
  return y;
}

/**
 * Builds the network the IR describes. Outputs, in this order: the IR's seg, class and scene outputs. Weights are
 * initialised from `seed`: each model part (encoder, context, decoder, seg, class, scene, in that order) draws
 * one seed from it, and the part's layers draw theirs in IR order from that one, so a change inside one part
 * leaves the others' initial weights as they were.
 */
export function buildNetwork<O = Record<keyof NetworkOutputs, tf.Tensor>>(ir: ModelIR, options: BuildNetworkOptions = {}): Network<O> {
  const root = new SeedSequence(options.seed ?? 0);
  const partSeeds = new Map<Part, SeedSequence>(PARTS.map((p) => [p, new SeedSequence(root.next())]));
  const kernelInitializer = options.kernelInitializer ?? 'glorotUniform';
  const contexts = new Map<Part, BuildContext>(
    PARTS.map((p) => [p, { seed: () => partSeeds.get(p)!.next(), kernelInitializer }]),
  );
  const tensors = new Map<string, tf.SymbolicTensor>();
  let input: tf.SymbolicTensor | undefined;

  const read = (name: string, by: string): tf.SymbolicTensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`buildNetwork: block '${by}' reads '${name}', which no earlier block defines`);
    return t;
  };
  const build = (block: Block): void => {
    if (block.kind === 'input') {
      if (input) throw new Error(`buildNetwork: the IR has a second input block '${block.name}'`);
      input = tf.input({ batchShape: [options.batchSize ?? null, ...block.outShape], name: block.name });
      tensors.set(block.name, input);
      return;
    }
    if ('layers' in block) {
      for (const l of block.layers) build(l);
      tensors.set(block.name, read(block.output, block.name));
      return;
    }
    const ctx = contexts.get(block.part);
    if (!ctx) throw new Error(`buildNetwork: block '${block.name}' belongs to an unknown part '${block.part}'`);
    const xs = block.inputs.map((n) => read(n, block.name));
    const builder = BUILDERS[block.kind] as Builder<Layer>;
    tensors.set(block.name, builder(block, xs, ctx));
  };
  for (const b of ir.blocks) build(b);
  if (!input) throw new Error('buildNetwork: the IR has no input block');
  const outs = [ir.outputs.seg, ir.outputs.class, ir.outputs.scene].map((n) => read(n, 'outputs'));
  const model = tf.model({ inputs: input, outputs: outs, name: options.name ?? 'tdc' });
  const outputs: NetworkOutputs = { seg: 0, class: 1, scene: 2 };
  return {
    model,
    ir,
    outputs,
    symbolic: (block) => read(block, 'symbolic'),
    apply(x, training) {
      const out = model.apply(x, { training }) as tf.Tensor[];
      return { seg: out[outputs.seg], class: out[outputs.class], scene: out[outputs.scene] } as O;
    },
  };
}

/** Every tfjs layer name the IR's layers become, with the part it belongs to (what a stage's `freeze` names). */
export function layerParts(ir: ModelIR): Map<string, Part> {
  const out = new Map<string, Part>();
  const walk = (b: Block): void => {
    if ('layers' in b) b.layers.forEach(walk);
    else for (const n of Object.values(realizedNames(b))) if (n) out.set(n, b.part);
  };
  ir.blocks.forEach(walk);
  return out;
}

/** The model's layers by part (every part present, possibly empty); freeze one with `layer.trainable = false`. */
export function layerGroups(model: tf.LayersModel, ir: ModelIR): Record<Exclude<Part, 'input'>, tf.layers.Layer[]> {
  const parts = layerParts(ir);
  const groups = Object.fromEntries(PARTS.map((p) => [p, [] as tf.layers.Layer[]])) as Record<Exclude<Part, 'input'>, tf.layers.Layer[]>;
  for (const layer of model.layers) {
    const p = parts.get(layer.name);
    if (p && p !== 'input') groups[p].push(layer);
  }
  return groups;
}
