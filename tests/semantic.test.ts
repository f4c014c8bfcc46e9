// Semantic checks: each check fires on a small edit of a real example spec (negative) and stays quiet on the
// paper configurations (positive). Specs go through the whole front end with an in-memory host.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../spec/diagnostics.js';
import type { SpecHost } from '../compiler/frontend.js';
import { compile } from '../compiler/pipeline.js';
import { checkSemantics, type SemanticOptions } from '../compiler/semantic.js';
import type { Spec } from '../spec/types.js';

const example = (name: string): string => readFileSync(fileURLToPath(new URL(`../examples/${name}.yaml`, import.meta.url)), 'utf8');
const ROBOT = example('robot18');
const BRATS = example('brats18');
const QUICK = (): string => example('quickstart');

function host(text: string): SpecHost {
  return { readFile: (p) => (p === 'spec.yaml' ? text : undefined), resolve: (_f, rel) => rel };
}

/** Applies literal replacements, failing loudly when the anchor text is gone (so a test cannot pass vacuously). */
function edit(text: string, ...pairs: [string, string][]): string {
  for (const [from, to] of pairs) {
    expect(text.includes(from), `anchor not found: ${from}`).toBe(true);
    text = text.replace(from, to);
  }
  return text;
}

/** 1-based line of the first occurrence of `needle` (fails when absent). */
function lineOf(text: string, needle: string): number {
  const i = text.indexOf(needle);
  expect(i, `not found: ${needle}`).toBeGreaterThanOrEqual(0);
  return text.slice(0, i).split('\n').length;
}

function run(text: string, opts: SemanticOptions = {}) {
  return compile('spec.yaml', host(text), [], opts);
}

/** `code line:col 'underlined text'` for each diagnostic, to compare in one go. */
function summary(ds: Diagnostic[], text: string): string[] {
  return ds.map((d) => `${d.code} ${d.severity} ${d.span ? `${d.span.line}:${d.span.col} '${text.slice(d.span.offset, d.span.endOffset)}'` : '-'}`);
}

function only(text: string, code: string, opts: SemanticOptions = {}): Diagnostic[] {
  const r = run(text, opts);
  const ds = r.diagnostics.filter((d) => d.code === code);
  expect(ds.length, summary(r.diagnostics, text).join('\n')).toBeGreaterThan(0);
  return ds;
}

/** A resolved spec and its doc, for checks the schema already rules out in written specs. */
function resolved(text = ROBOT) {
  const r = run(text);
  expect(r.spec).toBeDefined();
  return { spec: r.spec!, doc: r.doc! };
}
const clone = (s: Spec): Spec => structuredClone(s);

