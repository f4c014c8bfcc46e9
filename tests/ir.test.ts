// The model IR: shapes of the three paper configurations at their real sizes, parameter and FLOP counts against
// independent counts (published VGG16 numbers, hand arithmetic), receptive fields, graph integrity, canonical form.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { SpecHost } from '../compiler/frontend.js';
import { lowerModel, type Block, type ModelIR } from '../spec/ir/index.js';
import { compile } from '../compiler/pipeline.js';

const example = (name: string): string => readFileSync(fileURLToPath(new URL(`../examples/${name}.yaml`, import.meta.url)), 'utf8');

function edit(text: string, ...pairs: [string, string][]): string {
  for (const [from, to] of pairs) {
    expect(text.includes(from), `anchor not found: ${from}`).toBe(true);
    text = text.replace(from, to);
  }
  return text;
}

function build(text: string) {
  const host: SpecHost = { readFile: (p) => (p === 'spec.yaml' ? text : undefined), resolve: (_f, rel) => rel };
  const r = compile('spec.yaml', host, []);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return { spec: r.spec!, ir: r.ir! };
}

const block = (ir: ModelIR, name: string): Block => {
  const b = ir.blocks.find((x) => x.name === name);
  expect(b, `no block ${name}`).toBeDefined();
  return b!;
};
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
/** conv params, written out independently of the IR code: k·Cin·Cout weights + Cout biases. */
const convP = (k: number, cin: number, cout: number): number => k * cin * cout + cout;

