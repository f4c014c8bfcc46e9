/** 2D image codecs: real files against independently computed values, exact round trips, corrupt inputs. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { decodeImage, encodeBmp, encodeJpeg, encodePng, readImageFile, writeImageFile, type Image2D } from '../runtime/io/index.js';
import { TdcError } from '../runtime/errors.js';
import { sharedDataDir } from './helpers/shared-data.js';

const DATA = sharedDataDir().replace(/\/$/, '');

/** Sum, position-weighted sum ((i mod 7) + 1) and three probe samples of the raw sample stream. */
function stats(data: ArrayLike<number>, width: number, spp: number): { sum: number; weighted: number; px: number[] } {
  let sum = 0, weighted = 0;
  for (let i = 0; i < data.length; i++) {
    sum += data[i];
    weighted += data[i] * ((i % 7) + 1);
  }
  return { sum, weighted, px: [data[0], data[100 * width * spp + 50 * spp], data[data.length - 1]] };
}

// Expected values computed with a separate PNG decoder (Python: zlib + numpy, filters by hand) on the same files.
describe('real images', () => {
  it('BrainProtonDensitySlice.png: palette PNG keeps indices and palette', () => {
    const bytes = readFileSync(join(DATA, 'mri2d', 'BrainProtonDensitySlice.png'));
    const img = decodeImage(bytes, 'BrainProtonDensitySlice.png');
    expect([img.width, img.height, img.format]).toEqual([181, 217, 'png']);
    expect(img.palette?.length).toBe(256);
    expect(img.palette!.slice(0, 5)).toEqual([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]]);
    expect(stats(img.indices!, 181, 1)).toEqual({ sum: 4860107, weighted: 19463207, px: [1, 173, 5] });
    expect(new Set(img.indices).size).toBe(250);
    // An all-grey palette decodes to one channel holding the palette's grey value.
    expect(img.channels).toBe(1);
    for (let i = 0; i < img.indices!.length; i++) expect(img.data[i]).toBe(img.palette![img.indices![i]][0]);
    // pngjs's own palette resolution agrees.
    const rgba = PNG.sync.read(bytes).data;
    for (let i = 0; i < img.data.length; i += 97) expect(rgba[4 * i]).toBe(img.data[i]);
  });

  it('BrainT1Slice.png: RGB', () => {
    const img = decodeImage(readFileSync(join(DATA, 'mri2d', 'BrainT1Slice.png')), 'BrainT1Slice.png');
    expect([img.width, img.height, img.channels, img.bitDepth]).toEqual([181, 217, 3, 8]);
    expect(img.palette).toBeUndefined();
    expect(stats(img.data, 181, 3)).toEqual({ sum: 8021856, weighted: 32085421, px: [3, 126, 7] });
  });

  it('microaneurysms.png: grey', () => {
    const img = decodeImage(readFileSync(join(DATA, 'fundus', 'microaneurysms.png')), 'microaneurysms.png');
    expect([img.width, img.height, img.channels, img.bitDepth]).toEqual([102, 102, 1, 8]);
    expect(stats(img.data, 102, 1)).toEqual({ sum: 1033532, weighted: 4133638, px: [96, 89, 86] });
  });

  it('retina.jpg: colour fundus JPEG', async () => {
    const img = await readImageFile(join(DATA, 'fundus', 'retina.jpg'));
    expect([img.width, img.height, img.channels, img.bitDepth, img.format]).toEqual([1411, 1411, 3, 8, 'jpeg']);
    const mean = [0, 1, 2].map((c) => {
      let s = 0;
      for (let i = c; i < img.data.length; i += 3) s += img.data[i];
      return s / (img.width * img.height);
    });
    // A fundus photograph is red-dominant with a dark border: R > G > B, none saturated.
    expect(mean[0]).toBeGreaterThan(mean[1]);
    expect(mean[1]).toBeGreaterThan(mean[2]);
    expect(mean[0]).toBeLessThan(200);
    // Re-encoding at high quality stays close to the decoded pixels.
    const crop = cropRgb(img, 600, 600, 64, 48);
    const back = decodeImage(encodeJpeg(crop, 95), 'crop.jpg');
    expect(meanAbsDiff(back.data, crop.data)).toBeLessThan(2);
  });
});

