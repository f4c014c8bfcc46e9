/**
 * Each layout written by hand with the codecs (not through `synthesize`), then read back: pixels, labels,
 * presence, scenes and spacing must be exactly what was written.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeBmp, encodeJpeg, encodePng, readImageFile, writeNiftiFile } from '../runtime/io/index.js';
import { openDataset, ENDOVIS_CLASSES } from '../runtime/data/index.js';
import { bratsTask, dataSpec, refugeTask, robotTask, tempDir } from './data-helpers.js';
import { TdcError } from '../runtime/errors.js';
import { sharedDataDir } from './helpers/shared-data.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REAL_LABELS = `${sharedDataDir()}labels/endovis2018_labels.json`;
const tmp = tempDir('readers');
afterAll(() => tmp.cleanup());

/** An RGB test image whose every byte is different and predictable. */
function rgbPattern(w: number, h: number, salt: number): Uint8Array {
  const d = new Uint8Array(w * h * 3);
  for (let i = 0; i < d.length; i++) d[i] = (i * 37 + salt * 11) % 256;
  return d;
}

async function write(file: string, bytes: Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, bytes);
}

describe('ROBOT18 reader', () => {
  const root = path.join(tmp.dir, 'robot');
  const W = 10;
  const H = 8;
  // Class ids per pixel: a vertical band of shaft (1), a block of kidney (4), one clasper pixel (2).
  const ids = (salt: number): Int32Array => {
    const m = new Int32Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) m[y * W + x] = x === salt ? 1 : y >= 5 && x >= 6 ? 4 : 0;
    m[0] = 2;
    return m;
  };
  const colour = (m: Int32Array): Uint8Array => {
    const d = new Uint8Array(m.length * 3);
    m.forEach((c, i) => d.set(ENDOVIS_CLASSES[c]!.color, i * 3));
    return d;
  };
  const frames = [
    { seq: 'seq_1', frame: 'frame000', salt: 1 },
    { seq: 'seq_1', frame: 'frame001', salt: 2 },
    { seq: 'seq_3', frame: 'frame007', salt: 3 },
  ];
  const setup = (async () => {
    for (const f of frames) {
      await write(path.join(root, f.seq, 'left_frames', `${f.frame}.png`), encodePng({ width: W, height: H, channels: 3, data: rgbPattern(W, H, f.salt) }));
      await write(path.join(root, f.seq, 'labels', `${f.frame}.png`), encodePng({ width: W, height: H, channels: 3, data: colour(ids(f.salt)) }));
    }
    // Mixed rows: a range for seq_1 and a per-frame row that overrides it, scenes by name and by index.
    await fs.writeFile(path.join(root, 'scenes.csv'), 'seq,start,end,scene\nseq_1,0,10,peeling\nseq_1,frame001,incising\n3,7,0\n');
    await fs.writeFile(path.join(root, 'scenes.json'), JSON.stringify([{ seq: 'seq_1', start: 0, end: 1, scene: 'incising' }, { seq: 'seq_3', frame: 'frame007.png', scene: 1 }]));
  })();

  // Classes without colours: the real EndoVis labels.json maps colours by class name.
  const task = (size: number[]) => ({ ...robotTask(size), classes: robotTask().classes.map((c) => ({ name: c.name, weight: 1 })) });

  it('reads frames, colour labels (via the real labels.json) and CSV scenes exactly', async () => {
    await setup;
    const data = dataSpec('robot18', root, { labelsFile: REAL_LABELS, scenes: { from: 'file', file: path.join(root, 'scenes.csv') } });
    const ds = await openDataset({ data, task: task([H, W]), seed: 0 });
    expect(ds.samples.map((s) => s.id)).toEqual(['seq_1/frame000', 'seq_1/frame001', 'seq_3/frame007']);
    expect(ds.samples.map((s) => s.scene)).toEqual([1, 2, 0]);
    for (const [i, f] of frames.entries()) {
      const s = await ds.load(ds.samples[i]!);
      expect(s.shape).toEqual([H, W, 3]);
      expect(s.spacing).toEqual([1, 1]);
      expect(Array.from(s.image)).toEqual(Array.from(rgbPattern(W, H, f.salt)));
      expect(Array.from(s.mask)).toEqual(Array.from(ids(f.salt)));
      const want = new Array(12).fill(0);
      for (const c of [0, 1, 2, 4]) want[c] = 1;
      expect(Array.from(s.classes)).toEqual(want);
    }
  });

  it('reads JSON scene files', async () => {
    await setup;
    const data = dataSpec('robot18', root, { labelsFile: REAL_LABELS, scenes: { from: 'file', file: path.join(root, 'scenes.json') } });
    const ds = await openDataset({ data, task: task([H, W]), seed: 0 });
    expect(ds.samples.map((s) => s.scene)).toEqual([2, 2, 1]);
  });

  it('resizes: bilinear (half-pixel centres) for images, nearest for masks', async () => {
    await setup;
    const data = dataSpec('robot18', root, { labelsFile: REAL_LABELS, scenes: { from: 'file', file: path.join(root, 'scenes.csv') } });
    const ds = await openDataset({ data, task: task([4, 5]), seed: 0 });
    const s = await ds.load(ds.samples[0]!);
    expect(s.shape).toEqual([4, 5, 3]);
    expect(s.spacing).toEqual([2, 2]);
    const src = rgbPattern(W, H, 1);
    const m = ids(1);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 5; x++) {
        // Halving with half-pixel centres samples exactly between pixels: the mean of each 2×2 block.
        for (let k = 0; k < 3; k++) {
          const at = (yy: number, xx: number): number => src[(yy * W + xx) * 3 + k]!;
          const mean = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
          expect(s.image[(y * 5 + x) * 3 + k]).toBeCloseTo(mean, 4);
        }
        // Nearest picks source pixel floor((i + 0.5) · 2) = 2i + 1.
        expect(s.mask[y * 5 + x]).toBe(m[(2 * y + 1) * W + 2 * x + 1]);
      }
    }
  });

  it('a colour not in the table names the file, the pixel and the colour', async () => {
    const bad = path.join(tmp.dir, 'robot-bad');
    const lab = colour(ids(1));
    lab.set([1, 2, 3], (3 * W + 4) * 3); // pixel (x 4, y 3)
    await write(path.join(bad, 'seq_1', 'left_frames', 'frame000.png'), encodePng({ width: W, height: H, channels: 3, data: rgbPattern(W, H, 1) }));
    await write(path.join(bad, 'seq_1', 'labels', 'frame000.png'), encodePng({ width: W, height: H, channels: 3, data: lab }));
    const ds = await openDataset({ data: dataSpec('robot18', bad, { labelsFile: REAL_LABELS }), task: task([H, W]), seed: 0 });
    const err = await ds.load(ds.samples[0]!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TdcError);
    const msg = (err as TdcError).message;
    expect(msg).toContain(path.join(bad, 'seq_1', 'labels', 'frame000.png'));
    expect(msg).toContain('(1, 2, 3)');
    expect(msg).toContain('pixel (4, 3)');
    expect(msg).not.toContain('\n');
  });
});

