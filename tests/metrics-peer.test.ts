// Every published case of /work/shared/data/peer_test_suites.json (MONAI, DeepMind, medpy, scikit-image, scipy),
// with the inputs rebuilt as the suites describe them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  averageSurfaceDistance,
  binaryDice,
  binaryIoU,
  confusionMatrix,
  hausdorffDistance,
  hd95,
  nanMean,
  perClassDice,
  perClassIoU,
  surfelAverageDistance,
  surfelDiceAtTolerance,
  surfelDistances2d,
  surfelOverlapAtTolerance,
  surfelRobustHausdorff,
  type DistanceMetric,
  type EmptyRule,
} from '../runtime/metrics/index.js';
import { sharedDataDir } from './helpers/shared-data.js';

const dataDir = `${sharedDataDir()}`;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const suites: any = JSON.parse(readFileSync(`${dataDir}peer_test_suites.json`, 'utf8'));

const SHAPE = [99, 99, 99];

/** MONAI's create_spherical_seg_3d: axis a scaled by spacing[a] and compared with centre[a]. */
function sphere(radius: number, centre: number[], spacing: number[] = [1, 1, 1], shape = SHAPE): Uint8Array {
  const out = new Uint8Array(shape[0]! * shape[1]! * shape[2]!);
  let i = 0;
  for (let a = 0; a < shape[0]!; a++) {
    const da = a * spacing[0]! - centre[0]!;
    for (let b = 0; b < shape[1]!; b++) {
      const db = b * spacing[1]! - centre[1]!;
      for (let c = 0; c < shape[2]!; c++, i++) {
        const dc = c * spacing[2]! - centre[2]!;
        out[i] = da * da + db * db + dc * dc <= radius * radius ? 1 : 0;
      }
    }
  }
  return out;
}

/** Rebuilds a MONAI case mask from its description ("sphere r=20 c=(20,20,20) …", "all zeros", "same"). */
function monaiMask(desc: string, spacing: number[] | undefined, other?: Uint8Array): Uint8Array {
  if (desc === 'same') return other!;
  if (desc === 'all zeros') return new Uint8Array(99 ** 3);
  const m = /sphere r=(\d+) c=\((\d+),(\d+),(\d+)\)/.exec(desc);
  if (!m) throw new Error(`unparsed case description: ${desc}`);
  const sp = / spacing|same spacing/.test(desc) && spacing ? spacing : [1, 1, 1];
  return sphere(Number(m[1]), [Number(m[2]), Number(m[3]), Number(m[4])], sp);
}

/** The published value, to the precision it is stated with (at least MONAI's float32 ~1e-6 relative). */
function expectPublished(actual: number, expected: number | string): void {
  if (expected === 'inf') return void expect(actual).toBe(Infinity);
  if (expected === 'nan') return void expect(actual).toBeNaN();
  const e = expected as number;
  if (!Number.isFinite(e)) return void expect(actual).toBe(e);
  const decimals = (String(e).split('.')[1] ?? '').length;
  const tol = Math.max(1e-6 * Math.abs(e), 0.5 * 10 ** -decimals, 1e-12);
  expect(Math.abs(actual - e), `actual ${actual} vs published ${e}`).toBeLessThanOrEqual(tol);
}

describe('MONAI compute_hausdorff_distance (tests/metrics/test_hausdorff_distance.py)', () => {
  const order: Array<[DistanceMetric, boolean]> = [
    ['euclidean', true],
    ['euclidean', false],
    ['chessboard', true],
    ['chessboard', false],
    ['taxicab', true],
    ['taxicab', false],
  ];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  suites.monai_hausdorff_distance.cases.forEach((c: any, idx: number) => {
    it(`case ${idx}: ${c.pred} vs ${c.gt}${c.percentile ? ` (p${c.percentile})` : ''}`, () => {
      const pred = monaiMask(c.pred, c.spacing ?? undefined);
      const gt = monaiMask(c.gt, c.spacing ?? undefined, pred);
      order.forEach(([metric, directed], j) => {
        const opts = { metric, directed, spacing: c.spacing ?? undefined, percentile: c.percentile };
        const v = hausdorffDistance(pred, gt, SHAPE, opts);
        if (typeof c.expected === 'string') {
          if (c.expected.startsWith('inf')) expect(v).toBe(Infinity);
          else expect(v).toBeNaN(); // both empty: NaN per case, excluded by the aggregate (not_nans = 0)
        } else {
          expectPublished(v, c.expected[j]);
        }
      });
      if (c.percentile === 95) {
        expect(hd95(pred, gt, SHAPE)).toBe(hausdorffDistance(pred, gt, SHAPE, { percentile: 95 }));
      }
    });
  });
});

