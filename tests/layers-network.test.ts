/**
 * buildNetwork on lowered specs: symbolic output shapes of the three paper configurations at their real input sizes,
 * parameter counts against hand counts, layer groups, seeding and model-JSON round trips.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { layerGroups, layerParts } from '../runtime/layers/index.js';
import type { TaskName } from '../spec/types.js';
import { buildNet, type NetDesc } from './helpers/network.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

let models: tf.LayersModel[] = [];
afterEach(() => {
  for (const m of models) m.dispose();
  models = [];
});
function keep(m: tf.LayersModel): tf.LayersModel {
  models.push(m);
  return m;
}

/** Hand count of one conv: kernel volume · cin · cout weights + cout biases (+ 4·cout for batch norm). */
const conv = (kernel: number, cin: number, cout: number, bn = false) => kernel * cin * cout + cout + (bn ? 4 * cout : 0);
const dense = (cin: number, cout: number) => cin * cout + cout;

const PAIRS: [TaskName, TaskName][] = [['seg', 'class'], ['seg', 'scene'], ['class', 'scene']];

function robotLike(numClasses: number, numScenes: number, size: number[]): NetDesc {
  return {
    dims: 2,
    size,
    channels: 3,
    numClasses,
    numScenes,
    encoder: { type: 'vgg16', stages: 5, width: 1, outputStride: 16, norm: 'none' },
    context: { pairs: PAIRS, dilations: [63, 31, 15, 3, 1], combine: 'sum' },
    decoder: { type: 'aspp', dilations: [1, 6, 12, 18], filters: 256, imagePooling: true },
    heads: { seg: { upsample: 'bilinear' }, class: { hidden: 256, dropout: 0 }, scene: { hidden: 256, dropout: 0 } },
    batchSize: 1,
  };
}

/** The 2D paper network's hand count: VGG16 convs + 3 pairs × 5 dilated 3×3 convs at 512 + ASPP + heads. */
function handCount2d(K: number, S: number): number {
  const vgg = 14_714_688; // the published size of VGG16's conv part (keras.applications VGG16 include_top=False)
  const context = 3 * 5 * conv(9, 512, 512);
  const asppCount = conv(1, 512, 256) + 3 * conv(9, 512, 256) + conv(1, 512, 256) + conv(1, 5 * 256, 256);
  const seg = conv(1, 256, K);
  const heads = dense(512, 256) + dense(256, K) + dense(512, 256) + dense(256, S);
  return vgg + context + asppCount + seg + heads;
}