describe('REFUGE18 reader', () => {
  const root = path.join(tmp.dir, 'refuge');
  const W = 8;
  const H = 6;
  // Grey mask: background 255, a rim (128) ring around a cup (0).
  const grey = (withRim: boolean): Uint8Array => {
    const g = new Uint8Array(W * H).fill(255);
    for (let y = 1; y < 5; y++) for (let x = 2; x < 6; x++) g[y * W + x] = withRim ? 128 : 255;
    for (let y = 2; y < 4; y++) for (let x = 3; x < 5; x++) g[y * W + x] = 0;
    return g;
  };
    const setup = (async () => {
    const items = [
      { folder: 'Glaucoma', name: 'g0001', rim: true },
      { folder: 'Non-Glaucoma', name: 'n0001', rim: false },
    ];
    for (const it of items) {
      const bytes = encodeJpeg({ width: W, height: H, channels: 3, data: rgbPattern(W, H, 5) }, 100);
      await write(path.join(root, 'Training400', it.folder, `${it.name}.jpg`), bytes);
      await write(path.join(root, 'Annotation-Training400', 'Disc_Cup_Masks', it.folder, `${it.name}.bmp`), encodeBmp({ width: W, height: H, channels: 1, data: grey(it.rim) }));
    }
  })();

  it('reads images, grey masks, folder scenes; nestedDisc counts the cup as disc presence', async () => {
    await setup;
    const nested = await openDataset({ data: dataSpec('refuge18', root, { nestedDisc: true }), task: refugeTask([H, W]), seed: 0 });
    expect(nested.samples.map((s) => [s.id, s.scene])).toEqual([
      ['Glaucoma/g0001', 0],
      ['Non-Glaucoma/n0001', 1],
    ]);
    const g = await nested.load(nested.samples[0]!);
    const decoded = await readImageFile(nested.samples[0]!.files.image!);
    expect(Array.from(g.image)).toEqual(Array.from(decoded.data));
    const expectMask = Array.from(grey(true), (v) => (v === 255 ? 0 : v === 128 ? 1 : 2));
    expect(Array.from(g.mask)).toEqual(expectMask);
    expect(Array.from(g.classes)).toEqual([1, 1, 1]);
    // Only cup + background pixels: the disc is present through the cup when nested, absent otherwise.
    const n = await nested.load(nested.samples[1]!);
    expect(Array.from(n.classes)).toEqual([1, 1, 1]);
    expect(n.mask.includes(1)).toBe(false);
    const flat = await openDataset({ data: dataSpec('refuge18', root, { nestedDisc: false }), task: refugeTask([H, W]), seed: 0 });
    expect(Array.from((await flat.load(flat.samples[1]!)).classes)).toEqual([1, 0, 1]);
  });

  it('a smooth JPEG at quality 100 reads back within 3 levels of what was encoded', async () => {
    const dir = path.join(tmp.dir, 'refuge-smooth');
    const smooth = Uint8Array.from({ length: 16 * 16 * 3 }, (_, i) => 60 + Math.floor(i / 3) % 16 * 4 + (i % 3) * 30);
    await write(path.join(dir, 'Training400', 'Glaucoma', 'g0009.jpg'), encodeJpeg({ width: 16, height: 16, channels: 3, data: smooth }, 100));
    await write(path.join(dir, 'Annotation-Training400', 'Disc_Cup_Masks', 'Glaucoma', 'g0009.bmp'), encodeBmp({ width: 16, height: 16, channels: 1, data: new Uint8Array(256).fill(255) }));
    const ds = await openDataset({ data: dataSpec('refuge18', dir), task: refugeTask([16, 16]), seed: 0 });
    const s = await ds.load(ds.samples[0]!);
    let worst = 0;
    for (let i = 0; i < smooth.length; i++) worst = Math.max(worst, Math.abs(s.image[i]! - smooth[i]!));
    expect(worst).toBeLessThanOrEqual(3);
    expect(Array.from(s.classes)).toEqual([1, 0, 0]);
  });
});

