/** Decodes and encodes 2D images (PNG, JPEG, BMP) as one interleaved pixel buffer, keeping palettes and indices. */
import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { deflateSync, crc32 } from 'node:zlib';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import bmp from 'bmp-js';
import { guard, formatError } from './errors.js';

export type ImageFormat = 'png' | 'jpeg' | 'bmp';

/** A decoded 2D image. */
export interface Image2D {
  width: number;
  height: number;
  /** 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. An indexed image whose palette is all grey decodes as 1 channel. */
  channels: 1 | 2 | 3 | 4;
  /** 16 only for 16-bit PNGs; sub-8-bit PNG samples keep their stored values (e.g. 0/1 for 1-bit). */
  bitDepth: 8 | 16;
  /** Row-major, channels interleaved; for an indexed image the palette colours (or grey values) per pixel. */
  data: Uint8Array | Uint16Array;
  /** Palette of an indexed image (PNG colour type 3, BMP ≤ 8 bit), RGB. */
  palette?: [number, number, number][];
  /** Palette index per pixel of an indexed image, row-major. */
  indices?: Uint8Array;
  /** The container it was decoded from. */
  format?: ImageFormat;
}

/** What the encoders take: an Image2D without the decoder's extras; `bitDepth` defaults to 8. */
export interface ImageInput {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: ArrayLike<number>;
  bitDepth?: 8 | 16;
  palette?: [number, number, number][];
  indices?: ArrayLike<number>;
}

/** The format by magic bytes, or undefined. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) return 'bmp';
  return undefined;
}

/** Decodes PNG, JPEG or BMP, chosen by magic bytes (not by name); `name` labels errors. */
export function decodeImage(bytes: Uint8Array, name: string): Image2D {
  const fmt = sniffImageFormat(bytes);
  if (fmt === 'png') return decodePng(bytes, name);
  if (fmt === 'jpeg') return decodeJpeg(bytes, name);
  if (fmt === 'bmp') return decodeBmp(bytes, name);
  throw formatError(name, 'not a PNG, JPEG or BMP image (unrecognised magic bytes)');
}

export async function readImageFile(path: string): Promise<Image2D> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw formatError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodeImage(bytes, path);
}

/** Writes an image; the extension (.png, .jpg/.jpeg, .bmp) picks the encoder. */
export async function writeImageFile(path: string, img: ImageInput, opts: { jpegQuality?: number } = {}): Promise<void> {
  const ext = extname(path).toLowerCase();
  let bytes: Uint8Array;
  if (ext === '.png') bytes = encodePng(img);
  else if (ext === '.jpg' || ext === '.jpeg') bytes = encodeJpeg(img, opts.jpegQuality);
  else if (ext === '.bmp') bytes = encodeBmp(img);
  else throw new Error(`writeImageFile: unknown image extension '${ext}' (use .png, .jpg or .bmp)`);
  await writeFile(path, bytes);
}

// ---------------------------------------------------------------- PNG

interface PngChunk {
  type: string;
  data: Uint8Array;
}

function readPngChunks(bytes: Uint8Array, name: string): PngChunk[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: PngChunk[] = [];
  let pos = 8;
  while (pos + 8 <= bytes.length) {
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (pos + 12 + len > bytes.length) throw formatError(name, `truncated PNG (chunk ${printable(type)} runs past the end)`);
    chunks.push({ type, data: bytes.subarray(pos + 8, pos + 8 + len) });
    pos += 12 + len;
    if (type === 'IEND') break;
  }
  if (chunks[0]?.type !== 'IHDR') throw formatError(name, 'bad PNG (no IHDR chunk)');
  return chunks;
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function pngRead(bytes: Uint8Array, name: string): { width: number; height: number; data: Uint8Array | Uint16Array } {
  const png = guard(name, 'bad PNG', () => PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true }));
  return { width: png.width, height: png.height, data: png.data as unknown as Uint8Array | Uint16Array };
}

function decodePng(bytes: Uint8Array, name: string): Image2D {
  const chunks = readPngChunks(bytes, name);
  const ihdr = chunks[0].data;
  if (ihdr.length < 13) throw formatError(name, 'bad PNG (short IHDR chunk)');
  const depth = ihdr[8];
  const colorType = ihdr[9];
  if (colorType === 3) return decodeIndexedPng(bytes, chunks, name);
  const { width, height, data } = pngRead(bytes, name);
  // pngjs always hands back 4 samples per pixel; keep the ones the file stores.
  const channels = ({ 0: 1, 4: 2, 2: 3, 6: 4 } as Record<number, 1 | 2 | 3 | 4>)[colorType];
  if (!channels) throw formatError(name, `bad PNG colour type ${colorType}`);
  const pick = channels === 1 ? [0] : channels === 2 ? [0, 3] : channels === 3 ? [0, 1, 2] : [0, 1, 2, 3];
  const n = width * height;
  const out = depth === 16 ? new Uint16Array(n * channels) : new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) out[i * channels + c] = data[i * 4 + pick[c]];
  return { width, height, channels, bitDepth: depth === 16 ? 16 : 8, data: out, format: 'png' };
}

