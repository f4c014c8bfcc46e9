// Surface metrics on real spinal-cord segmentations (sct_testing_data) read through the project's NIfTI reader.
import { describe, expect, it } from 'vitest';
import { readNiftiFile } from '../runtime/io/nifti.js';
import { averageSurfaceDistance, binaryDice, boundary, hausdorffDistance, hd95 } from '../runtime/metrics/index.js';
import { sharedDataDir } from './helpers/shared-data.js';

const sct = `${sharedDataDir()}nifti/sct/`;

/** NIfTI stores x fastest: as a row-major grid that is shape [z, y, x] with spacing [sz, sy, sx]. */
async function loadMask(name: string): Promise<{ mask: Uint8Array; shape: number[]; spacing: number[] }> {
  const v = await readNiftiFile(sct + name);
  const raw = v.raw;
  const mask = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) mask[i] = raw[i]! > 0.5 ? 1 : 0;
  return { mask, shape: v.dims.slice(0, 3).reverse(), spacing: [...v.spacing].reverse() };
}

/** All-pairs float64 reference over the boundary voxels (cheap here: ~1.2k × 1.2k pairs). */
function bruteDirected(a: Uint8Array, b: Uint8Array, shape: number[], sp: number[]): number[] {
  const pts = (m: Uint8Array) => {
    const e = boundary(m, shape);
    const out: number[][] = [];
    for (let i = 0; i < e.length; i++) {
      if (!e[i]) continue;
      out.push([Math.floor(i / (shape[1]! * shape[2]!)) * sp[0]!, (Math.floor(i / shape[2]!) % shape[1]!) * sp[1]!, (i % shape[2]!) * sp[2]!]);
    }
    return out;
  };
  const A = pts(a);
  const B = pts(b);
  return A.map((p) => Math.sqrt(Math.min(...B.map((q) => (p[0]! - q[0]!) ** 2 + (p[1]! - q[1]!) ** 2 + (p[2]! - q[2]!) ** 2))));
}
const pct = (v: number[], q: number) => {
  const s = [...v].sort((x, y) => x - y);
  const h = (s.length - 1) * (q / 100);
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!);
};

describe('real segmentations (sct t2s, 0.5×0.5×7.5 mm; t2, 1 mm)', () => {
  it('t2s: DeepSeg (int64 file) vs manual cord: all-pairs reference and scipy values', async () => {
    const pred = await loadMask('t2s_seg-deepseg.nii.gz');
    const gt = await loadMask('t2s_seg.nii.gz');
    expect(pred.shape).toEqual([9, 54, 49]);
    expect(pred.spacing[0]).toBeCloseTo(7.5, 5);
    const { shape, spacing } = gt;
    const ab = bruteDirected(pred.mask, gt.mask, shape, spacing);
    const ba = bruteDirected(gt.mask, pred.mask, shape, spacing);
    expect([ab.length, ba.length]).toEqual([1176, 1244]);
    const hd = hausdorffDistance(pred.mask, gt.mask, shape, { spacing });
    const h95 = hd95(pred.mask, gt.mask, shape, { spacing });
    const assd = averageSurfaceDistance(pred.mask, gt.mask, shape, { spacing });
    expect(hd).toBeCloseTo(Math.max(...ab, ...ba), 10);
    expect(h95).toBeCloseTo(Math.max(pct(ab, 95), pct(ba, 95)), 10);
    expect(assd).toBeCloseTo([...ab, ...ba].reduce((s, x) => s + x, 0) / (ab.length + ba.length), 10);
    // scipy 1.17 (binary_erosion + distance_transform_edt(sampling) + np.percentile, MONAI's recipe) on the same voxels
    expect(hd).toBeCloseTo(1.118033988749895, 10);
    expect(h95).toBeCloseTo(0.7071067811865476, 10);
    expect(assd).toBeCloseTo(0.18019587733568565, 10);
    expect(binaryDice(pred.mask, gt.mask)).toBeCloseTo(0.9091591591591591, 12);
  });
  it('t2: DeepSeg 3D vs manual cord (1 mm isotropic)', async () => {
    const pred = await loadMask('t2_seg-deepseg_sc-3d.nii.gz');
    const gt = await loadMask('t2_seg-manual.nii.gz');
    const o = { spacing: gt.spacing };
    expect(hausdorffDistance(pred.mask, gt.mask, gt.shape, o)).toBe(1);
    expect(hd95(pred.mask, gt.mask, gt.shape, o)).toBe(1);
    expect(averageSurfaceDistance(pred.mask, gt.mask, gt.shape, o)).toBeCloseTo(0.09006211180124224, 12);
    expect(binaryDice(pred.mask, gt.mask)).toBeCloseTo(0.9808411214953271, 12);
  });
});