describe('BRATS18 reader', () => {
  const root = path.join(tmp.dir, 'brats');
  const [X, Y, Z] = [5, 4, 3];
  const n = X * Y * Z;
  const spacing = [1.2, 0.9, 3];
  const labelAt = (x: number, y: number, z: number): number => (x === 0 ? 0 : [0, 1, 2, 4][(x + y + z) % 4]!);
  const modality = (m: number) =>
    Int16Array.from({ length: n }, (_, i) => {
      const x = i % X;
      return x === 0 ? 0 : 100 * (m + 1) + ((i * 7 + m * 13) % 50); // x = 0 is outside the brain
    });
  const setup = (async () => {
    const dir = path.join(root, 'LGG', 'Brats18_T_1');
    await fs.mkdir(dir, { recursive: true });
    const mods = ['t1', 't1ce', 't2', 'flair'];
    for (const [m, name] of mods.entries()) {
      await writeNiftiFile(path.join(dir, `Brats18_T_1_${name}.nii.gz`), { dims: [X, Y, Z], spacing, datatype: 'int16', data: modality(m) });
    }
    const seg = Uint8Array.from({ length: n }, (_, i) => labelAt(i % X, Math.floor(i / X) % Y, Math.floor(i / (X * Y))));
    await writeNiftiFile(path.join(dir, 'Brats18_T_1_seg.nii.gz'), { dims: [X, Y, Z], spacing, datatype: 'uint8', data: seg });
  })();

  it('reads four modalities into [Z, Y, X, C], z-scored over brain voxels, labels 0/1/2/4 → classes', async () => {
    await setup;
    const ds = await openDataset({ data: dataSpec('brats18', root), task: bratsTask([X, Y, Z]), seed: 0 });
    expect(ds.samples.map((s) => [s.id, s.group, s.scene])).toEqual([['LGG/Brats18_T_1', 'Brats18_T_1', 1]]);
    const s = await ds.load(ds.samples[0]!);
    expect(s.shape).toEqual([Z, Y, X, 4]);
    expect(s.spacing.map((v) => Math.fround(v))).toEqual([3, 0.9, 1.2].map(Math.fround));
    expect(Array.from(s.classes)).toEqual([1, 1, 1, 1]);
    for (let m = 0; m < 4; m++) {
      // Independent float64 z-score over the non-zero voxels.
      const v = Array.from(modality(m));
      const brain = v.filter((x) => x !== 0);
      const mean = brain.reduce((a, b) => a + b, 0) / brain.length;
      const std = Math.sqrt(brain.reduce((a, b) => a + (b - mean) ** 2, 0) / brain.length);
      for (let z = 0; z < Z; z++) {
        for (let y = 0; y < Y; y++) {
          for (let x = 0; x < X; x++) {
            const raw = v[x + X * (y + Y * z)]!;
            const got = s.image[((z * Y + y) * X + x) * 4 + m]!;
            expect(got).toBeCloseTo(raw === 0 ? 0 : (raw - mean) / std, 5);
            if (m === 0) expect(s.mask[(z * Y + y) * X + x]).toBe([0, 1, 2, -1, 3][labelAt(x, y, z)]);
          }
        }
      }
    }
  });

  it('a missing modality is reported by file name', async () => {
    await setup;
    const dir = path.join(tmp.dir, 'brats-missing', 'HGG', 'S2');
    await fs.mkdir(dir, { recursive: true });
    await fs.copyFile(path.join(root, 'LGG', 'Brats18_T_1', 'Brats18_T_1_seg.nii.gz'), path.join(dir, 'S2_seg.nii.gz'));
    const ds = await openDataset({ data: dataSpec('brats18', path.dirname(path.dirname(dir))), task: bratsTask([X, Y, Z]), seed: 0 });
    const err = (await ds.load(ds.samples[0]!).catch((e: unknown) => e)) as TdcError;
    expect(err.code).toBe('TDC0603');
    expect(err.message).toContain(path.join(dir, 'S2_t1.nii.gz'));
  });
});

