// The paper's evaluation protocol (runtime/evaluate/protocol.ts) against hand-computed values.
import { describe, expect, it } from 'vitest';
import type { DataSpec, TaskSpec } from '../spec/types.js';
import { Dataset } from '../runtime/data/dataset.js';
import type { DatasetReader, Sample, SampleDescriptor } from '../runtime/data/types.js';
import { cropBox } from '../runtime/data/arrays.js';
import { ProtocolScorer, protocolFor, rocAuc, scoreProtocol, verticalCdr } from '../runtime/evaluate/index.js';
import { binaryDice } from '../runtime/metrics/index.js';
import type { Predictor } from '../runtime/predict/predictor.js';

describe('per-image protocol (ROBOT18)', () => {
  it('averages IoU per class within an image, then over images; the pooled figure differs', () => {
    // K = 3 (background + 2). Image 1 (2×2): gt [1,1,2,0], pred [1,2,2,0] → class 1: 1/2, class 2: 1/2 → 0.5.
    // Image 2 (2×2): gt [1,1,1,1], pred [1,1,1,1] → class 1: 1; class 2 in neither map → left out → 1.
    // Per-image mean 0.75. Pooled: class 1 TP 5 FP 0 FN 1 → 5/6; class 2 TP 1 FP 1 FN 0 → 1/2; mean 2/3.
    const s = new ProtocolScorer(protocolFor({ format: 'robot18', dims: 2, classes: [{ name: 'bg' }, { name: 'a' }, { name: 'b' }], scenes: ['x'] }));
    s.add([1, 2, 2, 0], [1, 1, 2, 0], [2, 2]);
    s.add([1, 1, 1, 1], [1, 1, 1, 1], [2, 2]);
    const r = s.result();
    expect(r.kind).toBe('per-image');
    expect(r.metrics['miou']).toBeCloseTo(0.75, 12);
    expect(r.metrics['miou_pooled']).toBeCloseTo(2 / 3, 12);
    // Dice: image 1: class 1 2/3, class 2 2/3 → 2/3; image 2: 1 → mean 5/6.
    expect(r.metrics['mdice']).toBeCloseTo(5 / 6, 12);
    expect(r.columns.map((c) => c.label)).toEqual(['IoU %', 'Dice %']);
  });
});

describe('REFUGE protocol', () => {
  const classes = [{ name: 'background', values: [255] }, { name: 'disc', values: [128] }, { name: 'cup', values: [0] }];
  const setup = protocolFor({ format: 'refuge18', dims: 2, classes, scenes: ['glaucoma', 'normal'] });

  it('scores the whole disc (disc ∪ cup) and the cup, not the rim', () => {
    expect(setup).toMatchObject({ kind: 'refuge', disc: 1, cup: 2, glaucomaScene: 0 });
    // One column of 6 rows (ids: 0 background, 1 rim, 2 cup). gt: rim rows 1-4 with cup rows 2-3;
    // pred: the same disc, but the cup grown to rows 1-3.
    const gt = [0, 1, 2, 2, 1, 0];
    const pred = [0, 2, 2, 2, 1, 0];
    const s = new ProtocolScorer(setup);
    s.add(pred, gt, [6, 1], [1, 1], { sceneProbs: [0.8, 0.2], scene: 0 });
    const r = s.result();
    // Disc = disc ∪ cup: rows 1-4 in both → Dice 1. Cup: gt {2,3}, pred {1,2,3} → 2·2/(2+3) = 0.8.
    expect(r.metrics['disc_dice']).toBeCloseTo(1, 12);
    expect(r.metrics['cup_dice']).toBeCloseTo(0.8, 12);
    expect(r.metrics['mdice']).toBeCloseTo(0.9, 12);
    // The rim alone would score differently: gt rim {1,4}, pred rim {4} → 2/3.
    const rim = (m: number[]) => m.map((v) => (v === 1 ? 1 : 0));
    expect(binaryDice(rim(pred), rim(gt))).toBeCloseTo(2 / 3, 12);
    // vCDR: gt 2/4, pred 3/4 → error 0.25.
    expect(r.metrics['vcdr_mae']).toBeCloseTo(0.25, 12);
  });

  it('vertical cup-to-disc ratio and AUC by hand', () => {
    // 4×3: disc rows 0-3 (height 4), cup rows 1-2 (height 2) → 0.5.
    const disc = [0, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0];
    const cup = [0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0];
    expect(verticalCdr(disc, cup, [4, 3])).toBe(0.5);
    expect(verticalCdr(new Array(12).fill(0), cup, [4, 3])).toBeNaN();
    // Positives 0.9, 0.4; negatives 0.5, 0.1: pairs won 1 + 1 + 0 + 1 = 3 of 4.
    expect(rocAuc([{ score: 0.9, positive: true }, { score: 0.4, positive: true }, { score: 0.5, positive: false }, { score: 0.1, positive: false }])).toBe(0.75);
    expect(rocAuc([{ score: 0.5, positive: true }, { score: 0.5, positive: false }])).toBe(0.5);
  });
});

