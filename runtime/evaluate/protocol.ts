/**
 * The paper's evaluation protocol, the default wherever tdc prints a table (training summary, report, `tdc eval`,
 * `tdc study`). Scores are computed per case (image or volume) on the whole case at its original resolution
 * (2D predictions are resized back to the file's size; 3D volumes go through the sliding window), then averaged
 * over cases:
 * - per-image (ROBOT18 and any other task): IoU and Dice per foreground class of one image, averaged over the
 *   classes present in the image's ground truth or prediction, then over images (section IV-B: "computed per
 *   class and then averaged for the score of the entire test image"). Background is left out. The pooled figure
 *   (one confusion matrix over all pixels of the split) is kept beside it, labelled.
 * - refuge (data.format refuge18): Dice and IoU of the optic disc (disc ∪ cup, the whole disc) and of the cup
 *   per image and their mean (section IV-D), plus what the REFUGE challenge reports beside them: the mean
 *   absolute error of the vertical cup-to-disc ratio and the glaucoma AUC of the scene head.
 * - brats (3D with task.regions): Dice and HD95 (mm) per region (BraTS ET, WT, TC) per volume, and their mean
 *   (section IV-C). tdc's choices where the paper is silent: Dice of a region empty in both maps is 1 and its
 *   distance is left out (the BraTS rule); a region in only one of the two maps has an infinite distance,
 *   counted and left out of the mean. The paper writes only "Hausdorff distance"; the BraTS challenge ranks by
 *   its 95th percentile, which is what `hd95` is; `hd` (the maximum) is kept in the JSON.
 */
import type { Dataset } from '../data/dataset.js';
import type { SplitName } from '../data/splits.js';
import { confusionMatrix, addConfusion, perClassDice, perClassIoU, nanMean, binaryDice, binaryIoU, meanIoU, meanDice } from '../metrics/confusion.js';
import { hausdorffDistance } from '../metrics/surface.js';
import { regionMasks } from '../metrics/regions.js';
import type { Predictor } from '../predict/predictor.js';
import { protocolCell } from '../train/summary.js';

export type ProtocolKind = 'per-image' | 'refuge' | 'brats';

/** One column of a protocol table. */
export interface ProtocolColumn {
  /** Key into `ProtocolResult.metrics`. */
  key: string;
  /** Header text, e.g. "IoU %" or "HD95 ET mm". */
  label: string;
  /** Printed as a percentage (×100, 2 decimals) or as a distance (2 decimals). */
  format: 'percent' | 'distance' | 'ratio';
}

export interface ProtocolResult {
  kind: ProtocolKind;
  /** Cases scored (images or volumes). */
  cases: number;
  /** Metric name → value (fractions for overlaps; mm or px for distances). */
  metrics: Record<string, number>;
  /** The table's columns, in the order the paper's tables print them. */
  columns: ProtocolColumn[];
  /** One sentence saying how the figures were computed (printed under tables). */
  note: string;
}

/** What the protocol needs to know about a task: its kind and the class ids it combines. */
export interface ProtocolSetup {
  kind: ProtocolKind;
  numClasses: number;
  /** refuge: the rim class (grey 128) and the cup class (grey 0). */
  disc?: number;
  cup?: number;
  /** refuge: the scene index that means glaucoma (positive class of the AUC), -1 when none. */
  glaucomaScene?: number;
  /** brats: region name → class ids. */
  regions?: Record<string, number[]>;
  /** Distance unit of 2D cases ('px': pixels of the original image) or 3D ('mm'). */
  unit?: 'mm' | 'px';
}

/**
 * The protocol of a task: refuge for REFUGE18 data (with a disc and a cup class), brats for 3D tasks with
 * regions, per-image otherwise.
 */
