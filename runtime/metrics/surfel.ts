/**
 * DeepMind surface-distance's 2-D contour-element ("surfel") convention, for comparison with published
 * numbers that use it: boundaries live on pixel corners, and every distance is weighted by the length of
 * the marching-squares contour piece it stands for. tdc's own HD95 follows MONAI (see surface.ts); this is
 * the second convention, not an alternative default.
 *
 * Definition (2-D): pad the union's bounding box with one background row/column on each side; the code of
 * the corner between pixels (i−1, j−1), (i−1, j), (i, j−1), (i, j) is 8·TL + 4·TR + 2·BL + 1·BR. Corners whose
 * code is neither 0 nor 15 are contour elements; their length is that of the marching-squares segments
 * through the cell's edge midpoints (one cut corner: half the cell diagonal; a straight cut: one cell side;
 * the two saddles: two half-diagonals). Distances: Euclidean, in mm, from each contour element of one mask to
 * the nearest contour element of the other (EDT with spacing).
 */

import { checkSpacing, edt, volumeSize } from './distance.js';

/** Contour elements of both masks with their distances to the other contour and their lengths (mm). */
export interface SurfelDistances {
  distancesGtToPred: Float64Array;
  distancesPredToGt: Float64Array;
  lengthsGt: Float64Array;
  lengthsPred: Float64Array;
}

/** Marching-squares contour length of each 2×2 code (bits TL=8, TR=4, BL=2, BR=1), axis 0 vertical. */
export function contourLengthTable(spacing: readonly [number, number] | readonly number[]): Float64Array {
  const [v, h] = [spacing[0]!, spacing[1]!];
  const halfDiag = 0.5 * Math.hypot(v, h);
  const t = new Float64Array(16);
  for (let code = 1; code < 15; code++) {
    const bits = [8, 4, 2, 1].filter((b) => code & b).length;
    if (bits === 1 || bits === 3) t[code] = halfDiag; // one corner cut off
    else if (code === 0b0011 || code === 0b1100) t[code] = h; // top or bottom pair: a horizontal cut
    else if (code === 0b0101 || code === 0b1010) t[code] = v; // left or right pair: a vertical cut
    else t[code] = 2 * halfDiag; // saddles 0110, 1001: two corners cut off
  }
  return t;
}

/** Contour elements and distances of two 2-D masks (`shape` = [rows, cols], `spacing` in mm). */
export function surfelDistances2d(
  gt: ArrayLike<number>,
  pred: ArrayLike<number>,
  shape: readonly number[],
  spacing?: readonly number[],
): SurfelDistances {
  if (shape.length !== 2) throw new Error(`surfel distances are 2-D here, got a ${shape.length}-D grid`);
  const n = volumeSize(shape);
  if (gt.length !== n || pred.length !== n) throw new Error(`surfel distances: masks do not match shape [${shape.join(', ')}]`);
  const sp = checkSpacing(shape, spacing);
  const [rows, cols] = [shape[0]!, shape[1]!];
  let r0 = Infinity;
  let r1 = -Infinity;
  let c0 = Infinity;
  let c1 = -Infinity;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (gt[i] !== 0 || pred[i] !== 0) {
        r0 = Math.min(r0, r);
        r1 = Math.max(r1, r);
        c0 = Math.min(c0, c);
        c1 = Math.max(c1, c);
      }
    }
  }
  const none = new Float64Array(0);
  if (r0 === Infinity) return { distancesGtToPred: none, distancesPredToGt: none, lengthsGt: none, lengthsPred: none };
  // Corner grid: one more row and column than the box, so the box's pixels are surrounded by corners.
  const cr = r1 - r0 + 2;
  const cc = c1 - c0 + 2;
  const table = contourLengthTable(sp);
  const codes = (m: ArrayLike<number>) => {
    const at = (r: number, c: number) => (r >= r0 && r <= r1 && c >= c0 && c <= c1 && m[r * cols + c] !== 0 ? 1 : 0);
    const out = new Uint8Array(cr * cc);
    for (let i = 0; i < cr; i++) {
      for (let j = 0; j < cc; j++) {
        const r = r0 + i;
        const c = c0 + j;
        out[i * cc + j] = 8 * at(r - 1, c - 1) + 4 * at(r - 1, c) + 2 * at(r, c - 1) + at(r, c);
      }
    }
    return out;
  };
  const cg = codes(gt);
  const cp = codes(pred);
  const border = (code: Uint8Array) => code.map((v) => (v !== 0 && v !== 15 ? 1 : 0));
  const bg = border(cg);
  const bp = border(cp);
  const dg = edt(bg, [cr, cc], sp); // Infinity everywhere when gt is empty
  const dp = edt(bp, [cr, cc], sp);
  const pick = (where: Uint8Array, values: ArrayLike<number>) => {
    const out: number[] = [];
    for (let i = 0; i < where.length; i++) if (where[i]) out.push(values[i]!);
    return Float64Array.from(out);
  };
  return {
    distancesGtToPred: pick(bg, dp),
    distancesPredToGt: pick(bp, dg),
    lengthsGt: pick(bg, Array.from(cg, (c) => table[c]!)),
    lengthsPred: pick(bp, Array.from(cp, (c) => table[c]!)),
  };
}

