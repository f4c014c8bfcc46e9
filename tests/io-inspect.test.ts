/** `inspectFile` and `tdc inspect` on real volumes and images, a colour-coded mask, and bad files. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNifti, encodePng, inspectFile } from '../runtime/io/index.js';
import { runCli } from '../compiler/cli/main.js';
import { TdcError } from '../runtime/errors.js';
import { sharedDataDir } from './helpers/shared-data.js';

const DATA = sharedDataDir().replace(/\/$/, '');
const REFERENCE = JSON.parse(readFileSync(join(DATA, 'nifti_headers_reference.json'), 'utf8')) as Record<
  string,
  { label_counts?: Record<string, number>; scaled_min: number; scaled_max: number; axcodes: string; zooms: number[] }
>;

function inspectPath(rel: string) {
  return inspectFile(readFileSync(join(DATA, rel)), rel);
}

describe('inspectFile', () => {
  it('a NIfTI label map lists its labels with counts', () => {
    const rel = 'nifti/itk/KmeansTest_T1KmeansPrelimSegmentation.nii.gz';
    const r = inspectPath(rel);
    expect(r.format).toBe('nifti-1');
    expect(r.dims).toEqual([128, 128, 62]);
    expect(r.spacing).toEqual([2, 2, 3]);
    expect(r.datatype).toBe('uint8');
    expect(r.affineSource).toBe('sform');
    expect(r.orientation).toBe(REFERENCE[rel].axcodes);
    expect(r.valueRange).toEqual({ min: 0, max: 6 });
    const expected = Object.entries(REFERENCE[rel].label_counts!).map(([v, count]) => ({ value: Number(v), count }));
    expect(r.labels).toEqual(expected);
  });

  it('standard.nii.gz: labels 0 and 255', () => {
    const r = inspectPath('nifti/nibabel/standard.nii.gz');
    expect(r.labels).toEqual([{ value: 0, count: 110 }, { value: 255, count: 30 }]);
    expect(r.affineSource).toBe('sform');
  });

  it('a scaled intensity volume: scaled range, no labels', () => {
    const rel = 'nifti/nibabel/functional.nii';
    const r = inspectPath(rel);
    expect(r.scaling?.slope).toBeCloseTo(0.0754069686, 9);
    expect(r.valueRange.min!).toBeCloseTo(REFERENCE[rel].scaled_min, 3);
    expect(r.valueRange.max!).toBeCloseTo(REFERENCE[rel].scaled_max, 3);
    expect(r.labels).toBeUndefined();
    expect(r.dims).toEqual([17, 21, 3, 20]);
  });

  it('an integer intensity volume (a few hundred distinct values) gets intensity statistics, not labels', () => {
    // int16 "MRI": 0 background and 200 intensity levels; a 4-label mask of the same size stays a label map.
    const n = 20 * 20 * 5;
    const mri = Int16Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : 100 + (i % 200)));
    const r = inspectFile(encodeNifti({ dims: [20, 20, 5], spacing: [1, 1, 3], datatype: 'int16', data: mri }), 'mri.nii');
    expect(r.labels).toBeUndefined();
    const v = Array.from(mri).sort((a, b) => a - b);
    const mean = v.reduce((a, b) => a + b, 0) / n;
    expect(r.intensity!.mean).toBeCloseTo(mean, 3);
    expect(r.intensity!.std).toBeCloseTo(Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / n), 3);
    expect([r.intensity!.p1, r.intensity!.p50, r.intensity!.p99]).toEqual([v[Math.ceil(0.01 * n) - 1], v[Math.ceil(0.5 * n) - 1], v[Math.ceil(0.99 * n) - 1]]);
    expect(r.intensity!.nonzero).toBe(n - n / 5);
    const mask = Uint8Array.from({ length: n }, (_, i) => [0, 1, 2, 4][i % 4]!);
    const m = inspectFile(encodeNifti({ dims: [20, 20, 5], spacing: [1, 1, 3], datatype: 'uint8', data: mask }), 'seg.nii');
    expect(m.labels?.map((l) => l.value)).toEqual([0, 1, 2, 4]);
    expect(m.intensity).toBeUndefined();
  });

  it('a big-endian volume without orientation codes', () => {
    const r = inspectPath('nifti/niivue/minimal.nii.gz');
    expect(r.byteOrder).toBe('big');
    expect(r.affineSource).toBe('pixdim');
    expect(r.affine).toEqual([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]]);
  });

  it('the palette PNG reports its palette and index labels', () => {
    const r = inspectPath('mri2d/BrainProtonDensitySlice.png');
    expect(r).toMatchObject({ format: 'png', dims: [181, 217], channels: 1, bitDepth: 8, paletteSize: 256 });
    expect(r.labels?.length).toBe(250);
    expect(r.labels!.reduce((s, l) => s + l.count, 0)).toBe(181 * 217);
  });

  it('a photograph has no labels', () => {
    const r = inspectPath('fundus/retina.jpg');
    expect(r).toMatchObject({ format: 'jpeg', dims: [1411, 1411], channels: 3, bitDepth: 8 });
    expect(r.labels).toBeUndefined();
    expect(r.valueRange.max).toBeLessThanOrEqual(255);
  });

  it('a colour-coded EndoVis mask lists its colours', () => {
    const table = JSON.parse(readFileSync(join(DATA, 'labels', 'endovis2018_labels.json'), 'utf8')) as { color: [number, number, number]; classid: number }[];
    const w = 6, h = 2;
    const classes = [0, 0, 1, 1, 1, 2, 0, 4, 4, 0, 0, 0];
    const data = classes.flatMap((c) => table.find((t) => t.classid === c)!.color);
    const r = inspectFile(encodePng({ width: w, height: h, channels: 3, data }), 'mask.png');
    const count = (c: number) => classes.filter((x) => x === c).length;
    const expected = [0, 1, 2, 4]
      .map((c) => ({ value: table.find((t) => t.classid === c)!.color, count: count(c) }))
      .sort((a, b) => (a.value[0] * 65536 + a.value[1] * 256 + a.value[2]) - (b.value[0] * 65536 + b.value[1] * 256 + b.value[2]));
    expect(r.labels).toEqual(expected);
  });

  it('an unknown file type is a TdcError', () => {
    expect(() => inspectFile(new TextEncoder().encode('name,value\n'), 'table.csv')).toThrow(TdcError);
  });
});

describe('tdc inspect', () => {
  function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), color: false } };
  }

  it('prints JSON for a volume', async () => {
    const c = capture();
    const code = await runCli(['inspect', join(DATA, 'nifti', 'nibabel', 'standard.nii.gz')], c.io);
    expect(code).toBe(0);
    const report = JSON.parse(c.out.join(''));
    expect(report).toMatchObject({ format: 'nifti-1', dims: [4, 5, 7], datatype: 'uint8' });
  });

  it('a missing file: one line, exit 2', async () => {
    const c = capture();
    const code = await runCli(['inspect', 'no/such/file.nii.gz'], c.io);
    expect(code).toBe(2);
    expect(c.err.join('')).toBe("tdc: cannot read 'no/such/file.nii.gz': no such file\n");
  });

  it('a corrupt file: one line naming it, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tdc-inspect-'));
    try {
      const bad = join(dir, 'broken.nii.gz');
      writeFileSync(bad, readFileSync(join(DATA, 'nifti', 'dipy', 'aniso_vox.nii.gz')).subarray(0, 500));
      const c = capture();
      const code = await runCli(['inspect', bad], c.io);
      expect(code).toBe(1);
      const text = c.err.join('');
      expect(text).toMatch(new RegExp(`^tdc: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: broken gzip stream`));
      expect(text.trimEnd()).not.toMatch(/\n/);
      expect(c.out.join('')).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no file argument is a usage error', async () => {
    const c = capture();
    expect(await runCli(['inspect'], c.io)).toBe(2);
  });
});
