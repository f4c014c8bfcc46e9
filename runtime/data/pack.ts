/**
 * `tdc pack`: a dataset run once through tdc's readers, splits and normalisation and written as memory-mappable
 * .npy arrays plus one JSON index (`pack.json`), for the generated PyTorch project (data.py) to read without a
 * second set of readers — the way nnU-Net preprocesses to .npy. One sample at a time (bounded memory), into a
 * temporary folder renamed into place at the end, so a pack folder is always whole; a pack whose `key` matches is
 * left alone (idempotent).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encodeNpy } from '../io/npy.js';
import type { Dataset } from './dataset.js';
import type { SplitName } from './splits.js';

export const PACK_FORMAT = 'tdc-pack-1';

/** One packed sample as pack.json lists it (paths relative to the pack folder). */
export interface PackedSample {
  id: string;
  /** float32, channels-last: 2D [H, W, C] in 0..255; 3D [Z, Y, X, C] z-scored (what the reader yields). */
  image: string;
  /** Class ids: uint8 when K ≤ 256, else int32; the image's shape without C. */
  mask: string;
  shape: number[];
  spacing: number[];
  classes: number[];
  scene: number;
}

export interface PackIndex {
  format: typeof PACK_FORMAT;
  /** What the pack was made from (data + task + split seed, see compiler/emit dataHash) and of which inputs. */
  key: string;
  dataHash: string;
  spec: string;
  specHash: string;
  name: string;
  dataFormat: string;
  root: string;
  dims: 2 | 3;
  classes: string[];
  scenes: string[];
  splits: Record<SplitName, PackedSample[]>;
}

export interface PackArgs {
  dataset: Dataset;
  out: string;
  /** Identity of the inputs: a pack with the same key is current. */
  key: string;
  meta: Pick<PackIndex, 'dataHash' | 'spec' | 'specHash' | 'name'>;
  /** Called after each sample (done, total). */
  progress?: (done: number, total: number, split: SplitName) => void;
}

/** The pack.json of a folder, or undefined when there is none (or it is unreadable). */
export function readPackIndex(dir: string): PackIndex | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dir, 'pack.json'), 'utf8')) as PackIndex;
    return v.format === PACK_FORMAT ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The sample files' sizes and modification times, in listing order: changes when the dataset on disk changes. */
export function datasetFingerprint(dataset: Dataset): string {
  const parts: string[] = [];
  for (const d of dataset.samples) {
    for (const role of Object.keys(d.files).sort()) {
      const f = d.files[role]!;
      try {
        const st = statSync(f);
        parts.push(`${d.id}:${role}:${st.size}:${st.mtimeMs}`);
      } catch {
        parts.push(`${d.id}:${role}:missing`);
      }
    }
  }
  return parts.join('\n');
}

/** Writes the pack; returns false when the folder already holds a pack with the same key (nothing written). */
export async function packDataset(a: PackArgs): Promise<boolean> {
  if (readPackIndex(a.out)?.key === a.key) return false;
  const { dataset } = a;
  const tmp = `${a.out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const k = dataset.task.classes.length;
  const splits = { train: [], val: [], test: [] } as Record<SplitName, PackedSample[]>;
  const total = dataset.splits.train.length + dataset.splits.val.length + dataset.splits.test.length;
  let done = 0;
  try {
    for (const split of ['train', 'val', 'test'] as const) {
      const items = dataset.splits[split];
      if (items.length) mkdirSync(join(tmp, split));
      for (let i = 0; i < items.length; i++) {
        const s = await dataset.load(items[i]!);
        const base = `${split}/${String(i).padStart(6, '0')}`;
        const spatial = s.shape.slice(0, -1);
        writeFileSync(join(tmp, `${base}.image.npy`), encodeNpy(s.image, s.shape));
        writeFileSync(join(tmp, `${base}.mask.npy`), encodeNpy(k <= 256 ? Uint8Array.from(s.mask) : s.mask, spatial));
        splits[split].push({
          id: s.id,
          image: `${base}.image.npy`,
          mask: `${base}.mask.npy`,
          shape: s.shape,
          spacing: s.spacing,
          classes: Array.from(s.classes),
          scene: s.scene,
        });
        a.progress?.(++done, total, split);
      }
    }
    const index: PackIndex = {
      format: PACK_FORMAT,
      key: a.key,
      ...a.meta,
      dataFormat: dataset.data.format,
      root: dataset.data.root,
      dims: dataset.task.dims,
      classes: dataset.task.classes.map((c) => c.name),
      scenes: [...dataset.task.scenes],
      splits,
    };
    // pack.json last: its presence marks a whole pack.
    writeFileSync(join(tmp, 'pack.json'), `${JSON.stringify(index, null, 1)}\n`);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  mkdirSync(dirname(a.out), { recursive: true });
  const old = `${a.out}.old-${process.pid}`;
  if (existsSync(a.out)) renameSync(a.out, old);
  renameSync(tmp, a.out);
  rmSync(old, { recursive: true, force: true });
  return true;
}
