/**
 * `tdc metrics --gt <file|dir> --pred <file|dir>`: scores predicted label maps against ground truth files
 * (PNG/BMP palette indices or grey values, NIfTI labels with the header's spacing), pairing folders by file
 * name — per-class Dice and IoU (the mean over pairs, as the paper computes per image, and pooled over all
 * pixels), HD (MONAI's default, the maximum), HD95 and ASSD (mm on NIfTI, px on images), their means and
 * optional regions, as a table or `--json`. A file without its partner is reported and left out (exit 1); a
 * prediction whose NIfTI affine differs from its ground truth's is scored with a warning.
 */
import type { Command } from 'commander';
import { EXIT, io, setExitCode } from '../host.js';
import { TdcError } from '../../../runtime/errors.js';

interface MetricsOptions {
  gt: string;
  pred: string;
  classes?: string;
  labels?: string;
  regions?: string[];
  json?: boolean;
  distances?: boolean;
}

export function register(program: Command): void {
  program
    .command('metrics')
    .description('score predicted masks against ground truth files: per-class Dice and IoU (per-pair mean and pooled), HD, HD95 and ASSD (mm on NIfTI, px on images), means, regions')
    .requiredOption('--gt <path>', 'ground-truth mask file, or a folder of them')
    .requiredOption('--pred <path>', 'predicted mask file, or a folder (paired by name; _pred/_seg/_gt suffixes ignored)')
    .option('--classes <n>', 'label values are class ids 0..n-1')
    .option('--labels <list>', 'the label values, one per class in order, e.g. 0,1,2,4 (default: the values found)')
    .option('--regions <spec...>', 'regions as unions of label values, e.g. WT=1,2,4 TC=1,4 ET=4')
    .option('--no-distances', 'skip HD, HD95 and ASSD (faster on large volumes)')
    .option('--json', 'print the scores as JSON')
    .action(async (opts: MetricsOptions) => {
      setExitCode(await metrics(opts));
    });
}

function parseInts(text: string, what: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const v = parts.map(Number);
  if (parts.some((p) => p === '') || v.some((x) => !Number.isInteger(x))) throw new TdcError(`${what} must be a comma-separated list of integers, not '${text}'`, { usage: true });
  return v;
}

/** The label values (one per class) the options ask for, or undefined to take the values found. */
function labelOption(opts: MetricsOptions): number[] | undefined {
  if (opts.classes !== undefined && opts.labels !== undefined) throw new TdcError('give --classes or --labels, not both', { usage: true });
  if (opts.classes !== undefined) {
    const n = Number(opts.classes);
    if (!Number.isInteger(n) || n < 1) throw new TdcError(`--classes must be a positive integer, not '${opts.classes}'`, { usage: true });
    return Array.from({ length: n }, (_, i) => i);
  }
  if (opts.labels !== undefined) {
    const v = parseInts(opts.labels, '--labels');
    if (new Set(v).size !== v.length) throw new TdcError(`--labels lists a value twice: ${opts.labels}`, { usage: true });
    return v;
  }
  return undefined;
}

function parseRegions(specs: readonly string[], labels: readonly number[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const s of specs) {
    const m = /^([^=\s]+)=(.+)$/.exec(s);
    if (!m) throw new TdcError(`--regions takes NAME=v1,v2,… (e.g. WT=1,2,4), not '${s}'`, { usage: true });
    out[m[1]!] = parseInts(m[2]!, `region ${m[1]}`).map((v) => {
      const c = labels.indexOf(v);
      if (c < 0) throw new TdcError(`region ${m[1]}: label ${v} is not one of the labels ${labels.join(', ')}`, { usage: true });
      return c;
    });
  }
  return out;
}

