/** Public API of runtime/io: NIfTI volumes, 2D images, file inspection and the one error type they throw. */
export { formatError } from './errors.js';
export {
  decodeNifti,
  readNiftiFile,
  encodeNifti,
  writeNiftiFile,
  affineToQuatern,
  axisCodes,
  niftiDatatypeCode,
} from './nifti.js';
export type {
  NiftiDatatype,
  NiftiHeader,
  NiftiExtension,
  NiftiVolume,
  NiftiWriteInput,
  NiftiWriteOptions,
} from './nifti.js';
export {
  decodeImage,
  readImageFile,
  writeImageFile,
  encodePng,
  encodeJpeg,
  encodeBmp,
  sniffImageFormat,
} from './image.js';
export type { Image2D, ImageInput, ImageFormat } from './image.js';
export { inspectFile } from './inspect.js';
export type { InspectReport, LabelCount } from './inspect.js';
export { probeFile, probeBytes } from './probe.js';
export type { FileProbe } from './probe.js';
export { encodeNpy, readNpy } from './npy.js';
export type { NpyArray } from './npy.js';
export { writeFileAtomic } from './atomic.js';
