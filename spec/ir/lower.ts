/** Lowering: a resolved `Spec` becomes the `ModelIR`, computing shapes, parameters, FLOPs and receptive fields. */
import type { Spec, TaskName } from '../types.js';

/** What the lowering reads of a resolved spec: the task (sizes, classes, scenes) and the model section. */
export type NetworkSpec = Pick<Spec, 'task' | 'model'>;
import type { Diagnostic, Result } from '../diagnostics.js';
import { BOTTLENECK_EXPANSION, RESNET_BLOCKS, RESNET_STEM, RESNET_WIDTHS, VGG16_CONVS, VGG16_WIDTHS, encoderChannels, encoderStride, scaledWidth } from './encoder.js';
import type {
  AsppBlock,
  Block,
  ContextBranch,
  ConvLayer,
  DenseHead,
  Layer,
  ModelIR,
  Part,
  ReceptiveField,
  ResBlock,
  SegHead,
  UnetUpBlock,
} from './types.js';

interface TensorInfo {
  shape: number[];
  rf: ReceptiveField;
  /** Distance in input pixels between neighbouring positions, per spatial axis. */
  jump: number[];
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

function maxRf(rfs: ReceptiveField[]): ReceptiveField {
  if (rfs.some((r) => r === 'global')) return 'global';
  const arrs = rfs as number[][];
  return arrs[0]!.map((_, i) => Math.max(...arrs.map((r) => r[i]!)));
}

/**
 * Builds layers while tracking each tensor's shape, receptive field and jump. Layers go to `sink`, which is the
 * top-level block list or a composite's sub-layer list.
 */
class Builder {
  readonly tensors = new Map<string, TensorInfo>();
  sink: Layer[] | Block[];
  part: Part = 'encoder';

  constructor(
    readonly dims: 2 | 3,
    readonly blocks: Block[],
  ) {
    this.sink = blocks;
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`internal: IR tensor '${name}' used before it is defined`);
    return t;
  }

  private emit<L extends Layer>(layer: L, jump: number[]): string {
    this.tensors.set(layer.name, { shape: layer.outShape, rf: layer.rf, jump });
    (this.sink as Layer[]).push(layer);
    return layer.name;
  }

  input(shape: number[]): string {
    const spatial = shape.length - 1;
    return this.emit(
      { name: 'input', part: 'input', kind: 'input', inputs: [], outShape: shape, params: 0, flops: 0, rf: Array(spatial).fill(1) },
      Array(spatial).fill(1),
    );
  }

  conv(
    name: string,
    from: string,
    o: {
      kernel: number[];
      filters: number;
      dilation?: number[];
      activation?: 'relu' | 'linear';
      norm?: 'none' | 'batch';
      strides?: number[];
      padding?: 'same' | 'valid';
      useBias?: boolean;
    },
  ): string {
    const x = this.info(from);
    const dilation = o.dilation ?? o.kernel.map(() => 1);
    const strides = o.strides ?? o.kernel.map(() => 1);
    const padding = o.padding ?? 'same';
    const useBias = o.useBias ?? true;
    const cin = x.shape[x.shape.length - 1]!;
    const norm = o.norm ?? 'none';
    const spatial = x.shape.slice(0, -1).map((n, i) =>
      padding === 'same' ? Math.ceil(n / strides[i]!) : Math.floor((n - (o.kernel[i]! - 1) * dilation[i]! - 1) / strides[i]!) + 1,
    );
    const outShape = [...spatial, o.filters];
    const rf: ReceptiveField =
      x.rf === 'global' ? 'global' : x.rf.map((r, i) => r + (o.kernel[i]! - 1) * dilation[i]! * x.jump[i]!);
    const layer: ConvLayer = {
      name,
      part: this.part,
      kind: dilation.some((d) => d > 1) ? 'atrous-conv' : 'conv',
      inputs: [from],
      outShape,
      params: prod(o.kernel) * cin * o.filters + (useBias ? o.filters : 0) + (norm === 'batch' ? 4 * o.filters : 0),
      flops: 2 * prod(o.kernel) * cin * o.filters * prod(outShape.slice(0, -1)),
      rf,
      kernel: o.kernel,
      dilation,
      filters: o.filters,
      activation: o.activation ?? 'relu',
      norm,
      padding,
      useBias,
      // Written only when some axis strides, so stride-1 convs keep the IR they always had.
      ...(strides.some((s) => s > 1) ? { strides } : {}),
    };
    return this.emit(layer, x.jump.map((j, i) => j * strides[i]!));
  }

