/**
 * The runtime follows the IR, not the spec: a network from a hand-written IR that no spec produces (an extra
 * dilated conv with batch norm between the encoder and the context ensemble, and a class head that reads it
 * instead of the latent) is built as written and trains a step that changes the extra layer's weights.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNetwork, layerGroups } from '../runtime/layers/index.js';
import { bceLoss, segLoss } from '../runtime/losses/index.js';
import { Adam } from '../runtime/train/optimizers.js';
import type { Block, ConvLayer, DenseHead, ModelIR } from '../spec/ir/index.js';
import { netIR } from './helpers/network.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The quickstart shape at toy size, then edited by hand. */
function handWrittenIR(): ModelIR {
  const ir = netIR({
    dims: 2,
    size: [16, 20],
    channels: 3,
    numClasses: 3,
    numScenes: 2,
    encoder: { type: 'convstack', filters: [4, 6], convsPerStage: 1, kernel: 3, outputStride: 4, norm: 'none' },
    context: { pairs: [['seg', 'class']], dilations: [2, 1], combine: 'sum' },
    decoder: { type: 'aspp', dilations: [1, 2], filters: 4, imagePooling: false },
    heads: { seg: { upsample: 'bilinear' }, class: { hidden: 4, dropout: 0 }, scene: { hidden: 4, dropout: 0 } },
  });
  const enc = ir.blocks.find((b) => b.name === ir.encoderOutput)!;
  const extra: ConvLayer = {
    name: 'extra_conv',
    kind: 'atrous-conv',
    part: 'context',
    inputs: [enc.name],
    kernel: [3, 3],
    dilation: [2, 1],
    filters: 6,
    activation: 'relu',
    norm: 'batch',
    padding: 'same',
    useBias: true,
    outShape: enc.outShape,
    rf: 'global',
    params: 9 * 6 * 6 + 6 + 4 * 6,
    flops: 0,
  };
  const at = ir.blocks.indexOf(enc) + 1;
  const rewire = (b: Block): Block => {
    const inputs = b.inputs.map((n) => (n === enc.name ? 'extra_conv' : n));
    return 'layers' in b ? ({ ...b, inputs, layers: b.layers.map((l) => rewire(l) as typeof l) } as Block) : ({ ...b, inputs } as Block);
  };
  const blocks = [...ir.blocks.slice(0, at), extra, ...ir.blocks.slice(at).map(rewire)];
  // The class head reads the extra conv directly (no spec wires a head past the context ensemble).
  const cls = blocks.find((b): b is DenseHead => b.kind === 'dense-head' && b.task === 'class')!;
  cls.inputs = ['extra_conv'];
  cls.layers[0]!.inputs = ['extra_conv'];
  return { ...ir, blocks };
}

describe('a hand-written IR', () => {
  it('is built as written and trains a step', () => {
    const ir = handWrittenIR();
    const { model } = buildNetwork(ir, { seed: 2 });
    try {
      const names = model.layers.map((l) => l.name);
      expect(names).toEqual(expect.arrayContaining(['extra_conv', 'extra_conv_bn', 'extra_conv_relu']));
      expect(model.getLayer('extra_conv').getConfig()).toMatchObject({ dilation: [2, 1], activation: 'linear' });
      expect(model.getLayer('class_pool').inboundNodes[0]!.inboundLayers.map((l) => l.name)).toEqual(['extra_conv_relu']);
      expect(layerGroups(model, ir).context.map((l) => l.name)).toEqual(expect.arrayContaining(['extra_conv', 'extra_conv_bn']));
      expect(model.countParams()).toBe(ir.totals.params + extra(ir));

      const x = tf.randomUniform([2, 16, 20, 3], 0, 1, 'float32', 1);
      const mask = tf.randomUniform([2, 16, 20], 0, 3, 'int32', 2);
      const classes = tf.tensor2d([[1, 0, 1], [1, 1, 0]]);
      const before = model.getLayer('extra_conv').getWeights()[0]!.dataSync().slice();
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => {
        const [seg, cls] = model.apply(x, { training: true }) as tf.Tensor[];
        return tf.add(segLoss(seg!, mask, { ce: 1, iou: 1 }), bceLoss(cls!, classes)) as tf.Scalar;
      }, vars);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      new Adam({}).applyGradients(vars.filter((v) => grads[v.name]).map((v) => ({ key: v.name, variable: v, grad: grads[v.name]! })), 1e-2);
      const after = model.getLayer('extra_conv').getWeights()[0]!.dataSync();
      expect(Array.from(after)).not.toEqual(Array.from(before));
      tf.dispose([x, mask, classes, value, ...Object.values(grads)]);
    } finally {
      model.dispose();
    }
  });
});

/** The hand-written block's parameters are not in `totals` (written by hand, not by the lowering). */
function extra(ir: ModelIR): number {
  return (ir.blocks.find((b) => b.name === 'extra_conv') as ConvLayer).params;
}
