/**
 * `tdc eval [dir]`: scores a trained build on a split — first by the paper's protocol (runtime/evaluate/
 * protocol.ts: per image at the original resolution, REFUGE disc ∪ cup, BraTS regions on whole volumes), then
 * per-class IoU and Dice pooled (3D: whole volumes through sliding windows, plus HD95 in mm and the regions),
 * and class / scene head accuracy — as tables or `--json`. Also home of `loadTrained`, the build + checkpoint loading `tdc predict` shares.
 */
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import type { Program } from '../../../runtime/program.js';
import type { DataSpec, LossTermSpec, TaskSpec } from '../../../spec/types.js';
import { EXIT, io, setExitCode } from '../host.js';
import { checkSpecUnchanged, loadProgram, readLock, resolveBuildDir, type SpecLock } from '../build-loader.js';
import { TdcError } from '../../../runtime/errors.js';

/** tfjs's LayersModel, named through the runtime so that this CLI module does not import tfjs, even for types. */
type LayersModel = ReturnType<Program<unknown, string>['buildModel']>['model'];

export interface TrainedOptions extends BackendOptions {
  checkpoint?: string;
  /** A stage name: its final weights (`checkpoints/stages/<name>/`) instead of `checkpoint`. */
  stage?: string;
  runDir?: string;
}

/** The backend choice every command that runs a network takes: --backend and --threads. */
export interface BackendOptions {
  backend?: string;
  threads?: string;
}

export const BACKEND_HELP = 'force a tfjs backend: tensorflow, native, wasm or cpu (also TDC_BACKEND)';
export const THREADS_HELP = 'compute threads (also TDC_THREADS; default: every core the machine offers)';

/** selectBackend's options from --backend / --threads; a malformed thread count is a usage error. */
export function backendOptions(opts: BackendOptions): { prefer?: string; threads?: number } {
  const out: { prefer?: string; threads?: number } = {};
  if (opts.backend) out.prefer = opts.backend;
  if (opts.threads !== undefined) {
    if (!/^\d+$/.test(opts.threads) || Number(opts.threads) < 1) throw new TdcError(`--threads must be a positive whole number, got '${opts.threads}'`, { usage: true });
    out.threads = Number(opts.threads);
  }
  return out;
}

/** A build with its trained weights loaded, ready to run. */
export interface Trained {
  program: Program<unknown, string>;
  lock: SpecLock;
  buildDir: string;
  runDir: string;
  /** The checkpoint folder the weights came from, and which one it is (a stage's name for `--stage`). */
  checkpointDir: string;
  checkpoint: 'best' | 'last' | `stage ${string}`;
  model: LayersModel;
  task: TaskSpec;
  data: DataSpec;
  /** The scene head's activation, from the spec's scene loss (softmax_ce → softmax, bce → sigmoid). */
  sceneActivation: 'softmax' | 'sigmoid';
  /** Heads no stage trains (their outputs are the initial weights': not reported). */
  untrained: ('class' | 'scene')[];
}

const rel = (p: string) => relative(process.cwd(), p) || '.';

/**
 * Loads a build (default: the last `tdc build`) and the weights of its run's checkpoint: `best` falls back to
 * `last` (with a note on stderr) when no validation has written one yet. Problems are one-line TdcErrors.
 */
