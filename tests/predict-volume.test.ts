/**
 * `Predictor` on tiny hand-made networks whose answer is known in closed form (a 1×1(×1) linear segmentation
 * layer, constant class/scene heads), and the subject files `tdc predict` reads and writes for 3D.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resizeBilinear } from '../runtime/data/arrays.js';
import { readNiftiFile, writeNiftiFile } from '../runtime/io/index.js';
import {
  Predictor,
  classLabelValues,
  mapToLabelValues,
  readVolumeInput,
  resolveSubject,
  writeLabelNifti,
} from '../runtime/predict/index.js';
import type { TaskSpec } from '../spec/types.js';

const work = mkdtempSync(join(tmpdir(), 'tdc-predict-volume-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await tf.setBackend('cpu');
});

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A network with the three heads: seg = 1×1 linear map W·x + b, class and scene = constant logits. */
function linearNet(dims: 2 | 3, size: number[], c: number, W: number[][], b: number[], clsBias: number[], sceneBias: number[]): tf.LayersModel {
  const k = b.length;
  const input = tf.input({ shape: [...size, c] });
  const kernel = tf.tensor(W.flat(), [...(dims === 3 ? [1, 1, 1] : [1, 1]), c, k]);
  const seg = (dims === 3 ? tf.layers.conv3d({ filters: k, kernelSize: 1, weights: [kernel, tf.tensor1d(b)] }) : tf.layers.conv2d({ filters: k, kernelSize: 1, weights: [kernel, tf.tensor1d(b)] })).apply(input) as tf.SymbolicTensor;
  // Zero kernels on the flattened input: the head logits are exactly the biases, whatever the window holds.
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const n = size.reduce((p, q) => p * q, c);
  const dense = (bias: number[]) =>
    tf.layers.dense({ units: bias.length, weights: [tf.zeros([n, bias.length]), tf.tensor1d(bias)] }).apply(flat) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [seg, dense(clsBias), dense(sceneBias)] });
}

function task(dims: 2 | 3, size: number[], channels: number, k: number, scenes: string[]): TaskSpec {
  return {
    dims,
    size,
    channels,
    modalities: dims === 3 ? ['t1', 't1ce', 't2', 'flair'].slice(0, channels) : undefined,
    classes: Array.from({ length: k }, (_, i) => ({ name: `c${i}`, weight: 1 })),
    scenes,
    regions: {},
  };
}

/** Class of the largest W·x + b at each voxel, in float64; -1 where the top two are within `margin` (float32 ties). */
function referenceArgmax(x: ArrayLike<number>, c: number, W: number[][], b: number[], margin = 1e-4): Int32Array {
  const n = x.length / c;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const z = b.map((bk, kk) => bk + W.reduce((s, row, ci) => s + row[kk]! * x[i * c + ci]!, 0));
    const sorted = [...z].sort((p, q) => q - p);
    out[i] = sorted[0]! - sorted[1]! < margin ? -1 : z.indexOf(sorted[0]!);
  }
  return out;
}

