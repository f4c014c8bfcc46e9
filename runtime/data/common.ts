/**
 * Helpers shared by the layout readers: reading files with one-line errors, converting decoded images to
 * float RGB/grey, mapping mask values to class ids, and parsing scene label files.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ClassSpec, TaskSpec } from '../../spec/types.js';
import { presence, resizeBilinear, resizeNearest } from './arrays.js';
import { readImageFile, readNiftiFile, type Image2D, type NiftiVolume } from '../io/index.js';
import { type Sample, type SampleDescriptor, dataError } from './types.js';
import { TdcError } from '../errors.js';

/**
 * Decode an image file; any decoder failure becomes a `corrupt` data error (TDC0606) naming the file. `what` says what the
 * file is to the layout (e.g. "the mask of images/a.png"), for the message when it is missing.
 */
export async function loadImage(file: string, what?: string): Promise<Image2D> {
  await requireFile(file, what);
  try {
    return await readImageFile(file);
  } catch (e) {
    throw asDataError(e, file);
  }
}

/** Decode a NIfTI file; any failure becomes a `corrupt` data error (TDC0606) naming the file (`what`: as for loadImage). */
export async function loadNifti(file: string, what?: string): Promise<NiftiVolume> {
  await requireFile(file, what);
  try {
    return await readNiftiFile(file);
  } catch (e) {
    throw asDataError(e, file);
  }
}

/** A missing file is its own problem kind (a missing pair), not a corrupt one. */
async function requireFile(file: string, what?: string): Promise<void> {
  try {
    await fs.access(file);
  } catch {
    throw dataError('missing-file', `${file}: file not found${what ? ` (expected there: ${what})` : ''}`, file);
  }
}

function asDataError(e: unknown, file: string): TdcError {
  if (e instanceof TdcError && e.code) return e; // already a data error
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return dataError('missing-file', `${file}: file not found`, file);
  const msg = e instanceof TdcError ? e.problem : e instanceof Error ? e.message : String(e);
  return dataError('corrupt', `${file}: corrupt or unreadable (${msg.split('\n')[0]})`, file);
}

/**
 * An image's samples as floats in 0..255 with exactly `channels` channels: grey is replicated to RGB, alpha is
 * dropped, RGB is averaged to grey (channels = 1), and 16-bit values are scaled by 255/65535 so that every
 * format lands in the same range the augmentation's rgbShift is expressed in.
 */
export function toChannels(img: Image2D, channels: number): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(n * channels);
  const src = img.data;
  const ic = img.channels;
  const scale = img.bitDepth > 8 ? 255 / (2 ** img.bitDepth - 1) : 1;
  for (let p = 0; p < n; p++) {
    const s = p * ic;
    if (channels === 1) {
      out[p] = (ic >= 3 ? (src[s]! + src[s + 1]! + src[s + 2]!) / 3 : src[s]!) * scale;
    } else {
      for (let k = 0; k < channels; k++) out[p * channels + k] = src[s + (ic >= 3 ? Math.min(k, 2) : 0)]! * scale;
    }
  }
  return out;
}

/**
 * Single-channel view of a decoded mask: the grey level (grey images, and palettes that are all grey, which
 * decode as one channel), else the palette index of a coloured palette image (class-id PNGs), else channel 0.
 */
export function greyValues(img: Image2D): Int32Array {
  const n = img.width * img.height;
  const out = new Int32Array(n);
  if (img.channels !== 1 && img.indices) {
    for (let p = 0; p < n; p++) out[p] = img.indices[p]!;
    return out;
  }
  for (let p = 0; p < n; p++) out[p] = img.data[p * img.channels]!;
  return out;
}

/**
 * Raw mask value → class id, from the classes' `values`. When a value belongs to several classes (nested
 * labels), the class with the fewest values wins: it is the most specific one (cup before disc).
 */
export function valueMap(classes: readonly ClassSpec[], defaults: readonly number[]): Map<number, number> {
  const entries: { value: number; cls: number; width: number }[] = [];
  classes.forEach((c, i) => {
    const values = c.values ?? (defaults[i] !== undefined ? [defaults[i]!] : [i]);
    for (const v of values) entries.push({ value: v, cls: i, width: values.length });
  });
  entries.sort((a, b) => b.width - a.width);
  const map = new Map<number, number>();
  for (const e of entries) map.set(e.value, e.cls);
  return map;
}

/**
 * A volume's x×y×z, refusing a file with more dimensions than its role allows (a 4D file where a 3D volume is
 * expected would otherwise be cut to its first volume without a word). `channels`: a 4th dimension of exactly
 * this size is allowed (a multi-channel image).
 */
export function volumeSize(vol: NiftiVolume, file: string, channels?: number): [number, number, number] {
  const extra = vol.dims.slice(3);
  const ok = extra.every((d) => d === 1) || (channels !== undefined && extra.length === 1 && extra[0] === channels);
  if (!ok) {
    const expected = channels !== undefined && channels > 1 ? `a 3D volume or ${channels} channels as a 4th dimension` : 'a 3D volume';
    throw dataError('wrong-shape', `${file}: a ${vol.dims.length}D file (${vol.dims.join('×')}) where ${expected} is expected`, file);
  }
  return [vol.dims[0]!, vol.dims[1] ?? 1, vol.dims[2] ?? 1];
}

/**
 * Refuses NaN and ±Inf intensities, naming the file and the first such voxel. `values` is one or more channels
 * of spatial shape `dims` ([Z, Y, X], x fastest), channel after channel, as a NIfTI file stores them.
 */
