/** Overlap metrics (confusion matrix, IoU, Dice) over label maps and binary masks, in plain TypeScript. */

/** Integer label maps as they come out of argmax or a mask file. */
export type LabelArray = Int32Array | Uint8Array | Uint16Array | Int16Array | Uint32Array | Int8Array | ArrayLike<number>;

/**
 * How a class that is empty in the ground truth is scored (the same rules for IoU and Dice):
 * - 'nan' (default): both prediction and ground truth empty → NaN, which `nanMean` excludes from the mean
 *   (a class that is not there and was not predicted says nothing about the model); exactly one of them
 *   empty → 0.
 * - 'one': both empty → 1 (MONAI `ignore_empty=False`, the BraTS challenge rule); exactly one empty → 0.
 * - 'monai': MONAI's default `ignore_empty=True`: ground truth empty → NaN whatever was predicted
 *   (false positives in such images are then not counted); prediction empty, ground truth not → 0.
 */
export type EmptyRule = 'nan' | 'one' | 'monai';

/** True positives, false positives and false negatives of one class. */
export interface OverlapCounts {
  tp: number;
  fp: number;
  fn: number;
}

/**
 * K×K confusion matrix, row-major, `cm[g * K + p]` = number of pixels with ground truth g and prediction p.
 * Float64 counts so that sums over a whole dataset cannot overflow.
 */
export function confusionMatrix(pred: LabelArray, gt: LabelArray, k: number): Float64Array {
  if (pred.length !== gt.length) {
    throw new Error(`confusion matrix: prediction has ${pred.length} values, ground truth ${gt.length}`);
  }
  const cm = new Float64Array(k * k);
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i]!;
    const g = gt[i]!;
    if (!(p >= 0 && p < k && g >= 0 && g < k) || p !== Math.floor(p) || g !== Math.floor(g)) {
      throw new Error(`confusion matrix: label ${p < 0 || p >= k || p !== Math.floor(p) ? p : g} at index ${i} is not a class id in 0..${k - 1}`);
    }
    cm[g * k + p]! += 1;
  }
  return cm;
}

/** Adds confusion matrix `b` into `a` (accumulating over a validation set). */
export function addConfusion(a: Float64Array, b: Float64Array): Float64Array {
  if (a.length !== b.length) throw new Error('confusion matrices of different sizes');
  for (let i = 0; i < a.length; i++) a[i]! += b[i]!;
  return a;
}

/** Counts of class c from a K×K confusion matrix. */
export function classCounts(cm: Float64Array, k: number, c: number): OverlapCounts {
  let row = 0;
  let col = 0;
  for (let j = 0; j < k; j++) {
    row += cm[c * k + j]!;
    col += cm[j * k + c]!;
  }
  const tp = cm[c * k + c]!;
  return { tp, fp: col - tp, fn: row - tp };
}

/** Counts of two binary masks (nonzero = foreground). */
export function overlapCounts(pred: ArrayLike<number>, gt: ArrayLike<number>): OverlapCounts {
  if (pred.length !== gt.length) {
    throw new Error(`overlap: prediction has ${pred.length} values, ground truth ${gt.length}`);
  }
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] !== 0;
    const g = gt[i] !== 0;
    if (p && g) tp++;
    else if (p) fp++;
    else if (g) fn++;
  }
  return { tp, fp, fn };
}

function emptyScore(c: OverlapCounts, rule: EmptyRule): number | undefined {
  const gtEmpty = c.tp + c.fn === 0;
  const predEmpty = c.tp + c.fp === 0;
  if (rule === 'monai') return gtEmpty ? NaN : undefined;
  if (gtEmpty && predEmpty) return rule === 'one' ? 1 : NaN;
  return undefined; // one empty: the formula gives 0
}

/** Dice = 2·TP / (2·TP + FP + FN), with the empty-mask rule `rule` (default 'nan'). */
export function diceFromCounts(c: OverlapCounts, rule: EmptyRule = 'nan'): number {
  return emptyScore(c, rule) ?? (2 * c.tp) / (2 * c.tp + c.fp + c.fn);
}

/** IoU (Jaccard) = TP / (TP + FP + FN), with the empty-mask rule `rule` (default 'nan'). */
export function iouFromCounts(c: OverlapCounts, rule: EmptyRule = 'nan'): number {
  return emptyScore(c, rule) ?? c.tp / (c.tp + c.fp + c.fn);
}

/** Per-class IoU [K] from a confusion matrix. */
export function perClassIoU(cm: Float64Array, k: number, rule: EmptyRule = 'nan'): number[] {
  return Array.from({ length: k }, (_, c) => iouFromCounts(classCounts(cm, k, c), rule));
}

/** Per-class Dice [K] from a confusion matrix. */
export function perClassDice(cm: Float64Array, k: number, rule: EmptyRule = 'nan'): number[] {
  return Array.from({ length: k }, (_, c) => diceFromCounts(classCounts(cm, k, c), rule));
}

/** Mean of the non-NaN values (NaN when all are NaN, like numpy's nanmean). */
export function nanMean(values: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isNaN(values[i]!)) {
      s += values[i]!;
      n++;
    }
  }
  return n === 0 ? NaN : s / n;
}

export interface MeanOverlapOptions {
  /** Empty-mask rule (default 'nan'). */
  empty?: EmptyRule;
  /** Leave class 0 (background) out of the mean (default false). */
  excludeBackground?: boolean;
}

/** Mean IoU over classes (NaN entries excluded) from a confusion matrix. */
export function meanIoU(cm: Float64Array, k: number, opts: MeanOverlapOptions = {}): number {
  const v = perClassIoU(cm, k, opts.empty);
  return nanMean(opts.excludeBackground ? v.slice(1) : v);
}

/** Mean Dice over classes (NaN entries excluded) from a confusion matrix. */
export function meanDice(cm: Float64Array, k: number, opts: MeanOverlapOptions = {}): number {
  const v = perClassDice(cm, k, opts.empty);
  return nanMean(opts.excludeBackground ? v.slice(1) : v);
}

/** Dice of two binary masks. */
export function binaryDice(pred: ArrayLike<number>, gt: ArrayLike<number>, rule: EmptyRule = 'nan'): number {
  return diceFromCounts(overlapCounts(pred, gt), rule);
}

/** IoU of two binary masks. */
export function binaryIoU(pred: ArrayLike<number>, gt: ArrayLike<number>, rule: EmptyRule = 'nan'): number {
  return iouFromCounts(overlapCounts(pred, gt), rule);
}