function cropRgb(img: Image2D, x0: number, y0: number, w: number, h: number): Image2D {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(img.data.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x0 + w) * 3), y * w * 3);
  return { width: w, height: h, channels: 3, bitDepth: 8, data };
}

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

function ramp(n: number, mod: number, mul = 37): number[] {
  return Array.from({ length: n }, (_, i) => (i * mul + 11) % mod);
}

describe('PNG round trips', () => {
  for (const channels of [1, 2, 3, 4] as const) {
    for (const bitDepth of [8, 16] as const) {
      it(`${channels} channel(s), ${bitDepth}-bit`, () => {
        const w = 7, h = 5;
        const max = bitDepth === 16 ? 65536 : 256;
        const data = ramp(w * h * channels, max, bitDepth === 16 ? 4099 : 37);
        data[0] = max - 1;
        const img = decodeImage(encodePng({ width: w, height: h, channels, bitDepth, data }), 'rt.png');
        expect([img.width, img.height, img.channels, img.bitDepth]).toEqual([w, h, channels, bitDepth]);
        expect(img.data).toBeInstanceOf(bitDepth === 16 ? Uint16Array : Uint8Array);
        expect(Array.from(img.data)).toEqual(data);
      });
    }
  }

  it('16-bit samples are stored big-endian in the file', () => {
    const bytes = encodePng({ width: 2, height: 1, channels: 1, bitDepth: 16, data: [0x0102, 0xfffe] });
    const idat = findChunk(bytes, 'IDAT');
    const raw = inflateSync(idat);
    // One scanline: filter byte, then 2 samples × 2 bytes. With filter 0 (none) or 1 (sub) the first sample is verbatim.
    expect([raw[1], raw[2]]).toEqual([0x01, 0x02]);
  });

  it('indexed PNG with a colour palette', () => {
    const palette: [number, number, number][] = [[0, 0, 0], [255, 0, 0], [0, 128, 255], [10, 20, 30], [0, 0, 0]];
    const w = 9, h = 4;
    const indices = ramp(w * h, 5, 3);
    const bytes = encodePng({ width: w, height: h, channels: 3, data: [], palette, indices });
    expect(findChunk(bytes, 'IHDR')[9]).toBe(3);
    const img = decodeImage(bytes, 'pal.png');
    expect(img.palette).toEqual(palette);
    // Entries 0 and 4 are both black: only the kept indices tell them apart.
    expect(Array.from(img.indices!)).toEqual(indices);
    expect(img.channels).toBe(3);
    expect(Array.from(img.data)).toEqual(indices.flatMap((i) => palette[i]));
    // pngjs (a different decoder path) resolves the same colours.
    const rgba = PNG.sync.read(Buffer.from(bytes)).data;
    for (let i = 0; i < w * h; i++) expect([rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]]).toEqual(palette[indices[i]]);
  });

  it('the real palette PNG survives decode → encode → decode', () => {
    const img = decodeImage(readFileSync(join(DATA, 'mri2d', 'BrainProtonDensitySlice.png')), 'pd.png');
    const again = decodeImage(encodePng(img), 'pd2.png');
    expect(again.palette).toEqual(img.palette);
    expect(Array.from(again.indices!)).toEqual(Array.from(img.indices!));
  });

  it('1-bit grey PNG keeps its stored sample values (0/1)', () => {
    // 10 pixels: 1011000011 packed MSB first, row padded to whole bytes.
    const bytes = craftPng(10, 1, 1, 0, [Uint8Array.from([0b10110000, 0b11000000])]);
    const img = decodeImage(bytes, 'bits.png');
    expect([img.channels, img.bitDepth]).toEqual([1, 8]);
    expect(Array.from(img.data)).toEqual([1, 0, 1, 1, 0, 0, 0, 0, 1, 1]);
  });

  it('2-bit indexed PNG keeps indices', () => {
    const palette = [[9, 9, 9], [250, 0, 0], [0, 250, 0], [0, 0, 250]];
    // Two rows of 5 pixels: indices 0 1 2 3 1 / 3 3 0 2 1, 2 bits each, MSB first.
    const rows = [Uint8Array.from([0b00011011, 0b01000000]), Uint8Array.from([0b11110010, 0b01000000])];
    const img = decodeImage(craftPng(5, 2, 2, 3, rows, palette), 'two-bit.png');
    expect(Array.from(img.indices!)).toEqual([0, 1, 2, 3, 1, 3, 3, 0, 2, 1]);
    expect(img.palette).toEqual(palette);
    expect(Array.from(img.data.subarray(0, 6))).toEqual([9, 9, 9, 250, 0, 0]);
  });

  it('an index outside the palette is refused', () => {
    expect(() => encodePng({ width: 2, height: 1, channels: 3, data: [], palette: [[0, 0, 0]], indices: [0, 1] })).toThrow(/outside/);
  });
});