  /** Zero padding ([before, after] per spatial axis), as Keras's ResNet pads before its strided stem. */
  zeroPad(name: string, from: string, pads: [number, number][]): string {
    const x = this.info(from);
    return this.emit(
      {
        name,
        part: this.part,
        kind: 'zero-pad',
        inputs: [from],
        outShape: [...x.shape.slice(0, -1).map((n, i) => n + pads[i]![0] + pads[i]![1]), x.shape.at(-1)!],
        params: 0,
        flops: 0,
        rf: x.rf,
        pads,
      },
      x.jump,
    );
  }

  /** A separate activation (after a residual sum; PReLU learns one slope per channel). */
  activation(name: string, from: string, activation: 'relu' | 'prelu'): string {
    const x = this.info(from);
    const params = activation === 'prelu' ? x.shape.at(-1)! : 0;
    return this.emit({ name, part: this.part, kind: 'activation', inputs: [from], outShape: x.shape, params, flops: 0, rf: x.rf, activation }, x.jump);
  }

  /** A separate batch norm (gamma, beta, moving mean and variance per channel). */
  batchNorm(name: string, from: string): string {
    const x = this.info(from);
    return this.emit({ name, part: this.part, kind: 'batch-norm', inputs: [from], outShape: x.shape, params: 4 * x.shape.at(-1)!, flops: 0, rf: x.rf }, x.jump);
  }

  maxpool(name: string, from: string, pool: number[], stride: number[] = pool): string {
    const x = this.info(from);
    const spatial = x.shape.slice(0, -1).map((n, i) => Math.floor((n - pool[i]!) / stride[i]!) + 1);
    const rf: ReceptiveField = x.rf === 'global' ? 'global' : x.rf.map((r, i) => r + (pool[i]! - 1) * x.jump[i]!);
    return this.emit(
      {
        name,
        part: this.part,
        kind: 'maxpool',
        inputs: [from],
        outShape: [...spatial, x.shape[x.shape.length - 1]!],
        params: 0,
        flops: 0,
        rf,
        pool,
        strides: stride,
      },
      x.jump.map((j, i) => j * stride[i]!),
    );
  }

  merge(kind: 'add' | 'concat', name: string, from: string[]): string {
    const xs = from.map((f) => this.info(f));
    const first = xs[0]!;
    const channels = kind === 'add' ? first.shape[first.shape.length - 1]! : xs.reduce((a, x) => a + x.shape[x.shape.length - 1]!, 0);
    return this.emit(
      {
        name,
        part: this.part,
        kind,
        inputs: from,
        outShape: [...first.shape.slice(0, -1), channels],
        params: 0,
        flops: 0,
        rf: maxRf(xs.map((x) => x.rf)),
      },
      first.jump,
    );
  }

  globalPool(name: string, from: string): string {
    const x = this.info(from);
    return this.emit(
      { name, part: this.part, kind: 'global-avg-pool', inputs: [from], outShape: [x.shape[x.shape.length - 1]!], params: 0, flops: 0, rf: 'global' },
      x.jump,
    );
  }

  /** Keeps a 1×1 (per spatial axis) feature map rank so a 1×1 conv can follow a global pool. */
  globalPoolKeepDims(name: string, from: string): string {
    const x = this.info(from);
    const c = x.shape[x.shape.length - 1]!;
    return this.emit(
      {
        name,
        part: this.part,
        kind: 'global-avg-pool',
        inputs: [from],
        outShape: [...x.shape.slice(0, -1).map(() => 1), c],
        params: 0,
        flops: 0,
        rf: 'global',
      },
      x.jump,
    );
  }