describe('paper configurations (symbolic shapes, batch 1)', () => {
  it('robot18: VGG16 256×320, stride 16, 12 classes, 3 scenes', () => {
    const { model, outputs } = buildNet(robotLike(12, 3, [256, 320]));
    keep(model);
    expect(outputs).toEqual({ seg: 0, class: 1, scene: 2 });
    expect(model.outputs.map((o) => o.shape)).toEqual([[1, 256, 320, 12], [1, 12], [1, 3]]);
    expect(model.getLayer('block5_conv3').outputShape).toEqual([1, 16, 20, 512]);
    expect(model.getLayer('context_sum').outputShape).toEqual([1, 16, 20, 512]);
    expect(model.getLayer('aspp_project').outputShape).toEqual([1, 16, 20, 256]);
    expect(model.countParams()).toBe(handCount2d(12, 3));
    expect(model.countParams()).toBe(54_511_707);
  });

  it('refuge18: VGG16 256×256, 3 classes, 2 scenes', () => {
    const { model } = buildNet(robotLike(3, 2, [256, 256]));
    keep(model);
    expect(model.outputs.map((o) => o.shape)).toEqual([[1, 256, 256, 3], [1, 3], [1, 2]]);
    expect(model.getLayer('context_sum').outputShape).toEqual([1, 16, 16, 512]);
    expect(model.countParams()).toBe(handCount2d(3, 2));
  });

  it('brats18: aniso3d [19,144,144,4], 4 classes, 2 scenes', () => {
    const args: NetDesc = {
      dims: 3,
      size: [144, 144, 19],
      channels: 4,
      numClasses: 4,
      numScenes: 2,
      encoder: { type: 'aniso3d', filters: 32, blocks: 2, downsample: 2, dilations: [1, 2, 3], norm: 'batch' },
      context: { pairs: PAIRS, dilations: [15, 7, 3, 1], combine: 'sum' },
      decoder: { type: 'aspp', dilations: [1, 6, 12, 18], filters: 128, imagePooling: true },
      heads: { seg: { upsample: 'trilinear' }, class: { hidden: 128, dropout: 0.5 }, scene: { hidden: 128, dropout: 0.5 } },
      batchSize: 1,
    };
    const { model } = buildNet(args);
    keep(model);
    expect(model.inputs[0]!.shape).toEqual([1, 19, 144, 144, 4]);
    expect(model.outputs.map((o) => o.shape)).toEqual([[1, 19, 144, 144, 4], [1, 4], [1, 2]]);
    expect(model.getLayer('enc_level0_pool').outputShape).toEqual([1, 19, 72, 72, 64]);
    expect(model.getLayer('enc_level2_block2_add').outputShape).toEqual([1, 19, 36, 36, 128]);
    expect(model.getLayer('context_sum').outputShape).toEqual([1, 19, 36, 36, 128]);
    // Intra-slice [1,3,3] convs (9 taps), inter-slice [3,1,1] fuse convs (3 taps), batch norm everywhere.
    const encoder =
      conv(9, 4, 32, true) +
      4 * conv(9, 32, 32, true) + conv(3, 32, 64, true) +
      4 * conv(9, 64, 64, true) + conv(3, 64, 128, true) +
      4 * conv(9, 128, 128, true);
    const context = 3 * 4 * conv(9, 128, 128);
    const asppCount = conv(1, 128, 128) + 3 * conv(9, 128, 128) + conv(1, 128, 128) + conv(1, 5 * 128, 128);
    const heads = conv(1, 128, 4) + dense(128, 128) + dense(128, 4) + dense(128, 128) + dense(128, 2);
    expect(encoder).toBe(811_616);
    expect(model.countParams()).toBe(encoder + context + asppCount + heads);
    // The second block of each level uses dilation 2 in-plane, z undilated.
    expect(model.getLayer('enc_level1_block2_conv1').getConfig()).toMatchObject({ kernelSize: [1, 3, 3], dilation: [1, 2, 2] });
    expect(model.getLayer('context_seg_class_0').getConfig()).toMatchObject({ kernelSize: [1, 3, 3], dilation: [1, 15, 15] });
  });
});