describe('the paper configurations', () => {
  it('robot18: no errors; warnings for dilations 63 and 31 on the 16×20 map only', () => {
    const r = run(ROBOT);
    expect(r.ir).toBeDefined();
    const line = lineOf(ROBOT, 'dilations: [63, 31');
    expect(summary(r.diagnostics, ROBOT).map((s) => s.replace(/ \d+:\d+ /, ` ${line}: `))).toEqual([
      `TDC0514 warning ${line}: '63'`,
      `TDC0514 warning ${line}: '31'`,
    ]);
    expect(r.diagnostics[0]!.message).toBe(
      'dilation 63 on the 16×20 feature map after the encoder (stride 16): every off-centre tap falls outside the map, so the 3×3 conv degenerates to a 1×1 conv',
    );
  });

  it('brats18 and refuge18 have no errors', () => {
    expect(run(BRATS).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(run(example('refuge18')).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(run(example('quickstart')).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });
});

describe('classes, scenes, regions', () => {
  it('TDC0501 duplicate class name, on the second one', () => {
    const t = edit(ROBOT, ['{ name: thread,', '{ name: clamps,']);
    const [d] = only(t, 'TDC0501');
    expect(d!.message).toBe("class 'clamps' is defined twice (label ids 6 and 7)");
    expect(d!.span!.line).toBe(lineOf(t, '{ name: clamps, color: [0, 255, 125]'));
    expect(t.slice(d!.span!.offset, d!.span!.endOffset)).toMatch(/^\{ name: clamps, color: \[0, 255, 125\]/);
  });

  it('TDC0502 duplicate scene name', () => {
    const t = edit(ROBOT, ['scenes: [preparing, peeling, incising]', 'scenes: [preparing, peeling, peeling]']);
    expect(summary(only(t, 'TDC0502'), t)).toEqual([`TDC0502 error ${lineOf(t, 'scenes: [preparing')}:32 'peeling'`]);
  });

  it('TDC0503 / TDC0504 fewer than 2 classes, no scenes, one scene with a scene term', () => {
    const { spec, doc } = resolved();
    const s = clone(spec);
    s.task.classes = s.task.classes.slice(0, 1);
    s.task.scenes = [];
    const codes = checkSemantics(s, doc).map((d) => `${d.code} ${d.severity}`);
    expect(codes).toContain('TDC0503 error');
    expect(codes).toContain('TDC0504 error');
    const one = clone(spec);
    one.task.scenes = ['only'];
    expect(checkSemantics(one, doc).filter((d) => d.code === 'TDC0504').map((d) => d.severity)).toEqual(['warning']);
    expect(checkSemantics(spec, doc).filter((d) => d.code === 'TDC0503' || d.code === 'TDC0504')).toEqual([]);
  });

  it('TDC0509 a region names an unknown class, with a suggestion', () => {
    const t = edit(ROBOT, ['  scenes: [preparing', '  regions: { tools: [instrument-shaft, clampz] }\n  scenes: [preparing']);
    const [d] = only(t, 'TDC0509');
    expect(d!.message).toBe("region 'tools' names 'clampz', which is not a class");
    expect(d!.hint).toBe("did you mean 'clamps'?");
    expect(t.slice(d!.span!.offset, d!.span!.endOffset)).toBe('clampz');
  });
});

describe('losses and stages', () => {
  it('TDC0505 a sync term needs a seg term and a class BCE term', () => {
    const t = edit(ROBOT, ['class: { type: bce, head: class }', 'class: { type: bce, head: scene }']);
    const [d] = only(t, 'TDC0505');
    expect(d!.message).toBe(
      "sync term 'sync' compares the classes present in the segmentation with the class head, but there is no 'bce' term with head: class",
    );
    expect(d!.hint).toContain('the class head covers the same classes as the segmentation');
  });

  it('TDC0506 an unknown name in a stage loss is underlined inside the string, with did-you-mean', () => {
    const t = edit(ROBOT, ['loss: "seg + w1*class", steps', 'loss: "seg + w1*clas", steps']);
    const [d] = only(t, 'TDC0506');
    expect(d!.message).toBe("stage 'seg+class': 'clas' is neither a loss term nor a weight");
    expect(d!.hint).toBe("did you mean 'class'?");
    expect(t.slice(d!.span!.offset, d!.span!.endOffset)).toBe('clas');
    expect(d!.span!.line).toBe(lineOf(t, 'w1*clas"'));
  });

  it('TDC0506 a loss with no term at all', () => {
    const t = edit(ROBOT, ['loss: "seg + w1*class", steps', 'loss: "w1 * 2", steps']);
    expect(only(t, 'TDC0506')[0]!.message).toBe("stage 'seg+class': the loss uses no loss term");
  });

  it('TDC0507 the loss must be linear in the terms', () => {
    const t = edit(ROBOT, ['loss: "seg + w1*class", steps', 'loss: "seg + w1*class*sync", steps']);
    const [d] = only(t, 'TDC0507');
    expect(d!.message).toBe("stage 'seg+class': the loss must be a weighted sum of loss terms, but it multiplies loss terms ('class' * 'sync')");
    expect(t.slice(d!.span!.offset, d!.span!.endOffset)).toBe('sync');
    const div = edit(ROBOT, ['loss: "seg + w1*class", steps', 'loss: "seg / (1 + class)", steps']);
    expect(only(div, 'TDC0507')[0]!.message).toContain("divides by a loss term ('class')");
    // Weights may multiply each other and divide terms: still linear.
    const fine = edit(ROBOT, ['loss: "seg + w1*class", steps', 'loss: "seg + w1*w2*class/2 - (class - seg)/w3", steps']);
    expect(run(fine).diagnostics.filter((d) => d.code === 'TDC0507')).toEqual([]);
  });

  it('TDC0508 a stage trains a head that no context pair feeds', () => {
    const t = edit(ROBOT, ['pairs: [[seg, class], [seg, scene], [class, scene]]', 'pairs: [[seg, class]]']);
    const [d] = only(t, 'TDC0508');
    expect(d!.message).toBe("stage 'scene' trains the scene head through 'scene', but no context pair includes 'scene', so the model has no scene branch");
  });

  it('TDC0510 the first stage cannot start from previous (an unwritten from is init)', () => {
    const t = edit(ROBOT, ['label: Base+Class, loss', 'label: Base+Class, from: previous, loss']);
    const [d] = only(t, 'TDC0510');
    expect(t.slice(d!.span!.offset, d!.span!.endOffset)).toBe('previous');
    expect(run(ROBOT).spec!.stages.map((s) => s.from)).toEqual(['init', 'previous', 'previous']);
  });

  it('TDC0518 a stage freezes an unknown part', () => {
    const { spec, doc } = resolved();
    const s = clone(spec);
    s.stages[1]!.freeze = ['encoder', 'decodr'];
    const ds = checkSemantics(s, doc).filter((d) => d.code === 'TDC0518');
    expect(ds.map((d) => [d.message, d.hint])).toEqual([["stage 'sync' freezes 'decodr', which is not a model part", "did you mean 'decoder'?"]]);
  });

  it('TDC0406 a loss term and a weight cannot share a name', () => {
    const t = edit(ROBOT, ['weights: { w1: 0.5,', 'weights: { sync: 1, w1: 0.5,']);
    expect(only(t, 'TDC0406').map((d) => d.message)).toEqual(["'sync' names both a loss term and a weight"]);
  });

  it('TDC0520 a loss term no stage uses is a warning', () => {
    const t = edit(ROBOT, ['loss: "seg + w1*class + w2*scene + w3*sync"', 'loss: "seg + w1*class + w3*sync"']);
    const [d] = only(t, 'TDC0520');
    expect([d!.severity, d!.message]).toEqual(['warning', "loss term 'scene' is not used by any stage"]);
  });

  it('TDC0504 softmax_ce needs at least 2 scenes', () => {
    const t = edit(ROBOT, ['scene: { type: bce, head: scene }', 'scene: { type: softmax_ce, head: scene }']);
    const { spec, doc } = resolved(t);
    expect(checkSemantics(spec, doc).filter((d) => d.code === 'TDC0504')).toEqual([]);
    const s = clone(spec);
    s.task.scenes = ['a'];
    expect(checkSemantics(s, doc).filter((d) => d.code === 'TDC0504' && d.severity === 'error').map((d) => d.message)).toEqual([
      "softmax_ce term 'scene' needs at least 2 scenes, got 1",
    ]);
  });

  it('TDC0516 schedule every must be at least 1 (an expression can reach 0)', () => {
    const t = edit(ROBOT, ['every: 50 }', 'every: "n - 1" }'], ['weights: {', 'vars: { n: 1 }\nweights: {']);
    expect(only(t, 'TDC0516')[0]!.message).toBe('schedule every is 0');
  });
});

describe('model and sizes', () => {
  it('TDC0511 the input size must be divisible by the stride: says size, stride and nearest sizes', () => {
    const t = edit(ROBOT, ['size: [256, 320]', 'size: [250, 320]']);
    const [d] = only(t, 'TDC0511');
    expect(d!.message).toBe("input size 250×320 is not divisible by the encoder's total stride 16 (height 250)");
    expect(d!.hint).toBe('nearest valid height: 240 or 256');
    expect(t.slice(d!.span!.offset, d!.span!.endOffset)).toBe('250');
  });

  it('TDC0512 the crop must fit the size and the stride; in 3D z must cover the inter-slice kernel', () => {
    const big = edit(ROBOT, ['batch_size: 2', 'batch_size: 2\n  crop: [512, 320]']);
    expect(only(big, 'TDC0512')[0]!.message).toBe('crop 512×320 is larger than the input size 256×320 (height 512 > 256)');
    const odd = edit(ROBOT, ['batch_size: 2', 'batch_size: 2\n  crop: [200, 320]']);
    expect(only(odd, 'TDC0512')[0]!.hint).toBe('nearest valid height: 192 or 208');
    const thin = edit(BRATS, ['crop: [144, 144, 19]', 'crop: [144, 144, 2]']);
    expect(only(thin, 'TDC0512')[0]!.message).toBe('crop z 2 is smaller than the inter-slice kernel (3)');
    const ok = edit(ROBOT, ['batch_size: 2', 'batch_size: 2\n  crop: [128, 160]']);
    expect(run(ok).diagnostics.filter((d) => d.code === 'TDC0512')).toEqual([]);
  });

  it('TDC0513 3D channels must equal the number of modalities', () => {
    const t = edit(BRATS, ['channels: 4', 'channels: 3']);
    const [d] = only(t, 'TDC0513');
    expect(d!.message).toBe('channels is 3, but 4 modalities are listed (t1, t1ce, t2, flair)');
    expect(d!.hint).toBe('set channels: 4');
  });

  it('TDC0514 is measured at the map size where the rate applies (bigger input, no warning)', () => {
    const t = edit(ROBOT, ['size: [256, 320]', 'size: [1024, 1280]']);
    expect(run(t).diagnostics.filter((d) => d.code === 'TDC0514')).toEqual([]);
    // A rate that reaches past one axis only (31 on 32×40) still has taps inside: no warning.
    const mid = edit(ROBOT, ['size: [256, 320]', 'size: [512, 640]']);
    expect(run(mid).diagnostics.filter((d) => d.code === 'TDC0514').map((d) => d.message.split(' on ')[0])).toEqual(['dilation 63']);
  });

  it('TDC0514 checks the 3D encoder dilations per level in-plane', () => {
    const t = edit(BRATS, ['size: [144, 144, 19]', 'size: [16, 16, 19]'], ['crop: [144, 144, 19]', 'crop: [16, 16, 19]'], ['dilations: [1, 2]', 'dilations: [1, 4]']);
    const ds = run(t).diagnostics.filter((d) => d.code === 'TDC0514' && d.message.includes('encoder level'));
    expect(ds.map((d) => d.message)).toEqual([
      'dilation 4 on the 4×4 feature map at encoder level 2: every off-centre tap falls outside the map, so the conv degenerates to a 1×1 conv',
    ]);
  });

  it('TDC0515 a missing pretrained file is a warning; checked only when exists() is given', () => {
    const asked: string[][] = [];
    const missing = only(ROBOT, 'TDC0515', { exists: (rel, from) => (asked.push([rel, from]), false) });
    expect(missing[0]!.severity).toBe('warning');
    expect(asked).toEqual([['weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5', 'spec.yaml']]);
    expect(run(ROBOT, { exists: () => true }).diagnostics.filter((d) => d.code === 'TDC0515')).toEqual([]);
    expect(run(ROBOT).diagnostics.filter((d) => d.code === 'TDC0515')).toEqual([]);
  });

  it('TDC0516 the stride must be a power of two reachable by the stages', () => {
    const t = edit(ROBOT, ['stages: 5, output_stride: 16', 'stages: 3, output_stride: 16']);
    expect(only(t, 'TDC0516')[0]!.message).toBe('output_stride 16 needs 4 pools, but the encoder has only 3 stages (one pool per stage)');
    // The schema only admits powers of two; a resolved spec built otherwise is still caught.
    const { spec, doc } = resolved();
    const s = clone(spec);
    if (s.model.encoder.type === 'vgg16') s.model.encoder.outputStride = 12;
    expect(checkSemantics(s, doc).filter((d) => d.code === 'TDC0516').map((d) => d.message)).toEqual([
      'output_stride 12 is not a power of two (each pool halves the size)',
    ]);
  });

  it('TDC0517 encoder and upsampling must match the dimensionality', () => {
    const t = edit(BRATS, ['type: aniso3d, filters: 32, blocks: 2, downsample: 2, dilations: [1, 2]', 'type: vgg16']);
    expect(only(t, 'TDC0517')[0]!.message).toBe('vgg16 is a 2D encoder, but the task is 3D');
    const tri = edit(ROBOT, ['seg: { upsample: bilinear }', 'seg: { upsample: trilinear }']);
    expect(only(tri, 'TDC0517')[0]!.message).toBe('trilinear upsampling needs a 3D task');
  });

  it('TDC0519 context pairs: no self-pairs, no repeats', () => {
    const t = edit(ROBOT, ['pairs: [[seg, class], [seg, scene], [class, scene]]', 'pairs: [[seg, class], [class, seg], [scene, scene]]']);
    expect(only(t, 'TDC0519').map((d) => d.message)).toEqual([
      'context pair [class, seg] is listed twice',
      'context pair [scene, scene] pairs a task with itself',
    ]);
  });
});

describe('compile (pipeline) stops at the first stage with errors', () => {
  it('schema errors: no spec', () => {
    const r = run(edit(ROBOT, ['batch_size: 2', 'batch_size: two']));
    expect([r.doc, r.spec, r.ir]).toEqual([undefined, undefined, undefined]);
    expect(r.diagnostics.some((d) => d.code.startsWith('TDC02'))).toBe(true);
  });

  it('expression errors: the document but no spec, and every expression error of the stage', () => {
    const t = edit(QUICK(), ['filters: "2*base", image_pooling', 'filters: "2*bse", image_pooling'], ['filters: "4*base", combine', 'filters: "4/0", combine']);
    const r = run(t);
    expect([r.doc !== undefined, r.spec, r.ir]).toEqual([true, undefined, undefined]);
    expect(r.diagnostics.map((d) => d.code).sort()).toEqual(['TDC0402', 'TDC0403']);
  });

  it('semantic errors: the spec but no IR, with all semantic diagnostics (the shape checks need the IR: none)', () => {
    const t = edit(ROBOT, ['size: [256, 320]', 'size: [250, 320]'], ['loss: "seg + w1*class", steps', 'loss: "seg + w1*clas", steps']);
    const r = run(t);
    expect([r.spec !== undefined, r.ir]).toEqual([true, undefined]);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['TDC0511', 'TDC0506']);
  });

  it('warnings only: everything, IR included', () => {
    const r = run(ROBOT);
    expect([r.doc !== undefined, r.spec !== undefined, r.ir !== undefined]).toEqual([true, true, true]);
  });
});
