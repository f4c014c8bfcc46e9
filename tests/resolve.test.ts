// Resolution: written form (snake_case, expressions) → Spec (camelCase, numbers, parsed losses, defaults), and the
// expression diagnostics it reports with spans inside the YAML strings.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../spec/diagnostics.js';
import type { SpecHost } from '../compiler/frontend.js';
import { loadSpec } from '../compiler/frontend.js';
import { resolve } from '../compiler/resolve.js';

const example = (name: string): string => readFileSync(fileURLToPath(new URL(`../examples/${name}.yaml`, import.meta.url)), 'utf8');
const ROBOT = example('robot18');
const QUICK = example('quickstart');

function edit(text: string, ...pairs: [string, string][]): string {
  for (const [from, to] of pairs) {
    expect(text.includes(from), `anchor not found: ${from}`).toBe(true);
    text = text.replace(from, to);
  }
  return text;
}

function res(text: string) {
  const host: SpecHost = { readFile: (p) => (p === 'spec.yaml' ? text : undefined), resolve: (_f, rel) => rel };
  const loaded = loadSpec('spec.yaml', host, []);
  expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return resolve(loaded.value!);
}

const under = (text: string, d: Diagnostic): string => text.slice(d.span!.offset, d.span!.endOffset);

describe('resolve robot18', () => {
  const r = res(ROBOT);
  const spec = r.value!;

  it('resolves without diagnostics and maps snake_case to camelCase', () => {
    expect(r.diagnostics).toEqual([]);
    expect(spec.data.labelsFile).toBe('data/robot18/labels.json');
    expect(spec.data.batchSize).toBe(2);
    expect(spec.data.augment.rgbShift).toBe(20);
    expect(spec.data.scenes).toEqual({ from: 'file', file: 'data/robot18/scenes.csv' });
    expect(spec.model.encoder).toMatchObject({ type: 'vgg16', stages: 5, outputStride: 16, width: 1 });
    expect(spec.model.decoder).toMatchObject({ type: 'aspp', imagePooling: true });
    expect(spec.optimizer).toMatchObject({ type: 'sgd', momentum: 0.9, weightDecay: 1e-4 });
    expect(spec.schedule).toEqual({ type: 'step', values: [1e-4, 5e-5, 2e-5], every: 50 });
    expect(spec.train).toMatchObject({ seed: 42, validateEvery: 50, checkpointEvery: 50, logEvery: 10 });
  });

  it('gives every class a weight, defaults context filters to the encoder width', () => {
    expect(spec.task.classes[1]).toEqual({ name: 'instrument-shaft', color: [0, 255, 0], weight: 1 });
    expect(spec.model.context.filters).toBe(512);
    expect(spec.model.heads.seg.upsample).toBe('bilinear');
  });

  it('turns the losses object into terms in file order, and parses stage losses', () => {
    expect(spec.losses).toEqual([
      { name: 'seg', type: 'seg', ce: 1, iou: 1, classWeights: false, iouReduction: 'per-image' },
      { name: 'class', type: 'bce', head: 'class' },
      { name: 'scene', type: 'bce', head: 'scene' },
      { name: 'sync', type: 'sync', presence: 'hard', direction: 'seg->class' },
    ]);
    expect(spec.weights).toEqual({ w1: 0.5, w2: 0.2, w3: 0.1 });
    const s = spec.stages[0]!;
    expect([s.name, s.label, s.lossText, s.steps, s.from]).toEqual(['seg+class', 'Base+Class', 'seg + w1*class', 150, 'init']);
    expect(s.loss).toEqual({
      kind: 'bin',
      op: '+',
      left: { kind: 'ref', name: 'seg' },
      right: { kind: 'bin', op: '*', left: { kind: 'ref', name: 'w1' }, right: { kind: 'ref', name: 'class' } },
    });
  });
});

describe('defaults', () => {
  it('label defaults to the stage name; classes written as strings get weight 1', () => {
    const t = edit(QUICK, ['{ name: sync, label: Base+Class+Sync, loss', '{ name: sync, loss'], ['- { name: needle, color: [255, 255, 125] }', '- needle']);
    const spec = res(t).value!;
    expect(spec.stages[1]!.label).toBe('sync');
    expect(spec.task.classes[4]).toEqual({ name: 'needle', weight: 1 });
  });

  it('upsampling defaults to bilinear in 2D and trilinear in 3D', () => {
    expect(res(edit(ROBOT, ['    seg: { upsample: bilinear }\n', ''])).value!.model.heads.seg.upsample).toBe('bilinear');
    const brats = edit(example('brats18'), ['    seg: { upsample: trilinear }\n', '']);
    expect(res(brats).value!.model.heads.seg.upsample).toBe('trilinear');
  });
});