/**
 * pngjs resolves palette indices to colours in place and drops the indices, which label maps need.
 * So the PNG is decoded a second way: with PLTE replaced by the identity palette (entry i = (i, 0, 0)) and
 * tRNS removed, the red channel pngjs returns is exactly the stored index.
 */
function decodeIndexedPng(bytes: Uint8Array, chunks: PngChunk[], name: string): Image2D {
  const plte = chunks.find((c) => c.type === 'PLTE');
  if (!plte || plte.data.length % 3 !== 0 || plte.data.length === 0) throw formatError(name, 'bad PNG (indexed image without a valid palette)');
  const nPal = plte.data.length / 3;
  const palette: [number, number, number][] = [];
  for (let i = 0; i < nPal; i++) palette.push([plte.data[3 * i], plte.data[3 * i + 1], plte.data[3 * i + 2]]);
  const trns = chunks.find((c) => c.type === 'tRNS');
  const alpha = new Uint8Array(nPal).fill(255);
  if (trns) alpha.set(trns.data.subarray(0, nPal));
  const identity = new Uint8Array(3 * nPal);
  for (let i = 0; i < nPal; i++) identity[3 * i] = i;
  const rebuilt = concat([
    PNG_SIGNATURE,
    ...chunks
      .filter((c) => c.type !== 'tRNS')
      .map((c) => (c.type === 'PLTE' ? pngChunk('PLTE', identity) : pngChunk(c.type, c.data))),
  ]);
  const { width, height, data } = pngRead(rebuilt, name);
  const n = width * height;
  const indices = new Uint8Array(n);
  for (let i = 0; i < n; i++) indices[i] = data[4 * i];
  return expandPalette(width, height, palette, alpha, indices, 'png');
}

/** Turns indices + palette into pixel data: 1 channel for an all-grey opaque palette, else RGB or RGBA. */
function expandPalette(
  width: number,
  height: number,
  palette: [number, number, number][],
  alpha: Uint8Array | undefined,
  indices: Uint8Array,
  format: ImageFormat,
): Image2D {
  const n = width * height;
  const hasAlpha = alpha !== undefined && alpha.some((a) => a !== 255);
  const grey = !hasAlpha && palette.every(([r, g, b]) => r === g && g === b);
  const channels = grey ? 1 : hasAlpha ? 4 : 3;
  const data = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    const idx = indices[i];
    const col = palette[idx] ?? [0, 0, 0];
    if (grey) data[i] = col[0];
    else {
      data[i * channels] = col[0];
      data[i * channels + 1] = col[1];
      data[i * channels + 2] = col[2];
      if (channels === 4) data[i * 4 + 3] = alpha![idx] ?? 255;
    }
  }
  return { width, height, channels, bitDepth: 8, data, palette, indices, format };
}

/** Encodes a PNG: indexed (colour type 3) when `palette` and `indices` are given, else grey/GA/RGB/RGBA at 8 or 16 bit. */
export function encodePng(img: ImageInput): Uint8Array {
  checkInput(img, 'encodePng');
  if (img.palette && img.indices) return encodeIndexedPng(img.width, img.height, img.palette, img.indices);
  const bitDepth = img.bitDepth ?? 8;
  const colorType = ({ 1: 0, 2: 4, 3: 2, 4: 6 } as const)[img.channels];
  const png = new PNG({ width: img.width, height: img.height, bitDepth, colorType, inputColorType: colorType, inputHasAlpha: img.channels === 2 || img.channels === 4 });
  if (bitDepth === 16) {
    // pngjs reads 16-bit input as a native-endian Uint16Array over the *whole* underlying ArrayBuffer
    // (ignoring byteOffset), so hand it a Buffer that owns a fresh Uint16Array's memory from offset 0.
    png.data = Buffer.from(Uint16Array.from(img.data).buffer);
  } else {
    png.data = Buffer.from(Uint8Array.from(img.data));
  }
  return new Uint8Array(PNG.sync.write(png, { bitDepth, colorType, inputColorType: colorType, inputHasAlpha: img.channels === 2 || img.channels === 4 }));
}