  broadcast(name: string, from: string, like: string): string {
    const x = this.info(from);
    const l = this.info(like);
    return this.emit(
      {
        name,
        part: this.part,
        kind: 'broadcast',
        inputs: [from, like],
        outShape: [...l.shape.slice(0, -1), x.shape[x.shape.length - 1]!],
        params: 0,
        flops: 0,
        rf: 'global',
      },
      l.jump,
    );
  }

  dense(name: string, from: string, units: number, activation: 'relu' | 'linear'): string {
    const x = this.info(from);
    const cin = x.shape[x.shape.length - 1]!;
    return this.emit(
      { name, part: this.part, kind: 'dense', inputs: [from], outShape: [units], params: cin * units + units, flops: 2 * cin * units, rf: 'global', units, activation },
      x.jump,
    );
  }

  dropout(name: string, from: string, rate: number): string {
    const x = this.info(from);
    return this.emit(
      { name, part: this.part, kind: 'dropout', inputs: [from], outShape: x.shape, params: 0, flops: 0, rf: x.rf, rate },
      x.jump,
    );
  }

  upsample(name: string, from: string, factor: number[], method: 'bilinear' | 'trilinear' | 'nearest'): string {
    const x = this.info(from);
    return this.emit(
      {
        name,
        part: this.part,
        kind: 'upsample',
        inputs: [from],
        outShape: [...x.shape.slice(0, -1).map((n, i) => n * factor[i]!), x.shape[x.shape.length - 1]!],
        params: 0,
        flops: 0,
        rf: x.rf,
        factor,
        method,
      },
      x.jump.map((j, i) => j / factor[i]!),
    );
  }

  /**
   * Runs `body` collecting its layers into a composite; the composite's output tensor is registered under the
   * composite's name (so later blocks read `name`), with the info of the sub-layer `body` returns.
   */
  composite<C extends Block>(
    name: string,
    inputs: string[],
    make: (layers: Layer[], output: string, base: { name: string; part: Part; inputs: string[]; outShape: number[]; params: number; flops: number; rf: ReceptiveField }) => C,
    body: () => string,
  ): string {
    const saved = this.sink;
    const layers: Layer[] = [];
    this.sink = layers;
    const out = body();
    this.sink = saved;
    const o = this.info(out);
    const block = make(layers, out, {
      name,
      part: this.part,
      inputs,
      outShape: o.shape,
      params: layers.reduce((a, l) => a + l.params, 0),
      flops: layers.reduce((a, l) => a + l.flops, 0),
      rf: o.rf,
    });
    this.tensors.set(name, o);
    (this.sink as Block[]).push(block);
    return name;
  }
}

/** The per-sample input shape: 2D [H, W, C]; 3D size [x, y, z] becomes [Z, Y, X, C]. */
export function inputShape(spec: NetworkSpec): number[] {
  const s = spec.task.size;
  return spec.task.dims === 3 ? [s[2]!, s[1]!, s[0]!, spec.task.channels] : [s[0]!, s[1]!, spec.task.channels];
}

/** Number of 2× in-plane down-samplings for a power-of-two stride (undefined otherwise). */
export function log2Exact(n: number): number | undefined {
  const l = Math.log2(n);
  return Number.isInteger(l) && l >= 0 ? l : undefined;
}

/** The encoder's output and its skip features: the map before each in-plane pooling, shallow to deep. */
interface EncoderOut {
  out: string;
  skips: string[];
}

function lowerEncoder(b: Builder, spec: NetworkSpec, x: string, problems: Diagnostic[]): EncoderOut {
  const skips: string[] = [];
  const out = lowerEncoderBody(b, spec, x, problems, skips);
  return { out, skips };
}

