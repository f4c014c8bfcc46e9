/**
 * Sample overlays from a model whose outputs are known in closed form (1×1 convolutions and pooled dense heads
 * with hand-set weights), checked pixel by pixel and probability by probability against plain-JS float64.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeImage } from '../runtime/io/index.js';
import type { Batch, BatchSource } from '../runtime/train/index.js';
import { DEFAULT_PALETTE, PANEL_GAP, writeSampleOverlays } from '../runtime/report/index.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'tdc-report-samples-'));
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A deterministic stream of values in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface HostBatch {
  image: Float32Array;
  imageShape: number[];
  mask: Int32Array;
  maskShape: number[];
  classes: number[][];
  scene: number[][];
  ids: string[];
}

/** A BatchSource over fixed host batches; its state is the batch index. */
function source(batches: HostBatch[], oneHotK = 0): BatchSource & { reads: number } {
  let i = 0;
  const src = {
    reads: 0,
    length: batches.length,
    async next(): Promise<Batch> {
      const b = batches[i % batches.length]!;
      i++;
      src.reads++;
      const ids = tf.tensor(b.mask, b.maskShape, 'int32');
      const mask = oneHotK ? tf.tidy(() => tf.oneHot(ids.flatten(), oneHotK).reshape([...b.maskShape, oneHotK])) : ids;
      if (oneHotK) ids.dispose();
      return { image: tf.tensor(b.image, b.imageShape), mask, classes: tf.tensor2d(b.classes), scene: tf.tensor2d(b.scene), ids: b.ids };
    },
    state: () => ({ i }),
    restore: (s: unknown) => void (i = (s as { i: number }).i),
  };
  return src;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Head weights: class logits = mean over pixels of the channels · CLS_W + CLS_B, scene likewise. */
const CLS_W = [
  [2, 0, -1],
  [0, 2, 1],
  [0, 0, 1],
];
const CLS_B = [-0.5, -0.5, 0.25];
const SCENE_W = [
  [1, -1],
  [0, 1],
  [-1, 0],
];
const SCENE_B = [0.1, -0.2];

/**
 * Seg logits = 1×1 conv with an identity-like kernel (channel c → class c, 3 classes); class and scene heads =
 * flatten → dense whose kernel averages each channel and applies the weights above.
 */
function knownModel(spatial: number[], C: number): tf.LayersModel {
  const input = tf.input({ shape: [...spatial, C] });
  const conv = spatial.length === 2 ? tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'seg' }) : tf.layers.conv3d({ filters: 3, kernelSize: 1, name: 'seg' });
  const seg = conv.apply(input) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const cls = tf.layers.dense({ units: 3, name: 'cls' });
  const scene = tf.layers.dense({ units: 2, name: 'scene' });
  const model = tf.model({ inputs: input, outputs: [seg, cls.apply(flat) as tf.SymbolicTensor, scene.apply(flat) as tf.SymbolicTensor] });
  const eye = Array.from({ length: C }, (_, c) => Array.from({ length: 3 }, (_, k) => (c === k ? 1 : 0)));
  conv.setWeights([tf.tensor(eye.flat(), [...spatial.map(() => 1), C, 3]), tf.zeros([3])]);
  const n = spatial.reduce((a, b) => a * b, 1);
  const pooled = (W: number[][], units: number) =>
    tf.tensor2d(Array.from({ length: n * C }, (_, i) => Array.from({ length: units }, (_, k) => (W[i % C]?.[k] ?? 0) / n)));
  cls.setWeights([pooled(CLS_W, 3), tf.tensor1d(CLS_B)]);
  scene.setWeights([pooled(SCENE_W, 2), tf.tensor1d(SCENE_B)]);
  return model;
}

/** Channel means of one sample (float64) and the head outputs the test expects from them. */
function expectedHeads(image: Float32Array, offset: number, n: number, C: number, softmaxScene = false) {
  const mean = Array.from({ length: C }, (_, c) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += image[offset + i * C + c]!;
    return s / n;
  });
  const cls = CLS_B.map((b, k) => sigmoid(b + mean.reduce((a, m, c) => a + m * (CLS_W[c]?.[k] ?? 0), 0)));
  const logits = SCENE_B.map((b, k) => b + mean.reduce((a, m, c) => a + m * (SCENE_W[c]?.[k] ?? 0), 0));
  const z = logits.map(Math.exp);
  const scene = softmaxScene ? z.map((e) => e / z.reduce((a, b) => a + b, 0)) : logits.map(sigmoid);
  return { cls, scene };
}

