/**
 * The shared vocabulary of the dataset layer: sample descriptors (what a reader lists), decoded samples (what a
 * reader loads), the reader interface every layout implements, and the one error type for bad data.
 *
 * Layout conventions (see spec/types.ts): tensors are channels-last. A 2D sample's image is [H, W, C] and its
 * mask [H, W]; a 3D sample's image is [Z, Y, X, C] and its mask [Z, Y, X] (NIfTI stores x fastest, so a volume's
 * raw voxel order already is [Z, Y, X]). `spacing` lists the physical size of one pixel/voxel in the same axis
 * order as `shape` (3D: millimetres from the NIfTI header; 2D: in source pixels, [1, 1] unless resized).
 */
import type { Code } from '../../spec/diagnostics.js';
import type { DataFormat } from '../../spec/types.js';
import { TdcError } from '../errors.js';

/** One sample as a reader lists it: enough to load it later and to assign it to a split. */
export interface SampleDescriptor {
  /** Unique, stable id, e.g. `seq_1/frame000`, `Glaucoma/g0001`, `HGG/Brats18_2013_2_1`. */
  id: string;
  /** The split unit this sample belongs to (sequence, subject or file stem): what `splits.*` lists name. */
  group: string;
  /** Role → absolute path: `image`/`mask` (2D), or one entry per modality plus `seg` (BRATS18). */
  files: Record<string, string>;
  /** Scene index into `task.scenes`, or -1 when the layout gives none for this sample. */
  scene: number;
  /** Optional presence vector from a side file (folders layout without masks). */
  classes?: number[];
}

/** A decoded sample, ready for cropping, augmentation and batching. */
export interface Sample {
  id: string;
  /** Channels-last intensities: 2D RGB/grey in 0..255; 3D z-scored per modality over brain (non-zero) voxels. */
  image: Float32Array;
  /** Class ids (index into `task.classes`), one per pixel/voxel. */
  mask: Int32Array;
  /** 2D [H, W, C]; 3D [Z, Y, X, C]. The mask has the same shape without C. */
  shape: number[];
  /** Pixel/voxel size per spatial axis, in the order of `shape` (3D: [sz, sy, sx] in mm). */
  spacing: number[];
  /** Presence vector (length K): 1 when the class occurs in the target (see the reader for nested classes). */
  classes: Float32Array;
  /** Scene index, or -1 when unknown. */
  scene: number;
}

/** What every layout implements. Readers are cheap to create; `list` touches the file system, `load` decodes. */
export interface DatasetReader {
  readonly format: DataFormat;
  /** Every sample of the dataset (all splits), sorted by id so the order never depends on the file system. */
  list(): Promise<SampleDescriptor[]>;
  /**
   * Decode one sample (full size after the format's resize; cropping is the loader's job). With
   * `nativeSize`, 2D samples keep the file's own size (what the evaluation protocol scores at).
   */
  load(d: SampleDescriptor, opts?: LoadOptions): Promise<Sample>;
}

export interface LoadOptions {
  /** 2D: skip the resize to task.size (image and mask at the file's resolution, spacing [1, 1]). */
  nativeSize?: boolean;
}

/**
 * A problem with the data (not with tdc): a missing pair, an unknown colour, a corrupt file. Each kind has its
 * TDC06xx diagnostic code, which `scanDataset` reports and the CLI prints.
 */
export type DataErrorKind =
  | 'missing-root'
  | 'missing-file'
  | 'missing-pair'
  | 'corrupt'
  | 'unknown-value'
  | 'size-mismatch'
  | 'wrong-shape'
  | 'bad-scene-file'
  | 'bad-labels-file'
  | 'unknown-split'
  | 'no-samples';

const CODE_OF: Record<DataErrorKind, Code> = {
  'missing-root': 'TDC0601',
  'no-samples': 'TDC0602',
  'missing-file': 'TDC0603',
  'missing-pair': 'TDC0603',
  'size-mismatch': 'TDC0604',
  'unknown-value': 'TDC0605',
  corrupt: 'TDC0606',
  'bad-scene-file': 'TDC0607',
  'bad-labels-file': 'TDC0607',
  'unknown-split': 'TDC0609',
  'wrong-shape': 'TDC0611',
};

/** A data problem as a TdcError with its TDC06xx code; `file` names the file at fault, when there is one. */
export function dataError(kind: DataErrorKind, message: string, file?: string): TdcError {
  return new TdcError(message, { code: CODE_OF[kind], ...(file !== undefined ? { file } : {}) });
}