/** Lowers the encoder; `skips` receives the map before each in-plane down-sampling. */
function lowerEncoderBody(b: Builder, spec: NetworkSpec, x: string, problems: Diagnostic[], skips: string[]): string {
  const pool = (name: string, from: string, size: number[]): string => {
    skips.push(from);
    return b.maxpool(name, from, size);
  };
  const enc = spec.model.encoder;
  const d3 = spec.task.dims === 3;
  const k3 = (k: number): number[] => (d3 ? [1, k, k] : [k, k]);
  const inPlanePool = d3 ? [1, 2, 2] : [2, 2];
  switch (enc.type) {
    case 'vgg16': {
      const pools = log2Exact(enc.outputStride);
      if (pools === undefined || pools > enc.stages) {
        problems.push({
          code: 'TDC0516',
          severity: 'error',
          message: `vgg16 output_stride ${enc.outputStride} needs ${pools ?? 'a power-of-two number of'} pools, but only ${enc.stages} stages are used`,
        });
        return x;
      }
      for (let s = 1; s <= enc.stages; s++) {
        const width = scaledWidth(VGG16_WIDTHS[s - 1]!, enc.width);
        for (let i = 1; i <= VGG16_CONVS[s - 1]!; i++) x = b.conv(`block${s}_conv${i}`, x, { kernel: k3(3), filters: width, norm: enc.norm });
        if (s <= pools) x = pool(`block${s}_pool`, x, inPlanePool);
      }
      return x;
    }
    case 'convstack': {
      const pools = log2Exact(enc.outputStride);
      if (pools === undefined || pools > enc.filters.length) {
        problems.push({
          code: 'TDC0516',
          severity: 'error',
          message: `convstack output_stride ${enc.outputStride} needs ${pools ?? 'a power-of-two number of'} pools, but there are ${enc.filters.length} stages`,
        });
        return x;
      }
      const kernel = d3 ? [enc.kernel, enc.kernel, enc.kernel] : [enc.kernel, enc.kernel];
      enc.filters.forEach((f, si) => {
        const s = si + 1;
        for (let i = 1; i <= enc.convsPerStage; i++) x = b.conv(`enc_stage${s}_conv${i}`, x, { kernel, filters: f, norm: enc.norm });
        if (s <= pools) x = pool(`enc_stage${s}_pool`, x, inPlanePool);
      });
      return x;
    }
    case 'resnet34':
    case 'resnet50': {
      // He et al. 2016 with Keras's layer names and layout (keras.applications ResNet50: stride on the first
      // 1×1 conv of a bottleneck, a zero-pad before the valid 7×7/2 stem and the 3×3/2 max-pool). ResNet34 has no
      // Keras original: tdc names it the same way (basic block: _1_conv, _2_conv; stride on the first 3×3).
      // Below output_stride 32 a stage that would halve the map keeps it and dilates its 3×3 convs instead
      // (DeepLab); tdc dilates every block of such a stage by the doubled rate.
      const bottleneck = enc.type === 'resnet50';
      const bn = { norm: 'batch' as const, useBias: enc.bias };
      x = b.zeroPad('conv1_pad', x, [[3, 3], [3, 3]]);
      x = b.conv('conv1_conv', x, { kernel: [7, 7], filters: scaledWidth(RESNET_STEM, enc.width), strides: [2, 2], padding: 'valid', ...bn });
      skips.push(x);
      x = b.zeroPad('pool1_pad', x, [[1, 1], [1, 1]]);
      x = b.maxpool('pool1_pool', x, [3, 3], [2, 2]);
      let stride = 4;
      let dilation = 1;
      RESNET_BLOCKS.forEach((blocks, si) => {
        const stage = si + 2;
        const width = scaledWidth(RESNET_WIDTHS[si]!, enc.width);
        const out = bottleneck ? width * BOTTLENECK_EXPANSION : width;
        let s = stage === 2 ? 1 : 2;
        if (s === 2 && stride * 2 > enc.outputStride) {
          s = 1;
          dilation *= 2;
        } else if (s === 2) {
          skips.push(x);
          stride *= 2;
        }
        for (let k = 1; k <= blocks; k++) {
          const name = `conv${stage}_block${k}`;
          const input = x;
          const bs = k === 1 ? s : 1;
          const project = k === 1 && (bs !== 1 || b.info(input).shape.at(-1) !== out);
          const d = [dilation, dilation];
          x = b.composite<ResBlock>(
            name,
            [input],
            (layers, output, base) => ({ ...base, kind: 'res-block', layers, output }),
            () => {
              const shortcut = project
                ? b.conv(`${name}_0_conv`, input, { kernel: [1, 1], filters: out, strides: [bs, bs], activation: 'linear', ...bn })
                : input;
              let y: string;
              if (bottleneck) {
                y = b.conv(`${name}_1_conv`, input, { kernel: [1, 1], filters: width, strides: [bs, bs], ...bn });
                y = b.conv(`${name}_2_conv`, y, { kernel: [3, 3], filters: width, dilation: d, ...bn });
                y = b.conv(`${name}_3_conv`, y, { kernel: [1, 1], filters: out, activation: 'linear', ...bn });
              } else {
                y = b.conv(`${name}_1_conv`, input, { kernel: [3, 3], filters: width, strides: [bs, bs], ...(bs === 1 ? { dilation: d } : {}), ...bn });
                y = b.conv(`${name}_2_conv`, y, { kernel: [3, 3], filters: out, dilation: d, activation: 'linear', ...bn });
              }
              const sum = b.merge('add', `${name}_add`, [shortcut, y]);
              return b.activation(`${name}_out`, sum, 'relu');
            },
          );
        }
      });
      return x;
    }
    case 'wnet': {
      // Wang et al. 2017's anisotropic network (WNet, BraTS 2017): residual blocks of two intra-slice [1,3,3]
      // convs, inter-slice [3,1,1] fusion convs, two in-plane down-samplings, PReLU, `filters` channels
      // throughout, dilations 1, 2, 3, 3, 2, 1 in the blocks of the last level. Where the paper leaves it open, tdc
      // chooses: pre-activation blocks (BN → PReLU → conv, as NiftyNet's residual units), down-sampling by a
      // [1,3,3] conv of stride [1,2,2] with BN + PReLU, one fusion conv closing each level.
      const f = enc.filters;
      const act = (name: string, from: string): string => b.activation(name, from, 'prelu');
      x = act('enc_stem_prelu', b.conv('enc_stem_conv', x, { kernel: [1, 3, 3], filters: f, norm: 'batch', activation: 'linear' }));
      const levels = [Array<number>(enc.blocks).fill(1), Array<number>(enc.blocks).fill(1), enc.dilations];
      levels.forEach((dilations, level) => {
        dilations.forEach((d, k) => {
          const name = `enc_level${level}_block${k + 1}`;
          const input = x;
          x = b.composite<ResBlock>(
            name,
            [input],
            (layers, output, base) => ({ ...base, kind: 'res-block', layers, output }),
            () => {
              let y = input;
              for (const i of [1, 2]) {
                y = act(`${name}_prelu${i}`, b.batchNorm(`${name}_bn${i}`, y));
                y = b.conv(`${name}_conv${i}`, y, { kernel: [1, 3, 3], dilation: [1, d, d], filters: f, activation: 'linear' });
              }
              return b.merge('add', `${name}_add`, [input, y]);
            },
          );
        });
        x = act(`enc_level${level}_fuse_prelu`, b.conv(`enc_level${level}_fuse`, x, { kernel: [3, 1, 1], filters: f, norm: 'batch', activation: 'linear' }));
        if (level < 2) {
          skips.push(x);
          x = act(
            `enc_level${level}_down_prelu`,
            b.conv(`enc_level${level}_down`, x, { kernel: [1, 3, 3], strides: [1, 2, 2], filters: f, norm: 'batch', activation: 'linear' }),
          );
        }
      });
      return x;
    }
    case 'aniso3d': {
      // Intra-slice [1,3,3] convs in residual blocks, an inter-slice [3,1,1] conv fusing slices before each
      // in-plane pool (Wang et al. 2017); z is never down-sampled.
      let filters = enc.filters;
      x = b.conv('enc_stem_conv', x, { kernel: [1, 3, 3], filters, norm: enc.norm });
      for (let level = 0; level <= enc.downsample; level++) {
        for (let blk = 0; blk < enc.blocks; blk++) {
          const name = `enc_level${level}_block${blk + 1}`;
          const rate = enc.dilations[blk % enc.dilations.length] ?? 1;
          const input = x;
          x = b.composite<ResBlock>(
            name,
            [input],
            (layers, output, base) => ({ ...base, kind: 'res-block', layers, output }),
            () => {
              const o = { kernel: [1, 3, 3], dilation: [1, rate, rate], filters, norm: enc.norm };
              const c1 = b.conv(`${name}_conv1`, input, o);
              const c2 = b.conv(`${name}_conv2`, c1, o);
              return b.merge('add', `${name}_add`, [input, c2]);
            },
          );
        }
        if (level < enc.downsample) {
          filters *= 2;
          x = b.conv(`enc_level${level}_fuse`, x, { kernel: [3, 1, 1], filters, norm: enc.norm });
          x = pool(`enc_level${level}_pool`, x, [1, 2, 2]);
        }
      }
      return x;
    }
  }
}