describe('Predictor, 3D sliding windows', () => {
  const C = 2;
  const W = [
    [1, -1, 0.5],
    [0.3, 0.8, -1],
  ];
  const b = [0, 0.1, -0.2];

  it('a pointwise network gives the same labels as running it on the whole volume', async () => {
    const t = task(3, [6, 5, 3], C, 3, ['HGG', 'LGG']); // window [z, y, x] = [3, 5, 6]
    const model = linearNet(3, [3, 5, 6], C, W, b, [-1, 0.5, 2], [1, 2]);
    const rnd = lcg(11);
    const shape = [7, 11, 13];
    const vol = Float32Array.from({ length: 7 * 11 * 13 * C }, () => rnd() * 4 - 2);
    for (const weighting of ['gaussian', 'uniform'] as const) {
      const p = new Predictor({ model, task: t, sceneActivation: 'softmax', window: { overlap: 0.5, weighting } });
      let last = 0;
      const pred = await p.predictVolume(vol, shape, { onProgress: (d) => (last = d) });
      const ref = referenceArgmax(vol, C, W, b);
      let compared = 0;
      ref.forEach((r, i) => {
        if (r < 0) return;
        compared++;
        expect(pred.classIds[i], `voxel ${i}`).toBe(r);
      });
      expect(compared).toBeGreaterThan(0.99 * ref.length);
      expect(pred.shape).toEqual(shape);
      // z: 7 in windows of 3 (step 1) → 5; y: 11 in 5 (step 2) → 4; x: 13 in 6 (step 3) → 4.
      expect(pred.windows).toBe(5 * 4 * 4);
      expect(last).toBe(pred.windows);
      const sig = (v: number) => 1 / (1 + Math.exp(-v));
      [-1, 0.5, 2].forEach((v, i) => expect(pred.classProbs[i]).toBeCloseTo(sig(v), 6));
      expect(pred.sceneProbs[0]).toBeCloseTo(1 / (1 + Math.E), 6);
      expect(pred.sceneProbs[1]).toBeCloseTo(Math.E / (1 + Math.E), 6);
    }
    model.dispose();
  });

  it('a volume smaller than the window along some axes is padded and cropped back', async () => {
    const t = task(3, [6, 5, 3], C, 3, ['HGG', 'LGG']);
    const model = linearNet(3, [3, 5, 6], C, W, b, [0, 0, 0], [0, 0]);
    const rnd = lcg(5);
    const shape = [2, 9, 4];
    const vol = Float32Array.from({ length: 2 * 9 * 4 * C }, () => rnd() * 4 - 2);
    const pred = await new Predictor({ model, task: t, sceneActivation: 'sigmoid' }).predictVolume(vol, shape);
    const ref = referenceArgmax(vol, C, W, b);
    ref.forEach((r, i) => r >= 0 && expect(pred.classIds[i]).toBe(r));
    expect(pred.windows).toBe(1 * 3 * 1);
    expect(pred.sceneProbs).toEqual([0.5, 0.5]);
    model.dispose();
  });
});

describe('Predictor, 2D resize', () => {
  const C = 3;
  const W = [
    [0.02, -0.01, 0],
    [-0.01, 0.02, 0.005],
    [0, -0.005, 0.01],
  ];
  const b = [0, 0.2, -0.3];

  it('at the network size: the labels of the linear map on x/255', async () => {
    const t = task(2, [4, 6], C, 3, ['a', 'b', 'c']);
    const model = linearNet(2, [4, 6], C, W, b, [0, 1, 2], [0, 0, 0]);
    const rnd = lcg(2);
    const img = Float32Array.from({ length: 4 * 6 * C }, () => Math.floor(rnd() * 256));
    const pred = await new Predictor({ model, task: t, sceneActivation: 'sigmoid' }).predictImage(img, 4, 6);
    const ref = referenceArgmax(img.map((v) => v / 255), C, W, b);
    ref.forEach((r, i) => r >= 0 && expect(pred.classIds[i]).toBe(r));
    expect(pred.shape).toEqual([4, 6]);
    expect(pred.sceneProbs).toEqual([0.5, 0.5, 0.5]);
    model.dispose();
  });

  it('a larger image: resized in, logits resized back to its own size (half-pixel bilinear both ways)', async () => {
    const t = task(2, [4, 6], C, 3, ['a']);
    const model = linearNet(2, [4, 6], C, W, b, [0, 0, 0], [0]);
    const rnd = lcg(9);
    const [h, w] = [9, 14];
    const img = Float32Array.from({ length: h * w * C }, () => Math.floor(rnd() * 256));
    const pred = await new Predictor({ model, task: t, sceneActivation: 'softmax' }).predictImage(img, h, w);
    expect(pred.shape).toEqual([h, w]);
    expect(pred.classIds).toHaveLength(h * w);
    // Reference in float64: resize the image, apply the linear map, resize the logits back.
    const small = resizeBilinear(img, h, w, C, 4, 6);
    const logits = new Float64Array(4 * 6 * 3);
    for (let i = 0; i < 24; i++) for (let k = 0; k < 3; k++) logits[i * 3 + k] = b[k]! + W.reduce((s, row, ci) => s + row[k]! * (small[i * C + ci]! / 255), 0);
    const back = resizeBilinear(logits, 4, 6, 3, h, w);
    const identity = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
    const ref = referenceArgmax(back, 3, identity, [0, 0, 0], 1e-3);
    let compared = 0;
    ref.forEach((r, i) => {
      if (r < 0) return;
      compared++;
      expect(pred.classIds[i], `pixel ${i}`).toBe(r);
    });
    expect(compared).toBeGreaterThan(0.9 * ref.length);
    model.dispose();
  });
});

