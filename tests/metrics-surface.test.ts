// Distance transforms and surface distances vs brute-force float64 references (all pairs), plus overlap and region metrics.
import { describe, expect, it } from 'vitest';
import {
  addConfusion,
  averageSurfaceDistance,
  boundary,
  chamferDistance,
  confusionMatrix,
  edt,
  hausdorffDistance,
  hd95,
  meanDice,
  meanIoU,
  percentile,
  perClassIoU,
  regionMasks,
  regionScores,
  binaryDice,
  type DistanceMetric,
} from '../runtime/metrics/index.js';
import { Rng } from '../runtime/rng.js';

// ---------- brute-force references ----------

function coordsOf(i: number, shape: number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    c[a] = i % shape[a]!;
    i = Math.floor(i / shape[a]!);
  }
  return c;
}
function indexOf(c: number[], shape: number[]): number {
  return c.reduce((acc, x, a) => acc * shape[a]! + x, 0);
}
/** Boundary by definition: foreground with a face neighbour that is background or outside the grid. */
function bruteBoundary(mask: Uint8Array, shape: number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const c = coordsOf(i, shape);
    let edge = false;
    for (let a = 0; a < shape.length; a++) {
      for (const s of [-1, 1]) {
        const n = [...c];
        n[a]! += s;
        if (n[a]! < 0 || n[a]! >= shape[a]! || !mask[indexOf(n, shape)]) edge = true;
      }
    }
    if (edge) out.push(c);
  }
  return out;
}
function dist(p: number[], q: number[], sp: number[], metric: DistanceMetric): number {
  const d = p.map((x, a) => Math.abs(x - q[a]!));
  if (metric === 'chessboard') return Math.max(...d);
  if (metric === 'taxicab') return d.reduce((s, x) => s + x, 0);
  return Math.sqrt(d.reduce((s, x, a) => s + (x * sp[a]!) ** 2, 0));
}
function directed(A: number[][], B: number[][], sp: number[], metric: DistanceMetric): number[] {
  return A.map((p) => Math.min(...B.map((q) => dist(p, q, sp, metric))));
}
/** numpy 'linear' percentile, written from numpy's documented definition. */
function npPercentile(v: number[], q: number): number {
  const s = [...v].sort((x, y) => x - y);
  const h = (s.length - 1) * (q / 100);
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * ((s[Math.min(lo + 1, s.length - 1)] ?? 0) - s[lo]!);
}

function randomMask(rng: Rng, shape: number[], p: number): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const m = new Uint8Array(n);
  // blobs: threshold a random field smoothed by one box pass, so masks have interiors and boundaries
  const f = Float64Array.from({ length: n }, () => rng.next());
  for (let i = 0; i < n; i++) {
    const c = coordsOf(i, shape);
    let s = 0;
    let k = 0;
    for (let a = 0; a < shape.length; a++) {
      for (const d of [-1, 0, 1]) {
        const q = [...c];
        q[a]! += d;
        if (q[a]! >= 0 && q[a]! < shape[a]!) {
          s += f[indexOf(q, shape)]!;
          k++;
        }
      }
    }
    m[i] = s / k < p ? 1 : 0;
  }
  return m;
}

// ---------- tests ----------

describe('distance transforms', () => {
  it('scipy distance_transform_edt docstring example, isotropic and sampling [2, 1]', () => {
    const a = [0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0];
    const feature = a.map((v) => (v === 0 ? 1 : 0)); // scipy measures to the nearest zero
    const iso = [0, 1, 1.4142, 2.2361, 3, 0, 0, 1, 2, 2, 0, 1, 1.4142, 1.4142, 1, 0, 1, 1.4142, 1, 0, 0, 1, 1, 0, 0];
    const aniso = [0, 1, 2, 2.8284, 3.6056, 0, 0, 1, 2, 3, 0, 1, 2, 2.2361, 2, 0, 1, 2, 1, 0, 0, 1, 1, 0, 0];
    edt(feature, [5, 5]).forEach((v, i) => expect(v).toBeCloseTo(iso[i]!, 4));
    edt(feature, [5, 5], [2, 1]).forEach((v, i) => expect(v).toBeCloseTo(aniso[i]!, 4));
  });
  it('Euclidean EDT and chamfer transforms equal brute force (1D, 2D, 3D, anisotropic)', () => {
    const rng = new Rng(7);
    const cases: Array<[number[], number[]]> = [
      [[17], [0.6]],
      [[9, 12], [1.7, 0.4]],
      [[6, 7, 5], [2.5, 0.8, 1.3]],
    ];
    for (const [shape, sp] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const feature = Uint8Array.from({ length: n }, () => (rng.next() < 0.08 ? 1 : 0));
      feature[rng.int(n)] = 1;
      const pts = [...feature.keys()].filter((i) => feature[i]).map((i) => coordsOf(i, shape));
      const e = edt(feature, shape, sp);
      const cb = chamferDistance(feature, shape, 'chessboard');
      const tc = chamferDistance(feature, shape, 'taxicab');
      for (let i = 0; i < n; i++) {
        const c = coordsOf(i, shape);
        expect(e[i]).toBeCloseTo(Math.min(...pts.map((q) => dist(c, q, sp, 'euclidean'))), 10);
        expect(cb[i]).toBe(Math.min(...pts.map((q) => dist(c, q, sp, 'chessboard'))));
        expect(tc[i]).toBe(Math.min(...pts.map((q) => dist(c, q, sp, 'taxicab'))));
      }
    }
  });
  it('no feature voxel: Infinity everywhere; bad spacing is one clear error', () => {
    expect(Array.from(edt(new Uint8Array(6), [2, 3]))).toEqual(new Array(6).fill(Infinity));
    expect(() => edt(new Uint8Array(6), [2, 3], [1])).toThrow(/spacing has 1 values for a 2-D grid/);
    expect(() => edt(new Uint8Array(6), [2, 3], [1, 0])).toThrow(/positive/);
  });
});