export async function loadTrained(dirArg: string | undefined, opts: TrainedOptions): Promise<Trained> {
  if (opts.stage !== undefined && opts.checkpoint !== undefined) {
    throw new TdcError('--stage and --checkpoint exclude each other: a stage names its own checkpoint', { usage: true });
  }
  const which = opts.checkpoint ?? 'best';
  if (which !== 'best' && which !== 'last') throw new TdcError(`--checkpoint must be best or last, not '${which}'`, { usage: true });
  const buildDir = resolveBuildDir(dirArg);
  const { lock } = readLock(buildDir);
  const program = await loadProgram(buildDir);
  const note = await checkSpecUnchanged(buildDir, lock, program.data.specDir);
  if (note) io.err(`${note}\n`);
  const runDir = opts.runDir ?? join(buildDir, 'run');
  const { hasCheckpoint, loadCheckpoint, loadWeights, stageCheckpointDir, savedStages } = await import('../../../runtime/train/index.js');
  const best = join(runDir, 'best');
  const last = join(runDir, 'checkpoints', 'last');
  let checkpointDir: string;
  let checkpoint: Trained['checkpoint'];
  if (opts.stage !== undefined) {
    checkpointDir = stageCheckpointDir(runDir, opts.stage);
    checkpoint = `stage ${opts.stage}`;
    if (!(await hasCheckpoint(checkpointDir))) {
      const known = program.stages.map((s) => s.name);
      // In the spec's order (folders of stages no longer in the spec last).
      const order = (n: string) => (known.includes(n) ? known.indexOf(n) : known.length);
      const saved = savedStages(runDir).sort((x, y) => order(x) - order(y));
      const why = known.includes(opts.stage) ? `stage '${opts.stage}' has not finished in ${rel(runDir)}` : `the spec has no stage '${opts.stage}'`;
      const have = saved.length ? `finished stages: ${saved.join(', ')}` : `no stage has finished in ${rel(runDir)} yet`;
      throw new TdcError(`${why}; ${have} (the spec's stages: ${known.join(', ')})`, { usage: !known.includes(opts.stage) });
    }
  } else if (which === 'best' && (await hasCheckpoint(best))) {
    checkpointDir = best;
    checkpoint = 'best';
  } else if (await hasCheckpoint(last)) {
    if (which === 'best') io.err(`note: no best checkpoint in ${rel(runDir)} yet; using the last one\n`);
    checkpointDir = last;
    checkpoint = 'last';
  } else {
    throw new TdcError(`no trained checkpoint in ${rel(runDir)}; run tdc train ${rel(buildDir)} first`);
  }
  const { selectBackend } = await import('../../../runtime/backend/index.js');
  try {
    await selectBackend(backendOptions(opts));
  } catch (e) {
    throw new TdcError(e instanceof Error ? e.message : String(e), { usage: true });
  }
  const { dataSpecs } = await import('../../../runtime/program.js');
  const { data, task } = dataSpecs(program, buildDir);
  let model: LayersModel;
  try {
    const saved = await loadCheckpoint(checkpointDir);
    model = program.buildModel(program.train.seed).model;
    loadWeights(model, saved.weights, rel(checkpointDir));
  } catch (e) {
    if (!(e instanceof TdcError)) throw e;
    throw new TdcError(e.message.replace(/; was the spec changed\?.*$/, '; was the build changed since training? run tdc train again'));
  }
  return {
    program,
    lock,
    buildDir,
    runDir,
    checkpointDir,
    checkpoint,
    model,
    task,
    data,
    sceneActivation: program.sceneActivation,
    untrained: program.untrainedHeads,
  };
}

/** The stderr note for heads no stage trained. */
export function untrainedNote(heads: readonly string[], what: string): string | undefined {
  return heads.length ? `note: no stage trains the ${heads.join(' or ')} head: ${what}` : undefined;
}

interface EvalOptions extends TrainedOptions {
  split?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('score a trained build on a data split: per-class IoU / Dice (3D: whole volumes, HD95, regions), class and scene accuracy')
    .argument('[dir]', 'the build folder written by tdc build (default: the last build)')
    .option('--split <name>', 'val, test or train', 'val')
    .option('--checkpoint <which>', 'best (falls back to last) or last (default best)')
    .option('--stage <name>', "a stage's final weights (kept in <run>/checkpoints/stages/<name>/) instead of --checkpoint")
    .option('--run-dir <dir>', 'the run folder (default: <build>/run)')
    .option('--backend <name>', BACKEND_HELP)
    .option('--threads <n>', THREADS_HELP)
    .option('--json', 'print the scores as JSON')
    .action(async (dir: string | undefined, opts: EvalOptions) => {
      setExitCode(await evaluate(dir, opts));
    });
}

interface ClassRow {
  name: string;
  iou: number;
  dice: number;
  hd95?: number;
}

interface EvalReport {
  build: string;
  checkpoint: string;
  split: string;
  samples: number;
  /** The evaluated samples' ids, in order. */
  ids: string[];
  classes: ClassRow[];
  mean: { iou: number; dice: number; hd95?: number };
  classAcc: number;
  sceneAcc: number;
  regions: Record<string, { dice: number; hd95: number }>;
  /** The paper's protocol (the table printed first). */
  protocol: { kind: string; cases: number; metrics: Record<string, number>; columns: { key: string; label: string; format: 'percent' | 'distance' | 'ratio' }[]; note: string };
}

