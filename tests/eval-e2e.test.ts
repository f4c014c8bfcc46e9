/**
 * `tdc predict`, `tdc metrics` and `tdc eval` end to end through the real CLI (the built bin/tdc.js): a tiny
 * quickstart build is trained for a few steps, a training frame is predicted into an indexed PNG that
 * `tdc metrics` scores against its colour-coded label (converted to class ids here), `tdc eval` prints the
 * table; then a tiny 3D BraTS-style build goes through the sliding window into a NIfTI with its input's affine.
 * Needs `npm run build` first (the `npm test` script does it).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTdc } from './helpers/run-tdc.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePng, readImageFile, readNiftiFile } from '../runtime/io/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'tdc.js');
const work = mkdtempSync(join(tmpdir(), 'tdc-eval-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tdc(args: string[], cwd: string) {
  return runTdc(args, cwd, { TDC_BACKEND: 'cpu' });
}
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
const oneLine = (s: string) => expect(s.trim().split('\n'), s).toHaveLength(1);

describe('2D: train → predict → metrics → eval', () => {
  const dir = join(work, 'qs');
  let colours: [number, number, number][] = [];
  let names: string[] = [];

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    let text = readFileSync(join(ROOT, 'examples', 'quickstart.yaml'), 'utf8');
    text = text.replaceAll('../.tdc/data/quickstart', join(dir, 'data'));
    text = text.replace(/synthesize: \{ n: \d+/, 'synthesize: { n: 12');
    text = text.replace(/train: \{[^}]*\}/, 'train: { seed: 3, validate_every: 0, checkpoint_every: 0, log_every: 1 }');
    const steps = [3, 2, 2];
    let i = 0;
    text = text.replace(/steps: \d+ \}/g, () => `steps: ${steps[i++]} }`);
    writeFileSync(join(dir, 'tiny.yaml'), text);
    const b = await tdc(['build', 'tiny.yaml', '-o', 'build'], dir);
    expect(b.code, b.err).toBe(0);
    // A second build of the same spec that is never trained.
    expect((await tdc(['build', 'tiny.yaml', '-o', 'untrained'], dir)).code).toBe(0);
    const t = await tdc(['train', 'build'], dir);
    expect(t.code, t.err).toBe(0);
    const lock = JSON.parse(readFileSync(join(dir, 'build', 'spec.lock.json'), 'utf8')) as {
      resolved: { task: { classes: { name: string; color: [number, number, number] }[] } };
    };
    colours = lock.resolved.task.classes.map((c) => c.color);
    names = lock.resolved.task.classes.map((c) => c.name);
  }, 150_000);

  it('predict writes an indexed PNG with the class palette at the input size, and the head probabilities', async () => {
    const frame = join(dir, 'data', 'seq_1', 'left_frames', 'frame000.png');
    // The same frame at twice its size (nearest), to go through the resize in and out.
    const img = await readImageFile(frame);
    const [w2, h2] = [img.width * 2, img.height * 2];
    const big = new Uint8Array(w2 * h2 * img.channels);
    for (let y = 0; y < h2; y++) {
      for (let x = 0; x < w2; x++) {
        for (let k = 0; k < img.channels; k++) big[(y * w2 + x) * img.channels + k] = img.data[((y >> 1) * img.width + (x >> 1)) * img.channels + k]!;
      }
    }
    writeFileSync(join(dir, 'big.png'), encodePng({ width: w2, height: h2, channels: img.channels as 3, data: big }));

    const r = await tdc(['predict', 'build', frame, 'big.png', '-o', 'out'], dir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/out\/frame000\.png/);
    const mask = await readImageFile(join(dir, 'out', 'frame000.png'));
    expect([mask.width, mask.height]).toEqual([img.width, img.height]);
    expect(mask.indices).toBeDefined();
    expect(mask.palette).toEqual(colours);
    const bigMask = await readImageFile(join(dir, 'out', 'big.png'));
    expect([bigMask.width, bigMask.height]).toEqual([w2, h2]);

    const j = JSON.parse(readFileSync(join(dir, 'out', 'frame000.json'), 'utf8')) as {
      classes: Record<string, number>;
      scenes: Record<string, number>;
      scene: string;
      present: string[];
      segmented: string[];
    };
    expect(Object.keys(j.classes)).toEqual(names);
    expect(Object.keys(j.scenes)).toEqual(['preparing', 'peeling', 'incising']);
    for (const p of [...Object.values(j.classes), ...Object.values(j.scenes)]) expect(p >= 0 && p <= 1).toBe(true);
    expect(j.present).toEqual(names.filter((n) => j.classes[n]! >= 0.5));
    const inMask = new Set(Array.from(mask.indices!));
    expect(j.segmented).toEqual(names.filter((_, c) => inMask.has(c)));
  });

  it('metrics scores the prediction against the colour-coded label converted to class ids', async () => {
    const label = await readImageFile(join(dir, 'data', 'seq_1', 'labels', 'frame000.png'));
    const ids = new Uint8Array(label.width * label.height);
    for (let p = 0; p < ids.length; p++) {
      const rgb = [0, 1, 2].map((k) => label.data[p * label.channels + k]);
      const c = colours.findIndex((col) => col.every((v, k) => v === rgb[k]));
      expect(c, `pixel ${p} colour ${rgb}`).toBeGreaterThanOrEqual(0);
      ids[p] = c;
    }
    mkdirSync(join(dir, 'gt'), { recursive: true });
    writeFileSync(join(dir, 'gt', 'frame000.png'), encodePng({ width: label.width, height: label.height, channels: 1, data: ids, palette: colours, indices: ids }));
    const pred = (await readImageFile(join(dir, 'out', 'frame000.png'))).indices!;

    const r = await tdc(['metrics', '--gt', join('gt', 'frame000.png'), '--pred', join('out', 'frame000.png'), '--classes', '5', '--json'], dir);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { classes: { dice: number | null; iou: number | null }[] };
    for (let c = 0; c < 5; c++) {
      let tp = 0;
      let fp = 0;
      let fn = 0;
      ids.forEach((g, i) => {
        const q = pred[i];
        if (g === c && q === c) tp++;
        else if (q === c) fp++;
        else if (g === c) fn++;
      });
      if (tp + fp + fn === 0) expect(j.classes[c]!.dice).toBeNull();
      else expect(j.classes[c]!.dice).toBeCloseTo((2 * tp) / (2 * tp + fp + fn), 6);
    }
    const table = await tdc(['metrics', '--gt', 'gt', '--pred', 'out', '--classes', '5'], dir);
    expect(table.code, table.err).toBe(1);
    expect(table.err).toMatch(/big\.png: no ground truth for it/);
  });

  it('eval prints the per-class table with means and head accuracies, or JSON', async () => {
    const r = await tdc(['eval', 'build'], dir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^quickstart: val split, \d+ samples, checkpoint build\/run\/best\n/);
    for (const n of names) expect(r.out).toMatch(new RegExp(`\\n${n}\\s+(\\d\\.\\d{3}|–)\\s+(\\d\\.\\d{3}|–)\\n`));
    expect(r.out).toMatch(/\nmean \(without background\)\s+\d\.\d{3}\s+\d\.\d{3}\n/);
    expect(r.out).toMatch(/class accuracy \d\.\d{3}\s+scene accuracy (\d\.\d{3}|–)/);
    const j = await tdc(['eval', 'build', '--json', '--checkpoint', 'last', '--split', 'train'], dir);
    expect(j.code, j.err).toBe(0);
    const v = JSON.parse(j.out) as { split: string; checkpoint: string; classes: { name: string }[]; mean: { iou: number } };
    expect(v.split).toBe('train');
    expect(v.checkpoint).toBe('build/run/checkpoints/last');
    expect(v.classes.map((c) => c.name)).toEqual(names);
    expect(typeof v.mean.iou).toBe('number');
  });

  it('a head that no stage trained: predict leaves its probabilities out, eval marks its accuracy untrained', async () => {
    // The same network with no scene term in any stage (the scene loss is only warned as unused): the trained
    // weights fit it, and its scene head is whatever the initialisation made it.
    const text = readFileSync(join(dir, 'tiny.yaml'), 'utf8').replace(/loss: "[^"]*"/g, 'loss: "seg + w1*class + w3*sync"');
    writeFileSync(join(dir, 'noscene.yaml'), text);
    expect((await tdc(['build', 'noscene.yaml', '-o', 'noscene'], dir)).code).toBe(0);
    const frame = join(dir, 'data', 'seq_1', 'left_frames', 'frame000.png');
    const p = await tdc(['predict', 'noscene', '--run-dir', join('build', 'run'), frame, '-o', 'out-noscene'], dir);
    expect(p.code, p.err).toBe(0);
    expect(p.err).toContain('note: no stage trains the scene head');
    const j = JSON.parse(readFileSync(join(dir, 'out-noscene', 'frame000.json'), 'utf8')) as Record<string, unknown>;
    expect(j).toMatchObject({ scenes: null, scene: null, untrained: ['scene'] });
    expect(Object.keys(j.classes as object)).toEqual(names);
    const e = await tdc(['eval', 'noscene', '--run-dir', join('build', 'run')], dir);
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(/class accuracy \d\.\d{3}\s+scene accuracy untrained/);
  });

  it('eval agrees with predict + metrics over the same split (two code paths, one confusion matrix)', async () => {
    const e = await tdc(['eval', 'build', '--json'], dir);
    expect(e.code, e.err).toBe(0);
    const ev = JSON.parse(e.out) as { ids: string[]; classes: { iou: number | null; dice: number | null }[] };
    expect(ev.ids.length).toBeGreaterThan(0);
    // The split's frames under unique flat names, and their labels as class-id PNGs under the same names.
    const [inDir, gtDir] = [join(dir, 'split-in'), join(dir, 'split-gt')];
    mkdirSync(inDir, { recursive: true });
    mkdirSync(gtDir, { recursive: true });
    const frames: string[] = [];
    for (const id of ev.ids) {
      const [seq, frame] = id.split('/') as [string, string];
      const name = `${seq}_${frame}.png`;
      writeFileSync(join(inDir, name), readFileSync(join(dir, 'data', seq, 'left_frames', `${frame}.png`)));
      const label = await readImageFile(join(dir, 'data', seq, 'labels', `${frame}.png`));
      const ids = Uint8Array.from({ length: label.width * label.height }, (_, p) =>
        colours.findIndex((col) => col.every((v, k) => v === label.data[p * label.channels + k])),
      );
      writeFileSync(join(gtDir, name), encodePng({ width: label.width, height: label.height, channels: 1, data: ids, palette: colours, indices: ids }));
      frames.push(join('split-in', name));
    }
    const p = await tdc(['predict', 'build', ...frames, '-o', 'split-out'], dir);
    expect(p.code, p.err).toBe(0);
    const m = await tdc(['metrics', '--gt', 'split-gt', '--pred', 'split-out', '--classes', '5', '--json', '--no-distances'], dir);
    expect(m.code, m.err).toBe(0);
    // eval's per-class table is pooled over all pixels; metrics prints that figure as iouPooled / dicePooled.
    const mv = JSON.parse(m.out) as { classes: { iouPooled: number | null; dicePooled: number | null }[] };
    for (let c = 0; c < 5; c++) {
      for (const key of ['iou', 'dice'] as const) {
        const [a, b] = [ev.classes[c]![key], mv.classes[c]![key === 'iou' ? 'iouPooled' : 'dicePooled']];
        if (a === null) expect(b, `class ${c} ${key}`).toBeNull();
        else expect(b, `class ${c} ${key}`).toBeCloseTo(a, 5);
      }
    }
  });

  it('inputs with the same file name get distinct outputs', async () => {
    const a = join('data', 'seq_1', 'left_frames', 'frame000.png');
    const b = join('data', 'seq_2', 'left_frames', 'frame000.png');
    const r = await tdc(['predict', 'build', a, b, '-o', 'same'], dir);
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(join(dir, 'same')).sort()).toEqual([
      'seq_1_left_frames_frame000.json',
      'seq_1_left_frames_frame000.png',
      'seq_2_left_frames_frame000.json',
      'seq_2_left_frames_frame000.png',
    ]);
  });

  it('problems are one line: no run yet, a missing input, bad options', async () => {
    let r = await tdc(['eval', 'untrained'], dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tdc: no trained checkpoint in untrained\/run; run tdc train untrained first/);
    oneLine(r.err);
    r = await tdc(['predict', 'build', 'missing.png', '-o', 'out2'], dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tdc: missing\.png: file not found/);
    oneLine(r.err);
    noStack(r.err);
    writeFileSync(join(dir, 'junk.png'), 'not an image');
    r = await tdc(['predict', 'build', 'junk.png', '-o', 'out2'], dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tdc: junk\.png: corrupt or unreadable/);
    oneLine(r.err);
    r = await tdc(['predict', 'build', '-o', 'out2'], dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no inputs to predict/);
    r = await tdc(['eval', 'build', '--checkpoint', 'first'], dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--checkpoint must be best or last/);
    r = await tdc(['predict', 'build', 'big.png'], dir);
    expect(r.code).toBe(2);
    expect(existsSync(join(dir, 'out2'))).toBe(false);
    // No best checkpoint yet (no validation ran): best falls back to last, and says so.
    renameSync(join(dir, 'build', 'run', 'best'), join(dir, 'best-away'));
    try {
      r = await tdc(['eval', 'build'], dir);
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/note: no best checkpoint in build\/run yet; using the last one/);
      expect(r.out).toMatch(/checkpoint build\/run\/checkpoints\/last/);
    } finally {
      renameSync(join(dir, 'best-away'), join(dir, 'build', 'run', 'best'));
    }
  });
});

describe('3D: a tiny BraTS-style build through the sliding window', () => {
  const dir = join(work, 'b3');
  const spec = `version: 1
name: tiny3d
task:
  dims: 3
  size: [16, 16, 4]
  channels: 4
  modalities: [t1, t1ce, t2, flair]
  classes:
    - { name: background, values: [0] }
    - { name: ncr, values: [1] }
    - { name: ed, values: [2] }
    - { name: et, values: [4] }
  scenes: [HGG, LGG]
  regions: { WT: [ncr, ed, et], TC: [ncr, et], ET: [et] }
data:
  format: brats18
  root: data
  synthesize: { n: 4, seed: 5 }
  scenes: { from: folder }
  splits: { val_fraction: 0.25 }
  augment: { hflip: 0, vflip: 0, zflip: 0 }
  crop: [16, 16, 4]
  batch_size: 1
model:
  encoder: { type: convstack, filters: [4], convs_per_stage: 1, kernel: 3, output_stride: 2 }
  context: { pairs: [[seg, class], [seg, scene]], dilations: [1], filters: 4, combine: sum }
  decoder: { type: aspp, dilations: [1], filters: 4, image_pooling: false }
  heads: { seg: { upsample: trilinear }, class: { hidden: 4 }, scene: { hidden: 4 } }
losses:
  seg: { type: seg, ce: 1, iou: 1 }
  class: { type: bce, head: class }
  scene: { type: softmax_ce, head: scene }
weights: { w1: 0.5, w2: 0.2 }
optimizer: { type: adam }
schedule: { type: constant, lr: 1e-2 }
train: { seed: 1, validate_every: 0, checkpoint_every: 0, log_every: 1 }
stages:
  - { name: a, label: A, from: init, loss: "seg + w1*class + w2*scene", steps: 2 }
`;

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tiny3d.yaml'), spec);
    const b = await tdc(['build', 'tiny3d.yaml', '-o', 'build'], dir);
    expect(b.code, b.err).toBe(0);
    const t = await tdc(['train', 'build'], dir);
    expect(t.code, t.err).toBe(0);
  }, 90_000);

  it('predict writes BraTS label values with the input affine; metrics and eval read them', async () => {
    const grade = readdirSync(join(dir, 'data')).find((g) => g === 'HGG' || g === 'LGG')!;
    const subject = readdirSync(join(dir, 'data', grade)).sort()[0]!;
    const sdir = join('data', grade, subject);
    const r = await tdc(['predict', 'build', sdir, '-o', 'out', '--overlap', '0.5'], dir);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(new RegExp(`${subject}: \\d+/(\\d+) windows\\n`));
    const nii = join(dir, 'out', `${subject}_pred.nii.gz`);
    const [pred, t1] = [await readNiftiFile(nii), await readNiftiFile(join(dir, sdir, `${subject}_t1.nii.gz`))];
    expect(pred.datatype).toBe('uint8');
    expect(pred.dims.slice(0, 3)).toEqual(t1.dims.slice(0, 3));
    for (let i = 0; i < 3; i++) for (let k = 0; k < 4; k++) expect(pred.affine[i]![k]).toBeCloseTo(t1.affine[i]![k]!, 4);
    for (const v of new Set(Array.from(pred.raw))) expect([0, 1, 2, 4]).toContain(v);
    const j = JSON.parse(readFileSync(join(dir, 'out', `${subject}.json`), 'utf8')) as { scenes: Record<string, number>; windows: number };
    expect(j.scenes['HGG']! + j.scenes['LGG']!).toBeCloseTo(1, 5); // softmax_ce scene loss → softmax
    // 48×48×16 synthetic volumes, 16×16×4 windows at 50 %: x and y 5 each, z 7.
    expect(j.windows).toBe(5 * 5 * 7);

    const m = await tdc(['metrics', '--gt', join(sdir, `${subject}_seg.nii.gz`), '--pred', join('out', `${subject}_pred.nii.gz`), '--labels', '0,1,2,4', '--regions', 'WT=1,2,4', 'ET=4'], dir);
    expect(m.code, m.err).toBe(0);
    expect(m.out).toMatch(/\nregion\s+Dice\s+HD95 mm\n/);
    expect(m.out).toMatch(/\nWT\s+\d\.\d{3}\s+/);

    const e = await tdc(['eval', 'build'], dir);
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(/class\s+IoU\s+Dice\s+HD95 mm\n/);
    expect(e.out).toMatch(/\nregion\s+Dice\s+HD95 mm\n/);
    expect(e.out).toMatch(/\nTC\s+/);

    const bad = await tdc(['predict', 'build', join(sdir, `${subject}_t1.nii.gz`), '-o', 'out'], dir);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/1 input file for 4 modalities/);
    oneLine(bad.err);
  });
});