describe('3D subject files', () => {
  const affine = [
    [-0.9, 0.1, 0, 90],
    [0.1, 0.9, 0, -126],
    [0, 0, 2.5, -72],
    [0, 0, 0, 1],
  ];
  const dims = [5, 4, 3];
  const mods = ['t1', 't1ce', 't2', 'flair'];
  const t = task(3, [4, 4, 2], 4, 4, ['HGG', 'LGG']);
  const subjectDir = join(work, 'Brats18_Test_1');
  const values: Record<string, Float32Array> = {};

  beforeAll(async () => {
    mkdirSync(subjectDir, { recursive: true });
    const rnd = lcg(4);
    for (const [m, i] of mods.map((m, i) => [m, i] as const)) {
      // Brain = non-zero voxels; the first voxel is background in every modality.
      const v = Float32Array.from({ length: 60 }, (_, j) => (j === 0 ? 0 : 100 * (i + 1) + Math.floor(rnd() * 50)));
      values[m] = v;
      await writeNiftiFile(join(subjectDir, `Brats18_Test_1_${m}.nii.gz`), { dims, spacing: [0, 0, 0], affine, datatype: 'int16', data: v });
    }
  });

  it('finds a subject folder\'s modalities in the task order, or matches files by suffix', async () => {
    const s = await resolveSubject([subjectDir], t);
    expect(s.subject).toBe('Brats18_Test_1');
    expect(s.files.map((f) => f.split('_').pop())).toEqual(['t1.nii.gz', 't1ce.nii.gz', 't2.nii.gz', 'flair.nii.gz']);
    const shuffled = [3, 1, 0, 2].map((i) => join(subjectDir, `Brats18_Test_1_${mods[i]}.nii.gz`));
    const f = await resolveSubject(shuffled, t);
    expect(f.files).toEqual(s.files);
    expect(f.subject).toBe('Brats18_Test_1');
  });

  it('bad inputs are one line naming the file', async () => {
    await expect(resolveSubject([join(work, 'nope')], t)).rejects.toThrow(/nope: no such file or folder/);
    await expect(resolveSubject(mods.slice(0, 3).map((m) => join(subjectDir, `Brats18_Test_1_${m}.nii.gz`)), t)).rejects.toThrow(/3 input files for 4 modalities/);
    const empty = join(work, 'Empty_1');
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(empty, 'Empty_1_t1.nii.gz'), 'not a nifti');
    await expect(resolveSubject([empty], t)).rejects.toThrow(/no Empty_1_t1ce\.nii\.gz/);
    const broken = [join(empty, 'Empty_1_t1.nii.gz'), ...mods.slice(1).map((m) => join(subjectDir, `Brats18_Test_1_${m}.nii.gz`))];
    await expect(readVolumeInput(await resolveSubject(broken, t), t)).rejects.toThrow(/Empty_1_t1\.nii\.gz: corrupt or unreadable/);
  });

  it('normalises each modality as z-scores over its non-zero voxels, channels last', async () => {
    const v = await readVolumeInput(await resolveSubject([subjectDir], t), t);
    expect(v.shape).toEqual([3, 4, 5]);
    expect(v.spacing[0]).toBeCloseTo(2.5, 5);
    mods.forEach((m, k) => {
      const raw = Array.from(values[m]!);
      const brain = raw.filter((x) => x !== 0);
      const mean = brain.reduce((a, b2) => a + b2, 0) / brain.length;
      const sd = Math.sqrt(brain.reduce((a, x) => a + (x - mean) ** 2, 0) / brain.length);
      raw.forEach((x, i) => expect(v.volume[i * 4 + k]).toBeCloseTo(x === 0 ? 0 : (x - mean) / sd, 5));
    });
  });

  it('writes uint8 label values with the input\'s affine', async () => {
    const v = await readVolumeInput(await resolveSubject([subjectDir], t), t);
    const ids = Int32Array.from({ length: 60 }, (_, i) => i % 4);
    const file = join(work, 'out', 'Brats18_Test_1_pred.nii.gz');
    await writeLabelNifti(file, mapToLabelValues(ids, classLabelValues(t.classes, 'brats18')), v.reference);
    const back = await readNiftiFile(file);
    expect(back.datatype).toBe('uint8');
    expect(back.dims.slice(0, 3)).toEqual(dims);
    expect(Array.from(back.raw)).toEqual(Array.from(ids, (c) => [0, 1, 2, 4][c]));
    for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) expect(back.affine[r]![c]).toBeCloseTo(affine[r]![c]!, 4);
    expect(back.header.sformCode).toBe(v.reference.header.sformCode);
    expect(back.header.qformCode).toBe(v.reference.header.qformCode);
  });
});
