/** Resolved task/data specs for the dataset tests (what the compiler front end would produce), and temp dirs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { DataFormat, DataSpec, TaskSpec } from '../spec/types.js';
import { ENDOVIS_CLASSES } from '../runtime/data/index.js';

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `tdc-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const NO_AUGMENT = { hflip: 0, vflip: 0, zflip: 0, rgbShift: 0, brightness: [1, 1] as [number, number], contrast: [1, 1] as [number, number] };

export function dataSpec(format: DataFormat, root: string, extra: Partial<DataSpec> = {}): DataSpec {
  return {
    format,
    root,
    splits: {},
    scenes: { from: 'folder' },
    nestedDisc: false,
    augment: NO_AUGMENT,
    batchSize: 2,
    cache: { samples: 4, prefetch: 1 },
    onCorrupt: 'stop',
    ...extra,
  };
}

export function robotTask(size: number[] = [8, 10]): TaskSpec {
  return {
    dims: 2,
    size,
    channels: 3,
    classes: ENDOVIS_CLASSES.map((c) => ({ name: c.name, color: c.color, weight: 1 })),
    scenes: ['preparing', 'peeling', 'incising'],
    regions: {},
  };
}

export function refugeTask(size: number[] = [8, 8]): TaskSpec {
  return {
    dims: 2,
    size,
    channels: 3,
    classes: [
      { name: 'background', values: [255], weight: 1 },
      { name: 'disc', values: [128], weight: 1 },
      { name: 'cup', values: [0], weight: 1 },
    ],
    scenes: ['glaucoma', 'normal'],
    regions: {},
  };
}

export function bratsTask(size: number[] = [6, 5, 4]): TaskSpec {
  return {
    dims: 3,
    size,
    channels: 4,
    modalities: ['t1', 't1ce', 't2', 'flair'],
    classes: [
      { name: 'background', values: [0], weight: 1 },
      { name: 'ncr', values: [1], weight: 1 },
      { name: 'ed', values: [2], weight: 1 },
      { name: 'et', values: [4], weight: 1 },
    ],
    scenes: ['HGG', 'LGG'],
    regions: { WT: ['ncr', 'ed', 'et'], TC: ['ncr', 'et'], ET: ['et'] },
  };
}
