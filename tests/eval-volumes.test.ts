/**
 * `evaluateVolumes` (what `tdc eval` runs for 3D) on an in-memory dataset and a pointwise linear network whose
 * labels are known in closed form: per-class Dice / IoU against plain counts, regions, head accuracies.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Dataset } from '../runtime/data/dataset.js';
import type { DatasetReader, Sample, SampleDescriptor } from '../runtime/data/types.js';
import { evaluateVolumes } from '../runtime/evaluate/index.js';
import { Predictor } from '../runtime/predict/index.js';
import type { DataSpec, TaskSpec } from '../spec/types.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const W = [
  [1, -1, 0.5],
  [0.3, 0.8, -1],
];
const B = [0, 0.1, -0.2];

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Seg = W·x + b per voxel; class logits [2, −2, 2] (present, absent, present); scene logits [0, 3]. */
function model(): tf.LayersModel {
  const input = tf.input({ shape: [3, 4, 4, 2] });
  const seg = tf.layers.conv3d({ filters: 3, kernelSize: 1, weights: [tf.tensor(W.flat(), [1, 1, 1, 2, 3]), tf.tensor1d(B)] }).apply(input) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const head = (bias: number[]) => tf.layers.dense({ units: bias.length, weights: [tf.zeros([96, bias.length]), tf.tensor1d(bias)] }).apply(flat) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [seg, head([2, -2, 2]), head([0, 3])] });
}

function labelsOf(x: Float32Array): Int32Array {
  const n = x.length / 2;
  return Int32Array.from({ length: n }, (_, i) => {
    const z = B.map((b, k) => b + W[0]![k]! * x[2 * i]! + W[1]![k]! * x[2 * i + 1]!);
    return z.indexOf(Math.max(...z));
  });
}

describe('evaluateVolumes', () => {
  it('scores whole volumes through the sliding window against plain counts', async () => {
    const rnd = lcg(21);
    const shape = [5, 6, 7];
    const n = 5 * 6 * 7;
    const samples: Sample[] = [0, 1].map((s) => {
      const image = Float32Array.from({ length: n * 2 }, () => rnd() * 4 - 2);
      const truth = labelsOf(image);
      // Ground truth = the network's answer with every 5th voxel relabelled: known errors per class.
      const mask = truth.map((c, i) => (i % 5 === s ? (c + 1) % 3 : c));
      const classes = Float32Array.from([0, 1, 2], (c) => (mask.includes(c) ? 1 : 0));
      return { id: `S${s}`, image, mask, shape: [...shape, 2], spacing: [2, 1, 1], classes, scene: s };
    });
    const reader: DatasetReader = {
      format: 'brats18',
      list: async () => samples.map((s): SampleDescriptor => ({ id: s.id, group: s.id, files: {}, scene: s.scene })),
      load: async (d) => samples.find((s) => s.id === d.id)!,
    };
    const task: TaskSpec = {
      dims: 3,
      size: [4, 4, 3],
      channels: 2,
      classes: ['a', 'b', 'c'].map((name) => ({ name, weight: 1 })),
      scenes: ['HGG', 'LGG'],
      regions: {},
    };
    const data = { format: 'brats18', root: '/nowhere', splits: { val: ['S0', 'S1'] } } as unknown as DataSpec;
    const dataset = await Dataset.open({ data, task, seed: 1, reader });
    const m = model();
    const predictor = new Predictor({ model: m, task, sceneActivation: 'softmax' });
    const seen: string[] = [];
    const r = await evaluateVolumes(predictor, dataset, 'val', { regions: { BC: [1, 2] }, onSubject: (d, t, id) => seen.push(`${d}/${t} ${id}`) });
    expect(seen).toEqual(['1/2 S0', '2/2 S1']);
    expect(r.cases).toBe(2);
    for (let c = 0; c < 3; c++) {
      let tp = 0;
      let fp = 0;
      let fn = 0;
      for (const s of samples) {
        const pred = labelsOf(s.image);
        pred.forEach((p, i) => {
          const g = s.mask[i]!;
          if (p === c && g === c) tp++;
          else if (p === c) fp++;
          else if (g === c) fn++;
        });
      }
      expect(r.classes[c]!.dice).toBeCloseTo((2 * tp) / (2 * tp + fp + fn), 10);
      expect(r.classes[c]!.iou).toBeCloseTo(tp / (tp + fp + fn), 10);
      expect(Number.isFinite(r.classes[c]!.hd95)).toBe(true);
    }
    expect(r.mean.dice).toBeCloseTo((r.classes[1]!.dice + r.classes[2]!.dice) / 2, 10);
    expect(Object.keys(r.regions)).toEqual(['BC']);
    // Class head says [present, absent, present]; every class is present in both ground truths → 4 of 6.
    expect(r.classAcc).toBeCloseTo(4 / 6, 10);
    // Scene head always says LGG (softmax of [0, 3]); sample S1 is LGG.
    expect(r.sceneAcc).toBeCloseTo(1 / 2, 10);
    m.dispose();
  });
});