describe('MONAI compute_average_surface_distance (tests/metrics/test_surface_distance.py)', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  suites.monai_surface_distance.cases.forEach((c: any, idx: number) => {
    it(`case ${idx}: ${c.pred} vs ${c.gt} (${c.metric ?? 'euclidean'})`, () => {
      const pred = monaiMask(c.pred, c.spacing);
      const gt = monaiMask(c.gt, c.spacing, pred);
      const base = { metric: (c.metric ?? 'euclidean') as DistanceMetric, spacing: c.spacing };
      // value_order: symmetric=True (MONAI pools both directed sets), symmetric=False (pred -> gt)
      expectPublished(averageSurfaceDistance(pred, gt, SHAPE, { ...base, symmetric: true }), c.expected[0]);
      expectPublished(averageSurfaceDistance(pred, gt, SHAPE, { ...base, symmetric: false }), c.expected[1]);
    });
  });
  it('both masks empty: NaN (excluded by nanMean), with and without spacing', () => {
    const z = new Uint8Array(99 ** 3);
    expect(averageSurfaceDistance(z, z, SHAPE)).toBeNaN();
    expect(averageSurfaceDistance(z, z, SHAPE, { spacing: [0.85, 1.2, 0.9] })).toBeNaN();
    expect(nanMean([NaN, NaN])).toBeNaN();
  });
});

// MONAI Dice/IoU tensors are [B, C, H, W] of binary channels; score each (b, c) pair.
type Channels = number[][][][];
function perChannel(pred: Channels, gt: Channels, f: (p: number[], g: number[]) => number, skipBackground: boolean): number[][] {
  return pred.map((pb, b) =>
    pb.map((pc, c) => f(pc.flat(), gt[b]![c]!.flat())).slice(skipBackground ? 1 : 0),
  );
}
function expectGrid(actual: number[][], expected: number[][]): void {
  expected.forEach((row, b) => row.forEach((e, c) => expect(Math.abs(actual[b]![c]! - e)).toBeLessThanOrEqual(1e-4)));
}
const diceBy = (rule: EmptyRule) => (p: number[], g: number[]) => binaryDice(p, g, rule);
const iouBy = (rule: EmptyRule) => (p: number[], g: number[]) => binaryIoU(p, g, rule);

// TEST_CASE_3 / 4 / 5 of test_compute_meandice.py (their tensors are not in the JSON).
const CASE3_PRED: Channels = [
  [[[0, 0], [0, 0]], [[0, 0], [0, 0]], [[1, 1], [1, 1]]],
  [[[0, 0], [0, 0]], [[0, 0], [0, 0]], [[1, 1], [1, 1]]],
];
const CASE3_Y: Channels = [
  [[[1, 1], [1, 1]], [[0, 0], [0, 0]], [[0, 0], [0, 0]]],
  [[[0, 1], [1, 0]], [[1, 0], [0, 1]], [[0, 0], [0, 0]]],
];
const CASE45_PRED: Channels = [
  [[[1, 1], [1, 0]], [[0, 1], [0, 0]], [[0, 1], [1, 1]]],
  [[[1, 0], [1, 1]], [[0, 1], [1, 1]], [[0, 1], [1, 0]]],
];
const CASE45_Y: Channels = [
  [[[1, 1], [1, 1]], [[0, 0], [0, 0]], [[0, 0], [0, 0]]],
  [[[0, 0], [0, 1]], [[1, 1], [0, 0]], [[0, 0], [1, 0]]],
];