/** pngjs's packer only writes colour types 0, 2, 4 and 6, so indexed PNGs are written here (8-bit, filter 0). */
function encodeIndexedPng(width: number, height: number, palette: [number, number, number][], indices: ArrayLike<number>): Uint8Array {
  if (palette.length < 1 || palette.length > 256) throw new Error(`encodePng: a palette has 1..256 entries, got ${palette.length}`);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = 3;
  const plte = new Uint8Array(3 * palette.length);
  palette.forEach((c, i) => plte.set(c, 3 * i));
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width + 1)] = 0;
    for (let x = 0; x < width; x++) {
      const v = indices[y * width + x];
      if (v >= palette.length) throw new Error(`encodePng: index ${v} at (${x}, ${y}) is outside the ${palette.length}-entry palette`);
      raw[y * (width + 1) + 1 + x] = v;
    }
  }
  return concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('PLTE', plte),
    pngChunk('IDAT', new Uint8Array(deflateSync(raw))),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

// ---------------------------------------------------------------- JPEG

function decodeJpeg(bytes: Uint8Array, name: string): Image2D {
  const raw = guard(name, 'bad JPEG', () =>
    jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxMemoryUsageInMB: 1024 }),
  );
  const n = raw.width * raw.height;
  const comps = raw.data.length / n;
  if (comps !== 1 && comps !== 3) throw formatError(name, `unsupported JPEG with ${comps} components`);
  return { width: raw.width, height: raw.height, channels: comps as 1 | 3, bitDepth: 8, data: new Uint8Array(raw.data), format: 'jpeg' };
}

/** Encodes a baseline JPEG (quality 1..100, default 90); grey is written as RGB, alpha is dropped. */
export function encodeJpeg(img: ImageInput, quality = 90): Uint8Array {
  checkInput(img, 'encodeJpeg');
  if ((img.bitDepth ?? 8) !== 8) throw new Error('encodeJpeg: JPEG holds 8-bit samples only');
  const rgba = toRgba8(img);
  return new Uint8Array(jpeg.encode({ width: img.width, height: img.height, data: Buffer.from(rgba.buffer) }, quality).data);
}

function toRgba8(img: ImageInput): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(4 * n);
  const c = img.channels;
  for (let i = 0; i < n; i++) {
    const s = img.data;
    if (c <= 2) {
      out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = s[i * c];
      out[4 * i + 3] = c === 2 ? s[i * c + 1] : 255;
    } else {
      out[4 * i] = s[i * c];
      out[4 * i + 1] = s[i * c + 1];
      out[4 * i + 2] = s[i * c + 2];
      out[4 * i + 3] = c === 4 ? s[i * c + 3] : 255;
    }
  }
  return out;
}

// ---------------------------------------------------------------- BMP

/**
 * 8-bit uncompressed BMPs (the usual REFUGE mask) are decoded here because bmp-js resolves the palette and
 * drops the indices; everything else (1/4-bit, RLE, 16/24/32-bit) goes through bmp-js.
 */
