/** Summarises an image or volume file as plain JSON-ready facts (what `tdc inspect` prints). */
import { decodeImage, sniffImageFormat } from './image.js';
import { axisCodes, decodeNifti } from './nifti.js';
import { formatError } from './errors.js';

/** One label of a label map: a value (or an RGB colour for colour-coded masks) and how many pixels carry it. */
export interface LabelCount {
  value: number | [number, number, number];
  count: number;
}

export interface InspectReport {
  file: string;
  format: 'nifti-1' | 'nifti-2' | 'png' | 'jpeg' | 'bmp';
  /** NIfTI: dim[1..n]; images: [width, height]. */
  dims: number[];
  /** NIfTI: voxel size (mm) of the first three axes. */
  spacing?: [number, number, number];
  /** NIfTI datatype name, or `uint8` / `uint16` for images. */
  datatype: string;
  channels?: number;
  bitDepth?: number;
  byteOrder?: 'little' | 'big';
  /** NIfTI: the voxel → world affine and which header part it came from. */
  affine?: number[][];
  affineSource?: 'sform' | 'qform' | 'pixdim';
  /** NIfTI: orientation letters of the voxel axes under `affine` (e.g. 'RAS'). */
  orientation?: string;
  qformCode?: number;
  sformCode?: number;
  /** NIfTI: scl_slope / scl_inter when they change the values. */
  scaling?: { slope: number; inter: number };
  /** Palette size of an indexed image. */
  paletteSize?: number;
  /** Min and max of the (scaled) values over all channels; NaNs are skipped (null when there are no numbers). */
  valueRange: { min: number | null; max: number | null };
  /**
   * Present when the file looks like a label map: integer values with at most MAX_LABELS distinct ones (for an
   * indexed image, its palette indices, up to 256; for RGB, the distinct colours). Sorted by value.
   */
  labels?: LabelCount[];
  /**
   * Present when the file is not a label map (an intensity image or volume): statistics of its finite values
   * over all channels (population std; percentiles by the nearest rank).
   */
  intensity?: { mean: number; std: number; p1: number; p50: number; p99: number; nonzero: number; nonFinite: number };
}

/**
 * Most distinct values a label map has here: label maps have a handful (BraTS 4, EndoVis 12), while an integer
 * intensity volume (int16 MRI, an 8-bit grey photo) easily has a few hundred, which are not labels.
 */
const MAX_LABELS = 64;
/** A palette image is a label map by construction: its indices are labels up to the palette's 256 entries. */
const MAX_PALETTE_LABELS = 256;

/** Inspects NIfTI (.nii, .nii.gz) or PNG/JPEG/BMP bytes; throws a TdcError for anything else. */
export function inspectFile(bytes: Uint8Array, name: string): InspectReport {
  if (sniffImageFormat(bytes)) return inspectImage(bytes, name);
  if (/\.nii(\.gz)?$/i.test(name) || (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) || looksLikeNifti(bytes)) {
    return inspectNifti(bytes, name);
  }
  throw formatError(name, 'unknown file type (expected .nii, .nii.gz, PNG, JPEG or BMP)');
}

function looksLikeNifti(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [348, 540].includes(dv.getInt32(0, true)) || [348, 540].includes(dv.getInt32(0, false));
}

function inspectNifti(bytes: Uint8Array, name: string): InspectReport {
  const vol = decodeNifti(bytes, name);
  const h = vol.header;
  const report: InspectReport = {
    file: name,
    format: h.version === 1 ? 'nifti-1' : 'nifti-2',
    dims: vol.dims,
    spacing: vol.spacing,
    datatype: vol.datatype,
    byteOrder: h.littleEndian ? 'little' : 'big',
    affine: vol.affine,
    affineSource: h.sformCode > 0 ? 'sform' : h.qformCode > 0 ? 'qform' : 'pixdim',
    orientation: axisCodes(vol.affine),
    qformCode: h.qformCode,
    sformCode: h.sformCode,
    valueRange: { min: null, max: null },
  };
  const scaledValues = vol.datatype === 'rgb24' ? vol.raw : vol.scaled();
  if (Number.isFinite(h.sclSlope) && h.sclSlope !== 0 && !(h.sclSlope === 1 && h.sclInter === 0) && vol.datatype !== 'rgb24') {
    report.scaling = { slope: h.sclSlope, inter: h.sclInter };
  }
  report.valueRange = range(scaledValues);
  const labels = vol.datatype === 'rgb24' ? colourLabels(vol.raw, 3) : valueLabels(scaledValues);
  if (labels) report.labels = labels;
  else report.intensity = intensityStats(scaledValues);
  return report;
}

function inspectImage(bytes: Uint8Array, name: string): InspectReport {
  const img = decodeImage(bytes, name);
  const report: InspectReport = {
    file: name,
    format: img.format ?? 'png',
    dims: [img.width, img.height],
    datatype: img.bitDepth === 16 ? 'uint16' : 'uint8',
    channels: img.channels,
    bitDepth: img.bitDepth,
    valueRange: range(img.data),
  };
  let labels: LabelCount[] | undefined;
  if (img.palette && img.indices) {
    report.paletteSize = img.palette.length;
    labels = valueLabels(img.indices, MAX_PALETTE_LABELS);
  } else if (img.channels === 1) {
    labels = valueLabels(img.data);
  } else if (img.channels === 3) {
    labels = colourLabels(img.data, 3);
  }
  if (labels) report.labels = labels;
  else report.intensity = intensityStats(img.data);
  return report;
}

function intensityStats(values: ArrayLike<number>): NonNullable<InspectReport['intensity']> {
  const finite = new Float64Array(values.length);
  let n = 0;
  let sum = 0;
  let nonzero = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    finite[n++] = v;
    sum += v;
    if (v !== 0) nonzero++;
  }
  const sorted = finite.subarray(0, n).sort();
  const mean = n > 0 ? sum / n : NaN;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (sorted[i]! - mean) ** 2;
  const at = (p: number) => (n > 0 ? sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]! : NaN);
  const round = (v: number) => Number(v.toPrecision(6));
  return { mean: round(mean), std: round(Math.sqrt(sq / Math.max(1, n))), p1: at(1), p50: at(50), p99: at(99), nonzero, nonFinite: values.length - n };
}

function range(values: ArrayLike<number>): { min: number | null; max: number | null } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? { min, max } : { min: null, max: null };
}

/** Distinct values with counts, or undefined when a value is not an integer or there are too many. */
function valueLabels(values: ArrayLike<number>, max = MAX_LABELS): LabelCount[] | undefined {
  const counts = new Map<number, number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v)) return undefined;
    const c = counts.get(v);
    if (c === undefined) {
      if (counts.size === max) return undefined;
      counts.set(v, 1);
    } else counts.set(v, c + 1);
  }
  return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([value, count]) => ({ value, count }));
}

/** Distinct RGB colours with counts (colour-coded masks such as EndoVis), or undefined beyond 256 colours. */
function colourLabels(data: ArrayLike<number>, stride: number): LabelCount[] | undefined {
  const counts = new Map<number, number>();
  const n = Math.floor(data.length / stride);
  for (let i = 0; i < n; i++) {
    const key = (data[i * stride] << 16) | (data[i * stride + 1] << 8) | data[i * stride + 2];
    const c = counts.get(key);
    if (c === undefined) {
      if (counts.size === MAX_LABELS) return undefined;
      counts.set(key, 1);
    } else counts.set(key, c + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([k, count]) => ({ value: [(k >> 16) & 255, (k >> 8) & 255, k & 255] as [number, number, number], count }));
}
