/** NIfTI reader/writer: checked against nibabel's reading of real files, round trips, and corrupt inputs. */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  axisCodes,
  decodeNifti,
  encodeNifti,
  readNiftiFile,
  writeNiftiFile,
  type NiftiDatatype,
  type NiftiVolume,
} from '../runtime/io/index.js';
import { TdcError } from '../runtime/errors.js';
import { sharedDataDir } from './helpers/shared-data.js';

const DATA = sharedDataDir().replace(/\/$/, '');

interface Probe {
  index: number[];
  raw: number;
  scaled: number;
}
interface Ref {
  bytes_on_disk: number;
  bytes_uncompressed: number;
  sha256: string;
  nifti_version: 1 | 2;
  endianness: '<' | '>';
  sizeof_hdr: number;
  magic: string;
  dim: number[];
  datatype: number;
  bitpix: number;
  pixdim: number[];
  vox_offset: number;
  scl_slope_raw: number;
  scl_slope_applied_by_nibabel: number;
  scl_inter_raw: number;
  scl_inter_applied_by_nibabel: number;
  xyzt_units: number;
  dim_info: number;
  intent_code: number;
  qform_code: number;
  sform_code: number;
  quatern_bcd: number[];
  qoffset_xyz: number[];
  srow_x: number[];
  srow_y: number[];
  srow_z: number[];
  qform_affine: number[][];
  sform_affine: number[][];
  nibabel_affine: number[][];
  axcodes: string;
  zooms: number[];
  descrip: string;
  n_extensions: number;
  extension_codes: number[];
  shape: number[];
  raw_sum: number;
  raw_min: number;
  raw_max: number;
  scaled_sum_float64: number;
  scaled_min: number;
  scaled_max: number;
  scaled_mean: number;
  count_nonzero: number;
  probes_index_ijk_then_t: Record<string, Probe>;
  first_nonzero_in_file_order: { linear_index_fortran_order: number; ijk: number[]; raw: number };
  bbox_nonzero_min: number[];
  bbox_nonzero_max: number[];
  label_counts?: Record<string, number>;
}

const REFERENCE = JSON.parse(readFileSync(join(DATA, 'nifti_headers_reference.json'), 'utf8')) as Record<string, Ref>;

function expectMatrixClose(actual: number[][], expected: number[][], tol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let r = 0; r < expected.length; r++) {
    for (let c = 0; c < expected[r].length; c++) {
      expect(Math.abs(actual[r][c] - expected[r][c]), `[${r}][${c}] ${actual[r][c]} vs ${expected[r][c]}`).toBeLessThanOrEqual(tol);
    }
  }
}

function relClose(actual: number, expected: number, rel: number): void {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(expected)));
}

function linearIndex(dims: number[], index: number[]): number {
  let li = 0;
  for (let a = index.length - 1; a >= 0; a--) li = li * dims[a] + index[a];
  return li;
}

