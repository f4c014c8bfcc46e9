/**
 * Public API of the evaluation metrics (plain TypeScript over typed arrays, no tfjs). Grids are row-major
 * (last axis fastest) with `shape` and optional `spacing` in the same axis order; nonzero = foreground.
 *   confusionMatrix(pred, gt, k): Float64Array            addConfusion(a, b)
 *   perClassIoU(cm, k, rule?) / perClassDice(cm, k, rule?): number[]
 *   meanIoU(cm, k, opts?) / meanDice(cm, k, opts?): number  nanMean(values)
 *   overlapCounts(pred, gt) / classCounts(cm, k, c): OverlapCounts; diceFromCounts / iouFromCounts(c, rule?)
 *   binaryDice(pred, gt, rule?) / binaryIoU(pred, gt, rule?)
 *   edt / edtSquared(feature, shape, spacing?): Float64Array;  chamferDistance(feature, shape, metric)
 *   boundary(mask, shape): Uint8Array;  surfaceDistances(pred, gt, shape, opts?): DirectedDistances
 *   hausdorffDistance(pred, gt, shape, opts?) / hd95(pred, gt, shape, opts?) / averageSurfaceDistance(...): number
 *   percentile(values, q): number (numpy 'linear')
 *   regionMasks(labels, regions): Record<string, Uint8Array>;  regionScores(pred, gt, shape, regions, opts?)
 *   DeepMind's 2-D contour convention (for comparisons only): surfelDistances2d(gt, pred, shape, spacing?),
 *   surfelAverageDistance(s), surfelRobustHausdorff(s, percent), surfelOverlapAtTolerance(s, mm),
 *   surfelDiceAtTolerance(s, mm), contourLengthTable(spacing)
 */
export {
  addConfusion,
  binaryDice,
  binaryIoU,
  classCounts,
  confusionMatrix,
  diceFromCounts,
  iouFromCounts,
  meanDice,
  meanIoU,
  nanMean,
  overlapCounts,
  perClassDice,
  perClassIoU,
} from './confusion.js';
export type { EmptyRule, LabelArray, MeanOverlapOptions, OverlapCounts } from './confusion.js';
export { chamferDistance, edt, edtSquared, volumeSize } from './distance.js';
export type { ChamferMetric } from './distance.js';
export {
  averageSurfaceDistance,
  boundary,
  hausdorffDistance,
  hd95,
  percentile,
  surfaceDistances,
} from './surface.js';
export type {
  AverageSurfaceDistanceOptions,
  DirectedDistances,
  DistanceMetric,
  HausdorffOptions,
  SurfaceDistanceOptions,
} from './surface.js';
export { regionMasks, regionScores } from './regions.js';
export type { RegionScore, RegionScoreOptions } from './regions.js';
export {
  contourLengthTable,
  surfelAverageDistance,
  surfelDiceAtTolerance,
  surfelDistances2d,
  surfelOverlapAtTolerance,
  surfelRobustHausdorff,
} from './surfel.js';
export type { SurfelDistances } from './surfel.js';
