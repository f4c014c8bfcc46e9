// The IR's counting against tfjs's own: for small variants of the paper configurations, the tfjs model that
// buildNetwork makes of the IR has the IR's weighted layers (same names), and tfjs counts the parameters and
// infers the output shapes the IR states for each of them.
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SpecHost } from '../compiler/frontend.js';
import type { Block, ModelIR } from '../spec/ir/index.js';
import { compile } from '../compiler/pipeline.js';
import { buildNetwork } from '../runtime/layers/index.js';
import type { Spec } from '../spec/types.js';

const example = (name: string): string => readFileSync(fileURLToPath(new URL(`../examples/${name}.yaml`, import.meta.url)), 'utf8');

function build(name: string, edits: [string, string][]): { spec: Spec; ir: ModelIR } {
  let text = example(name);
  for (const [from, to] of edits) {
    expect(text.includes(from), `anchor not found: ${from}`).toBe(true);
    text = text.replace(from, to);
  }
  const host: SpecHost = { readFile: (p) => (p === 'spec.yaml' ? text : undefined), resolve: (_f, rel) => rel };
  const r = compile('spec.yaml', host, []);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return { spec: r.spec!, ir: r.ir! };
}

const flat = (bs: readonly Block[]): Block[] => bs.flatMap((b) => ('layers' in b ? [b, ...flat(b.layers)] : [b]));

// Small sizes and widths keep each model at a few thousand parameters.
const SMALL_BRATS: [string, string][] = [
  ['size: [144, 144, 19]', 'size: [16, 16, 5]'],
  ['crop: [144, 144, 19]', 'crop: [16, 16, 5]'],
  ['filters: 32, blocks: 2', 'filters: 4, blocks: 2'],
  ['filters: 128, image_pooling', 'filters: 8, image_pooling'],
];
const CASES: [string, string, [string, string][]][] = [
  ['quickstart (convstack 2D, sum)', 'quickstart', []],
  ['quickstart, concat', 'quickstart', [['combine: sum', 'combine: concat']]],
  ['quickstart, cascade', 'quickstart', [['combine: sum', 'combine: cascade']]],
  ['quickstart, projected context (filters ≠ encoder width)', 'quickstart', [['filters: "4*base", combine: sum', 'filters: "2*base", combine: sum']]],
  ['quickstart, projected cascade', 'quickstart', [['filters: "4*base", combine: sum', 'filters: "2*base", combine: cascade']]],
  ['brats18 small (aniso3d, batch norm)', 'brats18', SMALL_BRATS],
  [
    'brats18 small, convstack 3D',
    'brats18',
    [...SMALL_BRATS.filter(([a]) => !a.startsWith('filters: 32')), ['type: aniso3d, filters: 32, blocks: 2, downsample: 2, dilations: [1, 2]', 'type: convstack, filters: [4, 8], convs_per_stage: 2, kernel: 3, output_stride: 4']],
  ],
  [
    'robot18 small (vgg16 width 1/8, 3 stages, batch norm)',
    'robot18',
    [['stages: 5, output_stride: 16', 'stages: 3, width: 0.125, norm: batch, output_stride: 4'], ['filters: 256, image', 'filters: 8, image'], ['size: [256, 320]', 'size: [32, 48]']],
  ],
];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('IR counts = tfjs counts of the network built from it', () => {
  it.each(CASES)('%s', (_label, name, edits) => {
    const { spec, ir } = build(name, edits);
    const { model, outputs } = buildNetwork(ir, { seed: spec.train.seed });
    try {
      expect(model.countParams()).toBe(ir.totals.params);
      const shapeOf = (n: string) => ir.blocks.find((b) => b.name === n)!.outShape;
      expect(model.outputs[outputs.seg]!.shape.slice(1)).toEqual(shapeOf(ir.outputs.seg));
      expect(model.outputs[outputs.class]!.shape.slice(1)).toEqual(shapeOf(ir.outputs.class));
      expect(model.outputs[outputs.scene]!.shape.slice(1)).toEqual(shapeOf(ir.outputs.scene));
      // Every conv / dense of the IR is a tfjs layer of that name with that many weights (BatchNorm, a separate
      // tfjs layer, is counted inside the IR conv: add it back).
      const weighted = flat(ir.blocks).filter(
        (b): b is Extract<Block, { kind: 'conv' | 'atrous-conv' | 'dense' }> => b.kind === 'conv' || b.kind === 'atrous-conv' || b.kind === 'dense',
      );
      const tfWeighted = model.layers.filter((l) => l.countParams() > 0 && !/BatchNorm/.test(l.getClassName()));
      expect(tfWeighted.map((l) => l.name).sort()).toEqual(weighted.map((b) => b.name).sort());
      for (const b of weighted) {
        const bn = b.kind !== 'dense' && b.norm === 'batch' ? 4 * b.filters : 0;
        expect(model.getLayer(b.name).countParams() + bn, b.name).toBe(b.params);
        expect(model.getLayer(b.name).outputShape, b.name).toEqual([null, ...b.outShape]);
      }
    } finally {
      model.dispose();
    }
  });
});
