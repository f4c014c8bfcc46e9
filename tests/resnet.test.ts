/**
 * ResNet34 / ResNet50 encoders: parameter counts against the published architectures (torchvision without the
 * classifier: no conv biases, batch-norm gamma and beta only; Keras ResNet50 include_top=False: conv biases and
 * all four batch-norm weights), tfjs's own count of the built network, and Keras's layer names.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNetwork } from '../runtime/layers/index.js';
import type { Block, ModelIR } from '../spec/ir/index.js';
import type { EncoderSpec } from '../spec/types.js';
import { netIR } from './helpers/network.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const flat = (bs: readonly Block[]): Block[] => bs.flatMap((b) => ('layers' in b ? flat(b.layers) : [b]));

function resnet(encoder: EncoderSpec, size = [224, 224]): ModelIR {
  return netIR({
    dims: 2,
    size,
    channels: 3,
    numClasses: 2,
    numScenes: 2,
    encoder,
    context: { pairs: [], dilations: [], combine: 'sum' },
    decoder: { type: 'aspp', dilations: [1], filters: 2, imagePooling: false },
    heads: { seg: { upsample: 'bilinear' }, class: { hidden: 2, dropout: 0 }, scene: { hidden: 2, dropout: 0 } },
  });
}

/** Encoder parameters as the IR counts them (Keras: batch norm with its moving mean and variance). */
const encoderParams = (ir: ModelIR): number => flat(ir.blocks).filter((b) => b.part === 'encoder').reduce((a, b) => a + b.params, 0);
/** The batch-norm moving statistics (2 per channel), which torchvision does not count as parameters. */
const movingStats = (ir: ModelIR): number =>
  flat(ir.blocks).reduce((a, b) => a + (b.part === 'encoder' && (b.kind === 'conv' || b.kind === 'atrous-conv') && b.norm === 'batch' ? 2 * b.filters : 0), 0);

describe('published parameter counts', () => {
  it('ResNet34 without conv biases: torchvision resnet34 minus fc = 21,284,672', () => {
    const ir = resnet({ type: 'resnet34', width: 1, outputStride: 32, bias: false, norm: 'batch' });
    expect(encoderParams(ir) - movingStats(ir)).toBe(21_284_672);
  });
  it('ResNet50 without conv biases: torchvision resnet50 minus fc = 23,508,032', () => {
    const ir = resnet({ type: 'resnet50', width: 1, outputStride: 32, bias: false, norm: 'batch' });
    expect(encoderParams(ir) - movingStats(ir)).toBe(23_508_032);
  });
  it('ResNet50 with conv biases: keras.applications.ResNet50(include_top=False) = 23,587,712', () => {
    const ir = resnet({ type: 'resnet50', width: 1, outputStride: 32, bias: true, norm: 'batch' });
    expect(encoderParams(ir)).toBe(23_587_712);
    expect(ir.blocks.find((b) => b.name === ir.encoderOutput)!.outShape).toEqual([7, 7, 2048]);
  });
  it('output stride 16 and 8 keep the resolution and dilate instead; the weights stay the same', () => {
    const s32 = resnet({ type: 'resnet50', width: 1, outputStride: 32, bias: true, norm: 'batch' });
    const s8 = resnet({ type: 'resnet50', width: 1, outputStride: 8, bias: true, norm: 'batch' });
    expect(s8.blocks.find((b) => b.name === s8.encoderOutput)!.outShape).toEqual([28, 28, 2048]);
    expect(encoderParams(s8)).toBe(encoderParams(s32));
    const conv = flat(s8.blocks).find((b) => b.name === 'conv5_block2_2_conv')!;
    expect(conv).toMatchObject({ kind: 'atrous-conv', dilation: [4, 4] });
  });
});

/**
 * torchvision-style arithmetic, independent of the IR: the encoder's parameters at a width multiplier (no conv
 * biases; batch norm gamma and beta), every width round(published × width). Basic block: two 3×3 convs;
 * bottleneck: 1×1, 3×3, 1×1 to 4× the inner width; a 1×1 projection in a stage's first block when the stride or
 * the channels change.
 */
function torchvisionCount(kind: 'basic' | 'bottleneck', width: number): number {
  const w = (c: number): number => Math.round(c * width);
  const conv = (k: number, cin: number, cout: number): number => k * k * cin * cout + 2 * cout;
  let cin = w(64);
  let total = conv(7, 3, cin);
  [3, 4, 6, 3].forEach((blocks, si) => {
    const c = w([64, 128, 256, 512][si]!);
    const out = kind === 'bottleneck' ? 4 * c : c;
    for (let k = 0; k < blocks; k++) {
      if (k === 0 && (si > 0 || cin !== out)) total += conv(1, cin, out);
      total += kind === 'bottleneck' ? conv(1, cin, c) + conv(3, c, c) + conv(1, c, out) : conv(3, cin, c) + conv(3, c, c);
      cin = out;
    }
  });
  return total;
}