describe('robot18 (VGG16, 256×320)', () => {
  const { ir } = build(example('robot18'));

  it('has the paper architecture with Keras VGG16 layer names and shapes', () => {
    expect(ir.inputShape).toEqual([256, 320, 3]);
    expect(ir.stride).toBe(16);
    expect(ir.blocks.map((b) => `${b.name}:${b.kind}:${b.outShape.join('x')}`)).toEqual([
      'input:input:256x320x3',
      'block1_conv1:conv:256x320x64',
      'block1_conv2:conv:256x320x64',
      'block1_pool:maxpool:128x160x64',
      'block2_conv1:conv:128x160x128',
      'block2_conv2:conv:128x160x128',
      'block2_pool:maxpool:64x80x128',
      'block3_conv1:conv:64x80x256',
      'block3_conv2:conv:64x80x256',
      'block3_conv3:conv:64x80x256',
      'block3_pool:maxpool:32x40x256',
      'block4_conv1:conv:32x40x512',
      'block4_conv2:conv:32x40x512',
      'block4_conv3:conv:32x40x512',
      'block4_pool:maxpool:16x20x512',
      'block5_conv1:conv:16x20x512',
      'block5_conv2:conv:16x20x512',
      'block5_conv3:conv:16x20x512',
      'context_seg_class:context-branch:16x20x512',
      'context_seg_scene:context-branch:16x20x512',
      'context_class_scene:context-branch:16x20x512',
      'context_sum:add:16x20x512',
      'aspp:aspp:16x20x256',
      'seg_head:seg-head:256x320x12',
      'class_head:dense-head:12',
      'scene_head:dense-head:3',
    ]);
    expect(ir.outputs).toEqual({ seg: 'seg_head', class: 'class_head', scene: 'scene_head' });
    expect([ir.encoderOutput, ir.latent]).toEqual(['block5_conv3', 'context_sum']);
  });

  it('builds each context branch as a D-LinkNet cascade: identity + every step, rates in order', () => {
    const b = block(ir, 'context_seg_class');
    if (b.kind !== 'context-branch') throw new Error('kind');
    expect(b.inputs).toEqual(['block5_conv3']);
    expect(b.layers.map((l) => `${l.name}:${l.kind}:${l.inputs.join('+')}`)).toEqual([
      'context_seg_class_0:atrous-conv:block5_conv3',
      'context_seg_class_1:atrous-conv:context_seg_class_0',
      'context_seg_class_2:atrous-conv:context_seg_class_1',
      'context_seg_class_3:atrous-conv:context_seg_class_2',
      'context_seg_class_4:conv:context_seg_class_3',
      'context_seg_class_sum:add:block5_conv3+context_seg_class_0+context_seg_class_1+context_seg_class_2+context_seg_class_3+context_seg_class_4',
    ]);
    expect(b.layers.slice(0, 5).map((l) => (l.kind === 'conv' || l.kind === 'atrous-conv' ? l.dilation : []))).toEqual([
      [63, 63],
      [31, 31],
      [15, 15],
      [3, 3],
      [1, 1],
    ]);
    expect(block(ir, 'context_sum').inputs).toEqual(['block5_conv3', 'context_seg_class', 'context_seg_scene', 'context_class_scene']);
  });

  it('counts parameters like an independent hand count', () => {
    // VGG16 convolutional part: 14,714,688 (Keras VGG16(include_top=False).count_params()).
    const vgg = ir.blocks.filter((b) => b.name.startsWith('block'));
    expect(sum(vgg.map((b) => b.params))).toBe(14_714_688);
    expect(block(ir, 'context_seg_class').params).toBe(5 * convP(9, 512, 512));
    const aspp = convP(1, 512, 256) + 3 * convP(9, 512, 256) + convP(1, 512, 256) + convP(1, 5 * 256, 256);
    expect(block(ir, 'aspp').params).toBe(aspp);
    expect(block(ir, 'seg_head').params).toBe(convP(1, 256, 12));
    expect(block(ir, 'class_head').params).toBe(convP(1, 512, 256) + convP(1, 256, 12));
    expect(block(ir, 'scene_head').params).toBe(convP(1, 512, 256) + convP(1, 256, 3));
    expect(ir.totals.params).toBe(14_714_688 + 3 * 5 * convP(9, 512, 512) + aspp + convP(1, 256, 12) + 2 * convP(1, 512, 256) + convP(1, 256, 12) + convP(1, 256, 3));
  });

  it('counts FLOPs as 2 × multiply-adds over the output positions', () => {
    expect(block(ir, 'block1_conv2').flops).toBe(2 * 9 * 64 * 64 * 256 * 320);
    expect(block(ir, 'context_seg_class').flops).toBe(5 * 2 * 9 * 512 * 512 * 16 * 20);
    expect(block(ir, 'class_head').flops).toBe(2 * (512 * 256 + 256 * 12));
    expect(ir.totals.flops).toBe(sum(ir.blocks.map((b) => b.flops)));
  });

  it('tracks receptive fields: VGG16 conv5_3 sees 196 px (published), global after pooling', () => {
    expect(block(ir, 'block1_conv2').rf).toEqual([5, 5]);
    expect(block(ir, 'block4_pool').rf).toEqual([100, 100]);
    expect(block(ir, 'block5_conv3').rf).toEqual([196, 196]);
    // 196 + 2·16·(63+31+15+3+1) = 3812: the cascade's rates reach far beyond the 256×320 input.
    expect(block(ir, 'context_sum').rf).toEqual([3812, 3812]);
    expect(block(ir, 'aspp').rf).toBe('global');
  });

  it('is well-formed: unique names, inputs defined before use, outputs of composites inside them', () => {
    const seen = new Set<string>();
    const visit = (bs: readonly Block[], scope: Set<string>) => {
      for (const b of bs) {
        for (const i of b.inputs) expect(scope.has(i) || seen.has(i), `${b.name} reads ${i}`).toBe(true);
        if ('layers' in b) {
          const inner = new Set(scope);
          visit(b.layers, inner);
          expect(b.layers.some((l) => l.name === b.output)).toBe(true);
        }
        expect(seen.has(b.name), `duplicate ${b.name}`).toBe(false);
        seen.add(b.name);
        scope.add(b.name);
      }
    };
    visit(ir.blocks, new Set());
  });

  it('is canonical: sorted keys, same bytes on every lowering', () => {
    const { spec } = build(example('robot18'));
    const a = JSON.stringify(lowerModel(spec).value);
    expect(JSON.stringify(lowerModel(structuredClone(spec)).value)).toBe(a);
    const keys = Object.keys(JSON.parse(a) as object);
    expect(keys).toEqual([...keys].sort());
    expect(Object.keys(ir.blocks[1]!)).toEqual([...Object.keys(ir.blocks[1]!)].sort());
  });
});

