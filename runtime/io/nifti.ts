/** Reads and writes NIfTI-1 and NIfTI-2 volumes (.nii, .nii.gz, either byte order) with the standard's affine rules. */
import { readFile, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as niftiReader from 'nifti-reader-js';
import { formatError } from './errors.js';

export type NiftiDatatype =
  | 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64' | 'rgb24';

/** One header extension (code and total size in bytes, including its 8-byte esize/ecode prefix). */
export interface NiftiExtension {
  code: number;
  size: number;
}

/** Every field of a NIfTI-1 / NIfTI-2 header, version-independent, with numbers as stored. */
export interface NiftiHeader {
  version: 1 | 2;
  littleEndian: boolean;
  /** 348 (NIfTI-1) or 540 (NIfTI-2). */
  sizeofHdr: number;
  /** 'n+1' / 'n+2' (single file). */
  magic: string;
  /** dim[0..7]: dim[0] is the number of dimensions. */
  dim: number[];
  /** pixdim[0..7]: pixdim[0] is qfac (−1 or 1; 0 is read as 1). */
  pixdim: number[];
  /** The NIfTI datatype code (2 uint8, 4 int16, … 1280 uint64). */
  datatype: number;
  bitpix: number;
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  calMin: number;
  calMax: number;
  qformCode: number;
  sformCode: number;
  /** quatern_b, quatern_c, quatern_d. */
  quatern: [number, number, number];
  /** qoffset_x, qoffset_y, qoffset_z. */
  qoffset: [number, number, number];
  /** srow_x, srow_y, srow_z (3 rows of 4). */
  srow: number[][];
  xyztUnits: number;
  intentCode: number;
  intentP1: number;
  intentP2: number;
  intentP3: number;
  intentName: string;
  dimInfo: number;
  sliceStart: number;
  sliceEnd: number;
  sliceCode: number;
  sliceDuration: number;
  toffset: number;
  descrip: string;
  auxFile: string;
  extensions: NiftiExtension[];
}

export interface NiftiVolume {
  header: NiftiHeader;
  /** Spatial (and further) sizes: dim[1..dim[0]]. */
  dims: number[];
  /** Voxel size in mm for the first three axes (|pixdim[1..3]|; 0 or missing → 1). */
  spacing: [number, number, number];
  /**
   * The voxel → world affine chosen by the NIfTI rules: sform if sform_code > 0, else qform if qform_code > 0,
   * else the diagonal pixdim affine (method 1).
   */
  affine: number[][];
  /** The qform affine (method 2) whatever qform_code says. */
  qformAffine: number[][];
  /** The sform affine (method 3) whatever sform_code says. */
  sformAffine: number[][];
  datatype: NiftiDatatype;
  /**
   * Stored values as read (no scaling), x fastest: Float64Array for int64/uint64/float64, otherwise the native
   * typed array. rgb24 is a Uint8Array of 3 interleaved bytes per voxel.
   */
  raw: ArrayLike<number>;
  /** scl_slope/scl_inter applied (as nibabel: when slope is finite, not 0 and not (1, 0)) → Float32Array. */
  scaled(): Float32Array;
}

/** What `encodeNifti` writes. */
export interface NiftiWriteInput {
  /** Sizes dim[1..n], n ≤ 7. */
  dims: number[];
  /** pixdim[1..]: voxel sizes (mm, then s for time). When `affine` is given, the first three come from it. */
  spacing: number[];
  /** Voxel → world affine (4×4 or 3×4); written as sform and (its rotation part) as qform, both with code 1. */
  affine?: number[][];
  datatype: NiftiDatatype;
  /** Values x fastest; rgb24 takes 3 bytes per voxel. */
  data: ArrayLike<number>;
  /** Header fields to set explicitly (codes, scaling, description, units, intent, …). */
  header?: Partial<NiftiHeader>;
}

export interface NiftiWriteOptions {
  /** Gzip the result (default false; `writeNiftiFile` decides by the extension). */
  gzip?: boolean;
  /** 1 (348-byte header, default) or 2 (540-byte header, 64-bit fields). */
  version?: 1 | 2;
  /** Byte order of header and data (default true). Big-endian exists for compatibility tests and old scanners. */
  littleEndian?: boolean;
}

interface DatatypeInfo {
  name: NiftiDatatype;
  code: number;
  bitpix: number;
}

const DATATYPES: readonly DatatypeInfo[] = [
  { name: 'uint8', code: 2, bitpix: 8 },
  { name: 'int16', code: 4, bitpix: 16 },
  { name: 'int32', code: 8, bitpix: 32 },
  { name: 'float32', code: 16, bitpix: 32 },
  { name: 'float64', code: 64, bitpix: 64 },
  { name: 'rgb24', code: 128, bitpix: 24 },
  { name: 'int8', code: 256, bitpix: 8 },
  { name: 'uint16', code: 512, bitpix: 16 },
  { name: 'uint32', code: 768, bitpix: 32 },
  { name: 'int64', code: 1024, bitpix: 64 },
  { name: 'uint64', code: 1280, bitpix: 64 },
];

/** The NIfTI datatype code of a datatype name. */
export function niftiDatatypeCode(name: NiftiDatatype): number {
  return DATATYPES.find((d) => d.name === name)!.code;
}

const NIFTI2_MAGIC_TAIL = [0x0d, 0x0a, 0x1a, 0x0a];

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decodes a NIfTI-1 or NIfTI-2 single file (.nii), gzipped or not; `name` labels errors. */
export function decodeNifti(bytes: Uint8Array, name: string): NiftiVolume {
  let buf = bytes;
  if (isGzip(buf)) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw formatError(name, `broken gzip stream (${(e as Error).message})`);
    }
  }
  if (buf.length < 4) throw formatError(name, `not a NIfTI file (only ${buf.length} bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let version: 1 | 2;
  let littleEndian: boolean;
  const le = dv.getInt32(0, true);
  const be = dv.getInt32(0, false);
  if (le === 348 || be === 348) {
    version = 1;
    littleEndian = le === 348;
  } else if (le === 540 || be === 540) {
    version = 2;
    littleEndian = le === 540;
  } else {
    throw formatError(name, `not a NIfTI file (sizeof_hdr is ${le}, expected 348 or 540)`);
  }
  const hdrSize = version === 1 ? 348 : 540;
  if (buf.length < hdrSize) {
    throw formatError(name, `truncated NIfTI-${version} header (${buf.length} of ${hdrSize} bytes)`);
  }
  const magic = readString(buf, version === 1 ? 344 : 4, version === 1 ? 4 : 4);
  if (version === 1 && magic !== 'n+1') {
    if (magic === 'ni1') throw formatError(name, 'header of a .hdr/.img pair; only single-file .nii is supported');
    throw formatError(name, `bad NIfTI-1 magic '${printable(magic)}' (expected 'n+1')`);
  }
  if (version === 2) {
    const tail = Array.from(buf.subarray(8, 12));
    if (magic === 'ni2') throw formatError(name, 'header of a .hdr/.img pair; only single-file .nii is supported');
    if (magic !== 'n+2' || tail.some((b, i) => b !== NIFTI2_MAGIC_TAIL[i])) {
      throw formatError(name, `bad NIfTI-2 magic '${printable(magic)}' (expected 'n+2')`);
    }
  }

  const header = parseHeader(buf, dv, version, littleEndian, magic, name);
  const ndim = header.dim[0];
  if (!(ndim >= 1 && ndim <= 7)) throw formatError(name, `bad dim[0] = ${ndim} (expected 1..7)`);
  const dims = header.dim.slice(1, 1 + ndim);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw formatError(name, `bad dimensions [${dims.join(', ')}]`);
  }
  const info = DATATYPES.find((d) => d.code === header.datatype);
  if (!info) throw formatError(name, `unsupported NIfTI datatype code ${header.datatype}`);
  if (header.bitpix !== info.bitpix) {
    throw formatError(name, `bitpix ${header.bitpix} does not match datatype ${info.name} (${info.bitpix} bits)`);
  }
  const nvox = dims.reduce((a, b) => a * b, 1);
  const offset = header.voxOffset;
  if (!Number.isInteger(offset) || offset < hdrSize) {
    throw formatError(name, `bad vox_offset ${offset} (must be an integer ≥ ${hdrSize})`);
  }
  const nbytes = (nvox * info.bitpix) / 8;
  if (offset + nbytes > buf.length) {
    throw formatError(
      name,
      `truncated data: ${nbytes} bytes expected after offset ${offset}, file has ${Math.max(0, buf.length - offset)}`,
    );
  }
  header.extensions = parseExtensions(buf, dv, hdrSize, offset, littleEndian, name);
  const raw = readVoxels(buf, offset, nvox, info.name, littleEndian);

  const qformAffine = qformToAffine(header);
  const sformAffine = sformToAffine(header);
  let affine: number[][];
  if (header.sformCode > 0) affine = sformAffine;
  else if (header.qformCode > 0) affine = qformAffine;
  else affine = methodOneAffine(header);

  const sp = (i: number): number => {
    const v = Math.abs(header.pixdim[i] ?? 0);
    return v > 0 && Number.isFinite(v) ? v : 1;
  };
  const { slope, inter } = effectiveScaling(header.sclSlope, header.sclInter);
  return {
    header,
    dims,
    spacing: [sp(1), sp(2), sp(3)],
    affine,
    qformAffine,
    sformAffine,
    datatype: info.name,
    raw,
    scaled(): Float32Array {
      const out = new Float32Array(raw.length);
      for (let i = 0; i < raw.length; i++) out[i] = raw[i] * slope + inter;
      return out;
    },
  };
}

/** The scaling nibabel applies: none when the slope is 0 or not finite; a non-finite intercept counts as 0. */
function effectiveScaling(sclSlope: number, sclInter: number): { slope: number; inter: number } {
  if (!Number.isFinite(sclSlope) || sclSlope === 0) return { slope: 1, inter: 0 };
  return { slope: sclSlope, inter: Number.isFinite(sclInter) ? sclInter : 0 };
}

function readString(buf: Uint8Array, start: number, len: number): string {
  let s = '';
  for (let i = start; i < start + len && i < buf.length; i++) {
    if (buf[i] === 0) break;
    s += String.fromCharCode(buf[i]);
  }
  return s;
}

/** A fixed-width header string as nibabel reads it: the whole field with only trailing NULs stripped. */
function headerString(buf: Uint8Array, start: number, len: number): string {
  let end = start + len;
  while (end > start && buf[end - 1] === 0) end--;
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
  return s;
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

/**
 * Header fields come from nifti-reader-js, given only the fixed-size header so it does not walk the
 * extensions (its extension walker can loop forever on a negative esize; we walk them ourselves).
 * Some fields are re-read here: for big-endian NIfTI-2 the library's 64-bit integer reader takes the sign
 * from the wrong 32-bit half (a value whose low word has bit 31 set comes out wrong), so dim, vox_offset
 * and slice_start/end are read with DataView.getBigInt64; and its `affine` applies a non-standard precedence
 * (qform when sform_code < qform_code) and is not srow then, so srow is read directly and the affines
 * are computed below from the raw fields. Its strings
 * drop every NUL byte, gluing text after an embedded NUL onto the text before it; `headerString` keeps
 * the field as nibabel does (trailing NULs stripped only).
 */
function parseHeader(
  buf: Uint8Array,
  dv: DataView,
  version: 1 | 2,
  littleEndian: boolean,
  magic: string,
  name: string,
): NiftiHeader {
  const hdrSize = version === 1 ? 348 : 540;
  const ab = Uint8Array.prototype.slice.call(buf, 0, hdrSize).buffer;
  let h: niftiReader.NIFTI1 | niftiReader.NIFTI2;
  try {
    h = niftiReader.readHeader(ab as ArrayBuffer);
  } catch (e) {
    throw formatError(name, `unreadable NIfTI header (${(e as Error).message})`);
  }
  let dim = h.dims.slice(0, 8).map(Number);
  let voxOffset = Number(h.vox_offset);
  let sliceStart = Number(h.slice_start);
  let sliceEnd = Number(h.slice_end);
  if (version === 2) {
    const i64 = (off: number): number => Number(dv.getBigInt64(off, littleEndian));
    dim = Array.from({ length: 8 }, (_, i) => i64(16 + 8 * i));
    voxOffset = i64(168);
    sliceStart = i64(224);
    sliceEnd = i64(232);
  }
  // The library's `affine` is the qform instead of srow whenever qform_code > sform_code: read srow directly.
  const srow = [0, 1, 2].map((r) =>
    [0, 1, 2, 3].map((c) =>
      version === 1 ? dv.getFloat32(280 + 16 * r + 4 * c, littleEndian) : dv.getFloat64(400 + 32 * r + 8 * c, littleEndian),
    ),
  );
  return {
    version,
    littleEndian,
    sizeofHdr: hdrSize,
    magic,
    dim,
    pixdim: h.pixDims.slice(0, 8).map(Number),
    datatype: h.datatypeCode,
    bitpix: h.numBitsPerVoxel,
    voxOffset,
    sclSlope: h.scl_slope,
    sclInter: h.scl_inter,
    calMin: h.cal_min,
    calMax: h.cal_max,
    qformCode: h.qform_code,
    sformCode: h.sform_code,
    quatern: [h.quatern_b, h.quatern_c, h.quatern_d],
    qoffset: [h.qoffset_x, h.qoffset_y, h.qoffset_z],
    srow,
    xyztUnits: h.xyzt_units,
    intentCode: h.intent_code,
    intentP1: h.intent_p1,
    intentP2: h.intent_p2,
    intentP3: h.intent_p3,
    intentName: headerString(buf, version === 1 ? 328 : 508, 16),
    dimInfo: h.dim_info,
    sliceStart,
    sliceEnd,
    sliceCode: h.slice_code,
    sliceDuration: h.slice_duration,
    toffset: h.toffset,
    descrip: headerString(buf, version === 1 ? 148 : 240, 80),
    auxFile: headerString(buf, version === 1 ? 228 : 320, 24),
    extensions: [],
  };
}

/** Walks the extension chain between the header and vox_offset (flag byte, then esize/ecode records). */
function parseExtensions(
  buf: Uint8Array,
  dv: DataView,
  hdrSize: number,
  voxOffset: number,
  littleEndian: boolean,
  name: string,
): NiftiExtension[] {
  const out: NiftiExtension[] = [];
  if (voxOffset < hdrSize + 4 || buf[hdrSize] === 0) return out;
  let pos = hdrSize + 4;
  while (pos + 8 <= voxOffset) {
    const size = dv.getInt32(pos, littleEndian);
    if (size === 0) break;
    if (size < 16 || size % 16 !== 0 || pos + size > voxOffset) {
      throw formatError(name, `bad header extension at byte ${pos} (esize ${size})`);
    }
    out.push({ code: dv.getInt32(pos + 4, littleEndian), size });
    pos += size;
  }
  return out;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readVoxels(buf: Uint8Array, offset: number, n: number, type: NiftiDatatype, le: boolean): ArrayLike<number> {
  if (le === HOST_LITTLE_ENDIAN) {
    // Same byte order as the host: copy the bytes once and view them (BraTS-size volumes read ~10× faster).
    const copy = (size: number): ArrayBuffer => Uint8Array.prototype.slice.call(buf, offset, offset + n * size).buffer as ArrayBuffer;
    switch (type) {
      case 'int16': return new Int16Array(copy(2));
      case 'uint16': return new Uint16Array(copy(2));
      case 'int32': return new Int32Array(copy(4));
      case 'uint32': return new Uint32Array(copy(4));
      case 'float32': return new Float32Array(copy(4));
      case 'float64': return new Float64Array(copy(8));
      case 'int64': return Float64Array.from(new BigInt64Array(copy(8)), Number);
      case 'uint64': return Float64Array.from(new BigUint64Array(copy(8)), Number);
      default: break;
    }
  }
  const dv = new DataView(buf.buffer, buf.byteOffset + offset, buf.byteLength - offset);
  switch (type) {
    // Uint8Array.prototype.slice, not Buffer's: a Buffer's slice is a view into (possibly pooled) memory.
    case 'uint8':
      return Uint8Array.prototype.slice.call(buf, offset, offset + n);
    case 'rgb24':
      return Uint8Array.prototype.slice.call(buf, offset, offset + 3 * n);
    case 'int8':
      return new Int8Array(Uint8Array.prototype.slice.call(buf, offset, offset + n).buffer);
    case 'int16': {
      const a = new Int16Array(n);
      for (let i = 0; i < n; i++) a[i] = dv.getInt16(2 * i, le);
      return a;
    }
    case 'uint16': {
      const a = new Uint16Array(n);
      for (let i = 0; i < n; i++) a[i] = dv.getUint16(2 * i, le);
      return a;
    }
    case 'int32': {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = dv.getInt32(4 * i, le);
      return a;
    }
    case 'uint32': {
      const a = new Uint32Array(n);
      for (let i = 0; i < n; i++) a[i] = dv.getUint32(4 * i, le);
      return a;
    }
    case 'float32': {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = dv.getFloat32(4 * i, le);
      return a;
    }
    case 'float64': {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = dv.getFloat64(8 * i, le);
      return a;
    }
    case 'int64': {
      // Values beyond 2^53 lose precision; label maps and intensities never get there.
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = Number(dv.getBigInt64(8 * i, le));
      return a;
    }
    case 'uint64': {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = Number(dv.getBigUint64(8 * i, le));
      return a;
    }
  }
}

/** Method 2 of nifti1.h: quaternion rotation, pixdim scaling with qfac on the third axis, qoffset shift. */
function qformToAffine(h: NiftiHeader): number[][] {
  let [b, c, d] = h.quatern;
  let a: number;
  const s = 1 - (b * b + c * c + d * d);
  // A negative a² is float32 rounding of a 180° rotation: a = 0 and (b, c, d) renormalised. nifti1_io.c also
  // zeroes a for 0 ≤ a² < 1e-7; nibabel keeps sqrt(a²) there, and so do we (it is the exact value, and it
  // moves example4d.nii.gz's affine by 1.4e-4 mm).
  if (s < 0) {
    const n = Math.sqrt(b * b + c * c + d * d);
    if (n > 0) {
      b /= n;
      c /= n;
      d /= n;
    }
    a = 0;
  } else {
    a = Math.sqrt(s);
  }
  const pos = (v: number | undefined): number => (v !== undefined && v > 0 ? v : 1);
  const dx = pos(h.pixdim[1]);
  const dy = pos(h.pixdim[2]);
  const qfac = h.pixdim[0] < 0 ? -1 : 1;
  const dz = pos(h.pixdim[3]) * qfac;
  const r = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
  return [
    [r[0][0] * dx, r[0][1] * dy, r[0][2] * dz, h.qoffset[0]],
    [r[1][0] * dx, r[1][1] * dy, r[1][2] * dz, h.qoffset[1]],
    [r[2][0] * dx, r[2][1] * dy, r[2][2] * dz, h.qoffset[2]],
    [0, 0, 0, 1],
  ];
}

function sformToAffine(h: NiftiHeader): number[][] {
  return [[...h.srow[0]], [...h.srow[1]], [...h.srow[2]], [0, 0, 0, 1]];
}

/** Method 1 of nifti1.h (both codes 0): x = pixdim[1]·i, y = pixdim[2]·j, z = pixdim[3]·k, no shift. */
function methodOneAffine(h: NiftiHeader): number[][] {
  const p = (i: number): number => h.pixdim[i] ?? 0;
  return [
    [p(1), 0, 0, 0],
    [0, p(2), 0, 0],
    [0, 0, p(3), 0],
    [0, 0, 0, 1],
  ];
}

/**
 * nifti_mat44_to_quatern of nifti1_io.c: splits an affine into voxel sizes, qfac and a unit quaternion.
 * The rotation is taken from the normalised columns; a non-orthogonal affine is only exact in the sform.
 */
export function affineToQuatern(m: number[][]): {
  quatern: [number, number, number];
  qoffset: [number, number, number];
  pixdim: [number, number, number];
  qfac: 1 | -1;
} {
  let r11 = m[0][0], r12 = m[0][1], r13 = m[0][2];
  let r21 = m[1][0], r22 = m[1][1], r23 = m[1][2];
  let r31 = m[2][0], r32 = m[2][1], r33 = m[2][2];
  let xd = Math.hypot(r11, r21, r31);
  let yd = Math.hypot(r12, r22, r32);
  let zd = Math.hypot(r13, r23, r33);
  if (xd === 0) { r11 = 1; r21 = 0; r31 = 0; xd = 1; }
  if (yd === 0) { r22 = 1; r12 = 0; r32 = 0; yd = 1; }
  if (zd === 0) { r33 = 1; r13 = 0; r23 = 0; zd = 1; }
  const pixdim: [number, number, number] = [xd, yd, zd];
  r11 /= xd; r21 /= xd; r31 /= xd;
  r12 /= yd; r22 /= yd; r32 /= yd;
  r13 /= zd; r23 /= zd; r33 /= zd;
  const det = r11 * r22 * r33 - r11 * r32 * r23 - r21 * r12 * r33 + r21 * r32 * r13 + r31 * r12 * r23 - r31 * r22 * r13;
  let qfac: 1 | -1 = 1;
  if (det < 0) {
    qfac = -1;
    r13 = -r13; r23 = -r23; r33 = -r33;
  }
  let a = r11 + r22 + r33 + 1;
  let b: number, c: number, d: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r32 - r23)) / a;
    c = (0.25 * (r13 - r31)) / a;
    d = (0.25 * (r21 - r12)) / a;
  } else {
    const xx = 1 + r11 - (r22 + r33);
    const yy = 1 + r22 - (r11 + r33);
    const zz = 1 + r33 - (r11 + r22);
    if (xx > 1) {
      b = 0.5 * Math.sqrt(xx);
      c = (0.25 * (r12 + r21)) / b;
      d = (0.25 * (r13 + r31)) / b;
      a = (0.25 * (r32 - r23)) / b;
    } else if (yy > 1) {
      c = 0.5 * Math.sqrt(yy);
      b = (0.25 * (r12 + r21)) / c;
      d = (0.25 * (r23 + r32)) / c;
      a = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zz);
      b = (0.25 * (r13 + r31)) / d;
      c = (0.25 * (r23 + r32)) / d;
      a = (0.25 * (r21 - r12)) / d;
    }
    if (a < 0) { b = -b; c = -c; d = -d; }
  }
  return { quatern: [b, c, d], qoffset: [m[0][3], m[1][3], m[2][3]], pixdim, qfac };
}

/**
 * Orientation letters (as nibabel's aff2axcodes, e.g. 'RAS', 'LPS') of the voxel axes: each axis points
 * towards the world axis its affine column leans on most (taken greedily, largest component first, so two
 * voxel axes never share a world axis); positive x/y/z are R/A/S.
 */
export function axisCodes(affine: number[][]): string {
  const pos = ['R', 'A', 'S'];
  const neg = ['L', 'P', 'I'];
  const cand: { col: number; row: number; mag: number }[] = [];
  for (let col = 0; col < 3; col++) for (let row = 0; row < 3; row++) cand.push({ col, row, mag: Math.abs(affine[row][col]) });
  cand.sort((x, y) => y.mag - x.mag);
  const out = ['?', '?', '?'];
  const usedRow = new Set<number>();
  for (const { col, row, mag } of cand) {
    if (out[col] !== '?' || usedRow.has(row) || mag === 0) continue;
    out[col] = affine[row][col] > 0 ? pos[row] : neg[row];
    usedRow.add(row);
  }
  return out.join('');
}

/** Encodes a volume as a single-file NIfTI-1 (default) or NIfTI-2, optionally gzipped or big-endian. */
export function encodeNifti(vol: NiftiWriteInput, opts: NiftiWriteOptions = {}): Uint8Array {
  const version = opts.version ?? 1;
  const le = opts.littleEndian ?? true;
  const info = DATATYPES.find((d) => d.name === vol.datatype);
  if (!info) throw new Error(`encodeNifti: unknown datatype '${vol.datatype}'`);
  if (vol.dims.length < 1 || vol.dims.length > 7) throw new Error('encodeNifti: dims must have 1..7 entries');
  const nvox = vol.dims.reduce((a, b) => a * b, 1);
  const perVoxel = vol.datatype === 'rgb24' ? 3 : 1;
  if (vol.data.length !== nvox * perVoxel) {
    throw new Error(`encodeNifti: data has ${vol.data.length} values, dims [${vol.dims.join(', ')}] need ${nvox * perVoxel}`);
  }
  const hx = vol.header ?? {};
  const hdrSize = version === 1 ? 348 : 540;
  const voxOffset = hdrSize + 4;
  const out = new Uint8Array(voxOffset + (nvox * info.bitpix) / 8);
  const dv = new DataView(out.buffer);

  const dim = [vol.dims.length, ...vol.dims];
  while (dim.length < 8) dim.push(1);
  const pixdim = [1, ...vol.spacing.map((s) => s)];
  while (pixdim.length < 8) pixdim.push(1);
  let quatern: [number, number, number] = [0, 0, 0];
  let qoffset: [number, number, number] = [0, 0, 0];
  let srow = [
    [pixdim[1], 0, 0, 0],
    [0, pixdim[2], 0, 0],
    [0, 0, pixdim[3], 0],
  ];
  let qformCode = 0;
  let sformCode = 0;
  if (vol.affine) {
    const q = affineToQuatern(vol.affine);
    quatern = q.quatern;
    qoffset = q.qoffset;
    pixdim[0] = q.qfac;
    pixdim[1] = q.pixdim[0];
    pixdim[2] = q.pixdim[1];
    pixdim[3] = q.pixdim[2];
    srow = [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => vol.affine![r][c]));
    qformCode = 1;
    sformCode = 1;
  }
  if (hx.pixdim) hx.pixdim.forEach((v, i) => (pixdim[i] = v));
  if (hx.quatern) quatern = hx.quatern;
  if (hx.qoffset) qoffset = hx.qoffset;
  if (hx.srow) srow = hx.srow;
  qformCode = hx.qformCode ?? qformCode;
  sformCode = hx.sformCode ?? sformCode;

  const i16 = (o: number, v: number): void => dv.setInt16(o, v, le);
  const i32 = (o: number, v: number): void => dv.setInt32(o, v, le);
  const str = (o: number, len: number, s: string): void => {
    for (let i = 0; i < Math.min(len - 1, s.length); i++) out[o + i] = s.charCodeAt(i) & 0xff;
  };
  const sclSlope = hx.sclSlope ?? 0;
  const sclInter = hx.sclInter ?? 0;
  if (version === 1) {
    const f32 = (o: number, v: number): void => dv.setFloat32(o, v, le);
    i32(0, 348);
    out[39] = hx.dimInfo ?? 0;
    dim.forEach((v, i) => i16(40 + 2 * i, v));
    f32(56, hx.intentP1 ?? 0);
    f32(60, hx.intentP2 ?? 0);
    f32(64, hx.intentP3 ?? 0);
    i16(68, hx.intentCode ?? 0);
    i16(70, info.code);
    i16(72, info.bitpix);
    i16(74, hx.sliceStart ?? 0);
    pixdim.forEach((v, i) => f32(76 + 4 * i, v));
    f32(108, voxOffset);
    f32(112, sclSlope);
    f32(116, sclInter);
    i16(120, hx.sliceEnd ?? 0);
    out[122] = hx.sliceCode ?? 0;
    out[123] = hx.xyztUnits ?? 10; // mm + s
    f32(124, hx.calMax ?? 0);
    f32(128, hx.calMin ?? 0);
    f32(132, hx.sliceDuration ?? 0);
    f32(136, hx.toffset ?? 0);
    str(148, 80, hx.descrip ?? '');
    str(228, 24, hx.auxFile ?? '');
    i16(252, qformCode);
    i16(254, sformCode);
    quatern.forEach((v, i) => f32(256 + 4 * i, v));
    qoffset.forEach((v, i) => f32(268 + 4 * i, v));
    srow.forEach((row, r) => row.forEach((v, c) => f32(280 + 16 * r + 4 * c, v)));
    str(328, 16, hx.intentName ?? '');
    str(344, 4, 'n+1');
  } else {
    const f64 = (o: number, v: number): void => dv.setFloat64(o, v, le);
    const i64 = (o: number, v: number): void => dv.setBigInt64(o, BigInt(v), le);
    i32(0, 540);
    str(4, 4, 'n+2');
    NIFTI2_MAGIC_TAIL.forEach((b, i) => (out[8 + i] = b));
    i16(12, info.code);
    i16(14, info.bitpix);
    dim.forEach((v, i) => i64(16 + 8 * i, v));
    f64(80, hx.intentP1 ?? 0);
    f64(88, hx.intentP2 ?? 0);
    f64(96, hx.intentP3 ?? 0);
    pixdim.forEach((v, i) => f64(104 + 8 * i, v));
    i64(168, voxOffset);
    f64(176, sclSlope);
    f64(184, sclInter);
    f64(192, hx.calMax ?? 0);
    f64(200, hx.calMin ?? 0);
    f64(208, hx.sliceDuration ?? 0);
    f64(216, hx.toffset ?? 0);
    i64(224, hx.sliceStart ?? 0);
    i64(232, hx.sliceEnd ?? 0);
    str(240, 80, hx.descrip ?? '');
    str(320, 24, hx.auxFile ?? '');
    i32(344, qformCode);
    i32(348, sformCode);
    quatern.forEach((v, i) => f64(352 + 8 * i, v));
    qoffset.forEach((v, i) => f64(376 + 8 * i, v));
    srow.forEach((row, r) => row.forEach((v, c) => f64(400 + 32 * r + 8 * c, v)));
    i32(496, hx.sliceCode ?? 0);
    i32(500, hx.xyztUnits ?? 10);
    i32(504, hx.intentCode ?? 0);
    str(508, 16, hx.intentName ?? '');
    out[524] = hx.dimInfo ?? 0;
  }
  // Extension flag bytes (hdrSize..hdrSize+3) stay 0: no extensions.
  writeVoxels(dv, voxOffset, vol.data, info.name, le, out);
  return opts.gzip ? new Uint8Array(gzipSync(out)) : out;
}

function writeVoxels(dv: DataView, off: number, data: ArrayLike<number>, type: NiftiDatatype, le: boolean, out: Uint8Array): void {
  const n = data.length;
  switch (type) {
    case 'uint8':
    case 'rgb24':
      for (let i = 0; i < n; i++) out[off + i] = data[i];
      return;
    case 'int8':
      for (let i = 0; i < n; i++) dv.setInt8(off + i, data[i]);
      return;
    case 'int16':
      for (let i = 0; i < n; i++) dv.setInt16(off + 2 * i, data[i], le);
      return;
    case 'uint16':
      for (let i = 0; i < n; i++) dv.setUint16(off + 2 * i, data[i], le);
      return;
    case 'int32':
      for (let i = 0; i < n; i++) dv.setInt32(off + 4 * i, data[i], le);
      return;
    case 'uint32':
      for (let i = 0; i < n; i++) dv.setUint32(off + 4 * i, data[i], le);
      return;
    case 'float32':
      for (let i = 0; i < n; i++) dv.setFloat32(off + 4 * i, data[i], le);
      return;
    case 'float64':
      for (let i = 0; i < n; i++) dv.setFloat64(off + 8 * i, data[i], le);
      return;
    case 'int64':
      for (let i = 0; i < n; i++) dv.setBigInt64(off + 8 * i, BigInt(Math.round(data[i])), le);
      return;
    case 'uint64':
      for (let i = 0; i < n; i++) dv.setBigUint64(off + 8 * i, BigInt(Math.round(data[i])), le);
      return;
  }
}

/** Reads a .nii or .nii.gz file; a bad file gives a TdcError naming it. */
export async function readNiftiFile(path: string): Promise<NiftiVolume> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw formatError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodeNifti(bytes, path);
}

/** Writes a volume; a name ending in .gz is gzipped. */
export async function writeNiftiFile(path: string, vol: NiftiWriteInput, opts: Omit<NiftiWriteOptions, 'gzip'> = {}): Promise<void> {
  await writeFile(path, encodeNifti(vol, { ...opts, gzip: path.toLowerCase().endsWith('.gz') }));
}