describe('MONAI Dice (test_compute_meandice.py) and IoU (test_compute_meaniou.py)', () => {
  const dice = suites.monai_dice.cases;
  const iou = suites.monai_iou.cases;
  it('TEST_CASE_1: 0.8 Dice, 0.6667 IoU (binary masks and the confusion matrix agree)', () => {
    const p = dice[0].y_pred.flat();
    const g = dice[0].y.flat();
    expectPublished(binaryDice(p, g, 'monai'), dice[0].expected);
    expect(Math.abs(binaryIoU(iou[0].y_pred.flat(), iou[0].y.flat(), 'monai') - iou[0].expected)).toBeLessThan(1e-4);
    const cm = confusionMatrix(Int32Array.from(p), Int32Array.from(g), 2);
    expect(perClassDice(cm, 2)[1]).toBeCloseTo(0.8, 12);
    expect(perClassIoU(cm, 2)[1]).toBeCloseTo(2 / 3, 12);
  });
  it('TEST_CASE_2: batch 2, 3 channels, background excluded', () => {
    expectGrid(perChannel(dice[1].y_pred, dice[1].y, diceBy('monai'), true), dice[1].expected);
    expectGrid(perChannel(dice[1].y_pred, dice[1].y, iouBy('monai'), true), iou[1].expected);
  });
  it('TEST_CASE_3: empty ground truth gives NaN (ignore_empty=True)', () => {
    const nan = perChannel(CASE3_PRED, CASE3_Y, diceBy('monai'), false).map((r) => r.map(Number.isNaN));
    expect(nan).toEqual([
      [false, true, true],
      [false, false, true],
    ]);
    expect(dice[2].desc).toMatch(/NaN/);
  });
  it('ignore_empty=False: both empty → 1, empty gt with full prediction → 0', () => {
    const zeros = new Array<number>(18).fill(0);
    const ones = new Array<number>(18).fill(1);
    expect(binaryDice(zeros, zeros, 'one')).toBe(dice[3].expected);
    expect(binaryDice(ones, zeros, 'one')).toBe(dice[4].expected);
  });
  it('TEST_CASE_4 (mean_batch over non-NaN) and TEST_CASE_5 (mean over non-NaN)', () => {
    const grid = perChannel(CASE45_PRED, CASE45_Y, diceBy('monai'), false);
    const perClass = [0, 1, 2].map((c) => nanMean(grid.map((r) => r[c]!)));
    perClass.forEach((v, c) => expect(Math.abs(v - dice[5].expected[c])).toBeLessThanOrEqual(1e-4));
    // MONAI reduction 'mean': nanmean over channels per item, then over the batch
    expect(Math.abs(nanMean(grid.map((r) => nanMean(r))) - dice[6].expected)).toBeLessThanOrEqual(1e-6);
  });
  it("the documented 'nan' default differs from 'monai' exactly when the ground truth is empty", () => {
    expect(binaryDice([1, 0], [0, 0], 'nan')).toBe(0);
    expect(binaryDice([1, 0], [0, 0], 'monai')).toBeNaN();
    expect(binaryDice([0, 0], [0, 0], 'nan')).toBeNaN();
    expect(binaryIoU([0, 0], [1, 0], 'monai')).toBe(0);
  });
});

/** 2D / 3D mask with the given voxels set. */
function voxels(shape: number[], points: number[][]): Uint8Array {
  const m = new Uint8Array(shape.reduce((a, b) => a * b, 1));
  for (const p of points) {
    let i = 0;
    for (let a = 0; a < shape.length; a++) i = i * shape[a]! + p[a]!;
    m[i] = 1;
  }
  return m;
}

