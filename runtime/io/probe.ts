/**
 * Reading a file's size without decoding it: the header of a PNG, JPEG, BMP or NIfTI (.nii, .nii.gz) from its
 * first few kilobytes, plus the cheap checks that catch a truncated file (a missing PNG IEND, a BMP or .nii
 * shorter than its header says, a .nii.gz whose gzip trailer disagrees with the header). This is what lets the
 * pre-run data scan look at every file of every split in seconds, where decoding takes minutes for volumes.
 */
import { open } from 'node:fs/promises';
import { constants, gunzipSync } from 'node:zlib';
import { formatError } from './errors.js';
import { sniffImageFormat, type ImageFormat } from './image.js';

export interface FileProbe {
  format: ImageFormat | 'nifti';
  /** Images: [width, height]; NIfTI: dim[1..dim[0]] ([X, Y, Z, …], x fastest). */
  dims: number[];
}

/** Bytes read from the start of a file: enough for any header here, including a gzipped NIfTI-2 one. */
const HEAD = 16384;

/** The format and size of an image or volume file from its header; a format error names what is wrong. */
export async function probeFile(path: string): Promise<FileProbe> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw formatError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const { size } = await fh.stat();
    if (size === 0) throw formatError(path, 'empty file (0 bytes)');
    const head = new Uint8Array(Math.min(size, HEAD));
    await fh.read(head, 0, head.length, 0);
    const tail = new Uint8Array(Math.min(size, 12));
    await fh.read(tail, 0, tail.length, size - tail.length);
    return probeBytes(head, tail, size, path);
  } finally {
    await fh.close();
  }
}

/** probeFile on bytes already read: the file's first bytes, its last (up to 12) bytes and its full size. */
export function probeBytes(head: Uint8Array, tail: Uint8Array, size: number, name: string): FileProbe {
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const fmt = sniffImageFormat(head);
  if (fmt === 'png') {
    if (head.length < 24 || String.fromCharCode(...head.subarray(12, 16)) !== 'IHDR') throw formatError(name, 'truncated PNG (no IHDR header)');
    if (String.fromCharCode(...tail.subarray(tail.length - 8, tail.length - 4)) !== 'IEND') throw formatError(name, 'truncated PNG (it does not end with an IEND chunk)');
    return { format: 'png', dims: [dv.getUint32(16), dv.getUint32(20)] };
  }
  if (fmt === 'bmp') {
    if (head.length < 26) throw formatError(name, 'truncated BMP header');
    const declared = dv.getUint32(2, true);
    if (declared > size) throw formatError(name, `truncated BMP (${size} of ${declared} bytes)`);
    return { format: 'bmp', dims: [Math.abs(dv.getInt32(18, true)), Math.abs(dv.getInt32(22, true))] };
  }
  if (fmt === 'jpeg') {
    // Walk the marker segments to the first start-of-frame (SOF0..SOF15 except DHT C4, JPG C8, DAC CC).
    for (let i = 2; i + 9 < head.length; ) {
      if (head[i] !== 0xff) break;
      const m = head[i + 1]!;
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        return { format: 'jpeg', dims: [dv.getUint16(i + 7), dv.getUint16(i + 5)] };
      }
      i += 2 + dv.getUint16(i + 2);
    }
    throw formatError(name, 'JPEG without a frame header in its first 16 KB');
  }
  return probeNifti(head, tail, size, name);
}

function probeNifti(head: Uint8Array, tail: Uint8Array, size: number, name: string): FileProbe {
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  let buf = head;
  if (gz) {
    try {
      // A partial inflate of the first bytes: SYNC_FLUSH returns what they hold instead of failing at their end.
      buf = gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH });
    } catch (e) {
      throw formatError(name, `broken gzip stream (${(e as Error).message})`);
    }
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 4) throw formatError(name, 'not a PNG, JPEG, BMP or NIfTI file');
  const v1 = [dv.getInt32(0, true), dv.getInt32(0, false)].indexOf(348);
  const v2 = [dv.getInt32(0, true), dv.getInt32(0, false)].indexOf(540);
  if (v1 < 0 && v2 < 0) throw formatError(name, 'not a PNG, JPEG, BMP or NIfTI file (unrecognised magic bytes)');
  const version = v1 >= 0 ? 1 : 2;
  const le = (v1 >= 0 ? v1 : v2) === 0;
  if (buf.length < (version === 1 ? 348 : 540)) throw formatError(name, `truncated NIfTI-${version} header`);
  const dimAt = (k: number) => (version === 1 ? dv.getInt16(40 + 2 * k, le) : Number(dv.getBigInt64(16 + 8 * k, le)));
  const ndim = dimAt(0);
  if (!(ndim >= 1 && ndim <= 7)) throw formatError(name, `bad dim[0] = ${ndim} (expected 1..7)`);
  const dims = Array.from({ length: ndim }, (_, k) => dimAt(k + 1));
  if (dims.some((d) => !Number.isInteger(d) || d < 1)) throw formatError(name, `bad dimensions [${dims.join(', ')}]`);
  const bitpix = version === 1 ? dv.getInt16(72, le) : dv.getInt16(14, le);
  const voxOffset = version === 1 ? dv.getFloat32(108, le) : Number(dv.getBigInt64(168, le));
  const needed = voxOffset + (dims.reduce((a, b) => a * b, 1) * bitpix) / 8;
  if (!gz && size < needed) throw formatError(name, `truncated NIfTI (${size} of ${needed} bytes)`);
  // gzip's trailer holds the uncompressed size mod 2^32: a cut-off .nii.gz ends with other, random-looking bytes.
  // (Up to 1 MiB past the data is allowed for writers that pad; a random 32-bit value almost never lands there.)
  if (gz && tail.length >= 4) {
    const isize = new DataView(tail.buffer, tail.byteOffset + tail.length - 4, 4).getUint32(0, true);
    if (needed + 2 ** 20 < 2 ** 32 && (isize < needed || isize > needed + 2 ** 20)) {
      throw formatError(name, `truncated or corrupt .nii.gz (its gzip trailer says ${isize} bytes, the header needs ${needed})`);
    }
  }
  return { format: 'nifti', dims };
}
