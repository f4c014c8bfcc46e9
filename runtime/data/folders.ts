/**
 * The generic `folders` layout: `<root>/images/<stem>.{png,jpg,jpeg,bmp,nii,nii.gz}` with
 * `<root>/masks/<stem>.{png,bmp,nii,nii.gz}` and an optional `<root>/labels.csv` (or the spec's scene file):
 *
 *   id,scene[,<class name>,…]      optional header row, any names (required for class columns)
 *   case01,glaucoma,1,1,0
 *
 * The first column is the stem; the scene is a name from task.scenes or an index; class columns (0/1, named by class)
 * give the presence vector and then win over the one derived from the mask (for masks that annotate only some
 * classes). 2D masks are grey/palette values mapped through the classes' `values` (default: value = index), or
 * RGB colours when the classes carry colours; 3D images are NIfTI (a 4th dimension = channels), z-scored per
 * channel over non-zero voxels like BRATS18. docs/data.md draws the layout as a tree.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DataSpec, TaskSpec } from '../../spec/types.js';
import { presence } from './arrays.js';
import { zscoreBrainInto } from './brats18.js';
import { finish2d, greyValues, isSceneValue, requireFinite, volumeSize, listDir, loadImage, loadNifti, mapValues, parseCsv, requireRoot, sceneIndex, splitHeader, stem, toChannels, valueMap } from './common.js';
import { colorTable } from './robot18.js';
import { type DatasetReader, type LoadOptions, type Sample, type SampleDescriptor, dataError } from './types.js';

const IMAGE_EXT = /\.(png|jpe?g|bmp|nii|nii\.gz)$/i;
const MASK_EXTS = ['.png', '.bmp', '.nii.gz', '.nii'];

export interface FoldersReaderArgs {
  data: DataSpec;
  task: TaskSpec;
}

export class FoldersReader implements DatasetReader {
  readonly format = 'folders' as const;
  private readonly values: Map<number, number>;
  private colors?: Promise<Map<number, number>>;

  constructor(readonly args: FoldersReaderArgs) {
    this.values = valueMap(args.task.classes, []);
  }

  async list(): Promise<SampleDescriptor[]> {
    const { data, task } = this.args;
    await requireRoot(data.root);
    const images = (await listDir(path.join(data.root, 'images'))).filter((f) => IMAGE_EXT.test(f));
    const labels = await this.readLabels(new Set(images.map(stem)));
    const maskNames = await listDir(path.join(data.root, 'masks'));
    const maskByStem = new Map<string, string>();
    for (const m of maskNames) if (MASK_EXTS.some((e) => m.toLowerCase().endsWith(e))) maskByStem.set(stem(m), m);
    const out: SampleDescriptor[] = [];
    for (const f of images) {
      const s = stem(f);
      const maskName = maskByStem.get(s) ?? `${s}${task.dims === 3 ? '.nii.gz' : '.png'}`;
      const row = labels.get(s);
      out.push({
        id: s,
        group: s,
        files: { image: path.join(data.root, 'images', f), mask: path.join(data.root, 'masks', maskName) },
        scene: row?.scene ?? -1,
        ...(row?.classes ? { classes: row.classes } : {}),
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The scene file's rows by stem; `stems` (the images' stems) tell a header row from a data row. */
  private async readLabels(stems: ReadonlySet<string>): Promise<Map<string, { scene: number; classes?: number[] }>> {
    const { data, task } = this.args;
    const file = data.scenes.from === 'file' ? path.resolve(data.scenes.file) : path.join(data.root, 'labels.csv');
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch {
      if (data.scenes.from === 'file') throw dataError('bad-scene-file', `${file}: scene file not found`, file);
      return new Map();
    }
    // The first row is data when it names an image, or a scene and numeric class columns; else it is a header,
    // whatever its columns are called (id,scene · image,label · case,diagnosis,…).
    const isData = (r: string[]) => stems.has(r[0]!) || (isSceneValue(task, r[1] ?? '') && r.slice(2).every((f) => /^\d+(\.\d*)?$/.test(f)));
    const { header, rows } = splitHeader(parseCsv(text), isData);
    let classCols: number[] = [];
    if (header) {
      classCols = header.slice(2).map((name) => {
        const k = task.classes.findIndex((c) => c.name === name);
        if (k < 0) throw dataError('bad-scene-file', `${file}: header column '${name}' is not a class of the spec (expected id,scene[,<class name>,…]; classes: ${task.classes.map((c) => c.name).join(', ')})`, file);
        return k;
      });
    }
    const out = new Map<string, { scene: number; classes?: number[] }>();
    rows.forEach((r, i) => {
      const where = `line ${i + 1 + (header ? 1 : 0)}`;
      const scene = r[1] === undefined || r[1] === '' ? -1 : sceneIndex(task, r[1], where, file);
      let classes: number[] | undefined;
      if (classCols.length > 0) {
        classes = new Array<number>(task.classes.length).fill(0);
        classCols.forEach((k, j) => {
          classes![k] = Number(r[2 + j] ?? 0) > 0 ? 1 : 0;
        });
      }
      out.set(r[0]!, { scene, ...(classes ? { classes } : {}) });
    });
    return out;
  }

  async load(d: SampleDescriptor, opts?: LoadOptions): Promise<Sample> {
    const { task, data } = this.args;
    const sample = task.dims === 3 ? await this.load3d(d) : await this.load2d(d, data, opts);
    if (d.classes) sample.classes = Float32Array.from(d.classes);
    return sample;
  }

  private async load2d(d: SampleDescriptor, data: DataSpec, opts?: LoadOptions): Promise<Sample> {
    const { task } = this.args;
    const [img, lab] = await Promise.all([loadImage(d.files.image!), loadImage(d.files.mask!, `the mask of ${d.files.image}`)]);
    if (img.width !== lab.width || img.height !== lab.height) {
      throw dataError(
        'size-mismatch',
        `${d.files.mask}: mask is ${lab.height}×${lab.width} but its image ${d.files.image} is ${img.height}×${img.width} (height×width)`,
        d.files.mask,
      );
    }
    let mask: Int32Array;
    const coloured = lab.channels >= 3 && !lab.indices && task.classes.some((c) => c.color);
    if (coloured) {
      this.colors ??= colorTable(task, data.labelsFile ? path.resolve(data.labelsFile) : undefined);
      const table = await this.colors;
      const packed = new Int32Array(lab.width * lab.height);
      for (let p = 0; p < packed.length; p++) {
        const s = p * lab.channels;
        packed[p] = (lab.data[s]! << 16) | (lab.data[s + 1]! << 8) | lab.data[s + 2]!;
      }
      mask = mapValues(packed, table, d.files.mask!, [lab.height, lab.width], true);
    } else {
      mask = mapValues(greyValues(lab), this.values, d.files.mask!, [lab.height, lab.width]);
    }
    return finish2d(d, toChannels(img, task.channels), mask, img.height, img.width, task, opts?.nativeSize);
  }

  private async load3d(d: SampleDescriptor): Promise<Sample> {
    const { task } = this.args;
    const [vol, seg] = await Promise.all([loadNifti(d.files.image!), loadNifti(d.files.mask!, `the mask of ${d.files.image}`)]);
    const [X, Y, Z] = volumeSize(vol, d.files.image!, task.channels);
    const segSize = volumeSize(seg, d.files.mask!);
    if (segSize[0] !== X || segSize[1] !== Y || segSize[2] !== Z) {
      throw dataError('size-mismatch', `${d.files.mask}: mask is ${segSize.join('×')} but its image is ${X}×${Y}×${Z}`, d.files.mask);
    }
    const n = X * Y * Z;
    const c = vol.dims[3] ?? 1;
    if (c !== task.channels) {
      throw dataError('size-mismatch', `${d.files.image}: has ${c} channel(s), the task expects ${task.channels}`, d.files.image);
    }
    const all = vol.scaled();
    requireFinite(all, d.files.image!, [Z, Y, X]);
    const image = new Float32Array(n * c);
    for (let k = 0; k < c; k++) zscoreBrainInto(all.subarray(k * n, (k + 1) * n), image, c, k);
    const mask = mapValues(seg.scaled().subarray(0, n), this.values, d.files.mask!, [Z, Y, X]);
    const sp = vol.spacing;
    return {
      id: d.id,
      image,
      mask,
      shape: [Z, Y, X, c],
      spacing: [sp[2], sp[1], sp[0]],
      classes: presence(mask, task.classes.length),
      scene: d.scene,
    };
  }
}

export function foldersReader(args: FoldersReaderArgs): FoldersReader {
  return new FoldersReader(args);
}
