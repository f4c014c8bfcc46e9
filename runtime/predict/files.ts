/**
 * The file side of prediction: reading 2D images and BraTS-style subjects into network-ready arrays (the same
 * conversions and normalisation the dataset readers apply), and writing the predicted mask (indexed PNG with
 * the class palette, or a uint8 NIfTI label map carrying the input's geometry) and its JSON summary.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { TaskSpec } from '../../spec/types.js';
import { loadImage, loadNifti, toChannels } from '../data/common.js';
import { zscoreBrainInto, BRATS_MODALITIES } from '../data/brats18.js';
import { encodePng, writeNiftiFile, type NiftiVolume } from '../io/index.js';
import type { Rgb } from '../io/palette.js';
import { presentClasses } from './labels.js';
import type { Prediction } from './predictor.js';
import { TdcError } from '../errors.js';

/** A 2D input as the network's reader sees it: [h, w, channels] in 0..255. */
export interface ImageInput {
  file: string;
  stem: string;
  image: Float32Array;
  height: number;
  width: number;
}

/** Reads an image file (PNG/JPEG/BMP) and converts it to the task's channels (grey ↔ RGB, alpha dropped). */
export async function readImageInput(file: string, task: TaskSpec): Promise<ImageInput> {
  const img = await loadImage(file);
  return {
    file,
    stem: path.basename(file).replace(/\.[^.]+$/, ''),
    image: toChannels(img, task.channels),
    height: img.height,
    width: img.width,
  };
}

/** A 3D subject: its modality files in the task's channel order. */
export interface SubjectFiles {
  subject: string;
  files: string[];
}

const NIFTI_EXT = /\.nii(\.gz)?$/i;

/**
 * The modality files of one subject: either a folder holding `<subject>_<modality>.nii[.gz]` (BraTS naming,
 * subject = the folder's name), or exactly one file per modality — matched by their `_<modality>` suffix when
 * every file has one, else taken in the order given.
 */
export async function resolveSubject(inputs: readonly string[], task: TaskSpec): Promise<SubjectFiles> {
  const modalities = task.modalities ?? BRATS_MODALITIES.slice(0, task.channels);
  if (inputs.length === 1) {
    const dir = inputs[0]!;
    const st = await fs.stat(dir).catch(() => undefined);
    if (!st) throw new TdcError(`${dir}: no such file or folder`, { file: dir });
    if (st.isDirectory()) {
      const subject = path.basename(path.resolve(dir));
      const names = new Set(await fs.readdir(dir));
      const files = modalities.map((m) => {
        for (const ext of ['.nii.gz', '.nii']) if (names.has(`${subject}_${m}${ext}`)) return path.join(dir, `${subject}_${m}${ext}`);
        throw new TdcError(`${dir}: no ${subject}_${m}.nii.gz (the ${m} modality of subject ${subject})`, { file: dir });
      });
      return { subject, files };
    }
  }
  for (const f of inputs) {
    if (!NIFTI_EXT.test(f)) throw new TdcError(`${f}: not a NIfTI file (.nii or .nii.gz); a 3D input is a subject folder or one file per modality`, { file: f });
  }
  if (inputs.length !== modalities.length) {
    throw new TdcError(
      `${inputs.length} input file${inputs.length === 1 ? '' : 's'} for ${modalities.length} modalities (${modalities.join(', ')}); give a subject folder or one file per modality`,
      { file: inputs[0] },
    );
  }
  const suffix = (f: string, m: string) => path.basename(f).replace(NIFTI_EXT, '').toLowerCase().endsWith(`_${m.toLowerCase()}`);
  // Longest modality names first, so t1ce is not taken for t1.
  const byLength = [...modalities].sort((a, b) => b.length - a.length);
  const owner = inputs.map((f) => byLength.find((m) => suffix(f, m)));
  const matched = owner.every((m) => m !== undefined) && new Set(owner).size === modalities.length;
  const files = matched ? modalities.map((m) => inputs[owner.indexOf(m)]!) : [...inputs];
  const first = path.basename(files[0]!).replace(NIFTI_EXT, '');
  const subject = matched ? first.slice(0, first.length - modalities[0]!.length - 1) || first : first;
  return { subject, files };
}

/** A normalised 3D input: [Z, Y, X, C] z-scored per modality, plus the first modality's volume for geometry. */
export interface VolumeInput {
  subject: string;
  volume: Float32Array;
  /** [Z, Y, X]. */
  shape: number[];
  /** Voxel size [sz, sy, sx] in mm. */
  spacing: number[];
  reference: NiftiVolume;
}