describe('width multiplier', () => {
  it('the hand count reproduces the published ones at width 1', () => {
    expect(torchvisionCount('basic', 1)).toBe(21_284_672);
    expect(torchvisionCount('bottleneck', 1)).toBe(23_508_032);
  });
  it.each([
    ['resnet34', 'basic', 1_335_248],
    ['resnet50', 'bottleneck', 1_480_976],
  ] as const)('%s at width 0.25: every width quartered, the count as torchvision-style arithmetic gives it', (type, kind, count) => {
    const ir = resnet({ type, width: 0.25, outputStride: 32, bias: false, norm: 'batch' });
    expect(torchvisionCount(kind, 0.25)).toBe(count);
    expect(encoderParams(ir) - movingStats(ir)).toBe(count);
    expect(flat(ir.blocks).find((b) => b.name === 'conv1_conv')).toMatchObject({ filters: 16 });
    expect(ir.blocks.find((b) => b.name === ir.encoderOutput)!.outShape).toEqual([7, 7, type === 'resnet50' ? 512 : 128]);
  });
  it('rounds as vgg16 does, and never to zero channels', () => {
    const ir = resnet({ type: 'resnet34', width: 0.3, outputStride: 32, bias: false, norm: 'batch' });
    const filters = (n: string) => (flat(ir.blocks).find((b) => b.name === n) as { filters: number }).filters;
    expect([filters('conv1_conv'), filters('conv2_block1_1_conv'), filters('conv3_block1_1_conv'), filters('conv5_block1_1_conv')]).toEqual([19, 19, 38, 154]);
    const tiny = resnet({ type: 'resnet34', width: 0.001, outputStride: 32, bias: false, norm: 'batch' });
    expect(flat(tiny.blocks).find((b) => b.name === 'conv1_conv')).toMatchObject({ filters: 1 });
  });
});

describe('the built network', () => {
  it.each(['resnet34', 'resnet50'] as const)('%s: tfjs counts the IR parameters and infers its shapes, with Keras names', (type) => {
    const ir = resnet({ type, width: 1, outputStride: 16, bias: true, norm: 'batch' }, [64, 64]);
    const { model } = buildNetwork(ir, { seed: 1 });
    try {
      expect(model.countParams()).toBe(ir.totals.params);
      expect(model.getLayer('conv1_conv').outputShape).toEqual([null, 32, 32, 64]);
      expect(model.getLayer('pool1_pool').outputShape).toEqual([null, 16, 16, 64]);
      expect(model.getLayer('conv4_block1_out').outputShape).toEqual([null, 4, 4, type === 'resnet50' ? 1024 : 256]);
      const names = model.layers.map((l) => l.name);
      expect(names).toEqual(expect.arrayContaining(['conv1_pad', 'conv1_bn', 'conv1_relu', 'conv3_block1_0_conv', 'conv3_block1_0_bn', 'conv3_block1_1_bn', 'conv3_block1_add', 'conv3_block1_out']));
    } finally {
      model.dispose();
    }
  });
});

describe('gradients', () => {
  it('ResNet34 (strided stem and projections, zero-pads, residual sums): backprop matches central finite differences', () => {
    // ResNet34's exact wiring at width 1/16 (every encoder conv's filters ÷ 16): a 1.3 M-weight network checks as
    // fast as a small one.
    const ir = resnet({ type: 'resnet34', width: 1 / 16, outputStride: 32, bias: true, norm: 'batch' }, [32, 32]);
    const { model } = buildNetwork(ir, { seed: 3, kernelInitializer: 'heNormal' });
    expect(model.getLayer('conv5_block3_out').outputShape).toEqual([null, 1, 1, 32]);
    const x = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 5);
    const r = tf.randomUniform([1, 32, 32, 2], -1, 1, 'float32', 6);
    // Inference mode: batch norm on its moving statistics, so the loss is a fixed function of the weights.
    const loss = () => tf.tidy(() => tf.sum(tf.mul((model.apply(x, { training: false }) as tf.Tensor[])[0]!, r)) as tf.Scalar);
    const layers = ['conv1_conv', 'conv3_block1_0_conv', 'conv3_block1_1_conv', 'conv4_block2_2_conv', 'conv5_block3_2_conv', 'conv2_block1_1_bn'];
    const ws = layers.map((n) => model.getLayer(n).trainableWeights[0]!);
    const { grads } = tf.variableGrads(loss, ws.map((w) => w.read() as tf.Variable));
    const eps = 1e-3;
    for (const w of ws) {
      const g = grads[(w.read() as tf.Variable).name]!.dataSync();
      let idx = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[idx]!)) idx = i;
      const base = w.read().clone();
      const at = (d: number) => {
        const v = Float32Array.from(base.dataSync());
        v[idx] = v[idx]! + d;
        w.write(tf.tensor(v, base.shape));
        return loss().dataSync()[0]!;
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      w.write(base);
      expect(Math.abs(numeric - g[idx]!) / Math.max(Math.abs(g[idx]!), 1e-2), `${w.name}: backprop ${g[idx]} vs ${numeric}`).toBeLessThan(5e-2);
    }
    tf.dispose([x, r, ...Object.values(grads)]);
    model.dispose();
  });
});
