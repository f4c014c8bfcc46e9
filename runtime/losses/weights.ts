/** Class weights for rare classes, computed from label frequencies (pixel counts or fractions). */

/** 'inverse': w_k = 1 / (K' · f_k); 'median': median frequency balancing, w_k = median(f) / f_k. */
export type ClassWeightMode = 'inverse' | 'median';

/**
 * Per-class cross-entropy weights from frequencies `freq` (counts or fractions; normalised to sum 1 here).
 * - 'inverse': w_k = 1 / (K'·f_k) with K' the number of classes that occur, so Σ_k f_k·w_k = 1 over the
 *   occurring classes: the expected weight of a pixel stays 1 and the loss scale is unchanged.
 * - 'median': w_k = median(f) / f_k (Eigen & Fergus 2015, SegNet), the median taken over occurring classes.
 * A class with frequency 0 never appears as a target, so its weight is irrelevant to the CE; it gets 0.
 */
export function classWeightsFromFrequencies(freq: number[], mode: ClassWeightMode): number[] {
  if (freq.length === 0) throw new Error('class weights: no class frequencies given');
  if (freq.some((f) => !Number.isFinite(f) || f < 0)) {
    throw new Error('class weights: frequencies must be finite and non-negative');
  }
  const total = freq.reduce((a, b) => a + b, 0);
  if (total <= 0) throw new Error('class weights: all class frequencies are zero');
  const f = freq.map((x) => x / total);
  const present = f.filter((x) => x > 0);
  if (mode === 'inverse') {
    return f.map((x) => (x > 0 ? 1 / (present.length * x) : 0));
  }
  const sorted = [...present].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return f.map((x) => (x > 0 ? median / x : 0));
}
