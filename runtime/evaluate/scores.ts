/**
 * Scores a set of predicted label maps against their ground truth, case by case, into one per-class table:
 * Dice and IoU both as the mean over cases of each case's value (the paper's per-image figure; a class in
 * neither map of a case is left out of that class's mean) and pooled over every pixel/voxel of every case (one
 * confusion matrix, as `evaluateModel` and the training validation compute them), HD (the maximum, MONAI's
 * `compute_hausdorff_distance` default), HD95 and ASSD in the files' units averaged over the cases where they are finite
 * (MONAI's convention: a class absent from both maps gives NaN, from exactly one gives Infinity — those cases
 * are counted, not averaged), and region Dice / HD95 (BraTS WT/TC/ET) averaged over cases.
 */
import {
  addConfusion,
  averageSurfaceDistance,
  confusionMatrix,
  hausdorffDistance,
  hd95,
  nanMean,
  perClassDice,
  perClassIoU,
  regionScores,
} from '../metrics/index.js';

export interface MaskScorerArgs {
  /** Class names, index = class id (their number is K). */
  classes: string[];
  /** Region name → class ids, scored as unions (optional). */
  regions?: Record<string, number[]>;
  /** Compute HD95 and ASSD (default true; they cost a distance transform per class and case). */
  distances?: boolean;
  /** Exclude class 0 from the means when there are more than two classes (default true, as evaluateModel). */
  excludeBackground?: boolean;
}

export interface ClassScore {
  name: string;
  /** Pooled over all pixels/voxels of all cases. */
  dice: number;
  iou: number;
  /** Mean over the cases where the class is in the ground truth or the prediction. */
  diceCase: number;
  iouCase: number;
  /** Mean Hausdorff distance (100th percentile), same rule as hd95. */
  hd: number;
  /** Mean HD95 (mm) over the cases where it is finite; Infinity when the class was only ever one-sided, NaN when never present. */
  hd95: number;
  /** Mean symmetric average surface distance (mm), same rule. */
  assd: number;
  /** Cases where the class is in exactly one of the two maps (infinite distances, left out of the means). */
  oneSided: number;
}

export interface RegionSummary {
  dice: number;
  hd95: number;
}

export interface MaskScores {
  cases: number;
  classes: ClassScore[];
  /** Means over classes (NaN entries skipped; background excluded per `excludeBackground`). */
  mean: { dice: number; iou: number; diceCase: number; iouCase: number; hd: number; hd95: number; assd: number };
  regions: Record<string, RegionSummary>;
}

export class MaskScorer {
  readonly k: number;
  private cm: Float64Array;
  private cases = 0;
  private readonly dist: { hd: number[]; hd95: number[]; assd: number[]; oneSided: number }[];
  private readonly perCase: { dice: number[]; iou: number[] }[];
  private readonly regionAcc: Record<string, { dice: number[]; hd95: number[]; oneSided: number }> = {};

  constructor(readonly args: MaskScorerArgs) {
    this.k = args.classes.length;
    if (this.k < 1) throw new Error('mask scores need at least one class');
    this.cm = new Float64Array(this.k * this.k);
    this.dist = args.classes.map(() => ({ hd: [], hd95: [], assd: [], oneSided: 0 }));
    this.perCase = args.classes.map(() => ({ dice: [], iou: [] }));
    for (const name of Object.keys(args.regions ?? {})) this.regionAcc[name] = { dice: [], hd95: [], oneSided: 0 };
  }