export function requireFinite(values: ArrayLike<number>, file: string, dims: readonly number[]): void {
  const n = dims.reduce((a, b) => a * b, 1);
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i]!)) continue;
    const channel = n > 0 && i >= n ? ` of channel ${Math.floor(i / n)}` : '';
    throw dataError('corrupt', `${file}: value ${values[i]} at ${position(i % n, dims)}${channel}; intensities must be finite numbers`, file);
  }
}

/** A packed 0xRRGGBB colour as `(r, g, b)`, the way colours are written in specs and label tables. */
export function rgbText(v: number): string {
  return `(${(v >> 16) & 255}, ${(v >> 8) & 255}, ${v & 255})`;
}

/**
 * Map raw values to class ids; an unknown value is an error naming the file, the pixel and the value. With
 * `colours`, the values are packed 0xRRGGBB colours and print as (r, g, b).
 */
export function mapValues(raw: ArrayLike<number>, map: Map<number, number>, file: string, dims: readonly number[], colours = false): Int32Array {
  const out = new Int32Array(raw.length);
  let lastV = NaN;
  let lastC = 0;
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i]!;
    if (v !== lastV) {
      const c = map.get(v);
      if (c === undefined) {
        throw dataError(
          'unknown-value',
          colours
            ? `${file}: colour ${rgbText(v)} at ${position(i, dims)} is not the colour of any class (known: ${[...map.keys()].sort((a, b) => a - b).map(rgbText).join(', ')})`
            : `${file}: value ${v} at ${position(i, dims)} is not a value of any class (known: ${[...map.keys()].sort((a, b) => a - b).join(', ')})`,
          file,
        );
      }
      lastV = v;
      lastC = c;
    }
    out[i] = lastC;
  }
  return out;
}

/** "(x, y)" or "(x, y, z)" of flat index i in an array with spatial shape dims ([H, W] or [Z, Y, X]). */
export function position(i: number, dims: readonly number[]): string {
  const coords: number[] = [];
  for (let a = dims.length - 1; a >= 0; a--) {
    coords.push(i % dims[a]!);
    i = Math.floor(i / dims[a]!);
  }
  return `(${coords.join(', ')})`;
}

/** A scene given by name (as in task.scenes) or by index. */
export function sceneIndex(task: TaskSpec, value: string, where: string, file: string): number {
  const v = value.trim();
  const byName = task.scenes.indexOf(v);
  if (byName >= 0) return byName;
  if (/^\d+$/.test(v) && Number(v) < task.scenes.length) return Number(v);
  throw dataError('bad-scene-file', `${file}: ${where}: unknown scene '${v}' (scenes: ${task.scenes.join(', ')})`, file);
}

/** Whether a scene-file field names a scene of the task (by name or index). */
export function isSceneValue(task: TaskSpec, value: string): boolean {
  const v = value.trim();
  return task.scenes.includes(v) || (/^\d+$/.test(v) && Number(v) < task.scenes.length);
}

/**
 * Splits off a CSV's header row: the first row is a header when it is not a data row (`isData`), whatever its
 * columns are named (`id,scene`, `image,label`, `case,diagnosis` …).
 */
export function splitHeader(rows: string[][], isData: (row: string[]) => boolean): { header?: string[]; rows: string[][] } {
  if (rows.length === 0 || isData(rows[0]!)) return { rows };
  return { header: rows[0]!, rows: rows.slice(1) };
}

/** Sorted names in a folder, or [] when it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return [];
  }
}

export async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

export async function requireRoot(root: string): Promise<void> {
  if (!(await isDir(root))) throw dataError('missing-root', `${root}: dataset folder not found (data.root, relative to the spec file's folder)`, root);
}

/** The file name without its extension(s): `a.nii.gz` → `a`, `frame001.png` → `frame001`. */
export function stem(file: string): string {
  const base = path.basename(file);
  return base.replace(/\.nii\.gz$/i, '').replace(/\.[^.]+$/, '');
}

/** Minimal CSV: comma-separated, no quoting needed by our formats; blank lines and `#` comments are skipped. */
export function parseCsv(text: string): string[][] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'))
    .map((l) => l.split(',').map((f) => f.trim()));
}

/** Resize a 2D sample to task.size (bilinear image, nearest mask) and attach its targets. */
export function finish2d(d: SampleDescriptor, image: Float32Array, mask: Int32Array, h: number, w: number, task: TaskSpec, nativeSize = false): Sample {
  const [oh, ow] = nativeSize ? [h, w] : [task.size[0]!, task.size[1]!];
  const c = task.channels;
  const resized = oh !== h || ow !== w;
  const img = resized ? resizeBilinear(image, h, w, c, oh, ow) : image;
  const m = resized ? resizeNearest(mask, h, w, oh, ow) : mask;
  return {
    id: d.id,
    image: img,
    mask: m,
    shape: [oh, ow, c],
    spacing: [h / oh, w / ow],
    classes: presence(m, task.classes.length),
    scene: d.scene,
  };
}

/**
 * Scene index of a folder name: the task scene with the same name (case and punctuation ignored), with the
 * usual aliases (Non-Glaucoma = normal = healthy, HGG/LGG as written).
 */
export function folderScene(task: TaskSpec, folder: string): number {
  const norm = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  const f = norm(folder);
  const aliases: Record<string, string[]> = { nonglaucoma: ['normal', 'healthy', 'nonglaucoma', 'control'] };
  const names = task.scenes.map(norm);
  const direct = names.indexOf(f);
  if (direct >= 0) return direct;
  for (const a of aliases[f] ?? []) {
    const i = names.indexOf(a);
    if (i >= 0) return i;
  }
  return -1;
}
