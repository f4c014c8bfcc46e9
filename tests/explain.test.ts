// `tdc explain`: the text report (snapshot of a small frozen spec), human units, and the JSON form.
import { describe, expect, it } from 'vitest';
import type { SpecHost } from '../compiler/frontend.js';
import { explainJson, explainText, humanCount, humanFlops } from '../compiler/explain.js';
import { compile } from '../compiler/pipeline.js';

// Frozen here (not read from examples/) so the snapshot only changes when explain or the IR changes.
const SMALL = `version: 1
name: small
task:
  dims: 2
  size: [32, 48]
  channels: 3
  classes: [background, tool, organ]
  scenes: [a, b]
data:
  format: folders
  root: data/small
  scenes: { from: folder }
  batch_size: 2
vars: { base: 4 }
model:
  encoder: { type: convstack, filters: [base, "2*base"], convs_per_stage: 1, kernel: 3, output_stride: 2 }
  context: { pairs: [[seg, class], [seg, scene]], dilations: [3, 1], combine: sum }
  decoder: { type: aspp, dilations: [1, 2], filters: base, image_pooling: true }
  heads:
    class: { hidden: 8, dropout: 0.5 }
    scene: { hidden: 8 }
losses:
  seg: { type: seg, ce: 1, iou: 1 }
  class: { type: bce, head: class }
  scene: { type: softmax_ce, head: scene }
  sync: { type: sync, presence: soft, direction: both }
weights: { w1: "1/2", w2: 0.25, w3: 0.1 }
optimizer: { type: adam }
schedule: { type: cosine, lr: 1e-3, min_lr: 1e-5 }
train: { seed: 1 }
stages:
  - { name: base, loss: "seg + w1*class", steps: 5 }
  - { name: all, loss: "seg + w1*class + w2*scene + w3*sync", steps: 5, freeze: [encoder] }
`;

function build(text: string) {
  const host: SpecHost = { readFile: (p) => (p === 'spec.yaml' ? text : undefined), resolve: (_f, rel) => rel };
  const r = compile('spec.yaml', host, []);
  expect(r.diagnostics).toEqual([]);
  return { spec: r.spec!, ir: r.ir! };
}

describe('human units', () => {
  it('prints counts and FLOPs with one decimal and a unit', () => {
    expect(humanCount(14_714_688)).toBe('14.7 M');
    expect(humanCount(999)).toBe('999');
    expect(humanCount(1_500)).toBe('1.5 k');
    expect(humanFlops(54.2e9)).toBe('54.2 GFLOP');
    expect(humanFlops(120)).toBe('120 FLOP');
  });
});

describe('explainText', () => {
  const { spec, ir } = build(SMALL);
  const text = explainText(spec, ir);

  it('matches the snapshot', async () => {
    await expect(text).toMatchFileSnapshot('./__snapshots__/explain-small.txt');
  });

  it('lists every top-level block once and the totals of the IR', () => {
    for (const b of ir.blocks) expect(text.match(new RegExp(`^${b.name} `, 'gm'))?.length, b.name).toBe(1);
    expect(text).toContain(`total parameters: ${humanCount(ir.totals.params)} (${ir.totals.params.toLocaleString('en-US')})`);
    expect(text).toContain(`forward FLOPs per image: ${humanFlops(ir.totals.flops)}`);
    // The stage loss appears as an expression, not as a tree.
    expect(text).toContain('loss: seg + w1 * class + w2 * scene + w3 * sync');
  });
});

describe('explainJson', () => {
  it('is JSON with sorted keys, the full IR, one row per block and the totals', () => {
    const { spec, ir } = build(SMALL);
    const j = JSON.parse(JSON.stringify(explainJson(spec, ir))) as {
      blocks: { name: string; params: number; flops: number }[];
      ir: typeof ir;
      spec: typeof spec;
      totals: { params: number; flops: number };
    };
    expect(Object.keys(j)).toEqual(['blocks', 'ir', 'spec', 'totals']);
    expect(j.blocks.map((b) => b.name)).toEqual(ir.blocks.map((b) => b.name));
    expect(j.totals).toEqual({ params: j.blocks.reduce((a, b) => a + b.params, 0), flops: j.blocks.reduce((a, b) => a + b.flops, 0) });
    expect(j.ir).toEqual(JSON.parse(JSON.stringify(ir)));
    expect(j.spec.weights).toEqual({ w1: 0.5, w2: 0.25, w3: 0.1 });
  });
});

describe('sizes print in task.size order in every command', () => {
  it('3D: explain prints x×y×z×C like the spec (not the tensor order z×y×x), and the data layer agrees', async () => {
    const { createNodeHost } = await import('../compiler/cli/host.js');
    const { sizeText } = await import('../spec/shape.js');
    const r = compile('examples/brats18.yaml', createNodeHost(), ['task.size=[144, 128, 19]', 'data.crop=[144, 128, 19]']);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const text = explainText(r.spec!, r.ir!);
    expect(text).toContain('input 144×128×19×4 as X×Y×Z×C');
    expect(text).not.toContain('19×128×144');
    // A [Z, Y, X, C] tensor shape prints the same way wherever it is printed.
    expect(sizeText([19, 128, 144, 4], { dims: 3, channels: true })).toBe('144×128×19×4');
    expect(sizeText([64, 80], { dims: 2 })).toBe('64×80');
  });
});