describe('boundary and percentile', () => {
  it('boundary uses the cross structuring element and a background border', () => {
    const m = new Uint8Array(25);
    for (let r = 1; r < 4; r++) for (let c = 1; c < 4; c++) m[r * 5 + c] = 1;
    const b = boundary(m, [5, 5]);
    expect(b[12]).toBe(0); // centre survives the erosion
    expect([...b].reduce((s, v) => s + v, 0)).toBe(8);
    // a full grid: only the grid's border is boundary
    const full = boundary(new Uint8Array(16).fill(1), [4, 4]);
    expect([...full]).toEqual([1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
  });
  it('matches numpy percentile (linear) on known values', () => {
    // numpy 1.x/2.x: np.percentile([1,2,3,4],95)=3.85, ([0,10],95)=9.5, (1..10,95)=9.55, ([7,1,4,9,2],37)=2.96
    expect(percentile([4, 2, 3, 1], 95)).toBeCloseTo(3.85, 12);
    expect(percentile([10, 0], 95)).toBeCloseTo(9.5, 12);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBeCloseTo(9.55, 12);
    expect(percentile([7, 1, 4, 9, 2], 37)).toBeCloseTo(2.96, 12);
    expect(percentile([5], 95)).toBe(5);
    expect(percentile([], 95)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(/\[0, 100\]/);
  });
});

describe('surface distances vs all-pairs brute force on random masks', () => {
  const cases: Array<[string, number[], number[]]> = [
    ['2D', [14, 17], [0.7, 1.9]],
    ['3D', [8, 9, 7], [2.2, 0.6, 1.1]],
    ['3D isotropic', [7, 7, 7], [1, 1, 1]],
  ];
  for (const [name, shape, sp] of cases) {
    it(`${name} ${shape.join('×')} spacing ${sp.join('×')}`, () => {
      const rng = new Rng(shape.length * 100 + shape[0]!);
      for (let trial = 0; trial < 3; trial++) {
        const pred = randomMask(rng, shape, 0.45);
        const gt = randomMask(rng, shape, 0.45);
        const bp = bruteBoundary(pred, shape);
        const bg = bruteBoundary(gt, shape);
        expect(bp.length).toBeGreaterThan(3);
        expect(bg.length).toBeGreaterThan(3);
        expect(boundary(pred, shape).reduce((s, v) => s + v, 0)).toBe(bp.length);
        for (const metric of ['euclidean', 'chessboard', 'taxicab'] as const) {
          const msp = metric === 'euclidean' ? sp : shape.map(() => 1); // chamfer metrics ignore spacing
          const ab = directed(bp, bg, msp, metric);
          const ba = directed(bg, bp, msp, metric);
          const o = { spacing: sp, metric };
          expect(hausdorffDistance(pred, gt, shape, o)).toBeCloseTo(Math.max(...ab, ...ba), 10);
          expect(hausdorffDistance(pred, gt, shape, { ...o, directed: true })).toBeCloseTo(Math.max(...ab), 10);
          expect(hd95(pred, gt, shape, o)).toBeCloseTo(Math.max(npPercentile(ab, 95), npPercentile(ba, 95)), 10);
          expect(hd95(pred, gt, shape, { ...o, directed: true })).toBeCloseTo(npPercentile(ab, 95), 10);
          const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
          expect(averageSurfaceDistance(pred, gt, shape, o)).toBeCloseTo(mean([...ab, ...ba]), 10);
          expect(averageSurfaceDistance(pred, gt, shape, { ...o, symmetric: false })).toBeCloseTo(mean(ab), 10);
          expect(averageSurfaceDistance(pred, gt, shape, { ...o, combine: 'mean' })).toBeCloseTo((mean(ab) + mean(ba)) / 2, 10);
        }
      }
    });
  }
  it('masks touching the grid border and a small object far from a big one', () => {
    const shape = [12, 15];
    const pred = new Uint8Array(180);
    const gt = new Uint8Array(180);
    for (let c = 0; c < 15; c++) pred[c] = 1; // first row
    gt[11 * 15 + 14] = 1; // last corner
    const ab = directed(bruteBoundary(pred, shape), bruteBoundary(gt, shape), [1.5, 0.5], 'euclidean');
    const ba = directed(bruteBoundary(gt, shape), bruteBoundary(pred, shape), [1.5, 0.5], 'euclidean');
    expect(hausdorffDistance(pred, gt, shape, { spacing: [1.5, 0.5] })).toBeCloseTo(Math.max(...ab, ...ba), 12);
  });
  it('a 240×240×155 BraTS-sized volume: HD95 through the EDT (time printed, not asserted)', () => {
    const shape = [155, 240, 240];
    const pred = new Uint8Array(155 * 240 * 240);
    const gt = new Uint8Array(155 * 240 * 240);
    for (let z = 0; z < 155; z++)
      for (let y = 0; y < 240; y++)
        for (let x = 0; x < 240; x++) {
          const i = (z * 240 + y) * 240 + x;
          const r2 = ((z - 77) / 1.2) ** 2 + (y - 120) ** 2 + (x - 110) ** 2;
          if (r2 <= 35 ** 2) gt[i] = 1;
          if ((z - 80) ** 2 + (y - 118) ** 2 + (x - 115) ** 2 <= 33 ** 2 || (z - 40) ** 2 + (y - 60) ** 2 + (x - 60) ** 2 <= 25) pred[i] = 1;
        }
    const t0 = performance.now();
    const v = hd95(pred, gt, shape, { spacing: [1, 1, 1] });
    console.log(`hd95 on 240×240×155: ${v.toFixed(3)} mm in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(v).toBeGreaterThan(5);
    expect(Number.isFinite(v)).toBe(true);
  });
});

describe('confusion matrix, IoU, Dice and regions', () => {
  it('confusion matrix counts, per-class and mean IoU / Dice with the empty rules', () => {
    const gt = Int32Array.from([0, 0, 1, 1, 2, 2, 0, 1]);
    const pred = Int32Array.from([0, 1, 1, 1, 2, 0, 0, 0]);
    const cm = confusionMatrix(pred, gt, 4);
    expect(Array.from(cm.slice(0, 4))).toEqual([2, 1, 0, 0]); // gt 0 → pred 0,0,1
    const iou = perClassIoU(cm, 4);
    expect(iou.slice(0, 3)).toEqual([2 / 5, 2 / 4, 1 / 2]);
    expect(iou[3]).toBeNaN(); // class 3 absent from both
    expect(perClassIoU(cm, 4, 'one')[3]).toBe(1);
    expect(meanIoU(cm, 4)).toBeCloseTo((0.4 + 0.5 + 0.5) / 3, 12);
    expect(meanIoU(cm, 4, { excludeBackground: true })).toBeCloseTo(0.5, 12);
    expect(meanDice(cm, 4)).toBeCloseTo((4 / 7 + 4 / 6 + 2 / 3) / 3, 12);
    expect(Array.from(addConfusion(new Float64Array(16), cm))).toEqual(Array.from(cm));
    expect(() => confusionMatrix(Int32Array.from([5]), Int32Array.from([0]), 4)).toThrow(/label 5 at index 0 is not a class id in 0\.\.3/);
    expect(() => confusionMatrix(Uint8Array.from([1, 2]), Uint8Array.from([0]), 4)).toThrow(/2 values, ground truth 1/);
  });
  it('BraTS regions: WT = 1+2+4, TC = 1+4, ET = 4; scores equal the per-mask metrics', () => {
    const shape = [3, 4, 5];
    const rng = new Rng(99);
    const labs = [0, 1, 2, 4];
    const gt = Uint8Array.from({ length: 60 }, () => labs[rng.int(4)]!);
    const pred = Uint8Array.from({ length: 60 }, () => labs[rng.int(4)]!);
    const regions = { WT: [1, 2, 4], TC: [1, 4], ET: [4] };
    const gm = regionMasks(gt, regions);
    for (let i = 0; i < 60; i++) {
      expect(gm.WT![i]).toBe(gt[i]! > 0 ? 1 : 0);
      expect(gm.TC![i]).toBe(gt[i] === 1 || gt[i] === 4 ? 1 : 0);
      expect(gm.ET![i]).toBe(gt[i] === 4 ? 1 : 0);
    }
    const pm = regionMasks(pred, regions);
    const s = regionScores(pred, gt, shape, regions, { spacing: [2, 1, 1] });
    for (const r of ['WT', 'TC', 'ET']) {
      expect(s[r]!.dice).toBe(binaryDice(pm[r]!, gm[r]!));
      expect(s[r]!.hd95).toBe(hd95(pm[r]!, gm[r]!, shape, { spacing: [2, 1, 1] }));
    }
    expect(() => regionMasks(gt, { X: [] })).toThrow(/region 'X' has no labels/);
  });
});
