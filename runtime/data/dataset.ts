/**
 * The dataset factory: picks the reader for `data.format`, lists the samples once, assigns splits, and
 * computes the class/scene statistics the trainer prints and turns into class weights.
 */
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import type { DataSpec, TaskSpec } from '../../spec/types.js';
import { classCounts } from './arrays.js';
import { Brats18Reader } from './brats18.js';
import { FoldersReader } from './folders.js';
import { Refuge18Reader } from './refuge18.js';
import { Robot18Reader } from './robot18.js';
import { splitSamples, type SplitName } from './splits.js';
import { synthesize, type SynthResult } from './synth.js';
import { type DatasetReader, type LoadOptions, type Sample, type SampleDescriptor, dataError } from './types.js';

/** The reader for a data spec's layout. */
export function createReader(data: DataSpec, task: TaskSpec): DatasetReader {
  switch (data.format) {
    case 'robot18':
      return new Robot18Reader({ data, task });
    case 'refuge18':
      return new Refuge18Reader({ data, task });
    case 'brats18':
      return new Brats18Reader({ data, task });
    case 'folders':
      return new FoldersReader({ data, task });
  }
}

/** Where a layout looks for its samples, as one line (docs/data.md draws each layout as a tree). */
export function expectedLayout(data: DataSpec, task: TaskSpec): string {
  const r = data.root;
  switch (data.format) {
    case 'robot18':
      return `${r}/<sequence>/left_frames/<frame>.png with colour masks in ${r}/<sequence>/labels/<frame>.png`;
    case 'refuge18':
      return `${r}/Training400/{Glaucoma,Non-Glaucoma}/<stem>.jpg with masks in ${r}/Annotation-Training400/Disc_Cup_Masks/<folder>/<stem>.bmp`;
    case 'brats18':
      return `${r}/{HGG,LGG}/<subject>/<subject>_{${[...(task.modalities ?? ['t1', 't1ce', 't2', 'flair']), 'seg'].join(',')}}.nii.gz`;
    case 'folders':
      return task.dims === 3
        ? `${r}/images/<stem>.nii.gz with masks in ${r}/masks/<stem>.nii.gz`
        : `${r}/images/<stem>.{png,jpg,bmp} with masks in ${r}/masks/<stem>.png`;
  }
}

/** The one-line error for a root that lists no sample: where tdc looked and what it expected there. */
export function noSamplesMessage(data: DataSpec, task: TaskSpec): string {
  return `${data.root}: no ${data.format} samples found; expected ${expectedLayout(data, task)} (see docs/data.md)`;
}

/** Whether `root` still needs its generated stand-in: it does not exist, or it is an empty folder. */
export function needsStandIn(root: string): boolean {
  if (!existsSync(root)) return true;
  try {
    return readdirSync(root).length === 0;
  } catch {
    return false; // a file, or unreadable: the reader says what is wrong with it
  }
}

/**
 * `data.synthesize`: when set and the root does not exist (or is an empty folder), write a generated stand-in
 * there first (what `tdc train` does before opening the dataset). 2D stand-ins are written at task.size; 3D
 * volumes at least 48×48×16 and at least the training crop. The stand-in is written into a sibling folder and
 * renamed into place when whole, so a run stopped mid-way never leaves a partial dataset that the next run would
 * take for the real one. Returns undefined when nothing had to be written.
 */
export async function ensureDataset(data: DataSpec, task: TaskSpec): Promise<SynthResult | undefined> {
  if (!data.synthesize || !needsStandIn(data.root)) return undefined;
  if (data.format === 'folders') {
    throw dataError('missing-root', `${data.root}: dataset folder not found (data.synthesize has no stand-in for the folders layout)`, data.root);
  }
  const crop = data.crop ?? task.size;
  const size = task.dims === 3 ? [48, 48, 16].map((d, i) => Math.max(d, crop[i] ?? 0)) : task.size;
  const colors = task.classes.flatMap((c) => (c.color ? [c.color] : []));
  const root = path.resolve(data.root);
  const partial = `${root}.partial-${process.pid}`;
  await fs.rm(partial, { recursive: true, force: true });
  try {
    const written = await synthesize(data.format, partial, {
      n: data.synthesize.n,
      seed: data.synthesize.seed,
      size,
      ...(colors.length === task.classes.length ? { colors } : {}),
    });
    await fs.mkdir(path.dirname(root), { recursive: true });
    try {
      await fs.rename(partial, root); // replaces an empty folder; fails on a non-empty one
    } catch (err) {
      if (!needsStandIn(root)) return undefined; // another process wrote it meanwhile: keep theirs
      throw err;
    }
    const moved = (file: string | undefined) => (file === undefined ? undefined : path.join(root, path.relative(partial, file)));
    const labelsFile = moved(written.labelsFile);
    const scenesFile = moved(written.scenesFile);
    return { ...written, root, ...(labelsFile ? { labelsFile } : {}), ...(scenesFile ? { scenesFile } : {}) };
  } finally {
    await fs.rm(partial, { recursive: true, force: true });
  }
}

export interface DatasetArgs {
  /** The resolved data spec. */
  data: DataSpec;
  /** The resolved task spec. */
  task: TaskSpec;
  /** Seed for `splits.valFraction` (use train.seed so the split is part of the experiment's identity). */
  seed: number;
  /** A reader to use instead of the format's own (tests count decodes through it). */
  reader?: DatasetReader;
}