export function protocolFor(args: {
  format: string;
  dims: 2 | 3;
  classes: readonly { name: string; values?: number[] }[];
  scenes: readonly string[];
  regions?: Record<string, number[]>;
}): ProtocolSetup {
  const k = args.classes.length;
  if (args.dims === 3 && args.regions && Object.keys(args.regions).length) return { kind: 'brats', numClasses: k, regions: args.regions, unit: 'mm' };
  if (args.format === 'refuge18') {
    // The same class lookup as the REFUGE reader: grey 128 = rim (the disc class), 0 = cup; default by index.
    const defaults = [255, 128, 0];
    const holds = (v: number) => args.classes.findIndex((c, i) => (c.values ?? [defaults[i]]).includes(v));
    const disc = holds(128);
    const cup = holds(0);
    const glaucomaScene = args.scenes.findIndex((s) => /glaucoma/i.test(s) && !/non|normal/i.test(s));
    if (disc >= 0 && cup >= 0) return { kind: 'refuge', numClasses: k, disc, cup, glaucomaScene, unit: 'px' };
  }
  return { kind: 'per-image', numClasses: k, unit: args.dims === 3 ? 'mm' : 'px' };
}

/** What a case brings besides its label maps: the scene head's probabilities and the true scene. */
export interface CaseHeads {
  sceneProbs?: readonly number[];
  scene?: number;
}

/** Accumulates cases and reduces them by the protocol (pure: no model, no files). */
export class ProtocolScorer {
  private cases = 0;
  private readonly perCase: Record<string, number[]> = {};
  private pooled: Float64Array;
  private readonly oneSided: Record<string, number> = {};
  private readonly auc: { score: number; positive: boolean }[] = [];

  constructor(readonly setup: ProtocolSetup) {
    this.pooled = new Float64Array(setup.numClasses * setup.numClasses);
  }

  private push(key: string, v: number): void {
    (this.perCase[key] ??= []).push(v);
  }

  /** One case: class-id maps of `shape` (row-major), `spacing` per axis (mm, or 1 for pixels). */
  add(pred: ArrayLike<number>, gt: ArrayLike<number>, shape: readonly number[], spacing?: readonly number[], heads: CaseHeads = {}): void {
    const k = this.setup.numClasses;
    const cm = confusionMatrix(pred, gt, k);
    this.pooled = addConfusion(this.pooled, cm);
    this.cases++;
    const s = this.setup;
    if (s.kind === 'per-image') {
      // Foreground classes only; a class in neither map is NaN and left out of the image's mean.
      this.push('miou', nanMean(perClassIoU(cm, k).slice(1)));
      this.push('mdice', nanMean(perClassDice(cm, k).slice(1)));
    } else if (s.kind === 'refuge') {
      const disc = regionMasks(pred, { d: [s.disc!, s.cup!], c: [s.cup!] });
      const discGt = regionMasks(gt, { d: [s.disc!, s.cup!], c: [s.cup!] });
      const dd = binaryDice(disc['d']!, discGt['d']!);
      const cd = binaryDice(disc['c']!, discGt['c']!);
      const di = binaryIoU(disc['d']!, discGt['d']!);
      const ci = binaryIoU(disc['c']!, discGt['c']!);
      this.push('disc_dice', dd);
      this.push('cup_dice', cd);
      this.push('disc_iou', di);
      this.push('cup_iou', ci);
      this.push('mdice', nanMean([dd, cd]));
      this.push('miou', nanMean([di, ci]));
      const vp = verticalCdr(disc['d']!, disc['c']!, shape);
      const vg = verticalCdr(discGt['d']!, discGt['c']!, shape);
      if (Number.isFinite(vp) && Number.isFinite(vg)) this.push('vcdr_mae', Math.abs(vp - vg));
      else if (Number.isFinite(vg)) this.oneSided['vcdr_mae'] = (this.oneSided['vcdr_mae'] ?? 0) + 1;
      if (s.glaucomaScene !== undefined && s.glaucomaScene >= 0 && heads.sceneProbs && heads.scene !== undefined && heads.scene >= 0) {
        this.auc.push({ score: heads.sceneProbs[s.glaucomaScene]!, positive: heads.scene === s.glaucomaScene });
      }
    } else {
      const pm = regionMasks(pred, s.regions!);
      const gm = regionMasks(gt, s.regions!);
      for (const name of Object.keys(s.regions!)) {
        this.push(`${name}_dice`, binaryDice(pm[name]!, gm[name]!, 'one'));
        for (const [key, pct] of [['hd95', 95], ['hd', undefined]] as const) {
          const h = hausdorffDistance(pm[name]!, gm[name]!, shape, { spacing, percentile: pct });
          if (h === Infinity) this.oneSided[`${name}_${key}`] = (this.oneSided[`${name}_${key}`] ?? 0) + 1;
          else this.push(`${name}_${key}`, h);
        }
      }
    }
  }