describe('NIfTI reader against nibabel reference values', () => {
  for (const [rel, ref] of Object.entries(REFERENCE)) {
    it(rel, () => {
      const path = join(DATA, rel);
      const bytes = readFileSync(path);
      // The reference describes exactly this file.
      expect(bytes.length).toBe(ref.bytes_on_disk);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(ref.sha256);

      const vol = decodeNifti(bytes, rel);
      const h = vol.header;
      expect(h.version).toBe(ref.nifti_version);
      expect(h.littleEndian).toBe(ref.endianness === '<');
      expect(h.sizeofHdr).toBe(ref.sizeof_hdr);
      expect(h.magic).toBe(ref.magic);
      expect(h.dim).toEqual(ref.dim);
      expect(h.datatype).toBe(ref.datatype);
      expect(h.bitpix).toBe(ref.bitpix);
      expect(h.pixdim).toEqual(ref.pixdim);
      expect(h.voxOffset).toBe(ref.vox_offset);
      expect(h.sclSlope).toBe(ref.scl_slope_raw);
      expect(h.sclInter).toBe(ref.scl_inter_raw);
      expect(h.xyztUnits).toBe(ref.xyzt_units);
      expect(h.dimInfo).toBe(ref.dim_info);
      expect(h.intentCode).toBe(ref.intent_code);
      expect(h.qformCode).toBe(ref.qform_code);
      expect(h.sformCode).toBe(ref.sform_code);
      expect(h.quatern).toEqual(ref.quatern_bcd);
      expect(h.qoffset).toEqual(ref.qoffset_xyz);
      // The reference rounds srow and affines to 6 decimals.
      expectMatrixClose(h.srow, [ref.srow_x, ref.srow_y, ref.srow_z], 5.1e-7);
      expect(h.descrip).toBe(ref.descrip);
      expect(h.extensions.length).toBe(ref.n_extensions);
      expect(h.extensions.map((e) => e.code)).toEqual(ref.extension_codes);

      expectMatrixClose(vol.qformAffine, ref.qform_affine, 1e-6);
      expectMatrixClose(vol.sformAffine, ref.sform_affine, 5.1e-7);
      if (ref.qform_code > 0 || ref.sform_code > 0) {
        expectMatrixClose(vol.affine, ref.nibabel_affine, 1e-6);
      } else {
        // NIfTI method 1, not nibabel's Analyze-style fallback.
        expectMatrixClose(vol.affine, [[ref.pixdim[1], 0, 0, 0], [0, ref.pixdim[2], 0, 0], [0, 0, ref.pixdim[3], 0], [0, 0, 0, 1]], 0);
      }
      expect(axisCodes(vol.affine)).toBe(ref.axcodes);
      expect(vol.dims).toEqual(ref.shape);
      expect(vol.header.pixdim.slice(1, 1 + vol.dims.length)).toEqual(ref.zooms);
      expect(vol.spacing).toEqual(ref.zooms.slice(0, 3).map(Math.abs));

      // Voxel statistics, recomputed here in float64 from the decoded arrays.
      const raw = vol.raw;
      const scaled = vol.scaled();
      const n = ref.shape.reduce((a, b) => a * b, 1);
      expect(raw.length).toBe(n);
      let rawSum = 0, rawMin = Infinity, rawMax = -Infinity, sSum = 0, sMin = Infinity, sMax = -Infinity, nz = 0, firstNz = -1;
      const bbMin = ref.shape.map(() => Infinity);
      const bbMax = ref.shape.map(() => -Infinity);
      for (let i = 0; i < n; i++) {
        const v = raw[i];
        rawSum += v;
        if (v < rawMin) rawMin = v;
        if (v > rawMax) rawMax = v;
        const s = scaled[i];
        sSum += s;
        if (s < sMin) sMin = s;
        if (s > sMax) sMax = s;
        if (v !== 0) {
          nz++;
          if (firstNz < 0) firstNz = i;
          let rest = i;
          for (let a = 0; a < ref.shape.length; a++) {
            const c = rest % ref.shape[a];
            rest = Math.floor(rest / ref.shape[a]);
            if (c < bbMin[a]) bbMin[a] = c;
            if (c > bbMax[a]) bbMax[a] = c;
          }
        }
      }
      expect(rawSum).toBe(ref.raw_sum);
      expect(rawMin).toBe(ref.raw_min);
      expect(rawMax).toBe(ref.raw_max);
      expect(nz).toBe(ref.count_nonzero);
      relClose(sSum, ref.scaled_sum_float64, 1e-6);
      relClose(sMin, ref.scaled_min, 1e-6);
      relClose(sMax, ref.scaled_max, 1e-6);
      relClose(sSum / n, ref.scaled_mean, 1e-6);
      expect(firstNz).toBe(ref.first_nonzero_in_file_order.linear_index_fortran_order);
      expect(raw[firstNz]).toBe(ref.first_nonzero_in_file_order.raw);
      expect(bbMin.slice(0, ref.bbox_nonzero_min.length)).toEqual(ref.bbox_nonzero_min);
      expect(bbMax.slice(0, ref.bbox_nonzero_max.length)).toEqual(ref.bbox_nonzero_max);
      for (const [probeName, p] of Object.entries(ref.probes_index_ijk_then_t)) {
        const li = linearIndex(ref.shape, p.index);
        expect(raw[li], probeName).toBe(p.raw);
        relClose(scaled[li], p.scaled, 1e-6);
        // nibabel's applied scaling, re-derived from the probe.
        relClose(p.raw * ref.scl_slope_applied_by_nibabel + ref.scl_inter_applied_by_nibabel, p.scaled, 1e-9);
      }
      if (ref.label_counts) {
        const counts: Record<string, number> = {};
        for (let i = 0; i < n; i++) counts[String(raw[i])] = (counts[String(raw[i])] ?? 0) + 1;
        expect(counts).toEqual(ref.label_counts);
      }
    });
  }
});

