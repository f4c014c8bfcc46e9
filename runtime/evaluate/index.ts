/**
 * Public API of runtime/evaluate: scoring label maps (per-class Dice, IoU, HD95, ASSD, regions), whole-volume
 * 3D evaluation through sliding windows, and the mask files `tdc metrics` reads.
 *   new MaskScorer({ classes, regions?, distances?, excludeBackground? }) / maskScorer(args)
 *     .add(pred, gt, shape, spacing?) / .result(): MaskScores
 *   evaluateVolumes(predictor, dataset, split, opts?): Promise<VolumeEvaluation>
 *   readMaskFile(file) / pairMaskFiles(gt, pred) / toClassIds(mask, labels) / distinctValues(masks) / pairKey(file)
 *   formatTable(header, rows) / cell(v, digits?) / jsonNumber(v)
 *   protocolFor(task) / new ProtocolScorer(setup) / scoreProtocol(predictor, dataset, split, setup): the paper's
 *   evaluation protocol (per image at the original resolution; REFUGE disc ∪ cup; BraTS regions on whole volumes)
 */
export { MaskScorer, maskScorer, cell, formatTable, jsonNumber } from './scores.js';
export type { ClassScore, MaskScorerArgs, MaskScores, RegionSummary } from './scores.js';
export { evaluateVolumes } from './volumes.js';
export type { EvaluateVolumesOptions, VolumeEvaluation } from './volumes.js';
export { affineDifference, distinctValues, isMaskFile, pairKey, pairMaskFiles, readMaskFile, toClassIds } from './mask-files.js';
export type { MaskFile, MaskPair, MaskPairing } from './mask-files.js';
export { ProtocolScorer, protocolFor, rocAuc, scoreProtocol, verticalCdr } from './protocol.js';
export type { CaseHeads, ProtocolColumn, ProtocolKind, ProtocolResult, ProtocolSetup, ScoreProtocolOptions } from './protocol.js';