async function metrics(opts: MetricsOptions): Promise<number> {
  const E = await import('../../../runtime/evaluate/index.js');
  const wanted = labelOption(opts);
  const { pairs, missingPred, missingGt } = await E.pairMaskFiles(opts.gt, opts.pred);
  // A missing partner is reported per file and the rest is scored; the exit status says something was missing.
  for (const f of missingPred) io.err(`tdc: ${f}: no prediction for it in ${opts.pred}; left out\n`);
  for (const f of missingGt) io.err(`tdc: ${f}: no ground truth for it in ${opts.gt}; left out\n`);
  if (pairs.length === 0) throw new TdcError(`no prediction in ${opts.pred} pairs with a ground-truth file in ${opts.gt} (names are paired without _pred/_seg/_gt suffixes)`);
  const warned = new Set<string>();
  const readPair = async (p: (typeof pairs)[number]) => {
    const [gt, pred] = [await E.readMaskFile(p.gt), await E.readMaskFile(p.pred)];
    if (gt.shape.join() !== pred.shape.join()) {
      throw new TdcError(`${p.pred}: shape ${pred.shape.join('×')} differs from its ground truth ${p.gt} (${gt.shape.join('×')})`);
    }
    if (gt.affine && pred.affine && !warned.has(p.pred) && E.affineDifference(gt.affine, pred.affine) > 1e-3) {
      warned.add(p.pred);
      io.err(`warning: ${p.pred}: its affine differs from its ground truth's (${p.gt}); scored voxel by voxel as if aligned\n`);
    }
    return { gt, pred };
  };
  let labels = wanted;
  if (!labels) {
    // No label set given: a first pass collects every value that occurs, so all files share one class list.
    const seen = new Set<number>();
    for (const p of pairs) {
      const { gt, pred } = await readPair(p);
      for (const v of E.distinctValues([gt, pred])) seen.add(v);
    }
    labels = [...seen].sort((a, b) => a - b);
  }
  const regions = parseRegions(opts.regions ?? [], labels);
  const scorer = new E.MaskScorer({ classes: labels.map(String), regions, distances: opts.distances !== false });
  const units = new Set<string>();
  for (const p of pairs) {
    const { gt, pred } = await readPair(p);
    units.add(gt.unit);
    scorer.add(E.toClassIds(pred, labels), E.toClassIds(gt, labels), gt.shape, gt.spacing);
  }
  // Distances are in mm on NIfTI (header spacing), in pixels on images.
  const unit = units.size === 1 ? [...units][0]! : 'mm/px';
  const r = scorer.result();
  const status = missingPred.length || missingGt.length ? EXIT.specErrors : EXIT.ok;
  if (opts.json) {
    const n = E.jsonNumber;
    io.out(
      `${JSON.stringify(
        {
          pairs: pairs.map((p) => ({ gt: p.gt, pred: p.pred })),
          missing: { pred: missingPred, gt: missingGt },
          labels,
          distanceUnit: unit,
          classes: r.classes.map((c) => ({
            label: Number(c.name),
            dice: n(c.diceCase),
            iou: n(c.iouCase),
            dicePooled: n(c.dice),
            iouPooled: n(c.iou),
            hd: n(c.hd),
            hd95: n(c.hd95),
            assd: n(c.assd),
            oneSided: c.oneSided,
          })),
          mean: { dice: n(r.mean.diceCase), iou: n(r.mean.iouCase), dicePooled: n(r.mean.dice), iouPooled: n(r.mean.iou), hd: n(r.mean.hd), hd95: n(r.mean.hd95), assd: n(r.mean.assd) },
          regions: Object.fromEntries(Object.entries(r.regions).map(([k, v]) => [k, { dice: n(v.dice), hd95: n(v.hd95) }])),
        },
        null,
        2,
      )}\n`,
    );
    return status;
  }
  const bg = labels.length > 2 ? ' (without first label)' : '';
  const rows = r.classes.map((c) => [c.name, E.cell(c.diceCase), E.cell(c.iouCase), E.cell(c.dice), E.cell(c.iou), E.cell(c.hd, 2), E.cell(c.hd95, 2), E.cell(c.assd, 2)]);
  rows.push([`mean${bg}`, E.cell(r.mean.diceCase), E.cell(r.mean.iouCase), E.cell(r.mean.dice), E.cell(r.mean.iou), E.cell(r.mean.hd, 2), E.cell(r.mean.hd95, 2), E.cell(r.mean.assd, 2)]);
  io.out(
    `${r.cases} pair${r.cases === 1 ? '' : 's'}; Dice/IoU: mean over pairs (pairs where the class is in neither mask left out) and pooled over all ${unit === 'px' ? 'pixels' : 'voxels'}; ` +
      `HD (maximum), HD95, ASSD in ${unit === 'px' ? 'pixels' : unit}, averaged over pairs where both masks have the class\n`,
  );
  io.out(`${E.formatTable(['label', 'Dice', 'IoU', 'Dice pooled', 'IoU pooled', `HD ${unit}`, `HD95 ${unit}`, `ASSD ${unit}`], rows)}\n`);
  const one = r.classes.filter((c) => c.oneSided > 0);
  if (one.length) io.out(`present in only one of the two masks (distance ∞, not averaged): ${one.map((c) => `${c.name} ×${c.oneSided}`).join(', ')}\n`);
  const reg = Object.entries(r.regions);
  if (reg.length) io.out(`\n${E.formatTable(['region', 'Dice', `HD95 ${unit}`], reg.map(([k, v]) => [k, E.cell(v.dice), E.cell(v.hd95, 2)]))}\n`);
  if (status !== EXIT.ok) io.err(`tdc: ${missingPred.length + missingGt.length} file${missingPred.length + missingGt.length === 1 ? '' : 's'} without a partner (listed above); the others were scored\n`);
  return status;
}
