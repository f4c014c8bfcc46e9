import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../compiler/cli/main.js';
import { readImageFile, readNiftiFile } from '../runtime/io/index.js';
import { tempDir } from './data-helpers.js';

const tmp = tempDir('cli');
afterAll(() => tmp.cleanup());

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (t) => void (out += t), err: (t) => void (err += t), color: false });
  return { code, out, err };
}

describe('tdc synth', () => {
  it('writes robot18 in the distributed layout with --n, --seed and --size', async () => {
    const dir = path.join(tmp.dir, 'r');
    const r = await run(['synth', 'robot18', '-o', dir, '--n', '3', '--seed', '4', '--size', '24x32']);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('wrote 3 robot18 samples');
    const img = await readImageFile(path.join(dir, 'seq_1', 'left_frames', 'frame000.png'));
    expect([img.height, img.width, img.channels]).toEqual([24, 32, 3]);
    expect(existsSync(path.join(dir, 'seq_1', 'labels', 'frame000.png'))).toBe(true);
    expect(JSON.parse(readFileSync(path.join(dir, 'labels.json'), 'utf8'))).toHaveLength(12);
    expect(readFileSync(path.join(dir, 'scenes.csv'), 'utf8').split('\n')[0]).toBe('seq,start,end,scene');
  });

  it('the same seed writes the same bytes', async () => {
    const a = path.join(tmp.dir, 'a');
    const b = path.join(tmp.dir, 'b');
    await run(['synth', 'refuge18', '-o', a, '--n', '2', '--seed', '1', '--size', '32x32']);
    await run(['synth', 'refuge18', '-o', b, '--n', '2', '--seed', '1', '--size', '32x32']);
    const f = path.join('Annotation-Training400', 'Disc_Cup_Masks', 'Glaucoma', 'g0001.bmp');
    expect(readFileSync(path.join(a, f))).toEqual(readFileSync(path.join(b, f)));
    const j = path.join('Training400', 'Non-Glaucoma', 'n0001.jpg');
    expect(readFileSync(path.join(a, j))).toEqual(readFileSync(path.join(b, j)));
  });

  it('brats18 writes four modalities and seg with a BraTS-like affine', async () => {
    const dir = path.join(tmp.dir, 'b3');
    const r = await run(['synth', 'brats18', '-o', dir, '--n', '1', '--size', '24x24x8']);
    expect(r.code).toBe(0);
    const seg = await readNiftiFile(path.join(dir, 'HGG', 'Brats18_Synth_001', 'Brats18_Synth_001_seg.nii.gz'));
    expect(seg.dims.slice(0, 3)).toEqual([24, 24, 8]);
    expect(seg.spacing.map((v) => +v.toFixed(4))).toEqual([10, 10, 19.375]);
    expect(seg.affine[0]![0]).toBeCloseTo(-10, 4);
    expect(seg.affine[1]![1]).toBeCloseTo(-10, 4);
    expect(new Set(Array.from(seg.scaled()))).toEqual(new Set([0, 1, 2, 4]));
    for (const m of ['t1', 't1ce', 't2', 'flair']) expect(existsSync(path.join(dir, 'HGG', 'Brats18_Synth_001', `Brats18_Synth_001_${m}.nii.gz`))).toBe(true);
  });

  it('usage errors are one line with exit code 2', async () => {
    const bad = await run(['synth', 'mnist', '-o', path.join(tmp.dir, 'x')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe("tdc synth: unknown format 'mnist' (expected robot18, refuge18, brats18)\n");
    const size = await run(['synth', 'brats18', '-o', path.join(tmp.dir, 'y'), '--size', '12x12']);
    expect(size.code).toBe(2);
    expect(size.err.trim().split('\n')).toHaveLength(1);
    const n = await run(['synth', 'robot18', '-o', path.join(tmp.dir, 'z'), '--n', '0']);
    expect(n.code).toBe(2);
    expect(n.err).toContain('--n must be a positive whole number');
    const full = await run(['synth', 'robot18', '-o', path.join(tmp.dir, 'r')]);
    expect(full.code).toBe(2);
    expect(full.err).toContain('is not empty');
  });
});