/** Builds a PNG by hand (filter 0 on every row), independent of the encoder under test. */
function craftPng(width: number, height: number, depth: number, colorType: number, rows: Uint8Array[], palette?: number[][]): Uint8Array {
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const raw = Buffer.concat(rows.map((r) => Buffer.concat([Buffer.from([0]), r])));
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      ...(palette ? [chunk('PLTE', Uint8Array.from(palette.flat()))] : []),
      chunk('IDAT', deflateSync(raw)),
      chunk('IEND', new Uint8Array(0)),
    ]),
  );
}

function findChunk(png: Uint8Array, type: string): Uint8Array {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let pos = 8; pos + 8 <= png.length; ) {
    const len = dv.getUint32(pos);
    if (String.fromCharCode(...png.subarray(pos + 4, pos + 8)) === type) return png.subarray(pos + 8, pos + 8 + len);
    pos += 12 + len;
  }
  throw new Error(`no ${type} chunk`);
}

describe('JPEG round trips', () => {
  it('RGB gradient within tolerance', () => {
    const w = 32, h = 24;
    const data = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([x * 7, y * 9, 128 + ((x + y) % 3)], (y * w + x) * 3);
    const img = decodeImage(encodeJpeg({ width: w, height: h, channels: 3, data }, 95), 'g.jpg');
    expect([img.width, img.height, img.channels]).toEqual([w, h, 3]);
    expect(meanAbsDiff(img.data, data)).toBeLessThan(2);
    let maxErr = 0;
    for (let i = 0; i < data.length; i++) maxErr = Math.max(maxErr, Math.abs(img.data[i] - data[i]));
    expect(maxErr).toBeLessThanOrEqual(12);
  });

  it('grey input is written as RGB with equal channels', () => {
    const data = ramp(16 * 16, 256, 1);
    const img = decodeImage(encodeJpeg({ width: 16, height: 16, channels: 1, data }, 100), 'grey.jpg');
    for (let i = 0; i < 256; i++) expect(Math.abs(img.data[3 * i] - data[i])).toBeLessThanOrEqual(3);
  });
});

describe('BMP round trips', () => {
  it('8-bit grey (REFUGE-style mask) is exact and stored with a grey palette', () => {
    const w = 5, h = 3; // odd width: rows are padded to 4 bytes
    const data = [0, 128, 255, 128, 0, 255, 255, 128, 0, 0, 128, 128, 0, 255, 0];
    const bytes = encodeBmp({ width: w, height: h, channels: 1, data });
    const dv = new DataView(bytes.buffer);
    expect(String.fromCharCode(bytes[0], bytes[1])).toBe('BM');
    expect(dv.getUint16(28, true)).toBe(8);
    expect(dv.getUint32(2, true)).toBe(bytes.length);
    // Bottom-up rows: the file's first pixel row is the image's last row.
    const offset = dv.getUint32(10, true);
    expect(Array.from(bytes.subarray(offset, offset + w))).toEqual(data.slice(10, 15));
    const img = decodeImage(bytes, 'mask.bmp');
    expect([img.width, img.height, img.channels, img.format]).toEqual([w, h, 1, 'bmp']);
    expect(Array.from(img.data)).toEqual(data);
    expect(Array.from(img.indices!)).toEqual(data);
  });

  it('8-bit indexed with a colour palette keeps indices and palette', () => {
    const palette: [number, number, number][] = [[0, 0, 0], [200, 10, 10], [10, 200, 10], [0, 0, 0]];
    const w = 6, h = 2;
    const indices = [0, 1, 2, 3, 0, 1, 3, 2, 1, 0, 0, 3];
    const img = decodeImage(encodeBmp({ width: w, height: h, channels: 3, data: [], palette, indices }), 'pal.bmp');
    expect(img.palette).toEqual(palette);
    expect(Array.from(img.indices!)).toEqual(indices);
    expect(img.channels).toBe(3);
    expect(Array.from(img.data)).toEqual(indices.flatMap((i) => palette[i]));
  });

  it('top-down 8-bit BMP (negative height)', () => {
    const w = 3, h = 2;
    const data = [1, 2, 3, 4, 5, 6];
    const bytes = encodeBmp({ width: w, height: h, channels: 1, data });
    const dv = new DataView(bytes.buffer);
    const offset = dv.getUint32(10, true);
    const row0 = bytes.slice(offset, offset + 4);
    bytes.set(bytes.slice(offset + 4, offset + 8), offset);
    bytes.set(row0, offset + 4);
    dv.setInt32(22, -h, true);
    expect(Array.from(decodeImage(bytes, 'td.bmp').data)).toEqual(data);
  });

  it('24-bit RGB is exact, stored top-down as B, G, R with padded rows', () => {
    const w = 5, h = 3;
    const data = ramp(w * h * 3, 256, 29);
    const bytes = encodeBmp({ width: w, height: h, channels: 3, data });
    const dv = new DataView(bytes.buffer);
    expect(dv.getUint16(28, true)).toBe(24);
    const offset = dv.getUint32(10, true);
    const rowBytes = Math.ceil((w * 3) / 4) * 4;
    // bmp-js writes rows top-down (negative height), so pixel (0, 0) is stored first, as B, G, R.
    expect(dv.getInt32(22, true)).toBe(-h);
    const p = 0;
    expect(Array.from(bytes.subarray(offset, offset + 3))).toEqual([data[p + 2], data[p + 1], data[p]]);
    expect(bytes.length).toBe(offset + rowBytes * h);
    const img = decodeImage(bytes, 'rgb.bmp');
    expect([img.width, img.height, img.channels]).toEqual([w, h, 3]);
    expect(Array.from(img.data)).toEqual(data);
  });
});

