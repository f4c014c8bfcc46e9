/**
 * 3D evaluation of a trained model on whole volumes: every sample of a split is predicted with overlapping
 * sliding windows (not the training centre crop), then scored per class (Dice, IoU, HD95 in mm from the
 * header spacing), per region, and for the class and scene heads.
 */
import type { Dataset } from '../data/dataset.js';
import type { SplitName } from '../data/splits.js';
import type { Predictor } from '../predict/predictor.js';
import { MaskScorer, type MaskScores } from './scores.js';
import { ProtocolScorer, type ProtocolResult, type ProtocolSetup } from './protocol.js';

export interface EvaluateVolumesOptions {
  /** Region name → class ids (BraTS WT/TC/ET). */
  regions?: Record<string, number[]>;
  /** After each subject: its index (1-based), the count and its id. */
  onSubject?: (done: number, total: number, id: string) => void;
  /** Inside a subject: windows done and total. */
  onWindow?: (done: number, total: number) => void;
  /** Also score the volumes by this protocol (the same predictions; `protocol` in the result). */
  protocol?: ProtocolSetup;
}

export interface VolumeEvaluation extends MaskScores {
  /** Fraction of (subject, class) presence decisions of the class head (p ≥ 0.5) that match the ground truth. */
  classAcc: number;
  /** Fraction of subjects with a known scene whose most probable scene is right. */
  sceneAcc: number;
  /** The paper's protocol on the same predictions, when `protocol` was given. */
  protocol?: ProtocolResult;
}

export async function evaluateVolumes(predictor: Predictor, dataset: Dataset, split: SplitName, opts: EvaluateVolumesOptions = {}): Promise<VolumeEvaluation> {
  const task = dataset.task;
  const scorer = new MaskScorer({ classes: task.classes.map((c) => c.name), regions: opts.regions });
  const items = dataset.splits[split];
  const byProtocol = opts.protocol ? new ProtocolScorer(opts.protocol) : undefined;
  let clsHits = 0;
  let clsTotal = 0;
  let sceneHits = 0;
  let sceneTotal = 0;
  for (let i = 0; i < items.length; i++) {
    const d = items[i]!;
    const s = await dataset.load(d);
    const shape = s.shape.slice(0, -1);
    const pred = await predictor.predictVolume(s.image, shape, { onProgress: opts.onWindow });
    scorer.add(pred.classIds, s.mask, shape, s.spacing);
    byProtocol?.add(pred.classIds, s.mask, shape, s.spacing, { sceneProbs: pred.sceneProbs, scene: s.scene });
    pred.classProbs.forEach((p, c) => {
      clsHits += Number((p >= 0.5 ? 1 : 0) === (s.classes[c]! > 0.5 ? 1 : 0));
      clsTotal++;
    });
    if (s.scene >= 0) {
      const best = pred.sceneProbs.indexOf(Math.max(...pred.sceneProbs));
      sceneHits += Number(best === s.scene);
      sceneTotal++;
    }
    opts.onSubject?.(i + 1, items.length, d.id);
  }
  const out: VolumeEvaluation = { ...scorer.result(), classAcc: clsTotal ? clsHits / clsTotal : NaN, sceneAcc: sceneTotal ? sceneHits / sceneTotal : NaN };
  if (byProtocol) out.protocol = byProtocol.result();
  return out;
}