function lowerContext(b: Builder, spec: NetworkSpec, enc: string): string {
  const ctx = spec.model.context;
  const d3 = spec.task.dims === 3;
  const encC = encoderChannels(spec.model.encoder);
  b.part = 'context';
  // No pairs, no context ensemble: the encoder's output is the shared latent space.
  if (ctx.pairs.length === 0) return enc;
  const proj = (from: string, name: string): string =>
    b.info(from).shape.at(-1) === ctx.filters
      ? from
      : b.conv(name, from, { kernel: d3 ? [1, 1, 1] : [1, 1], filters: ctx.filters, activation: 'linear' });
  // The encoder feature is projected to the module's width first (1x1, linear) when they differ; every branch
  // then reads the projected feature, so the D-LinkNet sums add tensors of one width.
  const identity = encC === ctx.filters ? enc : proj(enc, 'context_proj');
  const branch = (pair: [TaskName, TaskName], input: string, ident: string): string => {
    const name = `context_${pair[0]}_${pair[1]}`;
    return b.composite<ContextBranch>(
      name,
      input === ident ? [input] : [input, ident],
      (layers, output, base) => ({ ...base, kind: 'context-branch', layers, output, pair, dilations: ctx.dilations }),
      () => {
        const steps: string[] = [];
        let x = input;
        ctx.dilations.forEach((r, j) => {
          x = b.conv(`${name}_${j}`, x, {
            kernel: d3 ? [1, 3, 3] : [3, 3],
            dilation: d3 ? [1, r, r] : [r, r],
            filters: ctx.filters,
          });
          steps.push(x);
        });
        return b.merge('add', `${name}_sum`, [ident, ...steps]);
      },
    );
  };
  switch (ctx.combine) {
    case 'sum': {
      const outs = ctx.pairs.map((p) => branch(p, identity, identity));
      return b.merge('add', 'context_sum', [identity, ...outs]);
    }
    case 'concat': {
      const outs = ctx.pairs.map((p) => branch(p, identity, identity));
      const cat = b.merge('concat', 'context_concat', outs);
      return b.conv('context_fuse', cat, { kernel: d3 ? [1, 1, 1] : [1, 1], filters: ctx.filters });
    }
    case 'cascade': {
      let x = identity;
      for (const p of ctx.pairs) x = branch(p, x, x);
      return x;
    }
  }
}

