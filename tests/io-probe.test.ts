// probeFile: the size read from headers alone agrees with the full decoders, and cut-off files are refused.
import { afterAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { encodeBmp, encodeJpeg, encodeNifti, encodePng, probeFile, readImageFile, readNiftiFile } from '../runtime/io/index.js';
import { TdcError } from '../runtime/errors.js';
import { tempDir } from './data-helpers.js';

const tmp = tempDir('probe');
afterAll(() => tmp.cleanup());

const img = { width: 7, height: 5, channels: 3 as const, data: Uint8Array.from({ length: 105 }, (_, i) => (i * 37) % 256) };

describe('probeFile', () => {
  it('PNG, JPEG, BMP: [width, height] as the decoders read them', async () => {
    for (const [ext, bytes] of [['png', encodePng(img)], ['jpg', encodeJpeg(img)], ['bmp', encodeBmp(img)]] as const) {
      const file = path.join(tmp.dir, `a.${ext}`);
      await fs.writeFile(file, bytes);
      const decoded = await readImageFile(file);
      expect((await probeFile(file)).dims).toEqual([decoded.width, decoded.height]);
    }
  });

  it('NIfTI-1 and -2, plain and gzipped: dim[1..n]; truncated files are format errors (TdcError)', async () => {
    const vol = { dims: [4, 3, 2, 2], spacing: [1, 1, 1, 1], datatype: 'int16' as const, data: new Int16Array(48).map((_, i) => i) };
    for (const version of [1, 2] as const) {
      for (const gzip of [false, true]) {
        const file = path.join(tmp.dir, `v${version}.nii${gzip ? '.gz' : ''}`);
        const bytes = encodeNifti(vol, { version, gzip });
        await fs.writeFile(file, bytes);
        expect((await probeFile(file)).dims).toEqual((await readNiftiFile(file)).dims);
        await fs.writeFile(file, bytes.subarray(0, bytes.length - 20));
        await expect(probeFile(file)).rejects.toBeInstanceOf(TdcError);
      }
    }
  });

  it('refuses an empty file, a cut PNG and a file of no known format, each in one line', async () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['empty.png', new Uint8Array(0), /empty file/],
      ['cut.png', encodePng(img).subarray(0, 60), /truncated PNG/],
      ['text.png', new TextEncoder().encode('hello, this is not an image at all'), /not a PNG, JPEG, BMP or NIfTI/],
    ];
    for (const [name, bytes, re] of cases) {
      const file = path.join(tmp.dir, name);
      await fs.writeFile(file, bytes);
      const err = (await probeFile(file).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(re);
      expect(err.message).not.toContain('\n');
    }
  });
});