function decodeBmp(bytes: Uint8Array, name: string): Image2D {
  if (bytes.length < 54) throw formatError(name, `truncated BMP header (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dataOffset = dv.getUint32(10, true);
  const infoSize = dv.getUint32(14, true);
  const width = dv.getInt32(18, true);
  const rawHeight = dv.getInt32(22, true);
  const bpp = dv.getUint16(28, true);
  const compression = dv.getUint32(30, true);
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0) throw formatError(name, `bad BMP size ${width}×${rawHeight}`);
  const rowBytes = Math.ceil((width * bpp) / 32) * 4;
  if (compression === 0 && dataOffset + rowBytes * height > bytes.length) {
    throw formatError(name, `truncated BMP pixel data (${rowBytes * height} bytes expected after offset ${dataOffset}, file has ${Math.max(0, bytes.length - dataOffset)})`);
  }
  if (bpp === 8 && compression === 0) {
    const nColors = dv.getUint32(46, true) || 256;
    const palStart = 14 + infoSize;
    if (palStart + 4 * nColors > dataOffset) throw formatError(name, 'bad BMP palette (overlaps the pixel data)');
    const palette: [number, number, number][] = [];
    for (let i = 0; i < nColors; i++) {
      const p = palStart + 4 * i;
      palette.push([bytes[p + 2], bytes[p + 1], bytes[p]]); // stored B, G, R, reserved
    }
    const indices = new Uint8Array(width * height);
    const bottomUp = rawHeight > 0;
    for (let y = 0; y < height; y++) {
      const src = dataOffset + (bottomUp ? height - 1 - y : y) * rowBytes;
      indices.set(bytes.subarray(src, src + width), y * width);
    }
    return expandPalette(width, height, palette, undefined, indices, 'bmp');
  }
  const dec = guard(name, 'bad BMP', () => bmp.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
  // bmp-js hands back A, B, G, R per pixel; A is only meaningful for 32-bit files with an alpha mask.
  const withAlpha = bpp === 32 && Boolean((dec as unknown as { is_with_alpha?: boolean }).is_with_alpha);
  const channels = withAlpha ? 4 : 3;
  const n = dec.width * dec.height;
  const data = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    data[i * channels] = dec.data[4 * i + 3];
    data[i * channels + 1] = dec.data[4 * i + 2];
    data[i * channels + 2] = dec.data[4 * i + 1];
    if (withAlpha) data[i * 4 + 3] = dec.data[4 * i];
  }
  return { width: dec.width, height: dec.height, channels, bitDepth: 8, data, format: 'bmp' };
}

/**
 * Encodes a BMP: 8-bit with a palette for grey or indexed input (bmp-js only writes 24-bit, and REFUGE
 * masks are 8-bit), else 24-bit through bmp-js (alpha is dropped).
 */
export function encodeBmp(img: ImageInput): Uint8Array {
  checkInput(img, 'encodeBmp');
  if ((img.bitDepth ?? 8) !== 8) throw new Error('encodeBmp: BMP holds 8-bit samples only');
  if (img.palette && img.indices) return encodeBmp8(img.width, img.height, img.palette, img.indices);
  if (img.channels === 1) {
    const grey = Array.from({ length: 256 }, (_, i) => [i, i, i] as [number, number, number]);
    return encodeBmp8(img.width, img.height, grey, img.data);
  }
  const n = img.width * img.height;
  const abgr = Buffer.alloc(4 * n);
  const c = img.channels;
  for (let i = 0; i < n; i++) {
    const r = img.data[i * c];
    const g = c >= 3 ? img.data[i * c + 1] : r;
    const b = c >= 3 ? img.data[i * c + 2] : r;
    abgr[4 * i] = 0;
    abgr[4 * i + 1] = b;
    abgr[4 * i + 2] = g;
    abgr[4 * i + 3] = r;
  }
  return new Uint8Array(bmp.encode({ data: abgr, width: img.width, height: img.height }).data);
}

function encodeBmp8(width: number, height: number, palette: [number, number, number][], indices: ArrayLike<number>): Uint8Array {
  if (palette.length < 1 || palette.length > 256) throw new Error(`encodeBmp: a palette has 1..256 entries, got ${palette.length}`);
  const rowBytes = Math.ceil(width / 4) * 4;
  const offset = 54 + 4 * palette.length;
  const size = offset + rowBytes * height;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = 0x42;
  out[1] = 0x4d;
  dv.setUint32(2, size, true);
  dv.setUint32(10, offset, true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, width, true);
  dv.setInt32(22, height, true); // positive: rows stored bottom-up, as most readers expect
  dv.setUint16(26, 1, true);
  dv.setUint16(28, 8, true);
  dv.setUint32(30, 0, true);
  dv.setUint32(34, rowBytes * height, true);
  dv.setInt32(38, 2835, true); // 72 dpi
  dv.setInt32(42, 2835, true);
  dv.setUint32(46, palette.length, true);
  dv.setUint32(50, 0, true);
  palette.forEach(([r, g, b], i) => {
    out[54 + 4 * i] = b;
    out[55 + 4 * i] = g;
    out[56 + 4 * i] = r;
  });
  for (let y = 0; y < height; y++) {
    const dst = offset + (height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      const v = indices[y * width + x];
      if (v >= palette.length) throw new Error(`encodeBmp: value ${v} at (${x}, ${y}) is outside the ${palette.length}-entry palette`);
      out[dst + x] = v;
    }
  }
  return out;
}

function checkInput(img: ImageInput, fn: string): void {
  if (!(Number.isInteger(img.width) && img.width > 0 && Number.isInteger(img.height) && img.height > 0)) {
    throw new Error(`${fn}: bad size ${img.width}×${img.height}`);
  }
  const n = img.width * img.height;
  if (img.palette && img.indices) {
    if (img.indices.length !== n) throw new Error(`${fn}: ${img.indices.length} indices for ${n} pixels`);
  } else if (img.data.length !== n * img.channels) {
    throw new Error(`${fn}: ${img.data.length} samples for ${n} pixels × ${img.channels} channels`);
  }
}