  result(): ProtocolResult {
    const s = this.setup;
    const k = s.numClasses;
    const mean = (key: string) => nanMean(this.perCase[key] ?? []);
    const metrics: Record<string, number> = {};
    let columns: ProtocolColumn[];
    let note: string;
    const unit = s.unit ?? 'px';
    if (s.kind === 'per-image') {
      metrics['miou'] = mean('miou');
      metrics['mdice'] = mean('mdice');
      metrics['miou_pooled'] = meanIoU(this.pooled, k, { excludeBackground: true });
      metrics['mdice_pooled'] = meanDice(this.pooled, k, { excludeBackground: true });
      const skipped = (this.perCase['miou'] ?? []).filter(Number.isNaN).length;
      columns = [
        { key: 'miou', label: 'IoU %', format: 'percent' },
        { key: 'mdice', label: 'Dice %', format: 'percent' },
      ];
      note =
        `per-image mean over ${this.cases} case${this.cases === 1 ? '' : 's'} at the original resolution: IoU/Dice per foreground class, ` +
        `averaged over the classes in the ground truth or prediction, then over cases` +
        (skipped ? ` (${skipped} without any foreground left out)` : '') +
        `; pooled over all pixels: IoU ${pct(metrics['miou_pooled'])}, Dice ${pct(metrics['mdice_pooled'])}`;
    } else if (s.kind === 'refuge') {
      for (const key of ['disc_dice', 'cup_dice', 'mdice', 'disc_iou', 'cup_iou', 'miou', 'vcdr_mae']) metrics[key] = mean(key);
      metrics['glaucoma_auc'] = rocAuc(this.auc);
      columns = [
        { key: 'miou', label: 'IoU %', format: 'percent' },
        { key: 'mdice', label: 'Dice %', format: 'percent' },
        { key: 'disc_dice', label: 'Disc Dice %', format: 'percent' },
        { key: 'cup_dice', label: 'Cup Dice %', format: 'percent' },
        { key: 'vcdr_mae', label: 'vCDR MAE', format: 'ratio' },
        { key: 'glaucoma_auc', label: 'AUC', format: 'ratio' },
      ];
      const noDisc = this.oneSided['vcdr_mae'] ?? 0;
      note =
        `per-image mean over ${this.cases} image${this.cases === 1 ? '' : 's'} at the original resolution: disc = disc ∪ cup, cup; IoU/Dice = mean of the two; ` +
        `vertical cup-to-disc ratio error and glaucoma AUC as the REFUGE challenge reports them` +
        (noDisc ? ` (${noDisc} image${noDisc === 1 ? '' : 's'} without a predicted disc left out of the vCDR error)` : '');
    } else {
      const names = Object.keys(s.regions!);
      for (const n of names) {
        metrics[`${n}_dice`] = mean(`${n}_dice`);
        metrics[`${n}_hd95`] = mean(`${n}_hd95`);
        metrics[`${n}_hd`] = mean(`${n}_hd`);
      }
      metrics['mdice'] = nanMean(names.map((n) => metrics[`${n}_dice`]!));
      metrics['mhd95'] = nanMean(names.map((n) => metrics[`${n}_hd95`]!));
      metrics['mhd'] = nanMean(names.map((n) => metrics[`${n}_hd`]!));
      columns = [
        ...names.map((n) => ({ key: `${n}_dice`, label: `Dice ${n} %`, format: 'percent' as const })),
        { key: 'mdice', label: 'Dice %', format: 'percent' },
        ...names.map((n) => ({ key: `${n}_hd95`, label: `HD95 ${n} ${unit}`, format: 'distance' as const })),
        { key: 'mhd95', label: `HD95 ${unit}`, format: 'distance' },
      ];
      const one = Object.entries(this.oneSided).filter(([key]) => key.endsWith('_hd95'));
      note =
        `per-volume mean over ${this.cases} whole volume${this.cases === 1 ? '' : 's'} (sliding window): Dice and HD95 per region, then their mean` +
        (one.length ? `; infinite HD95 (region in one map only) left out: ${one.map(([key, c]) => `${key.replace('_hd95', '')} ×${c}`).join(', ')}` : '');
    }
    return { kind: s.kind, cases: this.cases, metrics, columns, note };
  }
}