describe('blocks', () => {
  const enc = (m: ReturnType<typeof buildNet>) => layerGroups(m.model, m.ir).encoder.reduce((a, l) => a + l.countParams(), 0);

  it('vgg16 keeps Keras names, pools only the first log2(stride) stages, and scales widths', () => {
    const net = buildNet({ ...robotLike(3, 2, [64, 96]), encoder: { type: 'vgg16', stages: 4, width: 0.25, outputStride: 4, norm: 'batch' } });
    keep(net.model);
    expect(net.model.getLayer('block4_conv3').outputShape).toEqual([1, 16, 24, 128]);
    const names = net.model.layers.map((l) => l.name);
    expect(names).toContain('block4_bn3');
    expect(names).toContain('block4_relu3');
    expect(names).not.toContain('block5_conv1');
    expect(names.filter((n) => n.endsWith('_pool') && n.startsWith('block'))).toEqual(['block1_pool', 'block2_pool']);
    // widths round(0.25 · [64, 128, 256, 512]) = 16, 32, 64, 128
    const expected =
      conv(9, 3, 16, true) + conv(9, 16, 16, true) + conv(9, 16, 32, true) + conv(9, 32, 32, true) +
      conv(9, 32, 64, true) + 2 * conv(9, 64, 64, true) + conv(9, 64, 128, true) + 2 * conv(9, 128, 128, true);
    expect(enc(net)).toBe(expected);
  });

  it('vgg16 at full width has the published VGG16 conv-part size', () => {
    const net = buildNet({ ...robotLike(3, 2, [224, 224]), encoder: { type: 'vgg16', stages: 5, width: 1, outputStride: 32, norm: 'none' } });
    keep(net.model);
    expect(net.model.getLayer('block5_pool').outputShape).toEqual([1, 7, 7, 512]);
    expect(enc(net)).toBe(14_714_688);
  });

  it('context ensemble: projection, concat and cascade combinations', () => {
    const base = { ...robotLike(3, 2, [24, 28]), encoder: { type: 'convstack', filters: [10], convsPerStage: 1, kernel: 3, outputStride: 4, norm: 'none' } } as NetDesc;
    // a 1-stage convstack cannot pool twice: use stride 1 with the 24×28 map as the latent
    base.encoder = { type: 'convstack', filters: [10], convsPerStage: 1, kernel: 3, outputStride: 1, norm: 'none' };
    const pairs = [['seg', 'class'], ['class', 'scene']] as [TaskName, TaskName][];
    const ctxParams = (m: ReturnType<typeof buildNet>) => layerGroups(m.model, m.ir).context.reduce((a, l) => a + l.countParams(), 0);
    const sum = buildNet({ ...base, context: { pairs, dilations: [4, 2, 1], filters: 8, combine: 'sum' } });
    keep(sum.model);
    expect(sum.model.getLayer('context_sum').outputShape).toEqual([1, 24, 28, 8]);
    expect(ctxParams(sum)).toBe(conv(1, 10, 8) + 2 * 3 * conv(9, 8, 8));
    expect(sum.model.getLayer('context_proj').getConfig()).toMatchObject({ activation: 'linear' });
    expect(sum.model.getLayer('context_class_scene_2').getConfig()).toMatchObject({ dilation: [1, 1] });
    const inbound = (m: tf.LayersModel, n: string) => m.getLayer(n).inboundNodes[0]!.inboundLayers.map((l) => l.name);
    expect(inbound(sum.model, 'context_sum')).toEqual(['context_proj', 'context_seg_class_sum', 'context_class_scene_sum']);
    expect(inbound(sum.model, 'context_seg_class_sum')).toEqual(['context_proj', 'context_seg_class_0', 'context_seg_class_1', 'context_seg_class_2']);

    const cat = buildNet({ ...base, context: { pairs, dilations: [3, 1], combine: 'concat' } });
    keep(cat.model);
    expect(cat.model.getLayer('context_fuse').outputShape).toEqual([1, 24, 28, 10]);
    expect(ctxParams(cat)).toBe(2 * 2 * conv(9, 10, 10) + conv(1, 20, 10));

    const cas = buildNet({ ...base, context: { pairs, dilations: [2], filters: 10, combine: 'cascade' } });
    keep(cas.model);
    expect(inbound(cas.model, 'context_class_scene_sum')).toEqual(['context_seg_class_sum', 'context_class_scene_0']);
    expect(inbound(cas.model, 'class_pool')).toEqual(['context_class_scene_sum']);
  });

  it('rejects an impossible stride with a diagnostic, not a broken network', () => {
    expect(() => buildNet({ ...robotLike(3, 2, [32, 32]), encoder: { type: 'vgg16', stages: 2, width: 1, outputStride: 8, norm: 'none' } })).toThrow(
      /output_stride 8 needs 3 pools, but only 2 stages/,
    );
  });
});

