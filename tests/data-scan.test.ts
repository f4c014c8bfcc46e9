import { afterAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { encodePng, writeNiftiFile } from '../runtime/io/index.js';
import { formatScan, scanDataset, synthesize } from '../runtime/data/index.js';
import type { DataSpec } from '../spec/types.js';
import { CODES } from '../spec/diagnostics.js';
import { bratsTask, dataSpec, robotTask, tempDir } from './data-helpers.js';

const tmp = tempDir('scan');
afterAll(() => tmp.cleanup());
const task = robotTask([16, 16]);

async function robotSet(name: string): Promise<{ root: string; data: DataSpec }> {
  const root = path.join(tmp.dir, name);
  const r = await synthesize('robot18', root, { n: 6, seed: 8, size: [16, 16] });
  return { root, data: dataSpec('robot18', root, { scenes: { from: 'file', file: r.scenesFile! } }) };
}

describe('scanDataset', () => {
  it('a clean set: no errors, counts per split, class and scene', async () => {
    const { data } = await robotSet('clean');
    const report = await scanDataset({ data: { ...data, splits: { val: ['seq_2'] } }, task });
    expect(report.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(report.samples).toBe(6);
    expect(report.splits.train.samples).toBe(3);
    expect(report.splits.val.samples).toBe(3);
    expect(report.splits.train.stats.scenes.reduce((a, b) => a + b, 0)).toBe(3);
    const text = formatScan(report, task);
    expect(text).toContain('robot18 dataset at');
    expect(text).toMatch(/samples\s+3\s+3\s+0/);
    expect(text).toContain('instrument-shaft');
  });

  it('reports each problem kind with its code, naming the file', async () => {
    const { root, data } = await robotSet('broken');
    const f = (seq: string, dir: string, frame: string): string => path.join(root, seq, dir, `${frame}.png`);
    // seq_1 frames: 000..002, seq_2: 000..002 (synthesize puts 3 frames in each of 2 sequences).
    await fs.rm(f('seq_1', 'labels', 'frame000')); // missing pair
    await fs.writeFile(f('seq_1', 'labels', 'frame001'), encodePng({ width: 8, height: 8, channels: 3, data: new Uint8Array(192) })); // size mismatch
    const odd = new Uint8Array(16 * 16 * 3);
    odd.set([9, 9, 9], (2 * 16 + 5) * 3);
    await fs.writeFile(f('seq_1', 'labels', 'frame002'), encodePng({ width: 16, height: 16, channels: 3, data: odd })); // unknown colour at (5, 2)
    await fs.writeFile(f('seq_2', 'left_frames', 'frame000'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])); // corrupt
    await fs.writeFile(path.join(root, 'scenes.csv'), 'seq,start,end,scene\nseq_1,0,2,preparing\nseq_2,0,1,peeling\n'); // seq_2 frame 2 has none
    const report = await scanDataset({ data: { ...data, splits: { val: ['seq_2'] } }, task });
    const byCode = (code: string) => report.diagnostics.filter((d) => d.code === code).map((d) => d.message);
    expect(byCode('TDC0603')).toEqual([expect.stringContaining(f('seq_1', 'labels', 'frame000'))]);
    expect(byCode('TDC0604')).toEqual([expect.stringContaining(f('seq_1', 'labels', 'frame001'))]);
    expect(byCode('TDC0605')).toEqual([expect.stringMatching(/frame002\.png: colour \(9, 9, 9\) at pixel \(5, 2\)/)]);
    expect(byCode('TDC0606')).toEqual([expect.stringContaining(f('seq_2', 'left_frames', 'frame000'))]);
    expect(byCode('TDC0608')).toEqual([expect.stringContaining(f('seq_2', 'left_frames', 'frame002'))]);
    // Every code used is a declared one, errors come first, and messages are one line.
    for (const d of report.diagnostics) {
      expect(Object.keys(CODES)).toContain(d.code);
      expect(d.message).not.toContain('\n');
    }
    expect(report.diagnostics.findIndex((d) => d.severity === 'warning')).toBeGreaterThan(3);
  });

  it('scene file, split and folder problems', async () => {
    const { root, data } = await robotSet('splits');
    const unknownSplit = await scanDataset({ data: { ...data, splits: { val: ['seq_9'] } }, task });
    expect(unknownSplit.diagnostics.map((d) => d.code)).toContain('TDC0609');
    expect(unknownSplit.diagnostics.find((d) => d.code === 'TDC0609')!.message).toContain("'seq_9'");

    await fs.writeFile(path.join(root, 'bad-scenes.csv'), 'seq_1,0,2,dancing\n');
    const badScene = await scanDataset({ data: { ...data, scenes: { from: 'file', file: path.join(root, 'bad-scenes.csv') } }, task });
    expect(badScene.diagnostics).toEqual([expect.objectContaining({ code: 'TDC0607', message: expect.stringContaining("unknown scene 'dancing'") })]);

    const missing = await scanDataset({ data: dataSpec('robot18', path.join(tmp.dir, 'nope')), task });
    expect(missing.diagnostics).toEqual([expect.objectContaining({ code: 'TDC0601', severity: 'error' })]);

    await fs.mkdir(path.join(tmp.dir, 'empty'), { recursive: true });
    const empty = await scanDataset({ data: dataSpec('robot18', path.join(tmp.dir, 'empty')), task });
    expect(empty.diagnostics.map((d) => d.code)).toEqual(['TDC0602']);

    // Everything in val: the train split is empty (warning).
    const allVal = await scanDataset({ data: { ...data, splits: { val: ['seq_1', 'seq_2'], train: [] } }, task });
    expect(allVal.diagnostics.map((d) => d.code)).toContain('TDC0610');
  });

  it('BRATS: unknown label values name the voxel; classes absent from training are a warning', async () => {
    const root = path.join(tmp.dir, 'brats');
    await synthesize('brats18', root, { n: 2, seed: 1, size: [24, 24, 8] });
    const t = bratsTask([24, 24, 8]);
    // Only labels 0/1/2 declared: the enhancing label 4 of the HGG subject is unknown.
    const three = { ...t, classes: t.classes.slice(0, 3) };
    const report = await scanDataset({ data: dataSpec('brats18', root), task: three });
    const d = report.diagnostics.find((x) => x.code === 'TDC0605');
    expect(d?.message).toMatch(/Brats18_Synth_001_seg\.nii\.gz: value 4 at \(\d+, \d+, \d+\)/);
    const extra = { ...t, classes: [...t.classes, { name: 'ghost', values: [7], weight: 1 }] };
    const r2 = await scanDataset({ data: dataSpec('brats18', root), task: extra });
    expect(r2.diagnostics.find((x) => x.code === 'TDC0610')?.message).toContain('ghost');
  });

  it('checks every file of every split before decoding: a broken val file is found with a decode limit of 1, and partial counts say so', async () => {
    const { root, data } = await robotSet('headers');
    // Cut a val label short (header intact, data gone) and drop another val label altogether.
    const label = path.join(root, 'seq_2', 'labels', 'frame001.png');
    const bytes = await fs.readFile(label);
    await fs.writeFile(label, bytes.subarray(0, 40));
    await fs.rm(path.join(root, 'seq_2', 'labels', 'frame002.png'));
    const report = await scanDataset({ data: { ...data, splits: { val: ['seq_2'] } }, task }, { limit: 1 });
    expect(report.decoded).toBe(1);
    expect(report.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.code, d.message])).toEqual([
      ['TDC0606', `${label}: corrupt or unreadable (truncated PNG (it does not end with an IEND chunk))`],
      ['TDC0603', `${path.join(root, 'seq_2', 'labels', 'frame002.png')}: file not found (expected there: the mask of ${path.join(root, 'seq_2', 'left_frames', 'frame002.png')})`],
    ]);
    const text = formatScan(report, task);
    expect(text).toMatch(/decoded\s+1\s+0\s+0/);
    expect(text).toContain('DECODED samples only: partial counts');
    expect(text).toContain('partial: 1 of 6 samples decoded');
    // Scenes come from the listing: complete even when decoding is partial.
    expect(report.splits.train.scenes.reduce((a, b) => a + b, 0) + report.splits.val.scenes.reduce((a, b) => a + b, 0)).toBe(6);
    const full = formatScan(await scanDataset({ data: { ...data, splits: { val: ['seq_2'] } }, task }), task);
    expect(full).not.toMatch(/partial[:\s]/);
  });

  it('BRATS: a 4D volume where 3D is expected is an error naming the file and its shape, from the header alone', async () => {
    const root = path.join(tmp.dir, 'brats4d');
    await synthesize('brats18', root, { n: 2, seed: 1, size: [24, 24, 8] });
    const t = bratsTask([24, 24, 8]);
    const [subject] = (await fs.readdir(path.join(root, 'HGG'))).sort();
    const flair = path.join(root, 'HGG', subject!, `${subject}_flair.nii.gz`);
    await writeNiftiFile(flair, { dims: [24, 24, 8, 2], spacing: [1, 1, 1, 1], datatype: 'int16', data: new Int16Array(24 * 24 * 8 * 2) });
    const report = await scanDataset({ data: dataSpec('brats18', root), task: t }, { limit: 0 });
    expect(report.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.code, d.message])).toEqual([
      ['TDC0611', `${flair}: a 4D file (24×24×8×2) where a 3D volume is expected`],
    ]);
  });
});