export class Dataset {
  private constructor(
    readonly data: DataSpec,
    readonly task: TaskSpec,
    readonly reader: DatasetReader,
    /** Every listed sample, sorted by id. */
    readonly samples: SampleDescriptor[],
    readonly splits: Record<SplitName, SampleDescriptor[]>,
  ) {}

  static async open(args: DatasetArgs): Promise<Dataset> {
    const reader = args.reader ?? createReader(args.data, args.task);
    const samples = await reader.list();
    if (samples.length === 0) {
      throw dataError('no-samples', noSamplesMessage(args.data, args.task), args.data.root);
    }
    return new Dataset(args.data, args.task, reader, samples, splitSamples(samples, args.data.splits, args.seed));
  }

  load(d: SampleDescriptor, opts?: LoadOptions): Promise<Sample> {
    return this.reader.load(d, opts);
  }
}

export function openDataset(args: DatasetArgs): Promise<Dataset> {
  return Dataset.open(args);
}

/** Class and scene statistics of a set of samples. */
export interface DatasetStats {
  samples: number;
  /** Pixels/voxels per class. */
  pixels: number[];
  /** pixels[k] / all pixels. */
  frequency: number[];
  /** Number of samples in which class k is present (per the presence vector). */
  present: number[];
  /** Number of samples per scene (index -1 unknown is counted in `unknownScene`). */
  scenes: number[];
  unknownScene: number;
  /**
   * Median-frequency balancing (Eigen & Fergus 2015): median(f) / f_k over the classes that occur, where f_k
   * is class k's pixels over the pixels of the samples containing k; 1 for a class that never occurs.
   */
  classWeights: number[];
}

/** Accumulates statistics sample by sample, so no full split has to sit in memory. */
export class StatsAccumulator {
  private n = 0;
  private readonly pixels: Float64Array;
  private readonly pixelsWhere: Float64Array;
  private readonly present: Float64Array;
  private readonly scenes: Float64Array;
  private unknown = 0;

  constructor(readonly numClasses: number, readonly numScenes: number) {
    this.pixels = new Float64Array(numClasses);
    this.pixelsWhere = new Float64Array(numClasses);
    this.present = new Float64Array(numClasses);
    this.scenes = new Float64Array(numScenes);
  }

  add(s: Sample): void {
    this.n++;
    const counts = classCounts(s.mask, this.numClasses);
    for (let k = 0; k < this.numClasses; k++) {
      this.pixels[k]! += counts[k]!;
      if (counts[k]! > 0) this.pixelsWhere[k]! += s.mask.length;
      if (s.classes[k] === 1) this.present[k]!++;
    }
    if (s.scene >= 0 && s.scene < this.numScenes) this.scenes[s.scene]!++;
    else this.unknown++;
  }

  result(): DatasetStats {
    const total = this.pixels.reduce((a, b) => a + b, 0);
    const f = Array.from(this.pixels, (p, k) => (p > 0 ? p / this.pixelsWhere[k]! : 0));
    const occurring = f.filter((v) => v > 0).sort((a, b) => a - b);
    const mid = occurring.length;
    const median = mid === 0 ? 1 : mid % 2 ? occurring[(mid - 1) / 2]! : (occurring[mid / 2 - 1]! + occurring[mid / 2]!) / 2;
    return {
      samples: this.n,
      pixels: Array.from(this.pixels),
      frequency: Array.from(this.pixels, (p) => (total > 0 ? p / total : 0)),
      present: Array.from(this.present),
      scenes: Array.from(this.scenes),
      unknownScene: this.unknown,
      classWeights: f.map((v) => (v > 0 ? median / v : 1)),
    };
  }
}

/**
 * Statistics of one split, decoding its samples one at a time (at most `limit`, spread evenly over the split,
 * for datasets too big to scan before training).
 */
export async function datasetStats(dataset: Dataset, split: SplitName = 'train', limit = Infinity): Promise<DatasetStats> {
  const items = dataset.splits[split];
  const acc = new StatsAccumulator(dataset.task.classes.length, dataset.task.scenes.length);
  const take = Math.min(items.length, limit);
  for (let i = 0; i < take; i++) {
    const idx = take === items.length ? i : Math.floor((i * items.length) / take);
    acc.add(await dataset.load(items[idx]!));
  }
  return acc.result();
}

/** A small table for the trainer's log: one line per class, then the scenes. */
export function formatStats(stats: DatasetStats, task: TaskSpec): string {
  const width = Math.max(...task.classes.map((c) => c.name.length), 5);
  const lines = [`${stats.samples} samples`];
  task.classes.forEach((c, k) => {
    lines.push(
      `  ${c.name.padEnd(width)}  ${(100 * stats.frequency[k]!).toFixed(2).padStart(6)}% pixels  in ${stats.present[k]} samples  weight ${stats.classWeights[k]!.toFixed(3)}`,
    );
  });
  const scenes = task.scenes.map((s, i) => `${s} ${stats.scenes[i]}`).join(', ');
  lines.push(`  scenes: ${scenes}${stats.unknownScene ? `, unknown ${stats.unknownScene}` : ''}`);
  return lines.join('\n');
}