/** Length-weighted mean distance in both directions: [gt → pred, pred → gt] (NaN for an empty contour). */
export function surfelAverageDistance(s: SurfelDistances): [number, number] {
  const wmean = (d: Float64Array, w: Float64Array) => {
    let a = 0;
    let b = 0;
    for (let i = 0; i < d.length; i++) {
      a += d[i]! * w[i]!;
      b += w[i]!;
    }
    return a / b;
  };
  return [wmean(s.distancesGtToPred, s.lengthsGt), wmean(s.distancesPredToGt, s.lengthsPred)];
}

/**
 * Length-weighted robust Hausdorff: in each direction, the smallest sorted distance whose cumulative
 * length fraction reaches percent/100; the larger of the two directions (Infinity for an empty contour).
 */
export function surfelRobustHausdorff(s: SurfelDistances, percent: number): number {
  const one = (d: Float64Array, w: Float64Array) => {
    if (d.length === 0) return Infinity;
    const idx = Array.from(d.keys()).sort((a, b) => d[a]! - d[b]! || w[a]! - w[b]!);
    let total = 0;
    for (const i of idx) total += w[i]!;
    let cum = 0;
    for (const i of idx) {
      cum += w[i]!;
      if (cum / total >= percent / 100) return d[i]!;
    }
    return d[idx[idx.length - 1]!]!;
  };
  return Math.max(one(s.distancesGtToPred, s.lengthsGt), one(s.distancesPredToGt, s.lengthsPred));
}

/** Fraction of each contour's length within `toleranceMm` of the other: [gt, pred]. */
export function surfelOverlapAtTolerance(s: SurfelDistances, toleranceMm: number): [number, number] {
  const frac = (d: Float64Array, w: Float64Array) => {
    let a = 0;
    let b = 0;
    for (let i = 0; i < d.length; i++) {
      if (d[i]! <= toleranceMm) a += w[i]!;
      b += w[i]!;
    }
    return a / b;
  };
  return [frac(s.distancesGtToPred, s.lengthsGt), frac(s.distancesPredToGt, s.lengthsPred)];
}

/** Surface Dice at a tolerance: overlapping contour length of both masks over their total length. */
export function surfelDiceAtTolerance(s: SurfelDistances, toleranceMm: number): number {
  let num = 0;
  let den = 0;
  const add = (d: Float64Array, w: Float64Array) => {
    for (let i = 0; i < d.length; i++) {
      if (d[i]! <= toleranceMm) num += w[i]!;
      den += w[i]!;
    }
  };
  add(s.distancesGtToPred, s.lengthsGt);
  add(s.distancesPredToGt, s.lengthsPred);
  return num / den;
}