describe('files and corrupt inputs', () => {
  it('writeImageFile / readImageFile by extension', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tdc-io-img-'));
    try {
      const img = { width: 4, height: 2, channels: 1 as const, data: [0, 1, 2, 3, 4, 5, 6, 7] };
      for (const ext of ['png', 'bmp']) {
        await writeImageFile(join(dir, `a.${ext}`), img);
        const back = await readImageFile(join(dir, `a.${ext}`));
        expect(back.format).toBe(ext);
        expect(Array.from(back.data)).toEqual(img.data);
      }
      await writeImageFile(join(dir, 'a.jpg'), img);
      expect((await readImageFile(join(dir, 'a.jpg'))).format).toBe('jpeg');
      await expect(readImageFile(join(dir, 'missing.png'))).rejects.toThrow(TdcError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes by magic bytes, not by name', () => {
    const png = encodePng({ width: 1, height: 1, channels: 1, data: [9] });
    expect(decodeImage(png, 'lies.jpg').format).toBe('png');
  });

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['truncated.png', () => { const b = encodePng({ width: 16, height: 16, channels: 3, data: ramp(768, 256) }); return b.subarray(0, b.length >> 1); }, /PNG/],
    ['crc.png', () => { const b = encodePng({ width: 4, height: 4, channels: 1, data: ramp(16, 256) }).slice(); b[20] ^= 0xff; return b; }, /PNG/],
    ['truncated.jpg', () => readFileSync(join(DATA, 'fundus', 'retina.jpg')).subarray(0, 2000), /JPEG/],
    ['truncated.bmp', () => encodeBmp({ width: 8, height: 8, channels: 1, data: ramp(64, 256) }).subarray(0, 100), /truncated BMP/],
    ['truncated24.bmp', () => encodeBmp({ width: 8, height: 8, channels: 3, data: ramp(192, 256) }).subarray(0, 120), /truncated BMP/],
    ['header.bmp', () => Uint8Array.from([0x42, 0x4d, 1, 2, 3]), /truncated BMP header/],
    ['random.png', () => new TextEncoder().encode('definitely not an image'), /not a PNG, JPEG or BMP/],
  ];
  for (const [name, make, pattern] of cases) {
    it(`${name} → one-line TdcError`, () => {
      let err: unknown;
      try {
        decodeImage(make(), name);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TdcError);
      const msg = (err as Error).message;
      expect(msg.startsWith(`${name}: `)).toBe(true);
      expect(msg).not.toMatch(/[\r\n]/);
      expect(msg).toMatch(pattern);
    });
  }
});