  /** Adds one case: class-id maps of spatial `shape`, voxel `spacing` (mm) in the same axis order. */
  add(pred: ArrayLike<number>, gt: ArrayLike<number>, shape: readonly number[], spacing?: readonly number[]): void {
    const n = shape.reduce((a, b) => a * b, 1);
    if (pred.length !== n || gt.length !== n) throw new Error(`mask scores: maps of ${pred.length} and ${gt.length} values for shape [${shape.join(', ')}]`);
    const cm = confusionMatrix(pred, gt, this.k);
    this.cm = addConfusion(this.cm, cm);
    this.cases++;
    const [dc, ic] = [perClassDice(cm, this.k), perClassIoU(cm, this.k)];
    for (let c = 0; c < this.k; c++) {
      if (!Number.isNaN(dc[c]!)) this.perCase[c]!.dice.push(dc[c]!);
      if (!Number.isNaN(ic[c]!)) this.perCase[c]!.iou.push(ic[c]!);
    }
    if (this.args.distances !== false) {
      const p = new Uint8Array(n);
      const g = new Uint8Array(n);
      for (let c = 0; c < this.k; c++) {
        let any = false;
        for (let i = 0; i < n; i++) {
          p[i] = pred[i] === c ? 1 : 0;
          g[i] = gt[i] === c ? 1 : 0;
          any ||= p[i] === 1 || g[i] === 1;
        }
        if (!any) continue;
        const d = this.dist[c]!;
        const h = hd95(p, g, shape, { spacing });
        if (h === Infinity) {
          d.oneSided++;
          continue;
        }
        d.hd95.push(h);
        d.hd.push(hausdorffDistance(p, g, shape, { spacing }));
        d.assd.push(averageSurfaceDistance(p, g, shape, { spacing }));
      }
    }
    if (this.args.regions && Object.keys(this.args.regions).length) {
      const scores = regionScores(pred, gt, shape, this.args.regions, { spacing });
      for (const [name, s] of Object.entries(scores)) {
        const acc = this.regionAcc[name]!;
        if (Number.isFinite(s.dice)) acc.dice.push(s.dice);
        if (Number.isFinite(s.hd95)) acc.hd95.push(s.hd95);
        else if (s.hd95 === Infinity) acc.oneSided++;
      }
    }
  }

  result(): MaskScores {
    const dice = perClassDice(this.cm, this.k);
    const iou = perClassIoU(this.cm, this.k);
    const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
    const classes = this.args.classes.map((name, c) => ({
      name,
      dice: dice[c]!,
      iou: iou[c]!,
      diceCase: mean(this.perCase[c]!.dice),
      iouCase: mean(this.perCase[c]!.iou),
      hd: this.distanceMean(this.dist[c]!.hd, this.dist[c]!.oneSided),
      hd95: this.distanceMean(this.dist[c]!.hd95, this.dist[c]!.oneSided),
      assd: this.distanceMean(this.dist[c]!.assd, this.dist[c]!.oneSided),
      oneSided: this.dist[c]!.oneSided,
    }));
    const skip = (this.args.excludeBackground ?? true) && this.k > 2 ? 1 : 0;
    const fg = classes.slice(skip);
    const regions: Record<string, RegionSummary> = {};
    for (const [name, acc] of Object.entries(this.regionAcc)) regions[name] = { dice: mean(acc.dice), hd95: this.distanceMean(acc.hd95, acc.oneSided) };
    return {
      cases: this.cases,
      classes,
      mean: {
        dice: nanMean(fg.map((c) => c.dice)),
        iou: nanMean(fg.map((c) => c.iou)),
        diceCase: nanMean(fg.map((c) => c.diceCase)),
        iouCase: nanMean(fg.map((c) => c.iouCase)),
        hd: nanMean(fg.map((c) => c.hd)),
        hd95: nanMean(fg.map((c) => c.hd95)),
        assd: nanMean(fg.map((c) => c.assd)),
      },
      regions,
    };
  }

  /** Mean of the finite distances; Infinity when every case with the class had it on one side only. */
  private distanceMean(v: number[], oneSided: number): number {
    if (v.length === 0) return oneSided > 0 ? Infinity : NaN;
    return v.reduce((a, b) => a + b, 0) / v.length;
  }
}

export function maskScorer(args: MaskScorerArgs): MaskScorer {
  return new MaskScorer(args);
}

/** A number for a table cell: fixed decimals, '–' for NaN, '∞' for Infinity. */
export function cell(v: number, digits = 3): string {
  if (Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  return v.toFixed(digits);
}

/** A plain-text table with left-aligned first column and right-aligned others. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** JSON cannot hold NaN / Infinity: they become null / "inf". */
export function jsonNumber(v: number): number | string | null {
  if (Number.isNaN(v)) return null;
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return Math.round(v * 1e6) / 1e6;
}
