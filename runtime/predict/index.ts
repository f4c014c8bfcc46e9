/**
 * Public API of runtime/predict: inference on inputs of any size (2D resize, 3D overlapping sliding windows),
 * label mapping and the files `tdc predict` reads and writes.
 *   new SlidingWindow({ window, overlap?, weighting?, sigmaScale? }) / slidingWindow(args)
 *     .starts(size, axis) / .tiles(shape) / .weights() / .run(volume, shape, c, k, predict, opts?)
 *   new Predictor({ model, task, sceneActivation, window?, imageScale? }) / predictor(args)
 *     .predictImage(image, h, w) / .predictVolume(volume, shape, opts?): Promise<Prediction>
 *   classLabelValues(classes, format?) / mapToLabelValues(ids, values) / argmaxLast / sigmoid / softmax / maskPalette
 *   readImageInput / resolveSubject / readVolumeInput / writeMaskPng / writeLabelNifti / predictionSummary / writeJson
 */
export { SlidingWindow, slidingWindow } from './windows.js';
export type { SlidingWindowArgs, SlidingWindowRunOptions, WindowPredictor, WindowWeighting } from './windows.js';
export { Predictor, predictor } from './predictor.js';
export type { Prediction, PredictorArgs, PredictVolumeOptions } from './predictor.js';
export {
  DEFAULT_LABEL_VALUES,
  argmaxLast,
  classLabelValues,
  mapToLabelValues,
  maskPalette,
  presentClasses,
  sigmoid,
  softmax,
} from './labels.js';
export {
  predictionSummary,
  readImageInput,
  readVolumeInput,
  resolveSubject,
  writeJson,
  writeLabelNifti,
  writeMaskPng,
} from './files.js';
export type { ImageInput, PredictionSummary, SubjectFiles, VolumeInput } from './files.js';