describe('folders reader', () => {
  it('reads images, class-id masks (palette/grey PNG) and labels.csv scenes + presence', async () => {
    const root = path.join(tmp.dir, 'folders');
    const W = 4;
    const H = 3;
    const m = Uint8Array.from({ length: W * H }, (_, i) => i % 3);
    await write(path.join(root, 'images', 'a.png'), encodePng({ width: W, height: H, channels: 3, data: rgbPattern(W, H, 9) }));
    await write(path.join(root, 'masks', 'a.png'), encodePng({ width: W, height: H, channels: 1, data: m }));
    await write(path.join(root, 'images', 'b.bmp'), encodeBmp({ width: W, height: H, channels: 3, data: rgbPattern(W, H, 4) }));
    await write(path.join(root, 'masks', 'b.png'), encodePng({ width: W, height: H, channels: 1, data: new Uint8Array(W * H) }));
    await fs.writeFile(path.join(root, 'labels.csv'), 'id,scene,bg,one,two\na,normal,1,1,1\nb,0,1,0,1\n');
    const task = {
      dims: 2 as const,
      size: [H, W],
      channels: 3,
      classes: ['bg', 'one', 'two'].map((name) => ({ name, weight: 1 })),
      scenes: ['glaucoma', 'normal'],
      regions: {},
    };
    const ds = await openDataset({ data: dataSpec('folders', root), task, seed: 0 });
    expect(ds.samples.map((s) => [s.id, s.scene])).toEqual([
      ['a', 1],
      ['b', 0],
    ]);
    const a = await ds.load(ds.samples[0]!);
    expect(Array.from(a.image)).toEqual(Array.from(rgbPattern(W, H, 9)));
    expect(Array.from(a.mask)).toEqual(Array.from(m));
    const b = await ds.load(ds.samples[1]!);
    expect(Array.from(b.image)).toEqual(Array.from(rgbPattern(W, H, 4)));
    // The table's presence wins over the (empty) mask.
    expect(Array.from(b.classes)).toEqual([1, 0, 1]);
  });

  it('3D: a 4D NIfTI image (channels in dim 4) and a label volume', async () => {
    const root = path.join(tmp.dir, 'folders3d');
    const [X, Y, Z, C] = [3, 2, 2, 2];
    const n = X * Y * Z;
    const img = Float32Array.from({ length: n * C }, (_, i) => (i % n === 0 ? 0 : 10 + ((i * 5) % 7) + (i >= n ? 100 : 0)));
    const seg = Uint8Array.from({ length: n }, (_, i) => i % 3);
    await fs.mkdir(path.join(root, 'images'), { recursive: true });
    await fs.mkdir(path.join(root, 'masks'), { recursive: true });
    await writeNiftiFile(path.join(root, 'images', 'v1.nii.gz'), { dims: [X, Y, Z, C], spacing: [2, 2, 5, 1], datatype: 'float32', data: img });
    await writeNiftiFile(path.join(root, 'masks', 'v1.nii.gz'), { dims: [X, Y, Z], spacing: [2, 2, 5], datatype: 'uint8', data: seg });
    const task = { dims: 3 as const, size: [X, Y, Z], channels: C, classes: ['a', 'b', 'c'].map((name) => ({ name, weight: 1 })), scenes: ['s'], regions: {} };
    const ds = await openDataset({ data: dataSpec('folders', root), task, seed: 0 });
    const s = await ds.load(ds.samples[0]!);
    expect(s.shape).toEqual([Z, Y, X, C]);
    expect(s.spacing).toEqual([5, 2, 2]);
    expect(Array.from(s.mask)).toEqual(Array.from(seg));
    for (let k = 0; k < C; k++) {
      const v = Array.from(img.subarray(k * n, (k + 1) * n));
      const nz = v.filter((x) => x !== 0);
      const mean = nz.reduce((a, b) => a + b, 0) / nz.length;
      const std = Math.sqrt(nz.reduce((a, b) => a + (b - mean) ** 2, 0) / nz.length);
      v.forEach((x, i) => expect(s.image[i * C + k]).toBeCloseTo(x === 0 ? 0 : (x - mean) / std, 5));
    }
  });
});