describe('BraTS protocol on whole volumes', () => {
  // One 8×8×4 volume ([Z, Y, X] = [4, 8, 8]); a 4×4 centre crop in-plane (rows/cols 2-5) as training validation
  // would take. The ground truth has a tumour inside the crop (label 1, WT and TC) and an edema blob outside it
  // (label 2, WT only) that the prediction misses.
  const [Z, Y, X] = [4, 8, 8];
  const gt = new Int32Array(Z * Y * X);
  const pred = new Int32Array(Z * Y * X);
  const at = (z: number, y: number, x: number) => (z * Y + y) * X + x;
  for (let z = 1; z < 3; z++) {
    for (let y = 3; y < 5; y++) for (let x = 3; x < 5; x++) gt[at(z, y, x)] = pred[at(z, y, x)] = 1;
    gt[at(z, 0, 0)] = 2;
    gt[at(z, 0, 1)] = 2;
  }
  const task: TaskSpec = {
    dims: 3,
    size: [4, 4, 4],
    channels: 1,
    classes: [{ name: 'background', weight: 1 }, { name: 'ncr', weight: 1 }, { name: 'ed', weight: 1 }, { name: 'et', weight: 1 }],
    scenes: ['HGG', 'LGG'],
    regions: { WT: ['ncr', 'ed', 'et'], TC: ['ncr', 'et'], ET: ['et'] },
  };
  const regions = { WT: [1, 2, 3], TC: [1, 3], ET: [3] };

  it('scores the whole volume the predictor returns, which differs from the centre crop', async () => {
    const reader: DatasetReader = {
      format: 'brats18',
      list: async () => [{ id: 'HGG/s1', group: 's1', files: {}, scene: 0 } satisfies SampleDescriptor],
      load: async (): Promise<Sample> => ({ id: 'HGG/s1', image: new Float32Array(Z * Y * X), mask: gt, shape: [Z, Y, X, 1], spacing: [1, 1, 1], classes: new Float32Array(4), scene: 0 }),
    };
    const data = { format: 'brats18', root: '/nowhere', splits: { val: ['s1'], train: [] } } as unknown as DataSpec;
    const dataset = await Dataset.open({ data, task, seed: 1, reader });
    const shapes: number[][] = [];
    const predictor = {
      predictVolume: async (_v: Float32Array, shape: readonly number[]) => {
        shapes.push([...shape]);
        return { classIds: pred, shape: [...shape], classProbs: [], sceneProbs: [0.5, 0.5], windows: 1 };
      },
    } as unknown as Predictor;
    const setup = protocolFor({ format: 'brats18', dims: 3, classes: task.classes, scenes: task.scenes, regions });
    const r = await scoreProtocol(predictor, dataset, 'val', setup);
    expect(shapes).toEqual([[Z, Y, X]]);
    // WT: gt 8 + 4 = 12 voxels, pred 8, overlap 8 → 16/20 = 0.8. TC: 1. ET: empty in both → 1 (BraTS rule).
    expect(r.metrics['WT_dice']).toBeCloseTo(0.8, 12);
    expect(r.metrics['TC_dice']).toBe(1);
    expect(r.metrics['ET_dice']).toBe(1);
    expect(r.metrics['mdice']).toBeCloseTo(2.8 / 3, 12);
    // The centre crop sees only the tumour: WT Dice 1 there.
    const crop = (m: Int32Array) => cropBox(m, [Z, Y, X], 1, [0, 2, 2], [Z, 4, 4]);
    const s = new ProtocolScorer(setup);
    s.add(crop(pred), crop(gt), [Z, 4, 4], [1, 1, 1]);
    expect(s.result().metrics['WT_dice']).toBe(1);
    // HD95 of WT on the whole volume is finite and positive (the missed blob), 0 for TC.
    expect(r.metrics['WT_hd95']).toBeGreaterThan(0);
    expect(r.metrics['TC_hd95']).toBe(0);
    expect(r.columns.map((c) => c.label)).toEqual(['Dice WT %', 'Dice TC %', 'Dice ET %', 'Dice %', 'HD95 WT mm', 'HD95 TC mm', 'HD95 ET mm', 'HD95 mm']);
  });
});