describe('DeepMind surface-distance cases', () => {
  const c = suites.deepmind_surface_distance.cases;
  const pair = (x: unknown) => (x as Array<number | string>).map((v) => (v === 'inf' ? Infinity : v === 'nan' ? NaN : v));
  it('2D surfel convention: single pixels at 2×1 mm (avg 1.5/1.5, HD 2, overlap 0.5, surface Dice 0.5)', () => {
    const s = surfelDistances2d(voxels([128, 128], [[50, 70]]), voxels([128, 128], [[50, 72]]), [128, 128], c[0].spacing_mm);
    expect(surfelAverageDistance(s)).toEqual(pair(c[0].avg_surface_distance).map((v) => expect.closeTo(v as number, 12)));
    expect(surfelRobustHausdorff(s, 100)).toBeCloseTo(c[0].hd100, 12);
    expect(surfelRobustHausdorff(s, 95)).toBeCloseTo(c[0].hd95, 12);
    expect(surfelOverlapAtTolerance(s, 1)).toEqual(pair(c[0].surface_overlap_at_1mm).map((v) => expect.closeTo(v as number, 12)));
    expect(surfelDiceAtTolerance(s, 1)).toBeCloseTo(c[0].surface_dice_at_1mm, 12);
  });
  it('2D surfel contour of an R×C rectangle has the marching-squares perimeter', () => {
    const [R, C, s0, s1] = [5, 8, 1.5, 0.7];
    const pts: number[][] = [];
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) pts.push([10 + r, 20 + c]);
    const s = surfelDistances2d(voxels([30, 40], pts), voxels([30, 40], pts), [30, 40], [s0, s1]);
    const total = s.lengthsGt.reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(2 * (C - 1) * s1 + 2 * (R - 1) * s0 + 4 * 0.5 * Math.hypot(s0, s1), 12);
    expect(surfelAverageDistance(s)).toEqual([0, 0]);
  });
  it('2D surfel convention: one pixel vs empty, and both empty', () => {
    const empty = new Uint8Array(128 * 128);
    const s = surfelDistances2d(voxels([128, 128], [[50, 70]]), empty, [128, 128], c[1].spacing_mm);
    const [gp, pg] = surfelAverageDistance(s);
    expect([gp, pg]).toEqual(pair(c[1].avg_surface_distance)); // [inf, nan]
    expect(surfelRobustHausdorff(s, 100)).toBe(Infinity);
    expect(surfelRobustHausdorff(s, 95)).toBe(Infinity);
    expect(surfelDiceAtTolerance(s, 1)).toBe(c[1].surface_dice_at_1mm);
    const e = surfelDistances2d(empty, empty, [128, 128]);
    expect(surfelAverageDistance(e)).toEqual([NaN, NaN]);
    expect(surfelRobustHausdorff(e, 95)).toBe(Infinity);
    expect(surfelDiceAtTolerance(e, 1)).toBeNaN();
  });
  it('2D single pixels (50,70) vs (50,72) at 2×1 mm: HD = HD95 = 2 mm, Dice 0', () => {
    const gt = voxels([128, 128], [[50, 70]]);
    const pred = voxels([128, 128], [[50, 72]]);
    expectPublished(hausdorffDistance(pred, gt, [128, 128], { spacing: c[0].spacing_mm }), c[0].hd100);
    expectPublished(hd95(pred, gt, [128, 128], { spacing: c[0].spacing_mm }), c[0].hd95);
    expect(binaryDice(pred, gt)).toBe(c[0].volumetric_dice);
    // voxel-centre distances give 2 mm each way; DeepMind's surfel average 1.5 mm comes from pixel corners
    expect(averageSurfaceDistance(pred, gt, [128, 128], { spacing: c[0].spacing_mm })).toBe(2);
  });
  it('one pixel vs empty: Infinity (DeepMind: inf); both empty: NaN Dice', () => {
    const gt = voxels([128, 128], [[50, 70]]);
    const empty = new Uint8Array(128 * 128);
    expect(hausdorffDistance(empty, gt, [128, 128], { spacing: c[1].spacing_mm })).toBe(Infinity);
    expect(hd95(empty, gt, [128, 128])).toBe(Infinity);
    expect(binaryDice(empty, gt)).toBe(c[1].volumetric_dice);
    expect(binaryDice(empty, empty)).toBeNaN(); // c[2].volumetric_dice
    expect(c[2].volumetric_dice).toBe('nan');
    // DeepMind reports HD inf for two empty masks; MONAI (and tdc) NaN, so they drop out of the mean
    expect(hausdorffDistance(empty, empty, [128, 128])).toBeNaN();
  });
  // 3D surfel areas (DeepMind's 256-code marching-cubes table) are not implemented: the 3D cases check
  // the values both conventions share (HD, HD95, volumetric Dice).
  it('3D voxels (50,60,70) vs (50,60,72) at 3×2×1 mm: HD = HD95 = 2 mm', () => {
    const shape = [128, 128, 128];
    const gt = voxels(shape, [[50, 60, 70]]);
    const pred = voxels(shape, [[50, 60, 72]]);
    expectPublished(hausdorffDistance(pred, gt, shape, { spacing: c[3].spacing_mm }), c[3].hd100);
    expectPublished(hd95(pred, gt, shape, { spacing: c[3].spacing_mm }), c[3].hd95);
  });
  it('3D slabs gt[0:50] vs pred[0:51] at 2×1×1 mm: HD 2 mm, Dice 0.990099', () => {
    const shape = [100, 100, 100];
    const gt = new Uint8Array(100 ** 3).fill(1, 0, 50 * 100 * 100);
    const pred = new Uint8Array(100 ** 3).fill(1, 0, 51 * 100 * 100);
    expectPublished(hausdorffDistance(pred, gt, shape, { spacing: c[4].spacing_mm }), c[4].hd100);
    expectPublished(hd95(pred, gt, shape, { spacing: c[4].spacing_mm }), c[4].hd95);
    expect(binaryDice(pred, gt)).toBeCloseTo(c[4].reproduced_here.dice, 12);
    expect(Math.abs(binaryDice(pred, gt) - c[4].volumetric_dice)).toBeLessThan(0.005);
  });
});