function readPng(file: string) {
  return decodeImage(new Uint8Array(readFileSync(file)), file);
}

const CLASSES = [{ name: 'background' }, { name: 'tool', color: [0, 200, 255] }, { name: 'tissue' }];

describe('2D overlays', () => {
  const H = 4;
  const W = 5;
  const C = 3;
  const rnd = lcg(7);
  const batches: HostBatch[] = [0, 1].map((b) => ({
    image: Float32Array.from({ length: 2 * H * W * C }, () => rnd()),
    imageShape: [2, H, W, C],
    mask: Int32Array.from({ length: 2 * H * W }, () => Math.floor(rnd() * 3)),
    maskShape: [2, H, W],
    classes: [
      [1, b, 0],
      [1, 1, 1],
    ],
    scene: [
      [1, 0],
      [0, 1],
    ],
    ids: b === 0 ? ['seq_1/frame000', 'seq_1/frame001'] : ['seq_1/frame000', '../evil'],
  }));
  const colours = [null, [0, 200, 255], DEFAULT_PALETTE[2]!];

  test('three panels per sample: image, ground truth and prediction blended over it', async () => {
    const runDir = path.join(tmp, 'run2d');
    const src = source(batches);
    const model = knownModel([H, W], C);
    await src.next(); // the writer must put the source back where it found it
    const before = JSON.stringify(src.state());
    const files = await writeSampleOverlays({ model, source: src, classes: CLASSES, scenes: ['a', 'b'], runDir, count: 3 });
    expect(JSON.stringify(src.state())).toBe(before);
    // Three samples from the source's current position: batch 1 (two samples), then batch 0 (wrapping around).
    expect(files.map((f) => path.basename(f))).toEqual(['seq_1_frame000.png', 'evil.png', 'seq_1_frame000-2.png']);
    expect(readdirSync(path.join(runDir, 'samples')).sort()).toEqual(['evil.png', 'samples.json', 'seq_1_frame000-2.png', 'seq_1_frame000.png']);
    const order: [number, number][] = [[1, 0], [1, 1], [0, 0]];
    files.forEach((file, s) => {
      const [bi, b] = order[s]!;
      const batch = batches[bi]!;
      const png = readPng(file);
      expect([png.width, png.height, png.channels]).toEqual([3 * W + 2 * PANEL_GAP, H, 3]);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const p = b * H * W + y * W + x;
          const img = [0, 1, 2].map((c) => Math.round(255 * batch.image[p * C + c]!));
          const rgbs = [0, 1, 2].map((c) => batch.image[p * C + c]!);
          const pred = rgbs.indexOf(Math.max(...rgbs));
          const blend = (label: number) => (label === 0 ? img : img.map((v, c) => Math.round(0.5 * v + 0.5 * colours[label]![c]!)));
          const panels = [img, blend(batch.mask[p]!), blend(pred)];
          panels.forEach((want, k) => {
            const o = (y * png.width + k * (W + PANEL_GAP) + x) * 3;
            expect(Array.from(png.data.subarray(o, o + 3)), `sample ${s} panel ${k} (${x}, ${y})`).toEqual(want);
          });
          if (x === 0) {
            const gap = (y * png.width + W) * 3;
            expect(Array.from(png.data.subarray(gap, gap + 3))).toEqual([255, 255, 255]);
          }
        }
      }
    });
    const json = JSON.parse(readFileSync(path.join(runDir, 'samples', 'samples.json'), 'utf8'));
    expect(json.backend).toBe('cpu');
    expect(json.classes).toEqual(['background', 'tool', 'tissue']);
    expect(json.scenes).toEqual(['a', 'b']);
    expect(json.samples.map((e: { id: string; file: string }) => [e.id, e.file])).toEqual([
      ['seq_1/frame000', 'samples/seq_1_frame000.png'],
      ['../evil', 'samples/evil.png'],
      ['seq_1/frame000', 'samples/seq_1_frame000-2.png'],
    ]);
    json.samples.forEach((e: { classProbs: number[]; classTrue: number[]; sceneProbs: number[]; sceneTrue: number[] }, s: number) => {
      const [bi, b] = order[s]!;
      const want = expectedHeads(batches[bi]!.image, b * H * W * C, H * W, C);
      e.classProbs.forEach((p, k) => expect(p).toBeCloseTo(want.cls[k]!, 5));
      e.sceneProbs.forEach((p, k) => expect(p).toBeCloseTo(want.scene[k]!, 5));
      expect(e.classTrue).toEqual(batches[bi]!.classes[b]);
      expect(e.sceneTrue).toEqual(batches[bi]!.scene[b]);
    });
    model.dispose();
  });

  test('one-hot masks, softmax scenes, a count beyond the data, and no leaked tensors', async () => {
    const runDir = path.join(tmp, 'run2d-onehot');
    const model = knownModel([H, W], C);
    const src = source(batches, 3);
    const before = tf.memory().numTensors;
    const files = await writeSampleOverlays({ model, source: src, classes: CLASSES, scenes: ['a', 'b'], runDir, count: 10, sceneActivation: 'softmax' });
    expect(tf.memory().numTensors).toBe(before);
    // One pass over the source at most: 2 batches × 2 samples.
    expect(files).toHaveLength(4);
    expect(src.reads).toBe(2);
    const json = JSON.parse(readFileSync(path.join(runDir, 'samples', 'samples.json'), 'utf8'));
    const want = expectedHeads(batches[0]!.image, 0, H * W, C, true);
    json.samples[0].sceneProbs.forEach((p: number, k: number) => expect(p).toBeCloseTo(want.scene[k]!, 5));
    // The one-hot ground truth panel equals the one drawn from class ids.
    const png = readPng(files[0]!);
    const ids = readPng(path.join(tmp, 'run2d', 'samples', 'seq_1_frame000-2.png'));
    expect(Buffer.from(png.data).equals(Buffer.from(ids.data))).toBe(true);
    model.dispose();
  });
});

