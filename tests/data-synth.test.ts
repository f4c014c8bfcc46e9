import { afterAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { existsSync, promises as fs } from 'node:fs';
import { openDataset, synthesize, scanDataset, datasetStats, ensureDataset } from '../runtime/data/index.js';
import { bratsTask, dataSpec, refugeTask, robotTask, tempDir } from './data-helpers.js';

const tmp = tempDir('synth');
afterAll(() => tmp.cleanup());

describe('synthesize', () => {
  it('robot18 stand-in loads through the reader with scenes from scenes.csv', async () => {
    const root = path.join(tmp.dir, 'robot18');
    const r = await synthesize('robot18', root, { n: 6, seed: 3, size: [32, 40] });
    const task = robotTask([32, 40]);
    const data = dataSpec('robot18', root, { labelsFile: r.labelsFile, scenes: { from: 'file', file: r.scenesFile! } });
    const ds = await openDataset({ data, task, seed: 1 });
    expect(ds.samples.map((s) => s.id)).toEqual(r.ids);
    expect(new Set(ds.samples.map((s) => s.scene))).toEqual(new Set([0, 1, 2]));
    const stats = await datasetStats(ds);
    expect(stats.samples).toBe(6);
    expect(stats.present[1]).toBeGreaterThan(0); // instrument shafts appear
    // Scene-dependent content: the background tissue colour orders preparing > peeling > incising in red.
    const red = [0, 0, 0];
    const cnt = [0, 0, 0];
    for (const d of ds.samples) {
      const smp = await ds.load(d);
      for (let i = 0; i < smp.mask.length; i++) {
        if (smp.mask[i] !== 0) continue;
        red[smp.scene]! += smp.image[i * 3]!;
        cnt[smp.scene]!++;
      }
    }
    const mean = red.map((r, k) => r / cnt[k]!);
    expect(mean[0]).toBeGreaterThan(mean[1]! + 10);
    expect(mean[1]).toBeGreaterThan(mean[2]! + 5);
    const scan = await scanDataset({ data, task });
    expect(scan.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('refuge18 stand-in loads with scenes from the folders and nested cup in disc', async () => {
    const root = path.join(tmp.dir, 'refuge18');
    const r = await synthesize('refuge18', root, { n: 4, seed: 3, size: [48, 48] });
    const task = refugeTask([48, 48]);
    const ds = await openDataset({ data: dataSpec('refuge18', root, { nestedDisc: true }), task, seed: 1 });
    expect(ds.samples.map((s) => s.id)).toEqual(r.ids);
    const s = await ds.load(ds.samples[0]!);
    expect(Array.from(s.classes)).toEqual([1, 1, 1]);
    expect(ds.samples.map((d) => d.scene).sort()).toEqual([0, 0, 1, 1]);
  });

  it('brats18 stand-in loads with nested tumour labels and z-scored modalities', async () => {
    const root = path.join(tmp.dir, 'brats18');
    const r = await synthesize('brats18', root, { n: 2, seed: 3, size: [24, 24, 8] });
    const ds = await openDataset({ data: dataSpec('brats18', root), task: bratsTask([24, 24, 8]), seed: 1 });
    expect(ds.samples.map((s) => s.id)).toEqual(r.ids);
    const hgg = await ds.load(ds.samples[0]!);
    expect(hgg.shape).toEqual([8, 24, 24, 4]);
    expect(hgg.spacing).toEqual([155 / 8, 10, 10]);
    expect(Array.from(hgg.classes)).toEqual([1, 1, 1, 1]);
    expect(hgg.scene).toBe(0);
  });

  it('ensureDataset writes a stand-in only when data.synthesize is set and the root is missing', async () => {
    const root = path.join(tmp.dir, 'ensure');
    const task = robotTask([16, 20]);
    const data = dataSpec('robot18', root, { synthesize: { n: 3, seed: 1 }, scenes: { from: 'file', file: path.join(root, 'scenes.csv') } });
    const first = await ensureDataset(data, task);
    expect(first?.ids).toHaveLength(3);
    expect(await ensureDataset(data, task)).toBeUndefined();
    const ds = await openDataset({ data, task, seed: 0 });
    expect((await ds.load(ds.samples[0]!)).shape).toEqual([16, 20, 3]);
    expect(await ensureDataset(dataSpec('robot18', path.join(tmp.dir, 'none')), task)).toBeUndefined();
  });

  it('ensureDataset fills an empty root folder, and leaves no partial folder beside it', async () => {
    const root = path.join(tmp.dir, 'empty');
    await fs.mkdir(root);
    const task = robotTask([16, 20]);
    const data = dataSpec('robot18', root, { synthesize: { n: 2, seed: 1 }, scenes: { from: 'file', file: path.join(root, 'scenes.csv') } });
    const made = await ensureDataset(data, task);
    expect(made?.ids).toHaveLength(2);
    expect(made?.scenesFile).toBe(path.join(root, 'scenes.csv'));
    expect(existsSync(path.join(root, 'scenes.csv'))).toBe(true);
    expect((await fs.readdir(tmp.dir)).filter((f) => f.includes('.partial-'))).toEqual([]);
    const ds = await openDataset({ data, task, seed: 0 });
    expect(ds.samples).toHaveLength(2);
  });

  it('ensureDataset never leaves a partial dataset at the root when generation fails', async () => {
    const root = path.join(tmp.dir, 'failing');
    const task = robotTask([16, 20]);
    // n = 0 makes the generator refuse: the root must stay missing (so the next run generates it again).
    const data = dataSpec('robot18', root, { synthesize: { n: 0, seed: 1 } });
    await expect(ensureDataset(data, task)).rejects.toThrow(/positive whole number/);
    expect(existsSync(root)).toBe(false);
    expect((await fs.readdir(tmp.dir)).filter((f) => f.includes('.partial-'))).toEqual([]);
  });
});