function lowerDecoder(b: Builder, spec: NetworkSpec, latent: string, skips: readonly string[]): string {
  const dec = spec.model.decoder;
  const d3 = spec.task.dims === 3;
  b.part = 'decoder';
  if (dec.type === 'unet') {
    // Deepest skip first: each level doubles the in-plane size and joins the map of the same size.
    let x = latent;
    for (let s = skips.length; s >= 1; s--) {
      const skip = skips[s - 1]!;
      const name = `unet_up${s}`;
      const below = x;
      x = b.composite<UnetUpBlock>(
        name,
        [below, skip],
        (layers, output, base) => ({ ...base, kind: 'unet-up', layers, output, skip }),
        () => {
          const up = b.upsample(`${name}_upsample`, below, d3 ? [1, 2, 2] : [2, 2], d3 ? 'trilinear' : 'bilinear');
          let y = b.merge('concat', `${name}_concat`, [up, skip]);
          const filters = b.info(skip).shape.at(-1)!;
          for (let i = 1; i <= dec.convs; i++) y = b.conv(`${name}_conv${i}`, y, { kernel: d3 ? [1, 3, 3] : [3, 3], filters });
          return y;
        },
      );
    }
    return x;
  }
  return b.composite<AsppBlock>(
    'aspp',
    [latent],
    (layers, output, base) => ({ ...base, kind: 'aspp', layers, output, dilations: dec.dilations, imagePooling: dec.imagePooling }),
    () => {
      const branches = dec.dilations.map((r) =>
        r === 1
          ? b.conv(`aspp_rate${r}`, latent, { kernel: d3 ? [1, 1, 1] : [1, 1], filters: dec.filters })
          : b.conv(`aspp_rate${r}`, latent, { kernel: d3 ? [1, 3, 3] : [3, 3], dilation: d3 ? [1, r, r] : [r, r], filters: dec.filters }),
      );
      if (dec.imagePooling) {
        const g = b.globalPoolKeepDims('aspp_pool', latent);
        const c = b.conv('aspp_pool_conv', g, { kernel: d3 ? [1, 1, 1] : [1, 1], filters: dec.filters });
        branches.push(b.broadcast('aspp_pool_broadcast', c, latent));
      }
      const cat = b.merge('concat', 'aspp_concat', branches);
      return b.conv('aspp_project', cat, { kernel: d3 ? [1, 1, 1] : [1, 1], filters: dec.filters });
    },
  );
}