/**
 * Vertical cup-to-disc ratio of one map: the cup's vertical extent (rows from its top to its bottom pixel)
 * over the disc's. NaN when there is no disc; 0 when there is a disc but no cup.
 */
export function verticalCdr(disc: ArrayLike<number>, cup: ArrayLike<number>, shape: readonly number[]): number {
  const [h, w] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
  const extent = (m: ArrayLike<number>) => {
    let top = Infinity;
    let bottom = -Infinity;
    for (let i = 0; i < m.length; i++) {
      if (!m[i]) continue;
      const row = Math.floor(i / w) % h;
      if (row < top) top = row;
      if (row > bottom) bottom = row;
    }
    return bottom >= top ? bottom - top + 1 : 0;
  };
  const d = extent(disc);
  return d === 0 ? NaN : extent(cup) / d;
}

/** Area under the ROC curve (Mann–Whitney U with tied scores counted one half); NaN without both classes. */
export function rocAuc(cases: readonly { score: number; positive: boolean }[]): number {
  const pos = cases.filter((c) => c.positive);
  const neg = cases.filter((c) => !c.positive);
  if (pos.length === 0 || neg.length === 0) return NaN;
  let u = 0;
  for (const p of pos) for (const n of neg) u += p.score > n.score ? 1 : p.score === n.score ? 0.5 : 0;
  return u / (pos.length * neg.length);
}

function pct(v: number | undefined): string {
  return protocolCell(v, 'percent');
}

export interface ScoreProtocolOptions {
  /** After each case: done, total and its id. */
  onCase?: (done: number, total: number, id: string) => void;
}

/**
 * Scores a model on a split by the protocol: 2D cases are loaded at the file's own size and predicted through
 * `predictor.predictImage` (resized to the network size and the logits back), 3D volumes through the sliding
 * window. The predictor's task and normalisation are the training ones.
 */
export async function scoreProtocol(
  predictor: Predictor,
  dataset: Dataset,
  split: SplitName,
  setup: ProtocolSetup,
  opts: ScoreProtocolOptions = {},
): Promise<ProtocolResult> {
  const scorer = new ProtocolScorer(setup);
  const items = dataset.splits[split];
  for (let i = 0; i < items.length; i++) {
    const d = items[i]!;
    if (dataset.task.dims === 2) {
      const s = await dataset.load(d, { nativeSize: true });
      const [h, w] = [s.shape[0]!, s.shape[1]!];
      const p = await predictor.predictImage(s.image, h, w);
      scorer.add(p.classIds, s.mask, [h, w], [1, 1], { sceneProbs: p.sceneProbs, scene: s.scene });
    } else {
      const s = await dataset.load(d);
      const shape = s.shape.slice(0, -1);
      const p = await predictor.predictVolume(s.image, shape);
      scorer.add(p.classIds, s.mask, shape, s.spacing, { sceneProbs: p.sceneProbs, scene: s.scene });
    }
    opts.onCase?.(i + 1, items.length, d.id);
  }
  return scorer.result();
}
