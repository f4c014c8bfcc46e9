/**
 * NumPy's .npy format (version 1.0), the arrays `tdc pack` writes for the generated PyTorch project to
 * memory-map: a magic string, a Python-dict header padded to 64 bytes, then the raw little-endian C-order data.
 */
import { readFileSync } from 'node:fs';

export type NpyArray = Float32Array | Int32Array | Uint8Array;

const DESCR: Record<string, string> = { Float32Array: '<f4', Int32Array: '<i4', Uint8Array: '|u1' };

/** The bytes of an .npy file holding `data` with `shape` (dtype from the array type). */
export function encodeNpy(data: NpyArray, shape: readonly number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`npy: ${data.length} values for shape [${shape.join(', ')}]`);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${DESCR[data.constructor.name]!}', 'fortran_order': False, 'shape': (${dims}), }`;
  // magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64.
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = `${header}${' '.repeat(pad % 64)}\n`;
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** Reads an .npy file of dtype <f4, <i4, |u1 or <i8 (int64 read into Int32Array when it fits). */
export function readNpy(file: string): { data: NpyArray; shape: number[] } {
  const buf = readFileSync(file);
  if (buf.readUInt32BE(0) !== 0x934e554d) throw new Error(`${file} is not an .npy file`);
  const major = buf[6]!;
  const len = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + len);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran-ordered arrays are not supported`);
  const body = buf.subarray(start + len);
  const copy = new Uint8Array(body.byteLength);
  copy.set(body);
  switch (descr) {
    case '<f4':
      return { data: new Float32Array(copy.buffer), shape };
    case '<i4':
      return { data: new Int32Array(copy.buffer), shape };
    case '|u1':
      return { data: copy, shape };
    case '<i8': {
      const big = new BigInt64Array(copy.buffer);
      return { data: Int32Array.from(big, (v) => Number(v)), shape };
    }
    default:
      throw new Error(`${file}: dtype ${descr} is not supported`);
  }
}