describe('numeric expressions', () => {
  it('evaluates filters written against vars', () => {
    const spec = res(QUICK).value!;
    expect(spec.vars).toEqual({ base: 8 });
    const enc = spec.model.encoder;
    expect(enc.type === 'convstack' && enc.filters).toEqual([8, 16, 32]);
    expect(spec.model.context.filters).toBe(32);
    expect(spec.model.decoder).toMatchObject({ filters: 16 });
  });

  it('TDC0402: an unknown name, underlined inside the quoted string, with did-you-mean', () => {
    const t = edit(QUICK, ['filters: "2*base", image_pooling', 'filters: "2*bse", image_pooling']);
    const r = res(t);
    expect(r.value).toBeUndefined();
    expect(r.diagnostics.map((d) => [d.code, d.message, d.hint, under(t, d)])).toEqual([["TDC0402", "unknown name 'bse'", "did you mean 'base'?", 'bse']]);
  });

  it('TDC0403: division by zero', () => {
    const t = edit(QUICK, ['filters: "2*base", image_pooling', 'filters: "base/(base-8)", image_pooling']);
    expect(res(t).diagnostics.map((d) => [d.code, d.message])).toEqual([['TDC0403', "division by zero in 'base/(base-8)'"]]);
  });

  it('TDC0404: vars that refer to each other in a cycle, reported on each', () => {
    const t = edit(QUICK, ['base: 8 ', 'base: "2*wide"\n  wide: "base + 1" ']);
    const r = res(t);
    expect(r.diagnostics.filter((d) => d.code === 'TDC0404').map((d) => d.message)).toEqual([
      "'base' depends on itself: base -> wide -> base",
      "'wide' depends on itself: wide -> base -> wide",
    ]);
  });

  it('TDC0401: a syntax error in a stage loss, several per string, placed in the file', () => {
    const t = edit(ROBOT, ['loss: "seg + w1*class", steps', 'loss: "seg + * w1*class +", steps']);
    const r = res(t);
    expect(r.value).toBeUndefined();
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['TDC0401', "expected a number, a name or '(' after '+'"],
      ['TDC0401', "expected a number, a name or '(' after '+', but the expression ends there"],
    ]);
    expect(under(t, r.diagnostics[0]!)).toBe('*');
    // The second points just past the text: the closing quote is underlined.
    expect(under(t, r.diagnostics[1]!)).toBe('"');
  });

  it('TDC0405: an expression that must be a whole number is not', () => {
    const t = edit(QUICK, ['filters: "2*base", image_pooling', 'filters: "base/3", image_pooling']);
    const [d] = res(t).diagnostics;
    expect([d!.code, d!.message]).toEqual(['TDC0405', "'base/3' evaluates to 2.6666666666666665, but model.decoder.filters must be a whole number >= 1"]);
  });

  it('TDC0406: a name defined in both vars and weights', () => {
    const t = edit(QUICK, ['weights: { w1: 0.5,', 'weights: { base: 1, w1: 0.5,']);
    const ds = res(t).diagnostics.filter((d) => d.code === 'TDC0406');
    expect(ds.map((d) => [d.message, under(t, d)])).toEqual([["'base' is defined both in vars and in weights", 'base']]);
  });

  it('weights may be expressions over vars', () => {
    const t = edit(QUICK, ['weights: { w1: 0.5,', 'weights: { w1: "1/base*4",']);
    expect(res(t).value!.weights.w1).toBe(0.5);
  });
});

describe('defaults come from the schema alone', () => {
  // A 3D spec that writes only what the schema requires: every other value is the schema's default, read
  // from the schema here (not restated), so resolve.ts cannot hold a fallback of its own that contradicts it.
  const MINIMAL = `version: 1
name: minimal
task: { dims: 3, size: [32, 32, 8], channels: 1, classes: [bg, fg], scenes: [a, b] }
data: { format: brats18, root: data }
model:
  encoder: { type: aniso3d }
  context: { pairs: [[seg, class]], dilations: [1] }
  decoder: { type: aspp, dilations: [1] }
losses: { seg: { type: seg } }
weights: {}
stages: [{ name: one, loss: seg, steps: 1 }]
`;
  it('fills every unwritten value with the schema default', async () => {
    const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../spec/tdc.schema.json', import.meta.url)), 'utf8'));
    const r = res(MINIMAL);
    expect(r.diagnostics).toEqual([]);
    const spec = r.value!;
    const props = schema.properties;
    expect(spec.data.batchSize).toBe(props.data.properties.batch_size.default);
    expect(spec.data.onCorrupt).toBe(props.data.properties.on_corrupt.default);
    expect(spec.optimizer.weightDecay).toBe(props.optimizer.properties.weight_decay.default);
    expect(spec.optimizer.type).toBe(props.optimizer.properties.type.default);
    expect(spec.train.seed).toBe(props.train.properties.seed.default);
    const branches = props.model.properties.encoder.allOf as { then: { properties: Record<string, { default?: unknown }> } }[];
    const aniso = branches.map((b) => b.then.properties['dilations']?.default).find((d) => d !== undefined);
    expect(aniso, 'aniso3d dilations default in the schema').toBeDefined();
    expect(spec.model.encoder).toMatchObject({ type: 'aniso3d', dilations: aniso });
    expect(spec.model.heads.seg.upsample).toBe('trilinear');
    expect(spec.stages[0]).toMatchObject({ label: 'one', from: 'init' });
  });
});