describe('VGG16 at 224×224 against published totals', () => {
  it('conv part: 14,714,688 parameters and 15.35 G multiply-adds (2D, 5 pools)', () => {
    const t = edit(example('robot18'), ['size: [256, 320]', 'size: [224, 224]'], ['output_stride: 16', 'output_stride: 32']);
    const { ir } = build(t);
    const vgg = ir.blocks.filter((b) => b.name.startsWith('block'));
    expect(vgg.at(-1)!.name).toBe('block5_pool');
    expect(vgg.at(-1)!.outShape).toEqual([7, 7, 512]);
    expect(sum(vgg.map((b) => b.params))).toBe(14_714_688);
    // Independent count: [spatial size, Cin, Cout] of the 13 convs.
    const table: [number, number, number][] = [
      [224, 3, 64], [224, 64, 64], [112, 64, 128], [112, 128, 128],
      [56, 128, 256], [56, 256, 256], [56, 256, 256],
      [28, 256, 512], [28, 512, 512], [28, 512, 512],
      [14, 512, 512], [14, 512, 512], [14, 512, 512],
    ];
    const macs = sum(table.map(([n, ci, co]) => n * n * 9 * ci * co));
    expect(macs).toBe(15_346_630_656);
    expect(sum(vgg.map((b) => b.flops))).toBe(2 * macs);
  });

  it('the width multiplier rounds each stage width; norm: batch adds 4 parameters per channel', () => {
    const t = edit(example('robot18'), ['stages: 5, output_stride: 16', 'stages: 2, width: 0.5, norm: batch, output_stride: 4']);
    const { ir } = build(t);
    expect(block(ir, 'block2_conv2').outShape).toEqual([128, 160, 64]);
    expect(block(ir, 'block2_pool').outShape).toEqual([64, 80, 64]);
    expect(block(ir, 'block1_conv1').params).toBe(convP(9, 3, 32) + 4 * 32);
    expect(ir.blocks.some((b) => b.name.startsWith('block3'))).toBe(false);
    expect(ir.encoderOutput).toBe('block2_pool');
  });
});

describe('refuge18 (VGG16, 256×256)', () => {
  it('has a 16×16 latent and 3-class / 2-scene outputs', () => {
    const { ir } = build(example('refuge18'));
    expect(ir.inputShape).toEqual([256, 256, 3]);
    expect(block(ir, ir.latent).outShape).toEqual([16, 16, 512]);
    expect(block(ir, 'seg_head').outShape).toEqual([256, 256, 3]);
    expect(block(ir, 'class_head').outShape).toEqual([3]);
    expect(block(ir, 'scene_head').outShape).toEqual([2]);
  });
});

