/**
 * The paper's baseline rows as spec variants: no context ensemble (`context.pairs: []`, the heads read the
 * encoder's output) and a U-Net decoder (skip connections from the encoder stages, 2D and 3D). The IR states the
 * wiring; the runtime builds it with tfjs's own parameter count and shapes.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SpecHost } from '../compiler/frontend.js';
import { compile } from '../compiler/pipeline.js';
import { buildNetwork } from '../runtime/layers/index.js';
import type { Block, ModelIR, UnetUpBlock } from '../spec/ir/index.js';

const example = (name: string): string => readFileSync(fileURLToPath(new URL(`../examples/${name}.yaml`, import.meta.url)), 'utf8');

function compileEdited(name: string, edits: [string, string][]) {
  let text = example(name);
  for (const [from, to] of edits) {
    expect(text.includes(from), `anchor not found: ${from}`).toBe(true);
    text = text.replace(from, to);
  }
  const host: SpecHost = { readFile: (p) => (p === 'spec.yaml' ? text : undefined), resolve: (_f, rel) => rel };
  return compile('spec.yaml', host, []);
}

const flat = (bs: readonly Block[]): Block[] => bs.flatMap((b) => ('layers' in b ? [b, ...flat(b.layers)] : [b]));
const block = (ir: ModelIR, name: string): Block => flat(ir.blocks).find((b) => b.name === name)!;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const VGG_UNET: [string, string][] = [
  ['size: [256, 320]', 'size: [32, 48]'],
  ['stages: 5, output_stride: 16', 'stages: 3, width: 0.125, output_stride: 4'],
  ['context: { pairs: [[seg, class], [seg, scene], [class, scene]], dilations: [63, 31, 15, 3, 1], combine: sum }', 'context: { pairs: [] }'],
  ['decoder: { type: aspp, dilations: [1, 6, 12, 18], filters: 256, image_pooling: true }', 'decoder: { type: unet }'],
];

describe('VGG16 + U-Net (no context ensemble)', () => {
  const r = compileEdited('robot18', VGG_UNET);

  it('compiles without diagnostics; the latent space is the encoder output', () => {
    expect(r.diagnostics).toEqual([]);
    const ir = r.ir!;
    expect(ir.latent).toBe(ir.encoderOutput);
    expect(ir.blocks.some((b) => b.part === 'context')).toBe(false);
    expect(block(ir, 'class_pool').inputs).toEqual([ir.encoderOutput]);
  });

  it('goes back up through every pooling, joining the map before it', () => {
    const ir = r.ir!;
    const ups = ir.blocks.filter((b): b is UnetUpBlock => b.kind === 'unet-up');
    expect(ups.map((b) => [b.name, b.skip, b.outShape])).toEqual([
      ['unet_up2', 'block2_conv2', [16, 24, 16]],
      ['unet_up1', 'block1_conv2', [32, 48, 8]],
    ]);
    // the seg head needs no more up-sampling: the U-Net ends at the input size
    expect(block(ir, 'seg_upsample')).toMatchObject({ factor: [1, 1], outShape: [32, 48, 12] });
    expect(block(ir, 'unet_up1_conv2')).toMatchObject({ kernel: [3, 3], filters: 8 });
  });

  it('tfjs builds it with the IR parameter count and output shapes', () => {
    const ir = r.ir!;
    const { model } = buildNetwork(ir, { seed: 1 });
    try {
      expect(model.countParams()).toBe(ir.totals.params);
      expect(model.outputs.map((o) => o.shape)).toEqual([[null, 32, 48, 12], [null, 12], [null, 3]]);
      expect(model.getLayer('unet_up2_concat').inboundNodes[0]!.inboundLayers.map((l) => l.name)).toEqual(['unet_up2_upsample', 'block2_conv2']);
    } finally {
      model.dispose();
    }
  });
});

describe('U-Net in 3D (aniso3d)', () => {
  it('up-samples in-plane only, joining each level fuse map', () => {
    const r = compileEdited('brats18', [
      ['size: [144, 144, 19]', 'size: [16, 16, 5]'],
      ['crop: [144, 144, 19]', 'crop: [16, 16, 5]'],
      ['filters: 32, blocks: 2', 'filters: 2, blocks: 2'],
      ['decoder: { type: aspp, dilations: [1, 2, 4, 6], filters: 128, image_pooling: true }', 'decoder: { type: unet, convs: 1 }'],
    ]);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const ir = r.ir!;
    const ups = ir.blocks.filter((b): b is UnetUpBlock => b.kind === 'unet-up');
    expect(ups.map((b) => [b.skip, b.outShape])).toEqual([
      ['enc_level1_fuse', [5, 8, 8, 8]],
      ['enc_level0_fuse', [5, 16, 16, 4]],
    ]);
    expect(block(ir, 'unet_up2_upsample')).toMatchObject({ factor: [1, 2, 2], method: 'trilinear' });
    const { model } = buildNetwork(ir, { seed: 1 });
    try {
      expect(model.countParams()).toBe(ir.totals.params);
      expect(model.outputs[0]!.shape).toEqual([null, 5, 16, 16, 4]);
    } finally {
      model.dispose();
    }
  });
});

describe('values the network ignores (TDC0525)', () => {
  it('aniso3d dilations beyond the blocks per level', () => {
    const r = compileEdited('brats18', [['blocks: 2, downsample: 2, dilations: [1, 2]', 'blocks: 2, downsample: 2, dilations: [1, 2, 3, 4]']]);
    const w = r.diagnostics.filter((d) => d.code === 'TDC0525');
    expect(w.map((d) => d.message)).toEqual(['aniso3d has 2 blocks per level, so only the first 2 of dilations [1, 2, 3, 4] are used; 3, 4 are ignored']);
    expect(w[0]!.hint).toBe('drop them, or use blocks: 4');
  });
  it('context settings without pairs', () => {
    const r = compileEdited('quickstart', [['context: { pairs: [[seg, class], [seg, scene], [class, scene]], dilations', 'context: { pairs: [], dilations']]);
    expect(r.diagnostics.filter((d) => d.code === 'TDC0525').map((d) => d.message)).toEqual([
      "context.dilations is ignored: context.pairs is empty, so there is no context ensemble (the heads read the encoder's output)",
      "context.filters is ignored: context.pairs is empty, so there is no context ensemble (the heads read the encoder's output)",
      "context.combine is ignored: context.pairs is empty, so there is no context ensemble (the heads read the encoder's output)",
    ]);
    expect(r.ir).toBeDefined();
  });
  it('pairs without dilations is an error', () => {
    const r = compileEdited('quickstart', [[', dilations: [7, 3, 1], filters: "4*base"', '']]);
    expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([
      "TDC0202 model.context is missing the required key 'dilations': each of the 3 task pairs is a cascade of dilated convs",
    ]);
  });
});

describe('wnet (Wang et al. 2017, BraTS)', () => {
  const WNET: [string, string][] = [
    ['size: [144, 144, 19]', 'size: [16, 16, 5]'],
    ['crop: [144, 144, 19]', 'crop: [16, 16, 5]'],
    ['type: aniso3d, filters: 32, blocks: 2, downsample: 2, dilations: [1, 2], norm: batch', 'type: wnet, filters: 4'],
    ['dilations: [15, 7, 3, 1]', 'dilations: [2, 1]'],
    ['filters: 128, image_pooling', 'filters: 4, image_pooling'],
  ];
  it('residual intra-slice blocks, inter-slice fusion, PReLU, dilations 1, 2, 3, 3, 2, 1 at stride 4', () => {
    const r = compileEdited('brats18', WNET);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const ir = r.ir!;
    expect(ir.stride).toBe(4);
    const blocks = flat(ir.blocks);
    const level2 = blocks.filter((b) => /^enc_level2_block\d_conv1$/.test(b.name));
    expect(level2.map((b) => (b as { dilation: number[] }).dilation)).toEqual([[1, 1, 1], [1, 2, 2], [1, 3, 3], [1, 3, 3], [1, 2, 2], [1, 1, 1]]);
    expect(block(ir, 'enc_level0_fuse')).toMatchObject({ kernel: [3, 1, 1], filters: 4, norm: 'batch' });
    expect(block(ir, 'enc_level0_down')).toMatchObject({ kernel: [1, 3, 3], strides: [1, 2, 2], outShape: [5, 8, 8, 4] });
    // pre-activation residual unit: BN → PReLU → conv, twice, + identity
    expect(block(ir, 'enc_level1_block2').kind).toBe('res-block');
    expect((block(ir, 'enc_level1_block2') as { layers: Block[] }).layers.map((l) => l.kind)).toEqual([
      'batch-norm', 'activation', 'atrous-conv', 'batch-norm', 'activation', 'atrous-conv', 'add',
    ].map((k) => (k === 'atrous-conv' ? 'conv' : k)));
    expect(block(ir, 'enc_level0_block1_prelu1')).toMatchObject({ activation: 'prelu', params: 4 });
    expect(block(ir, ir.encoderOutput).outShape).toEqual([5, 4, 4, 4]);
    const { model } = buildNetwork(ir, { seed: 1 });
    try {
      expect(model.countParams()).toBe(ir.totals.params);
      expect(model.getLayer('enc_level0_block1_prelu1').getWeights()[0]!.shape).toEqual([1, 1, 1, 4]);
    } finally {
      model.dispose();
    }
  });
});
