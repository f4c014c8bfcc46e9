/**
 * `tdc metrics --gt <file|dir> --pred <file|dir>`: scores predicted label maps against ground truth files
 * (PNG/BMP palette indices or grey values, NIfTI labels with the header's spacing), pairing folders by file
 * name — per-class Dice, IoU, HD95 and ASSD (mm), their means and optional regions, as a table or `--json`.
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
    .description('score predicted masks against ground truth files: per-class Dice, IoU, HD95 and ASSD (mm), means, regions')
    .requiredOption('--gt <path>', 'ground-truth mask file, or a folder of them')
    .requiredOption('--pred <path>', 'predicted mask file, or a folder (paired by name; _pred/_seg/_gt suffixes ignored)')
    .option('--classes <n>', 'label values are class ids 0..n-1')
    .option('--labels <list>', 'the label values, one per class in order, e.g. 0,1,2,4 (default: the values found)')
    .option('--regions <spec...>', 'regions as unions of label values, e.g. WT=1,2,4 TC=1,4 ET=4')
    .option('--no-distances', 'skip HD95 and ASSD (faster on large volumes)')
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
  const pairs = await E.pairMaskFiles(opts.gt, opts.pred);
  const readPair = async (p: (typeof pairs)[number]) => {
    const [gt, pred] = [await E.readMaskFile(p.gt), await E.readMaskFile(p.pred)];
    if (gt.shape.join() !== pred.shape.join()) {
      throw new TdcError(`${p.pred}: shape ${pred.shape.join('×')} differs from its ground truth ${p.gt} (${gt.shape.join('×')})`);
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
  for (const p of pairs) {
    const { gt, pred } = await readPair(p);
    scorer.add(E.toClassIds(pred, labels), E.toClassIds(gt, labels), gt.shape, gt.spacing);
  }
  const r = scorer.result();
  if (opts.json) {
    const n = E.jsonNumber;
    io.out(
      `${JSON.stringify(
        {
          pairs: pairs.map((p) => ({ gt: p.gt, pred: p.pred })),
          labels,
          classes: r.classes.map((c) => ({ label: Number(c.name), dice: n(c.dice), iou: n(c.iou), hd95: n(c.hd95), assd: n(c.assd), oneSided: c.oneSided })),
          mean: { dice: n(r.mean.dice), iou: n(r.mean.iou), hd95: n(r.mean.hd95), assd: n(r.mean.assd) },
          regions: Object.fromEntries(Object.entries(r.regions).map(([k, v]) => [k, { dice: n(v.dice), hd95: n(v.hd95) }])),
        },
        null,
        2,
      )}\n`,
    );
    return EXIT.ok;
  }
  const bg = labels.length > 2 ? ' (without first label)' : '';
  const rows = r.classes.map((c) => [c.name, E.cell(c.dice), E.cell(c.iou), E.cell(c.hd95, 2), E.cell(c.assd, 2)]);
  rows.push([`mean${bg}`, E.cell(r.mean.dice), E.cell(r.mean.iou), E.cell(r.mean.hd95, 2), E.cell(r.mean.assd, 2)]);
  io.out(`${r.cases} pair${r.cases === 1 ? '' : 's'}; Dice/IoU pooled over all pixels, HD95/ASSD averaged over pairs where both masks have the class\n`);
  io.out(`${E.formatTable(['label', 'Dice', 'IoU', 'HD95 mm', 'ASSD mm'], rows)}\n`);
  const one = r.classes.filter((c) => c.oneSided > 0);
  if (one.length) io.out(`present in only one of the two masks (distance ∞, not averaged): ${one.map((c) => `${c.name} ×${c.oneSided}`).join(', ')}\n`);
  const reg = Object.entries(r.regions);
  if (reg.length) io.out(`\n${E.formatTable(['region', 'Dice', 'HD95 mm'], reg.map(([k, v]) => [k, E.cell(v.dice), E.cell(v.hd95, 2)]))}\n`);
  return EXIT.ok;
}