describe('NIfTI reader on every sample file', () => {
  const files: string[] = [];
  for (const sub of readdirSync(join(DATA, 'nifti'))) {
    for (const f of readdirSync(join(DATA, 'nifti', sub))) files.push(join(DATA, 'nifti', sub, f));
  }
  it('finds the sample files', () => expect(files.length).toBeGreaterThanOrEqual(20));
  for (const file of files) {
    it(file.slice(DATA.length + 1), async () => {
      const vol = await readNiftiFile(file);
      expect(vol.dims.length).toBeGreaterThanOrEqual(3);
      for (const d of vol.dims) expect(d).toBeGreaterThanOrEqual(1);
      for (const d of vol.dims.slice(0, 3)) expect(d).toBeLessThanOrEqual(1024);
      for (const s of vol.spacing) {
        expect(s).toBeGreaterThan(0.1);
        expect(s).toBeLessThan(20);
      }
      expect(vol.raw.length).toBe(vol.dims.reduce((a, b) => a * b, 1) * (vol.datatype === 'rgb24' ? 3 : 1));
      expect(vol.affine[3]).toEqual([0, 0, 0, 1]);
    });
  }

  it('minimal.nii.gz (big-endian, qform_code = sform_code = 0) uses method 1', async () => {
    const vol = await readNiftiFile(join(DATA, 'nifti', 'niivue', 'minimal.nii.gz'));
    expect(vol.header.littleEndian).toBe(false);
    expect([vol.header.qformCode, vol.header.sformCode]).toEqual([0, 0]);
    expect(vol.affine).toEqual([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]]);
  });

  it('reads the int64 label map of t2s_seg-deepseg.nii.gz as binary labels', async () => {
    const vol = await readNiftiFile(join(DATA, 'nifti', 'sct', 't2s_seg-deepseg.nii.gz'));
    expect(vol.datatype).toBe('int64');
    expect(vol.raw).toBeInstanceOf(Float64Array);
    expect(new Set(Array.from(vol.raw))).toEqual(new Set([0, 1]));
  });
});

// ------------------------------------------------------------------ writer round trips

const SAMPLES: Record<NiftiDatatype, number[]> = {
  uint8: [0, 1, 7, 128, 254, 255],
  int8: [-128, -1, 0, 1, 64, 127],
  int16: [-32768, -300, 0, 1, 12345, 32767],
  uint16: [0, 1, 300, 40000, 65534, 65535],
  int32: [-2147483648, -70000, 0, 1, 70000, 2147483647],
  uint32: [0, 1, 70000, 3000000000, 4294967294, 4294967295],
  int64: [-(2 ** 53) + 1, -(2 ** 40), -1, 0, 2 ** 33, 2 ** 53 - 1],
  uint64: [0, 1, 2 ** 32, 2 ** 40 + 3, 2 ** 52, 2 ** 53 - 1],
  float32: [-1.5, 0, 0.25, 3.140000104904175, -1e30, 65504],
  float64: [-1e-300, 0, Math.PI, -Math.E, 1e300, 0.1],
  rgb24: [0, 255, 17, 34, 51, 68],
};

/** Fills a 3×2×2 volume with the sample values repeated (rgb24: 3 bytes per voxel). */
function sampleData(type: NiftiDatatype): number[] {
  const n = 12 * (type === 'rgb24' ? 3 : 1);
  return Array.from({ length: n }, (_, i) => SAMPLES[type][(i * 5) % 6]);
}

// A rotation of 30° about z, then a flip of the third axis (qfac = −1), anisotropic voxels and a shift.
const C = Math.cos(Math.PI / 6), S = Math.sin(Math.PI / 6);
const AFFINE = [
  [C * 0.5, -S * 0.75, 0, -10.5],
  [S * 0.5, C * 0.75, 0, 20.25],
  [0, 0, -2.5, 3],
  [0, 0, 0, 1],
];