describe('folders reader: errors say where they looked and what they expected', () => {
  const task2d = (scenes = ['glaucoma', 'normal']) => ({
    dims: 2 as const,
    size: [3, 4],
    channels: 3,
    classes: ['bg', 'one'].map((name) => ({ name, weight: 1 })),
    scenes,
    regions: {},
  });

  it('an empty root names the path and the expected tree', async () => {
    const root = path.join(tmp.dir, 'folders-empty');
    await fs.mkdir(root, { recursive: true });
    const err = (await openDataset({ data: dataSpec('folders', root), task: task2d(), seed: 0 }).catch((e: unknown) => e)) as TdcError;
    expect(err.code).toBe('TDC0602');
    expect(err.message).toBe(`${root}: no folders samples found; expected ${root}/images/<stem>.{png,jpg,bmp} with masks in ${root}/masks/<stem>.png (see docs/data.md)`);
  });

  it('a scene file with a header row works whatever its columns are called; a missing mask names its image', async () => {
    const root = path.join(tmp.dir, 'folders-header');
    for (const s of ['c1', 'c2']) await write(path.join(root, 'images', `${s}.png`), encodePng({ width: 4, height: 3, channels: 3, data: rgbPattern(4, 3, 1) }));
    await write(path.join(root, 'masks', 'c1.png'), encodePng({ width: 4, height: 3, channels: 1, data: new Uint8Array(12) }));
    for (const header of ['image,label', 'case,diagnosis', 'filename,class']) {
      await fs.writeFile(path.join(root, 'labels.csv'), `${header}\nc1,normal\nc2,glaucoma\n`);
      const ds = await openDataset({ data: dataSpec('folders', root), task: task2d(), seed: 0 });
      expect(ds.samples.map((s) => [s.id, s.scene])).toEqual([['c1', 1], ['c2', 0]]);
    }
    // Without a header the first row is data; an unknown scene in it is still an error, not a header.
    await fs.writeFile(path.join(root, 'labels.csv'), 'c1,normal\nc2,glaucom\n');
    await expect(openDataset({ data: dataSpec('folders', root), task: task2d(), seed: 0 })).rejects.toThrow(/line 2: unknown scene 'glaucom'/);
    await fs.writeFile(path.join(root, 'labels.csv'), 'c1,normal\n');
    const ds = await openDataset({ data: dataSpec('folders', root), task: task2d(), seed: 0 });
    expect(ds.samples.map((s) => s.scene)).toEqual([1, -1]);
    const err = (await ds.load(ds.samples[1]!).catch((e: unknown) => e)) as TdcError;
    expect(err.message).toBe(`${path.join(root, 'masks', 'c2.png')}: file not found (expected there: the mask of ${path.join(root, 'images', 'c2.png')})`);
  });

  it('an RGB mask colour that no class has prints as (r, g, b)', async () => {
    const root = path.join(tmp.dir, 'folders-rgb');
    const mask = new Uint8Array(4 * 3 * 3);
    mask.set([200, 10, 30], (1 * 4 + 2) * 3);
    await write(path.join(root, 'images', 'a.png'), encodePng({ width: 4, height: 3, channels: 3, data: rgbPattern(4, 3, 2) }));
    await write(path.join(root, 'masks', 'a.png'), encodePng({ width: 4, height: 3, channels: 3, data: mask }));
    const task = { ...task2d(), classes: [{ name: 'bg', color: [0, 0, 0] as [number, number, number], weight: 1 }, { name: 'one', color: [0, 255, 0] as [number, number, number], weight: 1 }] };
    const ds = await openDataset({ data: dataSpec('folders', root), task, seed: 0 });
    const err = (await ds.load(ds.samples[0]!).catch((e: unknown) => e)) as TdcError;
    expect(err.message).toBe(`${path.join(root, 'masks', 'a.png')}: colour (200, 10, 30) at (2, 1) is not the colour of any class (known: (0, 0, 0), (0, 255, 0))`);
  });

  it('3D: a 4D mask is refused naming the file and its shape; a NaN intensity names the file and the voxel', async () => {
    const root = path.join(tmp.dir, 'folders-4d');
    const [X, Y, Z] = [3, 2, 2];
    const n = X * Y * Z;
    const img = Float32Array.from({ length: n }, (_, i) => 1 + i);
    img[7] = NaN;
    await fs.mkdir(path.join(root, 'images'), { recursive: true });
    await fs.mkdir(path.join(root, 'masks'), { recursive: true });
    await writeNiftiFile(path.join(root, 'images', 'v.nii.gz'), { dims: [X, Y, Z], spacing: [1, 1, 1], datatype: 'float32', data: img });
    await writeNiftiFile(path.join(root, 'masks', 'v.nii.gz'), { dims: [X, Y, Z, 2], spacing: [1, 1, 1, 1], datatype: 'uint8', data: new Uint8Array(2 * n) });
    const task = { dims: 3 as const, size: [X, Y, Z], channels: 1, classes: ['a', 'b'].map((name) => ({ name, weight: 1 })), scenes: ['s'], regions: {} };
    const ds = await openDataset({ data: dataSpec('folders', root), task, seed: 0 });
    const err = (await ds.load(ds.samples[0]!).catch((e: unknown) => e)) as TdcError;
    expect(err.code).toBe('TDC0611');
    expect(err.message).toBe(`${path.join(root, 'masks', 'v.nii.gz')}: a 4D file (3×2×2×2) where a 3D volume is expected`);
    await writeNiftiFile(path.join(root, 'masks', 'v.nii.gz'), { dims: [X, Y, Z], spacing: [1, 1, 1], datatype: 'uint8', data: new Uint8Array(n) });
    const nan = (await ds.load(ds.samples[0]!).catch((e: unknown) => e)) as TdcError;
    // Voxel 7 of a 3×2×2 volume: x = 1, y = 0, z = 1.
    expect(nan.message).toBe(`${path.join(root, 'images', 'v.nii.gz')}: value NaN at (1, 0, 1); intensities must be finite numbers`);
  });
});
