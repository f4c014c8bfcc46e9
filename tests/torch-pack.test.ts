/**
 * `tdc pack` of each example's generated stand-in data reads back as exactly the samples tdc's own loader yields
 * (image, mask, spacing, presence, scene per split), a second pack of unchanged inputs writes nothing, and the
 * generated data.py serves the arrays tdc's loader feeds the network (channels-first, cropped and normalised by
 * task.normalize as the loader does: pack stores the reader's values, data.py normalises).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { applyBuild, planBuild } from '../compiler/cli/commands/build.js';
import { createNodeHost } from '../compiler/cli/host.js';
import { findTorchPython } from '../compiler/cli/torch-python.js';
import { dataHash, defaultPackDir, specHash } from '../compiler/emit/index.js';
import { compile } from '../compiler/pipeline.js';
import * as tf from '@tensorflow/tfjs';
import { BatchSource, datasetFingerprint, ensureDataset, inputNormalization, openDataset, packDataset, readPackIndex } from '../runtime/data/index.js';
import { readNpy } from '../runtime/io/npy.js';
import { resolveDataPaths } from '../runtime/program.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'tdc-torch-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const found = findTorchPython();

const SIZES: Record<string, (dir: string) => string[]> = {
  // The scene file inside the test's data root (the spec's points at the repository's .tdc/data, absent in a fresh clone).
  quickstart: (dir) => ['data.synthesize.n=8', `data.scenes={from: file, file: ${join(dir, 'data', 'scenes.csv')}}`],
  robot18: (dir) => [
    `data.labels_file=${join(dir, 'data', 'labels.json')}`,
    `data.scenes={from: file, file: ${join(dir, 'data', 'scenes.csv')}}`,
    'data.splits={val_fraction: 0.34}',
    'data.synthesize={n: 6, seed: 1}',
    'task.size=[32,48]',
  ],
  brats18: () => ['task.size=[24,24,3]', 'data.crop=[24,24,3]', 'data.synthesize.n=3'],
  refuge18: () => ['task.size=[32,32]', 'data.synthesize.n=6'],
};

describe.each(Object.keys(SIZES))('tdc pack: %s', (name) => {
  test('reads back as the loader yields; idempotent; data.py serves the same arrays', { timeout: 60_000 }, async () => {
    const dir = join(work, name);
    const overrides = [`data.root=${join(dir, 'data')}`, ...SIZES[name]!(dir)];
    const r = compile(join(repoRoot, 'examples', `${name}.yaml`), createNodeHost(), overrides);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const spec = r.spec!;
    const data = resolveDataPaths(spec.data, join(repoRoot, 'examples'));
    await ensureDataset(data, spec.task);
    const dataset = await openDataset({ data, task: spec.task, seed: spec.train.seed });
    const out = join(dir, 'pack');
    const meta = { dataHash: dataHash(spec), spec: `examples/${name}.yaml`, specHash: specHash(spec), name: spec.name };
    const key = `${meta.dataHash}\n${datasetFingerprint(dataset)}`;
    expect(await packDataset({ dataset, out, key, meta })).toBe(true);
    const mtime = statSync(join(out, 'pack.json')).mtimeMs;
    expect(await packDataset({ dataset, out, key, meta })).toBe(false);
    expect(statSync(join(out, 'pack.json')).mtimeMs).toBe(mtime);

    const index = readPackIndex(out)!;
    let count = 0;
    for (const split of ['train', 'val', 'test'] as const) {
      expect(index.splits[split].map((s) => s.id)).toEqual(dataset.splits[split].map((d) => d.id));
      for (const [i, entry] of index.splits[split].entries()) {
        const s = await dataset.load(dataset.splits[split][i]!);
        const image = readNpy(join(out, entry.image));
        const mask = readNpy(join(out, entry.mask));
        expect(image.shape).toEqual(s.shape);
        expect(mask.shape).toEqual(s.shape.slice(0, -1));
        expect(Buffer.from(new Float32Array(image.data as Float32Array).buffer).equals(Buffer.from(s.image.buffer, s.image.byteOffset, s.image.byteLength))).toBe(true);
        expect(Array.from(mask.data)).toEqual(Array.from(s.mask));
        expect(entry.spacing).toEqual(s.spacing);
        expect(entry.classes).toEqual(Array.from(s.classes));
        expect(entry.scene).toBe(s.scene);
        count++;
      }
    }
    expect(count).toBe(dataset.samples.length);

    // data.py: the first val sample as the generated project serves it (eval mode: centre crop, no augmentation).
    if (!('python' in found)) return;
    const plan = await planBuild({ spec: `examples/${name}.yaml`, outDir: join(dir, 'build'), cwd: repoRoot, overrides, target: 'torch' });
    applyBuild({ ...plan, cwd: dir });
    expect(defaultPackDir(spec.name)).toBe(`.tdc/pack/${spec.name}`);
    const script = [
      'import sys, numpy as np',
      `sys.path.insert(0, ${JSON.stringify(plan.outDir)})`,
      'import data',
      `index = data.open_pack(${JSON.stringify(out)})`,
      `split = data.PackedSplit(${JSON.stringify(out)}, index, "val", False, 0)`,
      'item = split[(0, 0)]',
      `np.save(${JSON.stringify(join(dir, 'x.npy'))}, item["image"].numpy())`,
      `np.save(${JSON.stringify(join(dir, 'm.npy'))}, item["mask"].numpy())`,
    ].join('\n');
    writeFileSync(join(dir, 'read.py'), script);
    const py = spawnSync(found.python, [join(dir, 'read.py')], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const served = readNpy(join(dir, 'x.npy'));
    // What tdc's loader feeds the network for that sample: centre crop, task.normalize (robot18 and refuge18:
    // imagenet-caffe; brats18: zscore; quickstart: auto = unit).
    const source = new BatchSource({ dataset, split: 'val', mode: 'eval', seed: spec.train.seed, batchSize: 1, warn: () => {} });
    const batch = await source.next();
    const fed = await batch.image.data();
    const fedMask = await batch.mask.data();
    const fedShape = batch.image.shape.slice(1);
    tf.dispose([batch.image, batch.mask, batch.classes, batch.scene]);
    const c = fedShape[fedShape.length - 1]!;
    const per = fed.length / c;
    expect(served.shape).toEqual([c, ...fedShape.slice(0, -1)]);
    let worst = 0;
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < per; p++) worst = Math.max(worst, Math.abs(served.data[ch * per + p]! - fed[p * c + ch]!));
    expect(worst, `${name}: data.py's image against the loader's (normalize ${inputNormalization(spec.task)})`).toBeLessThan(1e-6);
    expect(Array.from(readNpy(join(dir, 'm.npy')).data)).toEqual(Array.from(fedMask));
  });
});