describe('NIfTI writer round trips', () => {
  for (const type of Object.keys(SAMPLES) as NiftiDatatype[]) {
    for (const version of [1, 2] as const) {
      for (const littleEndian of [true, false]) {
        for (const gzip of [false, true]) {
          it(`${type} NIfTI-${version} ${littleEndian ? 'LE' : 'BE'}${gzip ? ' gz' : ''}`, () => {
            const data = sampleData(type);
            const bytes = encodeNifti({ dims: [3, 2, 2], spacing: [0.5, 0.75, 2.5], affine: AFFINE, datatype: type, data, header: { descrip: 'round trip' } }, { version, littleEndian, gzip });
            if (gzip) expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
            else {
              // sizeof_hdr as the byte order demands, read here without the decoder.
              const dv = new DataView(bytes.buffer, bytes.byteOffset);
              expect(dv.getInt32(0, littleEndian)).toBe(version === 1 ? 348 : 540);
            }
            const vol = decodeNifti(bytes, 'rt.nii');
            expect(vol.header.version).toBe(version);
            expect(vol.header.littleEndian).toBe(littleEndian);
            expect(vol.datatype).toBe(type);
            expect(vol.dims).toEqual([3, 2, 2]);
            expect(vol.header.descrip).toBe('round trip');
            expect(Array.from(vol.raw)).toEqual(type === 'float32' ? data.map((v) => Math.fround(v)) : data);
            const tol = version === 1 ? 2e-6 * 25 : 1e-12;
            expectMatrixClose(vol.affine, AFFINE, tol);
            expectMatrixClose(vol.qformAffine, AFFINE, version === 1 ? 1e-5 : 1e-12);
            expect(vol.header.pixdim[0]).toBe(-1);
            for (let i = 0; i < 3; i++) expect(vol.spacing[i]).toBeCloseTo([0.5, 0.75, 2.5][i], 6);
          });
        }
      }
    }
  }

  it('without an affine writes codes 0 and reads back the method-1 affine', () => {
    const vol = decodeNifti(encodeNifti({ dims: [2, 2, 1], spacing: [1.5, 2, 3], datatype: 'uint8', data: [1, 2, 3, 4] }), 'x.nii');
    expect([vol.header.qformCode, vol.header.sformCode]).toEqual([0, 0]);
    expect(vol.affine).toEqual([[1.5, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]]);
  });

  it('keeps a 4-D size and the time step', () => {
    const data = Array.from({ length: 2 * 3 * 1 * 4 }, (_, i) => i);
    const vol = decodeNifti(encodeNifti({ dims: [2, 3, 1, 4], spacing: [1, 1, 1, 2.5], datatype: 'int16', data }, { version: 2 }), 'x.nii');
    expect(vol.dims).toEqual([2, 3, 1, 4]);
    expect(vol.header.pixdim[4]).toBe(2.5);
    expect(Array.from(vol.raw)).toEqual(data);
  });

  it('applies scl_slope / scl_inter like nibabel', () => {
    const data = [-3, 0, 5, 1000];
    const enc = (sclSlope: number, sclInter: number) =>
      decodeNifti(encodeNifti({ dims: [4, 1, 1], spacing: [1, 1, 1], datatype: 'int16', data, header: { sclSlope, sclInter } }), 's.nii');
    const v = enc(0.5, 10);
    expect(v.header.sclSlope).toBe(0.5);
    expect(Array.from(v.raw)).toEqual(data);
    expect(Array.from(v.scaled())).toEqual(data.map((x) => x * 0.5 + 10));
    // slope 0 means "no scaling", whatever the intercept.
    expect(Array.from(enc(0, 7).scaled())).toEqual(data);
    expect(Array.from(enc(NaN, 7).scaled())).toEqual(data);
    expect(Array.from(enc(1, 0).scaled())).toEqual(data);
    expect(Array.from(enc(2, 0).scaled())).toEqual(data.map((x) => 2 * x));
  });

  it('writeNiftiFile gzips by extension and readNiftiFile reads both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tdc-io-'));
    try {
      const vol = { dims: [2, 2, 2], spacing: [1, 1, 1], datatype: 'float32' as const, data: [0, 1, 2, 3, 4, 5, 6, 7.5] };
      await writeNiftiFile(join(dir, 'a.nii.gz'), vol);
      await writeNiftiFile(join(dir, 'a.nii'), vol);
      const gz = readFileSync(join(dir, 'a.nii.gz'));
      expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
      expect(readFileSync(join(dir, 'a.nii')).length).toBe(352 + 8 * 4);
      expect(Array.from((await readNiftiFile(join(dir, 'a.nii.gz'))).raw)).toEqual(vol.data);
      expect(Array.from((await readNiftiFile(join(dir, 'a.nii'))).raw)).toEqual(vol.data);
      await expect(readNiftiFile(join(dir, 'missing.nii'))).rejects.toThrow(TdcError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------ corrupt files

function expectFormatError(fn: () => unknown, file: string, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TdcError);
  const msg = (err as Error).message;
  expect(msg.startsWith(`${file}: `)).toBe(true);
  expect(msg).not.toMatch(/[\r\n]/);
  expect(msg).toMatch(pattern);
}

describe('corrupt NIfTI files', () => {
  const good = encodeNifti({ dims: [4, 4, 4], spacing: [1, 1, 1], datatype: 'int16', data: Array.from({ length: 64 }, (_, i) => i) });

  it('bad magic', () => {
    const b = good.slice();
    b.set([0x78, 0x78, 0x78, 0], 344);
    expectFormatError(() => decodeNifti(b, 'bad-magic.nii'), 'bad-magic.nii', /magic/);
  });
  it('bad sizeof_hdr', () => {
    const b = good.slice();
    b.set([0, 0, 0, 0], 0);
    expectFormatError(() => decodeNifti(b, 'bad-size.nii'), 'bad-size.nii', /sizeof_hdr/);
  });
  it('not NIfTI at all', () => {
    expectFormatError(() => decodeNifti(new TextEncoder().encode('hello, world'), 'hello.nii'), 'hello.nii', /not a NIfTI file/);
  });
  it('truncated header', () => {
    expectFormatError(() => decodeNifti(good.slice(0, 200), 'short-hdr.nii'), 'short-hdr.nii', /truncated NIfTI-1 header/);
  });
  it('short data', () => {
    expectFormatError(() => decodeNifti(good.slice(0, good.length - 10), 'short.nii'), 'short.nii', /truncated data/);
  });
  it('short data inside a valid gzip stream', () => {
    expectFormatError(() => decodeNifti(gzipSync(good.slice(0, good.length - 1)), 'short.nii.gz'), 'short.nii.gz', /truncated data/);
  });
  it('truncated gzip', () => {
    const gz = gzipSync(good);
    expectFormatError(() => decodeNifti(gz.subarray(0, gz.length >> 1), 'cut.nii.gz'), 'cut.nii.gz', /broken gzip/);
  });
  it('corrupted gzip', () => {
    const gz = new Uint8Array(gzipSync(good));
    for (let i = 20; i < 40; i++) gz[i] ^= 0xa5;
    expectFormatError(() => decodeNifti(gz, 'garbled.nii.gz'), 'garbled.nii.gz', /broken gzip/);
  });
  it('unknown datatype', () => {
    const b = good.slice();
    new DataView(b.buffer).setInt16(70, 2048, true);
    expectFormatError(() => decodeNifti(b, 'dtype.nii'), 'dtype.nii', /datatype code 2048/);
  });
  it('bad extension size', () => {
    const b = new Uint8Array(good.length + 16);
    b.set(good.subarray(0, 348));
    const dv = new DataView(b.buffer);
    dv.setFloat32(108, 368, true);
    b[348] = 1;
    dv.setInt32(352, -16, true);
    b.set(good.subarray(352), 368);
    expectFormatError(() => decodeNifti(b, 'ext.nii'), 'ext.nii', /extension/);
  });
  it('a real file cut short', () => {
    const bytes = readFileSync(join(DATA, 'nifti', 'nibabel', 'anatomical.nii'));
    expectFormatError(() => decodeNifti(bytes.subarray(0, 5000), 'anatomical.nii'), 'anatomical.nii', /truncated data/);
  });
});

/** Keeps the NiftiVolume type import honest (the decoder returns it). */
export type _Vol = NiftiVolume;
