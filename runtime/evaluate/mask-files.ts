/**
 * Label-map files for `tdc metrics`: reading a mask (PNG/BMP palette indices or grey values; NIfTI labels with
 * the header's voxel spacing), pairing ground-truth and prediction files by name, and mapping label values to
 * class ids.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { greyValues, loadImage, loadNifti } from '../data/common.js';
import { TdcError } from '../errors.js';

export interface MaskFile {
  file: string;
  /** Raw label values, row-major over `shape`. */
  values: Int32Array;
  /** 2D [H, W]; 3D [Z, Y, X]. */
  shape: number[];
  /** Pixel/voxel size in the order of `shape` (NIfTI: mm from the header; images: 1). */
  spacing: number[];
  /** Unit of `spacing` and of distances on this file: mm (NIfTI) or px (images). */
  unit: 'mm' | 'px';
  /** NIfTI: the voxel → world affine (4 rows of 4, or 3 of 4). */
  affine?: number[][];
}

const NIFTI = /\.nii(\.gz)?$/i;
const IMAGE = /\.(png|bmp|jpe?g)$/i;

export function isMaskFile(name: string): boolean {
  return NIFTI.test(name) || IMAGE.test(name);
}

/**
 * Reads a mask: an indexed image gives its palette indices (a grey palette its grey values), a grey image (or an
 * RGB one with r = g = b) its values; a coloured image without a palette is refused (colours are not labels).
 * NIfTI values must be integers.
 */
export async function readMaskFile(file: string): Promise<MaskFile> {
  if (NIFTI.test(file)) {
    const v = await loadNifti(file);
    const [X, Y, Z] = [v.dims[0]!, v.dims[1] ?? 1, v.dims[2] ?? 1];
    if (v.dims.slice(3).some((d) => d > 1)) throw new TdcError(`${file}: a ${v.dims.length}-D volume; a 3D label map expected`, { file: file });
    const n = X * Y * Z;
    const s = v.scaled();
    const values = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const x = s[i]!;
      if (!Number.isInteger(x)) throw new TdcError(`${file}: value ${x} at voxel ${i} is not an integer label`, { file: file });
      values[i] = x;
    }
    const spacing = Z > 1 ? [v.spacing[2], v.spacing[1], v.spacing[0]] : [v.spacing[1], v.spacing[0]];
    return { file, values, shape: Z > 1 ? [Z, Y, X] : [Y, X], spacing, unit: 'mm', affine: v.affine };
  }
  if (!IMAGE.test(file)) throw new TdcError(`${file}: not a mask file (PNG, BMP, JPEG or NIfTI)`, { file: file });
  const img = await loadImage(file);
  if (img.channels >= 3 && !img.indices) {
    // Grey values saved as RGB (r = g = b everywhere) are still grey values; real colours are not labels.
    const d = img.data;
    const c = img.channels;
    for (let p = 0; p < img.width * img.height; p++) {
      if (d[p * c] !== d[p * c + 1] || d[p * c] !== d[p * c + 2]) {
        throw new TdcError(`${file}: an RGB image with colour (${d[p * c]}, ${d[p * c + 1]}, ${d[p * c + 2]}); a mask must hold class ids (an indexed or grey image)`, { file: file });
      }
    }
  }
  return { file, values: greyValues(img), shape: [img.height, img.width], spacing: [1, 1], unit: 'px' };
}

/** A file's name without its mask extension and a trailing role suffix (_pred, _seg, _gt, _mask, _label[s]). */
export function pairKey(file: string): string {
  const base = path.basename(file).replace(NIFTI, '').replace(IMAGE, '');
  return base.replace(/[_-](pred|prediction|seg|gt|mask|labels?)$/i, '');
}

export interface MaskPair {
  key: string;
  gt: string;
  pred: string;
}

/** Paired files, and the files of either side without a partner (reported per file, not fatal). */
export interface MaskPairing {
  pairs: MaskPair[];
  /** Ground-truth files with no prediction. */
  missingPred: string[];
  /** Prediction files with no ground truth. */
  missingGt: string[];
}

/**
 * Pairs ground-truth and prediction files: two files are one pair; two folders are paired by `pairKey`; a file
 * without its partner is listed in `missingPred` / `missingGt`. A folder against a file is an error.
 */
export async function pairMaskFiles(gt: string, pred: string): Promise<MaskPairing> {
  const kind = async (p: string, role: string) => {
    const st = await fs.stat(p).catch(() => undefined);
    if (!st) throw new TdcError(`${p}: no such file or folder (--${role})`, { file: p });
    return st.isDirectory() ? 'dir' : 'file';
  };
  const [kg, kp] = [await kind(gt, 'gt'), await kind(pred, 'pred')];
  if (kg !== kp) throw new TdcError(`--gt ${gt} is a ${kg === 'dir' ? 'folder' : 'file'} but --pred ${pred} is a ${kp === 'dir' ? 'folder' : 'file'}; give two files or two folders`);
  if (kg === 'file') return { pairs: [{ key: pairKey(gt), gt, pred }], missingPred: [], missingGt: [] };
  const list = async (dir: string) => {
    const m = new Map<string, string>();
    for (const name of (await fs.readdir(dir)).sort()) {
      if (!isMaskFile(name)) continue;
      const key = pairKey(name);
      if (m.has(key)) throw new TdcError(`${dir}: ${m.get(key)} and ${name} both pair as '${key}'`, { file: path.join(dir, name) });
      m.set(key, name);
    }
    return m;
  };
  const [g, p] = [await list(gt), await list(pred)];
  if (g.size === 0) throw new TdcError(`${gt}: no mask files (PNG, BMP, JPEG or NIfTI)`, { file: gt });
  const missingPred = [...g].filter(([key]) => !p.has(key)).map(([, name]) => path.join(gt, name));
  const missingGt = [...p].filter(([key]) => !g.has(key)).map(([, name]) => path.join(pred, name));
  const pairs = [...g.keys()].filter((key) => p.has(key)).map((key) => ({ key, gt: path.join(gt, g.get(key)!), pred: path.join(pred, p.get(key)!) }));
  return { pairs, missingPred, missingGt };
}

/** Largest absolute difference between two affines (Infinity when their shapes differ). */
export function affineDifference(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.length !== b[i]!.length) return Infinity;
    for (let j = 0; j < a[i]!.length; j++) d = Math.max(d, Math.abs(a[i]![j]! - b[i]![j]!));
  }
  return d;
}

/** Label value → class id; an unknown value is an error naming the file and the value. */
export function toClassIds(mask: MaskFile, labels: readonly number[]): Int32Array {
  const map = new Map(labels.map((v, i) => [v, i]));
  const out = new Int32Array(mask.values.length);
  for (let i = 0; i < out.length; i++) {
    const c = map.get(mask.values[i]!);
    if (c === undefined) {
      throw new TdcError(`${mask.file}: value ${mask.values[i]} is not one of the labels ${labels.join(', ')}`, { file: mask.file });
    }
    out[i] = c;
  }
  return out;
}

/** The sorted distinct values of some masks (the default label set when none is given). */
export function distinctValues(masks: readonly MaskFile[]): number[] {
  const seen = new Set<number>();
  for (const m of masks) {
    let last = NaN;
    for (const v of m.values) {
      if (v === last) continue;
      last = v;
      seen.add(v);
    }
  }
  return [...seen].sort((a, b) => a - b);
}
