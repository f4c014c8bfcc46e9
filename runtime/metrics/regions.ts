/** Evaluation regions built from several labels (BraTS: WT = 1+2+4, TC = 1+4, ET = 4) and their scores. */

import { binaryDice, type EmptyRule } from './confusion.js';
import { volumeSize } from './distance.js';
import { hd95 } from './surface.js';

/** Binary mask (1/0) per region: a voxel is in region r iff its label is one of `regions[r]`. */
export function regionMasks(labels: ArrayLike<number>, regions: Record<string, number[]>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [name, values] of Object.entries(regions)) {
    if (values.length === 0) throw new Error(`region '${name}' has no labels`);
    const set = new Set(values);
    const m = new Uint8Array(labels.length);
    for (let i = 0; i < labels.length; i++) if (set.has(labels[i]!)) m[i] = 1;
    out[name] = m;
  }
  return out;
}

export interface RegionScoreOptions {
  /** Voxel size per axis in the order of `shape` (mm), for HD95. */
  spacing?: readonly number[];
  /** Empty-mask rule of the Dice (default 'nan'); HD95 follows MONAI (both empty NaN, one empty Infinity). */
  empty?: EmptyRule;
}

/** Dice and HD95 (mm) of one region. */
export interface RegionScore {
  dice: number;
  hd95: number;
}

/** Per-region Dice and HD95 of a predicted label map against the ground truth, both of shape `shape`. */
export function regionScores(
  pred: ArrayLike<number>,
  gt: ArrayLike<number>,
  shape: readonly number[],
  regions: Record<string, number[]>,
  opts: RegionScoreOptions = {},
): Record<string, RegionScore> {
  const n = volumeSize(shape);
  if (pred.length !== n || gt.length !== n) {
    throw new Error(`region scores: label maps of ${pred.length} and ${gt.length} values for shape [${shape.join(', ')}]`);
  }
  const pm = regionMasks(pred, regions);
  const gm = regionMasks(gt, regions);
  const out: Record<string, RegionScore> = {};
  for (const name of Object.keys(regions)) {
    out[name] = {
      dice: binaryDice(pm[name]!, gm[name]!, opts.empty),
      hd95: hd95(pm[name]!, gm[name]!, shape, { spacing: opts.spacing }),
    };
  }
  return out;
}
