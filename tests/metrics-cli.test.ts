/**
 * `tdc metrics` through the CLI in-process: folders paired by name, PNG palette indices and grey values,
 * NIfTI spacing from the header (a case whose HD95 / ASSD are known by hand), regions, and one-line errors.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../compiler/cli/main.js';
import { encodePng, writeNiftiFile } from '../runtime/io/index.js';
import { sharedDataDir } from './helpers/shared-data.js';

const work = mkdtempSync(join(tmpdir(), 'tdc-metrics-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function tdc(args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => void (out += s), err: (s) => void (err += s), color: false });
  return { code, out, err };
}

const palette: [number, number, number][] = [
  [0, 0, 0],
  [255, 0, 0],
  [0, 255, 0],
];

function indexedPng(file: string, ids: number[], w: number, h: number) {
  writeFileSync(file, encodePng({ width: w, height: h, channels: 1, data: ids, palette, indices: ids }));
}
function greyPng(file: string, ids: number[], w: number, h: number) {
  writeFileSync(file, encodePng({ width: w, height: h, channels: 1, data: ids }));
}

/** Deterministic label maps of 0..2. */
function labels(seed: number, n: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % 3;
  });
}

describe('tdc metrics on PNG folders', () => {
  const gt = join(work, 'gt');
  const pred = join(work, 'pred');
  const [w, h] = [7, 5];
  const pairs = [
    { name: 'a', g: labels(1, 35), p: labels(2, 35) },
    { name: 'b', g: labels(3, 35), p: labels(3, 35).map((v, i) => (i % 4 === 0 ? (v + 1) % 3 : v)) },
  ];
  mkdirSync(gt, { recursive: true });
  mkdirSync(pred, { recursive: true });
  for (const p of pairs) {
    indexedPng(join(gt, `${p.name}.png`), p.g, w, h);
    greyPng(join(pred, `${p.name}_pred.png`), p.p, w, h);
  }
  writeFileSync(join(pred, 'a.json'), '{}'); // predict's side files are not masks

  it('pairs by name; Dice / IoU per pair then averaged (the paper) and pooled over all pixels (plain counts)', async () => {
    const r = await tdc(['metrics', '--gt', gt, '--pred', pred, '--classes', '3', '--json', '--no-distances']);
    expect(r.code, r.err).toBe(0);
    type Scores = { label: number; dice: number; iou: number; dicePooled: number; iouPooled: number };
    const j = JSON.parse(r.out) as { classes: Scores[]; mean: { dice: number; iou: number; dicePooled: number; iouPooled: number } };
    const counts = (c: number, which: typeof pairs) => {
      let [tp, fp, fn] = [0, 0, 0];
      for (const p of which) {
        p.g.forEach((g, i) => {
          const q = p.p[i]!;
          if (g === c && q === c) tp++;
          else if (q === c) fp++;
          else if (g === c) fn++;
        });
      }
      return { dice: (2 * tp) / (2 * tp + fp + fn), iou: tp / (tp + fp + fn) };
    };
    const pooled = [0, 1, 2].map((c) => counts(c, pairs));
    const perPair = [0, 1, 2].map((c) => {
      const v = pairs.map((p) => counts(c, [p]));
      return { dice: (v[0]!.dice + v[1]!.dice) / 2, iou: (v[0]!.iou + v[1]!.iou) / 2 };
    });
    for (let c = 0; c < 3; c++) {
      expect(j.classes[c]!.label).toBe(c);
      expect(j.classes[c]!.dicePooled).toBeCloseTo(pooled[c]!.dice, 6);
      expect(j.classes[c]!.iouPooled).toBeCloseTo(pooled[c]!.iou, 6);
      expect(j.classes[c]!.dice).toBeCloseTo(perPair[c]!.dice, 6);
      expect(j.classes[c]!.iou).toBeCloseTo(perPair[c]!.iou, 6);
    }
    // The two figures differ on these two images (one much better than the other).
    expect(Math.abs(j.mean.iou - j.mean.iouPooled)).toBeGreaterThan(1e-3);
    // Three classes: the mean leaves out the first (background).
    expect(j.mean.dicePooled).toBeCloseTo((pooled[1]!.dice + pooled[2]!.dice) / 2, 6);
    expect(j.mean.iou).toBeCloseTo((perPair[1]!.iou + perPair[2]!.iou) / 2, 6);
  });

  it('prints a table with the means', async () => {
    const r = await tdc(['metrics', '--gt', gt, '--pred', pred]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^2 pairs;/);
    // PNG distances are in pixels, not millimetres.
    expect(r.out).toMatch(/label\s+Dice\s+IoU\s+Dice pooled\s+IoU pooled\s+HD px\s+HD95 px\s+ASSD px/);
    expect(r.out).toMatch(/\nmean \(without first label\)\s+\d\.\d{3}/);
  });

  it('a missing pair, a shape mismatch and an RGB mask are one line each, exit 1', async () => {
    const lonely = join(work, 'lonely');
    mkdirSync(lonely, { recursive: true });
    indexedPng(join(lonely, 'a.png'), pairs[0]!.g, w, h);
    indexedPng(join(lonely, 'c.png'), pairs[0]!.g, w, h);
    // A missing prediction is named, the rest is scored, and the exit status is 1.
    let r = await tdc(['metrics', '--gt', lonely, '--pred', pred, '--json']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tdc: .*lonely\/c\.png: no prediction for it in .*; left out\n/);
    const partial = JSON.parse(r.out) as { pairs: unknown[]; missing: { pred: string[]; gt: string[] } };
    expect(partial.pairs).toHaveLength(1);
    expect(partial.missing.pred.map((f) => f.replace(/.*\//, ''))).toEqual(['c.png']);
    expect(partial.missing.gt.map((f) => f.replace(/.*\//, ''))).toEqual(['b_pred.png']);

    const small = join(work, 'small.png');
    greyPng(small, [0, 1, 2, 1], 2, 2);
    r = await tdc(['metrics', '--gt', join(gt, 'a.png'), '--pred', small]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tdc: .*small\.png: shape 2×2 differs from its ground truth .*a\.png \(5×7\)\n$/);

    const rgb = join(work, 'rgb.png');
    writeFileSync(rgb, encodePng({ width: 2, height: 2, channels: 3, data: [9, 9, 9, 1, 2, 3, 0, 0, 0, 4, 4, 4] }));
    r = await tdc(['metrics', '--gt', rgb, '--pred', small]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tdc: .*rgb\.png: an RGB image with colour \(1, 2, 3\); a mask must hold class ids/);
    // Grey values stored as RGB are accepted.
    const greyRgb = join(work, 'grey-rgb.png');
    writeFileSync(greyRgb, encodePng({ width: 2, height: 2, channels: 3, data: [0, 0, 0, 1, 1, 1, 2, 2, 2, 1, 1, 1] }));
    r = await tdc(['metrics', '--gt', greyRgb, '--pred', small, '--classes', '3', '--json', '--no-distances']);
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as { classes: { dice: number }[] }).classes.map((c) => c.dice)).toEqual([1, 1, 1]);

    r = await tdc(['metrics', '--gt', join(work, 'none'), '--pred', small]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/none: no such file or folder \(--gt\)/);

    r = await tdc(['metrics', '--gt', gt, '--pred', join(gt, 'a.png')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/is a folder but --pred .* is a file/);
  });

  it('usage errors exit 2', async () => {
    let r = await tdc(['metrics', '--gt', gt, '--pred', pred, '--classes', '3', '--labels', '0,1']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/give --classes or --labels, not both/);
    r = await tdc(['metrics', '--gt', gt, '--pred', pred, '--labels', '0,x']);
    expect(r.code).toBe(2);
    r = await tdc(['metrics', '--gt', gt, '--pred', pred, '--classes', '3', '--regions', 'WT=7']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/region WT: label 7 is not one of the labels 0, 1, 2/);
    r = await tdc(['metrics', '--gt', gt]);
    expect(r.code).toBe(2);
    r = await tdc(['metrics', '--gt', gt, '--pred', pred, '--classes', '2']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/value 2 is not one of the labels 0, 1/);
  });
});

describe('tdc metrics on NIfTI label maps', () => {
  // x 4, y 5, z 6 with 2.5 mm slices: a one-voxel-thick plane is all boundary, so moving it one slice makes
  // every surface distance exactly 2.5 mm — HD95 = ASSD = 2.5 (1 if the spacing were read on the wrong axis).
  const dims = [4, 5, 6];
  const plane = (z: number, value: number) => Array.from({ length: 120 }, (_, i) => (Math.floor(i / 20) === z ? value : 0));

  it('takes the spacing from the header: HD95 and ASSD of planes one slice apart are the slice thickness', async () => {
    const g = join(work, 'case_seg.nii.gz');
    const p = join(work, 'case_pred.nii.gz');
    await writeNiftiFile(g, { dims, spacing: [1, 1, 2.5], datatype: 'uint8', data: plane(1, 4) });
    await writeNiftiFile(p, { dims, spacing: [1, 1, 2.5], datatype: 'uint8', data: plane(2, 4) });
    const r = await tdc(['metrics', '--gt', g, '--pred', p, '--labels', '0,4', '--regions', 'ET=4', '--json']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as {
      classes: { label: number; dice: number; hd95: number; assd: number }[];
      regions: Record<string, { dice: number; hd95: number }>;
    };
    expect(j.classes[1]!.label).toBe(4);
    expect(j.classes[1]!.dice).toBe(0);
    expect(j.classes[1]!.hd95).toBeCloseTo(2.5, 6);
    expect(j.classes[1]!.assd).toBeCloseTo(2.5, 6);
    // Background: 120 voxels, 20 in each plane → tp 80, fp 20, fn 20.
    expect(j.classes[0]!.dice).toBeCloseTo(160 / 200, 6);
    expect(j.regions['ET']!.dice).toBe(0);
    expect(j.regions['ET']!.hd95).toBeCloseTo(2.5, 6);

    const same = await tdc(['metrics', '--gt', g, '--pred', g, '--labels', '0,4', '--json']);
    const s = JSON.parse(same.out) as { classes: { dice: number; hd95: number }[] };
    expect(s.classes[1]).toMatchObject({ dice: 1, hd95: 0 });
  });

  it('a class predicted where the ground truth has none: infinite distance, reported as such', async () => {
    const g = join(work, 'empty_seg.nii.gz');
    const p = join(work, 'empty_pred.nii.gz');
    await writeNiftiFile(g, { dims, spacing: [1, 1, 1], datatype: 'uint8', data: plane(1, 0) });
    await writeNiftiFile(p, { dims, spacing: [1, 1, 1], datatype: 'uint8', data: plane(1, 2) });
    const r = await tdc(['metrics', '--gt', g, '--pred', p, '--labels', '0,2']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/\n2\s+0\.000\s+0\.000\s+0\.000\s+0\.000\s+∞\s+∞\s+∞\n/);
    expect(r.out).toMatch(/present in only one of the two masks .*: 2 ×1/);
  });
});

describe('tdc metrics HD: MONAI compute_hausdorff_distance published cases (euclidean, symmetric, 100th percentile)', () => {
  // tests/metrics/test_hausdorff_distance.py cases 1 and 3 (/work/shared/data/peer_test_suites.json), written as
  // NIfTI label maps of 99³ voxels: array axis a is NIfTI z, so the spacing is written reversed.
  const sphere = (r: number, c: number[], sp = [1, 1, 1]) => {
    const out = new Uint8Array(99 ** 3);
    let i = 0;
    for (let a = 0; a < 99; a++)
      for (let b = 0; b < 99; b++)
        for (let k = 0; k < 99; k++, i++) out[i] = (a * sp[0]! - c[0]!) ** 2 + (b * sp[1]! - c[1]!) ** 2 + (k * sp[2]! - c[2]!) ** 2 <= r * r ? 1 : 0;
    return out;
  };
  const cases = [
    { pred: sphere(20, [20, 20, 20]), gt: sphere(20, [19, 19, 19]), spacing: [1, 1, 1], hd: 1.7320508075688772 },
    { pred: sphere(20, [20, 33, 22]), gt: sphere(40, [20, 33, 22]), spacing: [1, 1, 1], hd: 20.223748416156685 },
  ];
  it('tdc metrics --json gives MONAI\'s values', async () => {
    for (const [i, c] of cases.entries()) {
      const g = join(work, `monai${i}_seg.nii`);
      const p = join(work, `monai${i}_pred.nii`);
      const spacing = [...c.spacing].reverse();
      await writeNiftiFile(g, { dims: [99, 99, 99], spacing, datatype: 'uint8', data: c.gt });
      await writeNiftiFile(p, { dims: [99, 99, 99], spacing, datatype: 'uint8', data: c.pred });
      const r = await tdc(['metrics', '--gt', g, '--pred', p, '--labels', '0,1', '--json']);
      expect(r.code, r.err).toBe(0);
      const j = JSON.parse(r.out) as { distanceUnit: string; classes: { hd: number }[] };
      expect(j.distanceUnit).toBe('mm');
      expect(j.classes[1]!.hd).toBeCloseTo(c.hd, 5);
    }
  });
  it('warns when a prediction\'s affine differs from its ground truth\'s, and still scores it', async () => {
    const g = join(work, 'shifted_seg.nii');
    const p = join(work, 'shifted_pred.nii');
    const data = Array.from({ length: 27 }, (_, i) => (i % 2));
    await writeNiftiFile(g, { dims: [3, 3, 3], spacing: [1, 1, 1], datatype: 'uint8', data, affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]] });
    await writeNiftiFile(p, { dims: [3, 3, 3], spacing: [1, 1, 1], datatype: 'uint8', data, affine: [[1, 0, 0, 5], [0, 1, 0, 0], [0, 0, 1, 0]] });
    const r = await tdc(['metrics', '--gt', g, '--pred', p, '--labels', '0,1']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^warning: .*shifted_pred\.nii: its affine differs from its ground truth's/);
  });
});

describe('tdc metrics on real segmentations (sct_testing_data, see ../shared/data/README.md)', () => {
  const sct = `${sharedDataDir()}nifti/sct/`;

  it('t2s cord, DeepSeg (an int64 file) vs manual at 0.5×0.5×7.5 mm: the scipy / MONAI-recipe values', async () => {
    const r = await tdc(['metrics', '--gt', join(sct, 't2s_seg.nii.gz'), '--pred', join(sct, 't2s_seg-deepseg.nii.gz'), '--json']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { labels: number[]; classes: { dice: number; hd95: number; assd: number }[] };
    expect(j.labels).toEqual([0, 1]);
    // Published alongside the data (tests/metrics-real.test.ts): scipy 1.17 with MONAI's recipe.
    expect(j.classes[1]!.dice).toBeCloseTo(0.9091591591591591, 5);
    expect(j.classes[1]!.hd95).toBeCloseTo(0.7071067811865476, 5);
    expect(j.classes[1]!.assd).toBeCloseTo(0.18019587733568565, 5);
  });
});