describe('brats18 (anisotropic 3D, 144×144×19)', () => {
  const { ir } = build(example('brats18'));

  it('takes [19, 144, 144, 4], down-samples in-plane only, and predicts at full size', () => {
    expect(ir.inputShape).toEqual([19, 144, 144, 4]);
    expect(ir.stride).toBe(4);
    expect(block(ir, 'enc_level0_pool').outShape).toEqual([19, 72, 72, 64]);
    expect(block(ir, ir.encoderOutput).outShape).toEqual([19, 36, 36, 128]);
    expect(block(ir, ir.latent).outShape).toEqual([19, 36, 36, 128]);
    expect(block(ir, 'aspp').outShape).toEqual([19, 36, 36, 128]);
    expect(block(ir, 'seg_head').outShape).toEqual([19, 144, 144, 4]);
    expect(block(ir, 'scene_head').outShape).toEqual([2]);
  });

  it('uses intra-slice [1,3,3] convs in residual blocks and inter-slice [3,1,1] fusion', () => {
    const rb = block(ir, 'enc_level0_block2');
    if (rb.kind !== 'res-block') throw new Error('kind');
    const convs = rb.layers.filter((l) => l.kind === 'conv' || l.kind === 'atrous-conv');
    expect(convs.map((c) => (c.kind === 'conv' || c.kind === 'atrous-conv' ? [c.kernel, c.dilation] : []))).toEqual([
      [[1, 3, 3], [1, 2, 2]],
      [[1, 3, 3], [1, 2, 2]],
    ]);
    expect(rb.layers.at(-1)!.inputs).toEqual(['enc_level0_block1', 'enc_level0_block2_conv2']);
    const fuse = block(ir, 'enc_level1_fuse');
    expect(fuse.kind === 'conv' && fuse.kernel).toEqual([3, 1, 1]);
    const up = (block(ir, 'seg_head') as Extract<Block, { kind: 'seg-head' }>).layers.at(-1)!;
    expect(up.kind === 'upsample' && [up.factor, up.method]).toEqual([[1, 4, 4], 'trilinear']);
  });

  it('counts parameters independently (BatchNorm: 4 per channel)', () => {
    const bn = (c: number) => 4 * c;
    const c3 = (k: number, ci: number, co: number) => convP(k, ci, co) + bn(co);
    const encoder =
      c3(9, 4, 32) + // stem
      2 * 2 * c3(9, 32, 32) + c3(3, 32, 64) + // level 0: 2 blocks × 2 convs, fuse
      2 * 2 * c3(9, 64, 64) + c3(3, 64, 128) + // level 1
      2 * 2 * c3(9, 128, 128); // level 2 (no down-sampling)
    const encBlocks = ir.blocks.slice(0, ir.blocks.findIndex((b) => b.name === ir.encoderOutput) + 1);
    expect(sum(encBlocks.map((b) => b.params))).toBe(encoder);
    expect(block(ir, 'context_seg_class').params).toBe(4 * convP(9, 128, 128));
    expect(block(ir, 'aspp').params).toBe(convP(1, 128, 128) + 3 * convP(9, 128, 128) + convP(1, 128, 128) + convP(1, 5 * 128, 128));
    expect(block(ir, 'enc_level0_fuse').flops).toBe(2 * 3 * 32 * 64 * 19 * 144 * 144);
    expect(block(ir, 'enc_level2_block2').rf).toEqual([5, 90, 90]);
  });
});

describe('context combine modes and projections', () => {
  const quick = example('quickstart');

  it('sum with a 1×1 projection when the encoder width differs from the context filters', () => {
    const { ir } = build(edit(quick, ['filters: "4*base", combine: sum', 'filters: "2*base", combine: sum']));
    const proj = block(ir, 'context_proj');
    expect(proj.kind === 'conv' && [proj.kernel, proj.activation, proj.outShape]).toEqual([[1, 1], 'linear', [16, 20, 16]]);
    const br = block(ir, 'context_seg_class');
    // Every branch reads the projected feature (the runtime does the same; tests/ir-runtime.test.ts checks both).
    expect(br.inputs).toEqual(['context_proj']);
    expect(br.params).toBe(3 * convP(9, 16, 16));
    expect(block(ir, 'context_sum').inputs[0]).toBe('context_proj');
  });

  it('concat: branches concatenated, then a 1×1 conv back to the filters', () => {
    const { ir } = build(edit(quick, ['combine: sum', 'combine: concat']));
    expect(block(ir, 'context_concat').outShape).toEqual([16, 20, 96]);
    const fuse = block(ir, 'context_fuse');
    expect([fuse.outShape, fuse.params]).toEqual([[16, 20, 32], convP(1, 96, 32)]);
    expect(ir.latent).toBe('context_fuse');
  });

  it('cascade: each branch reads the previous one', () => {
    const { ir } = build(edit(quick, ['combine: sum', 'combine: cascade']));
    expect(block(ir, 'context_seg_scene').inputs).toEqual(['context_seg_class']);
    expect(block(ir, 'context_class_scene').inputs).toEqual(['context_seg_scene']);
    expect(ir.latent).toBe('context_class_scene');
  });

  it('convstack in 3D uses k×k×k kernels and in-plane [1,2,2] pools', () => {
    const t = edit(example('brats18'), ['type: aniso3d, filters: 32, blocks: 2, downsample: 2, dilations: [1, 2]', 'type: convstack, filters: [8, 16], convs_per_stage: 1, kernel: 3, output_stride: 4']);
    const { ir } = build(t);
    const c = block(ir, 'enc_stage1_conv1');
    expect(c.kind === 'conv' && [c.kernel, c.params]).toEqual([[3, 3, 3], 27 * 4 * 8 + 8 + 4 * 8]);
    expect(block(ir, 'enc_stage2_pool').outShape).toEqual([19, 36, 36, 16]);
  });
});