describe('network wiring', () => {
  const small: NetDesc = {
    dims: 2,
    size: [32, 40],
    channels: 3,
    numClasses: 4,
    numScenes: 3,
    encoder: { type: 'convstack', filters: [4, 8], convsPerStage: 1, kernel: 3, outputStride: 4, norm: 'batch' },
    context: { pairs: PAIRS, dilations: [3, 1], filters: 6, combine: 'sum' },
    decoder: { type: 'aspp', dilations: [1, 2], filters: 5, imagePooling: true },
    heads: { seg: { upsample: 'nearest' }, class: { hidden: 7, dropout: 0.2 }, scene: { hidden: 7, dropout: 0 } },
    seed: 3,
  };

  it('puts every weighted layer in exactly one freezable group; freezing drops its weights from training', () => {
    const { model } = buildNet(small);
    keep(model);
    const net = buildNet(small);
    keep(net.model);
    const groups = layerGroups(model, net.ir);
    expect(Object.keys(groups).sort()).toEqual(['class', 'context', 'decoder', 'encoder', 'scene', 'seg']);
    const parts = layerParts(net.ir);
    for (const layer of model.layers) {
      if (layer.weights.length > 0) expect(parts.get(layer.name), layer.name).toBeDefined();
    }
    expect(groups.encoder.map((l) => l.name)).toContain('enc_stage2_conv1');
    expect(groups.decoder.map((l) => l.name)).toContain('aspp_pool_broadcast');
    expect(groups.seg.map((l) => l.name)).toEqual(['seg_logits', 'seg_upsample']);
    expect(groups.class.map((l) => l.name)).toEqual(['class_pool', 'class_hidden', 'class_dropout', 'class_logits']);
    expect(groups.scene.map((l) => l.name)).not.toContain('scene_dropout');
    const before = model.trainableWeights.length;
    const encTrainable = groups.encoder.reduce((a, l) => a + l.trainableWeights.length, 0);
    for (const l of groups.encoder) l.trainable = false;
    expect(model.trainableWeights.length).toBe(before - encTrainable);
    expect(model.getLayer('seg_upsample').getConfig()).toMatchObject({ size: [32, 40], mode: 'nearest' });
  });

  it('initializes deterministically from the seed', () => {
    const a = keep(buildNet(small).model).getWeights();
    const b = keep(buildNet(small).model).getWeights();
    const c = keep(buildNet({ ...small, seed: 4 }).model).getWeights();
    expect(a.length).toBe(b.length);
    a.forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(b[i]!.dataSync())));
    const kernelsDiffer = a.some((w, i) => w.rank > 1 && Array.from(w.dataSync()).join() !== Array.from(c[i]!.dataSync()).join());
    expect(kernelsDiffer).toBe(true);
    // parallel branches of the same shape start from different kernels
    const m = models[0]!;
    const k1 = m.getLayer('context_seg_class_0').getWeights()[0]!.dataSync();
    const k2 = m.getLayer('context_seg_scene_0').getWeights()[0]!.dataSync();
    expect(Array.from(k1)).not.toEqual(Array.from(k2));
  });

  it('round-trips through model JSON (custom layers registered) and predicts the same', async () => {
    const { model } = buildNet(small);
    keep(model);
    const copy = keep(await tf.models.modelFromJSON({ modelTopology: model.toJSON(null, false) as tf.io.ModelJSON['modelTopology'] }));
    expect(copy.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
    expect(copy.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    copy.setWeights(model.getWeights());
    const x = tf.randomUniform([1, 32, 40, 3], 0, 1, 'float32', 5);
    const ya = model.predict(x) as tf.Tensor[];
    const yb = copy.predict(x) as tf.Tensor[];
    ya.forEach((t, i) => {
      expect(yb[i]!.shape).toEqual(t.shape);
      expect(tf.max(tf.abs(tf.sub(t, yb[i]!))).dataSync()[0]).toBeLessThan(1e-6);
    });
    tf.dispose([x, ...ya, ...yb]);
  });
});