async function evaluate(dirArg: string | undefined, opts: EvalOptions): Promise<number> {
  const split = opts.split ?? 'val';
  if (split !== 'val' && split !== 'test' && split !== 'train') throw new TdcError(`--split must be val, test or train, not '${split}'`, { usage: true });
  const t = await loadTrained(dirArg, opts);
  const { openProgramData, evaluateModel } = await import('../../../runtime/program.js');
  const { protocolFor, scoreProtocol } = await import('../../../runtime/evaluate/index.js');
  const { Predictor } = await import('../../../runtime/predict/index.js');
  const { batchSource } = await import('../../../runtime/data/index.js');
  const names = t.task.classes.map((c) => c.name);
  let report: EvalReport;
  {
    const opened = await openProgramData(t.program, t.buildDir);
    const items = opened.dataset.splits[split];
    if (items.length === 0) throw new TdcError(`the ${split} split of ${rel(opened.data.root)} is empty; choose another with --split`);
    const base = { build: rel(t.buildDir), checkpoint: rel(t.checkpointDir), split, samples: items.length, ids: items.map((d) => d.id) };
    const setup = protocolFor({ format: opened.data.format, dims: t.task.dims, classes: t.task.classes, scenes: t.task.scenes, regions: t.program.regions });
    const predictor = new Predictor({ model: t.model, task: t.task, sceneActivation: t.sceneActivation });
    if (t.task.dims === 2) {
      const protocol = await scoreProtocol(predictor, opened.dataset, split, setup, { onCase: (done, total) => done % 50 === 0 && io.err(`scored ${done}/${total}\n`) });
      const source = batchSource({ dataset: opened.dataset, split, mode: 'eval', seed: t.program.train.seed });
      const r = await evaluateModel(t.model, source, names.length);
      report = {
        ...base,
        protocol,
        classes: names.map((name, i) => ({ name, iou: r.iou[i]!, dice: r.dice[i]! })),
        mean: { iou: r.miou, dice: r.mdice },
        classAcc: r.extra?.['class_acc'] ?? NaN,
        sceneAcc: r.extra?.['scene_acc'] ?? NaN,
        regions: {},
      };
    } else {
      const { evaluateVolumes } = await import('../../../runtime/evaluate/index.js');
      const r = await evaluateVolumes(predictor, opened.dataset, split, {
        regions: t.program.regions,
        protocol: setup,
        onSubject: (done, total, id) => io.err(`evaluated ${done}/${total} ${id}\n`),
      });
      report = {
        ...base,
        classes: r.classes.map((c) => ({ name: c.name, iou: c.iou, dice: c.dice, hd95: c.hd95 })),
        mean: { iou: r.mean.iou, dice: r.mean.dice, hd95: r.mean.hd95 },
        classAcc: r.classAcc,
        sceneAcc: r.sceneAcc,
        regions: r.regions,
        protocol: r.protocol!,
      };
    }
  }
  const { formatTable, cell, jsonNumber } = await import('../../../runtime/evaluate/index.js');
  if (t.untrained.includes('class')) report.classAcc = NaN;
  if (t.untrained.includes('scene')) report.sceneAcc = NaN;
  const skipped = untrainedNote(t.untrained, 'its accuracy is not reported');
  if (skipped) io.err(`${skipped}\n`);
  if (opts.json) {
    const num = (v: number | undefined) => (v === undefined ? undefined : jsonNumber(v));
    const out = {
      ...report,
      classes: report.classes.map((c) => ({ name: c.name, iou: num(c.iou), dice: num(c.dice), hd95: num(c.hd95) })),
      mean: { iou: num(report.mean.iou), dice: num(report.mean.dice), hd95: num(report.mean.hd95) },
      classAcc: t.untrained.includes('class') ? 'untrained' : num(report.classAcc),
      sceneAcc: t.untrained.includes('scene') ? 'untrained' : num(report.sceneAcc),
      regions: Object.fromEntries(Object.entries(report.regions).map(([k, v]) => [k, { dice: num(v.dice), hd95: num(v.hd95) }])),
      protocol: { kind: report.protocol.kind, cases: report.protocol.cases, note: report.protocol.note, metrics: Object.fromEntries(Object.entries(report.protocol.metrics).map(([k, v]) => [k, num(v)])) },
    };
    io.out(`${JSON.stringify(out, null, 2)}\n`);
    return EXIT.ok;
  }
  const is3d = t.task.dims === 3;
  const { protocolCell } = await import('../../../runtime/train/index.js');
  const p = report.protocol;
  io.out(`${t.program.name}: ${split} split, ${report.samples} sample${report.samples === 1 ? '' : 's'}, checkpoint ${report.checkpoint}\n`);
  io.out(`${formatTable(p.columns.map((c) => c.label), [p.columns.map((c) => protocolCell(p.metrics[c.key], c.format))])}\n${p.note}\n`);
  if (is3d) {
    io.out(
      `(the training log's validation lines score centre crops of ${t.task.size.join('×')}; this table and the summary's stage rows score whole volumes through the sliding window, so they differ)\n`,
    );
  }
  io.out(`\nper class, pooled over all ${is3d ? 'voxels of the whole volumes' : 'pixels at the network input size'}:\n`);
  const header = is3d ? ['class', 'IoU', 'Dice', 'HD95 mm'] : ['class', 'IoU', 'Dice'];
  const row = (c: ClassRow) => (is3d ? [c.name, cell(c.iou), cell(c.dice), cell(c.hd95 ?? NaN, 2)] : [c.name, cell(c.iou), cell(c.dice)]);
  const bg = names.length > 2 ? ' (without background)' : '';
  const rows = [...report.classes.map(row), row({ name: `mean${bg}`, iou: report.mean.iou, dice: report.mean.dice, hd95: report.mean.hd95 })];
  io.out(`${formatTable(header, rows)}\n`);
  const regions = Object.entries(report.regions);
  if (regions.length) {
    io.out(`\n${formatTable(['region', 'Dice', 'HD95 mm'], regions.map(([k, v]) => [k, cell(v.dice), cell(v.hd95, 2)]))}\n`);
  }
  const acc = (head: 'class' | 'scene', v: number) => (t.untrained.includes(head) ? 'untrained' : cell(v));
  io.out(`\nclass accuracy ${acc('class', report.classAcc)}  scene accuracy ${acc('scene', report.sceneAcc)}\n`);
  return EXIT.ok;
}
