/**
 * The BRATS18 layout: `<root>/{HGG,LGG}/<subject>/<subject>_{t1,t1ce,t2,flair,seg}.nii.gz`. Each modality is
 * z-scored over its brain voxels (the non-zero ones; the background stays 0), the four become the channels of a
 * [Z, Y, X, C] volume, and the BraTS labels 0/1/2/4 map to classes through the classes' `values` (default by
 * index: 0, 1, 2, 4). The scene (HGG/LGG) comes from the folder.
 */
import * as path from 'node:path';
import type { DataSpec, TaskSpec } from '../../spec/types.js';
import { presence } from './arrays.js';
import { folderScene, isDir, listDir, loadNifti, mapValues, requireFinite, requireRoot, valueMap, volumeSize } from './common.js';
import { type DatasetReader, type Sample, type SampleDescriptor , dataError } from './types.js';

export const BRATS_MODALITIES = ['t1', 't1ce', 't2', 'flair'];
export const BRATS_DEFAULT_VALUES = [0, 1, 2, 4];

/**
 * Z-score of one modality over its non-zero voxels (population standard deviation, in float64), written into
 * channel `k` of the channels-last `out` (stride `c`), so a volume is normalised and interleaved in two passes
 * without an intermediate copy. Background voxels stay 0. A modality with no brain voxels stays all 0, a
 * constant one is only centred: dividing by 0 would poison a batch.
 */
export function zscoreBrainInto(values: ArrayLike<number>, out: Float32Array, c = 1, k = 0): void {
  let n = 0;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v !== 0) {
      n++;
      sum += v;
    }
  }
  if (n === 0) return;
  const mean = sum / n;
  // Second pass for the variance about the mean (not E[x²] − mean², which cancels badly for large intensities).
  let sq = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v !== 0) sq += (v - mean) * (v - mean);
  }
  const std = Math.sqrt(sq / n);
  const inv = std > 0 ? 1 / std : 1;
  for (let i = 0, o = k; i < values.length; i++, o += c) {
    const v = values[i]!;
    out[o] = v !== 0 ? (v - mean) * inv : 0;
  }
}

/** The z-score of one modality as its own array (see zscoreBrainInto). */
export function zscoreBrain(values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(values.length);
  zscoreBrainInto(values, out);
  return out;
}

export interface Brats18ReaderArgs {
  data: DataSpec;
  task: TaskSpec;
}

export class Brats18Reader implements DatasetReader {
  readonly format = 'brats18' as const;
  private readonly values: Map<number, number>;
  readonly modalities: string[];

  constructor(readonly args: Brats18ReaderArgs) {
    this.values = valueMap(args.task.classes, BRATS_DEFAULT_VALUES);
    this.modalities = args.task.modalities ?? BRATS_MODALITIES;
  }

  async list(): Promise<SampleDescriptor[]> {
    const { data, task } = this.args;
    await requireRoot(data.root);
    const out: SampleDescriptor[] = [];
    for (const folder of await listDir(data.root)) {
      const dir = path.join(data.root, folder);
      if (!(await isDir(dir))) continue;
      const scene = folderScene(task, folder);
      for (const subject of await listDir(dir)) {
        const sdir = path.join(dir, subject);
        if (!(await isDir(sdir))) continue;
        const present = new Set(await listDir(sdir));
        const pick = (role: string): string => {
          const gz = `${subject}_${role}.nii.gz`;
          return path.join(sdir, present.has(gz) || !present.has(`${subject}_${role}.nii`) ? gz : `${subject}_${role}.nii`);
        };
        const files: Record<string, string> = {};
        for (const m of [...this.modalities, 'seg']) files[m] = pick(m);
        out.push({ id: `${folder}/${subject}`, group: subject, files, scene });
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async load(d: SampleDescriptor): Promise<Sample> {
    const roles = [...this.modalities, 'seg'];
    // Read in parallel; a problem is reported for the first volume in modality order (Promise.all would report
    // whichever read failed first in time, so a subject missing two modalities named either one).
    const reads = await Promise.allSettled(roles.map((r) => loadNifti(d.files[r]!, `the ${r} volume of subject ${d.id}`)));
    const vols = reads.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
    const seg = vols[vols.length - 1]!;
    const [X, Y, Z] = volumeSize(seg, d.files.seg!);
    vols.forEach((v, i) => {
      const [x, y, z] = volumeSize(v, d.files[roles[i]!]!);
      if (x !== X || y !== Y || z !== Z) {
        throw dataError(
          'size-mismatch',
          `${d.files[roles[i]!]}: volume is ${x}×${y}×${z} but ${path.basename(d.files.seg!)} is ${X}×${Y}×${Z}`,
          d.files[roles[i]!],
        );
      }
    });
    const n = X * Y * Z;
    const c = this.modalities.length;
    const image = new Float32Array(n * c);
    for (let k = 0; k < c; k++) {
      const values = vols[k]!.scaled();
      requireFinite(values, d.files[roles[k]!]!, [Z, Y, X]);
      zscoreBrainInto(values, image, c, k);
    }
    const mask = mapValues(seg.scaled().subarray(0, n), this.values, d.files.seg!, [Z, Y, X]);
    const sp = seg.spacing;
    return {
      id: d.id,
      image,
      mask,
      shape: [Z, Y, X, c],
      spacing: [sp[2] ?? 1, sp[1] ?? 1, sp[0] ?? 1],
      classes: presence(mask, this.args.task.classes.length),
      scene: d.scene,
    };
  }
}

export function brats18Reader(args: Brats18ReaderArgs): Brats18Reader {
  return new Brats18Reader(args);
}
