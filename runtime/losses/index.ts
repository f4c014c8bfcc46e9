/**
 * Public API of the loss terms of equation (4), L = L_seg + w1·L_class + w2·L_scene + w3·L_sync.
 *   segLoss(logits, labels, args: SegLossArgs): tf.Scalar            makeSegLoss(args): SegLossFn
 *   bceLoss(logits, targets, args?: BceLossArgs): tf.Scalar          makeBceLoss(args?): ClassLossFn
 *   softmaxCeLoss(logits, oneHot): tf.Scalar                         makeSoftmaxCeLoss(): ClassLossFn
 *   presence(segLogits, mode: 'hard' | 'soft'): tf.Tensor2D
 *   syncLoss(segLogits, classLogits, args: SyncLossArgs): tf.Scalar  makeSyncLoss(args): SyncLossFn
 *   classWeightsFromFrequencies(freq: number[], mode: 'inverse' | 'median'): number[]
 *   stopGradient(x): x with zero gradient
 */
export { segLoss, makeSegLoss } from './seg.js';
export type { SegLossArgs, SegLossFn } from './seg.js';
export { bceLoss, makeBceLoss, softmaxCeLoss, makeSoftmaxCeLoss } from './bce.js';
export type { BceLossArgs, ClassLossFn } from './bce.js';
export { presence, syncLoss, makeSyncLoss } from './sync.js';
export type { PresenceMode, SyncDirection, SyncLossArgs, SyncLossFn } from './sync.js';
export { classWeightsFromFrequencies } from './weights.js';
export type { ClassWeightMode } from './weights.js';
export { stopGradient } from './util.js';