function lowerHeads(b: Builder, spec: NetworkSpec, decoded: string, latent: string): ModelIR['outputs'] {
  const d3 = spec.task.dims === 3;
  const k = spec.task.classes.length;
  // Back to the input size: ASPP decodes at the latent size, a U-Net at the size of its shallowest skip.
  const input = b.info('input').shape;
  const factor = b.info(decoded).shape.slice(0, -1).map((n, i) => input[i]! / n);
  b.part = 'seg';
  const seg = b.composite<SegHead>(
    'seg_head',
    [decoded],
    (layers, output, base) => ({ ...base, kind: 'seg-head', layers, output, classes: k }),
    () => {
      const logits = b.conv('seg_logits', decoded, { kernel: d3 ? [1, 1, 1] : [1, 1], filters: k, activation: 'linear' });
      return b.upsample('seg_upsample', logits, factor, spec.model.heads.seg.upsample);
    },
  );
  const dense = (task: 'class' | 'scene', units: number): string => {
    b.part = task;
    const h = spec.model.heads[task];
    return b.composite<DenseHead>(
      `${task}_head`,
      [latent],
      (layers, output, base) => ({ ...base, kind: 'dense-head', layers, output, task, units }),
      () => {
        let x = b.globalPool(`${task}_pool`, latent);
        x = b.dense(`${task}_hidden`, x, h.hidden, 'relu');
        if (h.dropout > 0) x = b.dropout(`${task}_dropout`, x, h.dropout);
        return b.dense(`${task}_logits`, x, units, 'linear');
      },
    );
  };
  return { seg, class: dense('class', k), scene: dense('scene', spec.task.scenes.length) };
}

/** Recursively sorts object keys so the same spec always serializes to the same bytes. */
export function canonicalize<T>(v: T): T {
  if (Array.isArray(v)) return v.map(canonicalize) as T;
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = canonicalize((v as Record<string, unknown>)[k]);
    return out as T;
  }
  return v;
}

/**
 * Lowers a resolved spec to the model IR. Expects a spec that passed the semantic checks; structural problems
 * that would make the IR meaningless (an impossible stride) are still reported rather than thrown.
 */
export function lowerModel(spec: NetworkSpec): Result<ModelIR> {
  const problems: Diagnostic[] = [];
  const blocks: Block[] = [];
  const b = new Builder(spec.task.dims, blocks);
  const shape = inputShape(spec);
  const x = b.input(shape);
  const { out: enc, skips } = lowerEncoder(b, spec, x, problems);
  const stride = encoderStride(spec.model.encoder);
  const latent = lowerContext(b, spec, enc);
  const decoded = lowerDecoder(b, spec, latent, skips);
  const outputs = lowerHeads(b, spec, decoded, latent);
  const ir: ModelIR = {
    dims: spec.task.dims,
    inputShape: shape,
    stride,
    encoderOutput: enc,
    latent,
    outputs,
    blocks,
    totals: {
      params: blocks.reduce((a, l) => a + l.params, 0),
      flops: blocks.reduce((a, l) => a + l.flops, 0),
    },
  };
  return { value: canonicalize(ir), diagnostics: problems };
}