/** Reads and normalises a subject's modalities as the BRATS18 reader does (z-score over non-zero voxels). */
export async function readVolumeInput(subject: SubjectFiles, task: TaskSpec): Promise<VolumeInput> {
  const vols: NiftiVolume[] = [];
  for (const f of subject.files) vols.push(await loadNifti(f));
  const ref = vols[0]!;
  const dims3 = (v: NiftiVolume) => [v.dims[0]!, v.dims[1] ?? 1, v.dims[2] ?? 1];
  vols.forEach((v, i) => {
    const f = subject.files[i]!;
    if (v.dims.slice(3).some((d) => d > 1)) throw new TdcError(`${f}: a ${v.dims.length}-D volume (${v.dims.join('×')}); one 3D volume per modality expected`, { file: f });
    if (v.datatype === 'rgb24') throw new TdcError(`${f}: an RGB volume; one intensity channel per modality expected`, { file: f });
    if (dims3(v).join() !== dims3(ref).join()) {
      throw new TdcError(`${f}: volume is ${dims3(v).join('×')} but ${path.basename(subject.files[0]!)} is ${dims3(ref).join('×')}`, { file: f });
    }
  });
  const [X, Y, Z] = dims3(ref) as [number, number, number];
  const n = X * Y * Z;
  const c = vols.length;
  const volume = new Float32Array(n * c);
  vols.forEach((v, k) => zscoreBrainInto(v.scaled().subarray(0, n), volume, c, k));
  const sp = ref.spacing;
  return { subject: subject.subject, volume, shape: [Z, Y, X], spacing: [sp[2], sp[1], sp[0]], reference: ref };
}

/** Writes a class-id map as an indexed PNG whose palette is the class colours (index = class id). */
export async function writeMaskPng(file: string, classIds: ArrayLike<number>, height: number, width: number, palette: readonly Rgb[]): Promise<void> {
  const indices = Uint8Array.from(classIds);
  const bytes = encodePng({ width, height, channels: 1, data: indices, palette: palette.map((c) => [c[0], c[1], c[2]] as Rgb), indices });
  await writeOut(file, bytes);
}

/**
 * Writes a uint8 label map with the reference volume's geometry: dims, pixdim, qform/sform (codes, quaternion,
 * offsets, rows), units and slice info are copied so the mask overlays its input in any viewer; intensity
 * scaling is cleared (labels are stored as is).
 */
export async function writeLabelNifti(file: string, labels: Uint8Array, reference: NiftiVolume): Promise<void> {
  const h = reference.header;
  const dims = [reference.dims[0]!, reference.dims[1] ?? 1, reference.dims[2] ?? 1];
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeNiftiFile(file, {
      dims,
      spacing: [...reference.spacing],
      datatype: 'uint8',
      data: labels,
      header: {
        pixdim: [h.pixdim[0] || 1, ...reference.spacing, 1, 1, 1, 1],
        quatern: h.quatern,
        qoffset: h.qoffset,
        srow: h.srow,
        qformCode: h.qformCode,
        sformCode: h.sformCode,
        xyztUnits: h.xyztUnits,
        dimInfo: h.dimInfo,
        sclSlope: 0,
        sclInter: 0,
        calMin: 0,
        calMax: maxOf(labels),
        descrip: 'tdc predict',
      },
    });
  } catch (e) {
    throw new TdcError(`${file}: cannot write (${(e as Error).message.split('\n')[0]})`, { file: file });
  }
}

function maxOf(a: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (a[i]! > m) m = a[i]!;
  return m;
}

/** The JSON written beside a predicted mask. */
export interface PredictionSummary {
  input: string | string[];
  mask: string;
  shape: number[];
  /** Class-head presence probability by class name (null when no stage trained the class head). */
  classes: Record<string, number> | null;
  /** Scene probability by scene name (null when no stage trained the scene head). */
  scenes: Record<string, number> | null;
  /** The most probable scene (null when there is none, or the scene head is untrained). */
  scene: string | null;
  /** Classes the class head predicts present (probability ≥ 0.5; null when the class head is untrained). */
  present: string[] | null;
  /** Heads no stage trained: their outputs are the initial weights', so they are left out above. */
  untrained?: ('class' | 'scene')[];
  /** Classes that occur in the predicted segmentation. */
  segmented: string[];
  windows: number;
}

export function predictionSummary(
  pred: Prediction,
  task: TaskSpec,
  input: string | string[],
  mask: string,
  untrained: readonly ('class' | 'scene')[] = [],
): PredictionSummary {
  const names = task.classes.map((c) => c.name);
  const round = (p: number) => Math.round(p * 1e6) / 1e6;
  const classes = Object.fromEntries(names.map((n, i) => [n, round(pred.classProbs[i] ?? NaN)]));
  const scenes = Object.fromEntries(task.scenes.map((s, i) => [s, round(pred.sceneProbs[i] ?? NaN)]));
  let best = -1;
  pred.sceneProbs.forEach((p, i) => (best < 0 || p > pred.sceneProbs[best]! ? (best = i) : 0));
  const noClass = untrained.includes('class');
  const noScene = untrained.includes('scene');
  return {
    input,
    mask,
    shape: pred.shape,
    classes: noClass ? null : classes,
    scenes: noScene ? null : scenes,
    scene: best >= 0 && !noScene ? task.scenes[best]! : null,
    present: noClass ? null : names.filter((_, i) => (pred.classProbs[i] ?? 0) >= 0.5),
    segmented: presentClasses(pred.classIds, names.length).map((c) => names[c]!),
    windows: pred.windows,
    ...(untrained.length ? { untrained: [...untrained] } : {}),
  };
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeOut(file, `${JSON.stringify(value, null, 2)}\n`);
}

async function writeOut(file: string, data: Uint8Array | string): Promise<void> {
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, data);
  } catch (e) {
    throw new TdcError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: file });
  }
}