describe('medpy binary metrics (asd, assd)', () => {
  const c = suites.medpy_binary.cases;
  it('[1,0] vs [0,1]: asd = assd = 1, and 2 with spacing 2', () => {
    expect(averageSurfaceDistance(c[0].result, c[0].reference, [2], { symmetric: false })).toBe(c[0].asd);
    expect(averageSurfaceDistance(c[0].result, c[0].reference, [2], { combine: 'mean' })).toBe(c[0].assd);
    const sp = { spacing: c[1].voxelspacing };
    expect(averageSurfaceDistance(c[1].result, c[1].reference, [2], { ...sp, symmetric: false })).toBe(c[1].asd);
    expect(averageSurfaceDistance(c[1].result, c[1].reference, [2], { ...sp, combine: 'mean' })).toBe(c[1].assd);
  });
  it('4×4 L vs Γ: asd is asymmetric, assd symmetric', () => {
    const a = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0];
    const b = [1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    const ab = averageSurfaceDistance(a, b, [4, 4], { symmetric: false });
    const ba = averageSurfaceDistance(b, a, [4, 4], { symmetric: false });
    expect(ab).not.toBeCloseTo(ba, 6);
    // every voxel is a boundary voxel here: a→b distances 0,0,0,1,√2 ; b→a 0,1,0,0
    expect(ab).toBeCloseTo((1 + Math.SQRT2) / 5, 12);
    expect(ba).toBeCloseTo(1 / 4, 12);
    for (const combine of ['mean', 'pooled'] as const) {
      expect(averageSurfaceDistance(a, b, [4, 4], { combine })).toBeCloseTo(averageSurfaceDistance(b, a, [4, 4], { combine }), 12);
    }
  });
});

describe('scikit-image hausdorff_distance and scipy directed_hausdorff (point sets = isolated pixels)', () => {
  const sk = suites.scikit_image_hausdorff.cases;
  it('single pixels (3,0) and (6,0): 3', () => {
    expect(hausdorffDistance(voxels([10, 10], [[3, 0]]), voxels([10, 10], [[6, 0]]), [10, 10])).toBe(sk[0].expected);
  });
  it('diamond vs kite on 60×60: 10', () => {
    const a = voxels([60, 60], [[30, 40], [40, 30], [30, 20], [20, 30]]);
    const b = voxels([60, 60], [[30, 50], [45, 30], [30, 10], [15, 30]]);
    expect(hausdorffDistance(a, b, [60, 60])).toBe(sk[1].expected);
  });
  it('empty input: skimage returns 0, tdc (like MONAI) returns Infinity', () => {
    expect(sk[2].expected).toBe(0);
    expect(hausdorffDistance(new Uint8Array(100), voxels([10, 10], [[1, 1]]), [10, 10])).toBe(Infinity);
  });
  it('scipy docstring: directed u→v = √5, v→u = 3', () => {
    const s = suites.scipy_directed_hausdorff.cases[0];
    const shift = (pts: number[][]) => pts.map(([x, y]) => [x! + 4, y! + 4]);
    const u = voxels([9, 9], shift(s.u));
    const v = voxels([9, 9], shift(s.v));
    expect(hausdorffDistance(u, v, [9, 9], { directed: true })).toBeCloseTo(s.directed_u_to_v, 12);
    expect(hausdorffDistance(v, u, [9, 9], { directed: true })).toBeCloseTo(s.directed_v_to_u, 12);
    expect(hausdorffDistance(u, v, [9, 9])).toBeCloseTo(3, 12);
  });
});
