/**
 * Memory benchmark of the data loader (not a test): writes a BRATS18-layout stand-in (default 40 subjects at
 * 240×240×155) into a temp folder, streams training batches of 144×144×19 crops through `BatchSource` with
 * several cache sizes, and prints peak RSS, heap and typed-array memory against the cache size and dataset size.
 *
 *   npm run build && node dist/scripts/bench-data-memory.js [--subjects 40] [--size 240x240x155]
 *       [--batches 300] [--batch-size 2] [--caches 0,2,8] [--prefetch 1] [--data DIR (reuse / keep)]
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BatchSource, createReader, openDataset, synthesize } from '../runtime/data/index.js';
import type { DataSpec, TaskSpec } from '../spec/types.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const MB = 1024 * 1024;

async function duBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? await duBytes(p) : (await fs.stat(p)).size;
  }
  return total;
}

function baseData(root: string, crop: number[], batchSize: number, cache: number, prefetch: number): DataSpec {
  return {
    format: 'brats18',
    root,
    splits: {},
    scenes: { from: 'folder' },
    nestedDisc: false,
    augment: { hflip: 0.5, vflip: 0.5, zflip: 0.5, rgbShift: 0, brightness: [1, 1], contrast: [1, 1] },
    crop,
    batchSize,
    cache: { samples: cache, prefetch },
    onCorrupt: 'stop',
  };
}

async function main(): Promise<void> {
  const subjects = Number(arg('subjects', '40'));
  const size = arg('size', '240x240x155').split('x').map(Number);
  const batches = Number(arg('batches', '300'));
  const batchSize = Number(arg('batch-size', '2'));
  const caches = arg('caches', '0,2,8').split(',').map(Number);
  const prefetch = Number(arg('prefetch', '1'));
  const keep = process.argv.includes('--data');
  const root = keep ? path.resolve(arg('data', '')) : await fs.mkdtemp(path.join(tmpdir(), 'tdc-bench-brats-'));
  await tf.setBackend('cpu');

  const marker = path.join(root, 'HGG');
  if (!(await fs.stat(marker).catch(() => undefined))) {
    const t0 = Date.now();
    process.stdout.write(`writing ${subjects} subjects of ${size.join('×')} to ${root} …\n`);
    await synthesize('brats18', root, { n: subjects, seed: 1, size });
    process.stdout.write(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const onDisk = await duBytes(root);
  const [X, Y, Z] = size as [number, number, number];
  const decodedPerSubject = X * Y * Z * (4 * 4 + 4); // float32 × 4 modalities + int32 mask
  const crop = [Math.min(144, X), Math.min(144, Y), Math.min(19, Z)];
  const task: TaskSpec = {
    dims: 3,
    size: crop,
    channels: 4,
    modalities: ['t1', 't1ce', 't2', 'flair'],
    classes: ['background', 'ncr', 'ed', 'et'].map((name, i) => ({ name, values: [[0, 1, 2, 4][i]!], weight: 1 })),
    scenes: ['HGG', 'LGG'],
    regions: {},
  };
  const listed = (await createReader(baseData(root, crop, batchSize, 0, prefetch), task).list()).length;
  process.stdout.write(
    `dataset: ${listed} subjects, ${(onDisk / MB).toFixed(0)} MB on disk, ${(decodedPerSubject / MB).toFixed(1)} MB per decoded subject ` +
      `(${((listed * decodedPerSubject) / MB).toFixed(0)} MB if all were decoded); crops ${crop.join('×')}, batch ${batchSize}, prefetch ${prefetch}\n`,
  );
  process.stdout.write('cache  batches  decodes  peak RSS MB  peak heap MB  peak arrayBuffers MB  s/batch\n');
  for (const cache of caches) {
    const data = baseData(root, crop, batchSize, cache, prefetch);
    const ds = await openDataset({ data, task, seed: 1 });
    const src = new BatchSource({ dataset: ds, split: 'train', mode: 'train', seed: 1 });
    global.gc?.();
    let rss = 0;
    let heap = 0;
    let buffers = 0;
    const t0 = Date.now();
    for (let b = 0; b < batches; b++) {
      const batch = await src.next();
      // Touch the data as a training step would, then free it.
      await batch.image.data();
      tf.dispose([batch.image, batch.mask, batch.classes, batch.scene]);
      const m = process.memoryUsage();
      rss = Math.max(rss, m.rss);
      heap = Math.max(heap, m.heapUsed);
      buffers = Math.max(buffers, m.arrayBuffers);
    }
    const secs = (Date.now() - t0) / 1000 / batches;
    const info = src.cacheInfo();
    process.stdout.write(
      `${String(cache).padStart(5)}  ${String(batches).padStart(7)}  ${String(info.decodes).padStart(7)}  ${(rss / MB).toFixed(0).padStart(11)}  ${(heap / MB).toFixed(0).padStart(12)}  ${(buffers / MB).toFixed(0).padStart(20)}  ${secs.toFixed(2).padStart(7)}\n`,
    );
  }
  if (!keep) await fs.rm(root, { recursive: true, force: true });
}

await main();
