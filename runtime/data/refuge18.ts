/**
 * The REFUGE18 layout: fundus JPEGs in `<root>/Training400/{Glaucoma,Non-Glaucoma}/*.jpg`, disc/cup masks in
 * `<root>/Annotation-Training400/Disc_Cup_Masks/{Glaucoma,Non-Glaucoma}/<stem>.bmp` (grey 0 = cup, 128 = disc
 * rim, 255 = background); the scene comes from the folder.
 *
 * Nested disc (`data.nestedDisc`): the optic disc is rim + cup, but a segmentation head predicts one label per
 * pixel. So the segmentation target keeps the three exclusive labels (background, rim → disc class, cup → cup
 * class), and only the *presence* vector nests: the disc class is present when rim or cup pixels are. Metrics
 * that want the whole disc take the union of the disc and cup labels. Grey values map to classes through the
 * classes' `values` (default by index: 255, 128, 0); the disc class is the one whose values hold 128, the cup
 * class the one holding 0. Without nestedDisc, presence is plain (disc present iff rim pixels are).
 */
import * as path from 'node:path';
import type { DataSpec, TaskSpec } from '../../spec/types.js';
import { finish2d, folderScene, greyValues, isDir, listDir, loadImage, mapValues, requireRoot, stem, toChannels, valueMap } from './common.js';
import { type DatasetReader, type LoadOptions, type Sample, type SampleDescriptor, dataError } from './types.js';

export const REFUGE_DEFAULT_VALUES = [255, 128, 0];
export const REFUGE_FOLDERS = ['Glaucoma', 'Non-Glaucoma'];

export interface Refuge18ReaderArgs {
  data: DataSpec;
  task: TaskSpec;
}

export class Refuge18Reader implements DatasetReader {
  readonly format = 'refuge18' as const;
  private readonly values: Map<number, number>;
  private readonly disc: number;
  private readonly cup: number;

  constructor(readonly args: Refuge18ReaderArgs) {
    const classes = args.task.classes;
    this.values = valueMap(classes, REFUGE_DEFAULT_VALUES);
    const holds = (v: number): number =>
      classes.findIndex((c, i) => (c.values ?? [REFUGE_DEFAULT_VALUES[i]]).includes(v));
    this.disc = holds(128);
    this.cup = holds(0);
  }

  async list(): Promise<SampleDescriptor[]> {
    const { data, task } = this.args;
    await requireRoot(data.root);
    const out: SampleDescriptor[] = [];
    const imageRoot = path.join(data.root, 'Training400');
    const maskRoot = path.join(data.root, 'Annotation-Training400', 'Disc_Cup_Masks');
    for (const folder of await listDir(imageRoot)) {
      if (!(await isDir(path.join(imageRoot, folder)))) continue;
      const scene = folderScene(task, folder);
      for (const f of await listDir(path.join(imageRoot, folder))) {
        if (!/\.(jpe?g|png|bmp)$/i.test(f)) continue;
        const s = stem(f);
        out.push({
          id: `${folder}/${s}`,
          group: s,
          files: { image: path.join(imageRoot, folder, f), mask: path.join(maskRoot, folder, `${s}.bmp`) },
          scene,
        });
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async load(d: SampleDescriptor, opts?: LoadOptions): Promise<Sample> {
    const { task, data } = this.args;
    const [img, lab] = await Promise.all([loadImage(d.files.image!), loadImage(d.files.mask!, `the mask of ${d.files.image}`)]);
    if (img.width !== lab.width || img.height !== lab.height) {
      throw dataError(
        'size-mismatch',
        `${d.files.mask}: mask is ${lab.height}×${lab.width} but its image ${d.files.image} is ${img.height}×${img.width} (height×width)`,
        d.files.mask,
      );
    }
    const mask = mapValues(greyValues(lab), this.values, d.files.mask!, [lab.height, lab.width]);
    const sample = finish2d(d, toChannels(img, task.channels), mask, img.height, img.width, task, opts?.nativeSize);
    if (data.nestedDisc && this.disc >= 0 && this.cup >= 0 && sample.classes[this.cup] === 1) {
      sample.classes[this.disc] = 1;
    }
    return sample;
  }
}

export function refuge18Reader(args: Refuge18ReaderArgs): Refuge18Reader {
  return new Refuge18Reader(args);
}