describe('3D overlays', () => {
  test('the middle z slice of the first modality, contrast-stretched, with that slice of the masks', async () => {
    const [Z, Y, X, C] = [3, 4, 5, 2];
    const rnd = lcg(11);
    // z-scored intensities; channel 1 is larger on the middle slice so the prediction there is class 1.
    const image = Float32Array.from({ length: Z * Y * X * C }, (_, i) => {
      const z = Math.floor(i / (Y * X * C));
      const c = i % C;
      return 3 * (rnd() - 0.5) + (z === 1 && c === 1 ? 10 : 0);
    });
    // Labels 2 everywhere except the middle slice, whose labels are 1 on the left half: a wrong slice shows.
    const mask = Int32Array.from({ length: Z * Y * X }, (_, i) => {
      const z = Math.floor(i / (Y * X));
      const x = i % X;
      return z === 1 ? (x < 2 ? 1 : 0) : 2;
    });
    const model = knownModel([Z, Y, X], C);
    const runDir = path.join(tmp, 'run3d');
    const src = source([{ image, imageShape: [1, Z, Y, X, C], mask, maskShape: [1, Z, Y, X], classes: [[1, 1, 0]], scene: [[0, 1]], ids: ['Brats18_TCIA_001'] }]);
    const [file] = await writeSampleOverlays({ model, source: src, classes: CLASSES, scenes: ['HGG', 'LGG'], runDir });
    const png = readPng(file!);
    expect([png.width, png.height]).toEqual([3 * X + 2 * PANEL_GAP, Y]);
    const slice = Array.from({ length: Y * X }, (_, p) => image[(Y * X + p) * C]!);
    const sorted = [...slice].sort((a, b) => a - b);
    const lo = sorted[Math.floor(0.01 * (sorted.length - 1))]!;
    const hi = sorted[Math.ceil(0.99 * (sorted.length - 1))]!;
    for (let y = 0; y < Y; y++) {
      for (let x = 0; x < X; x++) {
        const p = y * X + x;
        const g = Math.round(255 * Math.min(1, Math.max(0, (slice[p]! - lo) / (hi - lo))));
        const grey = [g, g, g];
        const tool = grey.map((v, c) => Math.round(0.5 * v + 0.5 * [0, 200, 255][c]!));
        const at = (k: number) => Array.from(png.data.subarray((y * png.width + k * (X + PANEL_GAP) + x) * 3, (y * png.width + k * (X + PANEL_GAP) + x) * 3 + 3));
        expect(at(0)).toEqual(grey);
        expect(at(1)).toEqual(x < 2 ? tool : grey);
        // Channel 1 dominates on the middle slice: class 1 everywhere in the prediction panel.
        expect(at(2)).toEqual(tool);
      }
    }
    const json = JSON.parse(readFileSync(path.join(runDir, 'samples', 'samples.json'), 'utf8'));
    const want = expectedHeads(image, 0, Z * Y * X, C);
    json.samples[0].classProbs.forEach((p: number, k: number) => expect(p).toBeCloseTo(want.cls[k]!, 5));
    expect(json.samples[0].sceneTrue).toEqual([0, 1]);
    model.dispose();
  });
});
