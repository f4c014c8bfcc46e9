/**
 * `tdc eval [dir]`: scores a trained build on a split — per-class IoU and Dice (3D: whole volumes through
 * sliding windows, plus HD95 in mm and the regions), their means, and class / scene head accuracy — as a table
 * or `--json`. Also home of `loadTrained`, the build + checkpoint loading `tdc predict` shares.
 */
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import type { Program } from '../../../runtime/program.js';
import type { DataSpec, LossTermSpec, TaskSpec } from '../../../spec/types.js';
import { EXIT, io, setExitCode } from '../host.js';
import { BuildError, checkSpecUnchanged, loadProgram, readLock, resolveBuildDir, type SpecLock } from '../build-loader.js';

/** tfjs's LayersModel, named through the runtime so that this CLI module does not import tfjs, even for types. */
type LayersModel = ReturnType<Program<unknown, string>['buildModel']>['model'];

export interface TrainedOptions {
  checkpoint?: string;
  /** A stage name: its final weights (`checkpoints/stages/<name>/`) instead of `checkpoint`. */
  stage?: string;
  runDir?: string;
  backend?: string;
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
}

const rel = (p: string) => relative(process.cwd(), p) || '.';

/**
 * Loads a build (default: the last `tdc build`) and the weights of its run's checkpoint: `best` falls back to
 * `last` (with a note on stderr) when no validation has written one yet. Problems are one-line BuildErrors.
 */
export async function loadTrained(dirArg: string | undefined, opts: TrainedOptions): Promise<Trained> {
  if (opts.stage !== undefined && opts.checkpoint !== undefined) {
    throw new BuildError('--stage and --checkpoint exclude each other: a stage names its own checkpoint', EXIT.usage);
  }
  const which = opts.checkpoint ?? 'best';
  if (which !== 'best' && which !== 'last') throw new BuildError(`--checkpoint must be best or last, not '${which}'`, EXIT.usage);
  const buildDir = resolveBuildDir(dirArg);
  const { lock } = readLock(buildDir);
  const program = await loadProgram(buildDir);
  const note = await checkSpecUnchanged(buildDir, lock, program.data.specDir);
  if (note) io.err(`${note}\n`);
  const runDir = opts.runDir ?? join(buildDir, 'run');
  const { hasCheckpoint, loadCheckpoint, loadWeights, TrainError, stageCheckpointDir, savedStages } = await import('../../../runtime/train/index.js');
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
      throw new BuildError(`${why}; ${have} (the spec's stages: ${known.join(', ')})`, known.includes(opts.stage) ? 1 : EXIT.usage);
    }
  } else if (which === 'best' && (await hasCheckpoint(best))) {
    checkpointDir = best;
    checkpoint = 'best';
  } else if (await hasCheckpoint(last)) {
    if (which === 'best') io.err(`note: no best checkpoint in ${rel(runDir)} yet; using the last one\n`);
    checkpointDir = last;
    checkpoint = 'last';
  } else {
    throw new BuildError(`no trained checkpoint in ${rel(runDir)}; run tdc train ${rel(buildDir)} first`);
  }
  const { selectBackend } = await import('../../../runtime/backend/index.js');
  try {
    await selectBackend(opts.backend ? { prefer: opts.backend } : {});
  } catch (e) {
    throw new BuildError(e instanceof Error ? e.message : String(e), EXIT.usage);
  }
  const { dataSpecs } = await import('../../../runtime/program.js');
  const { data, task } = dataSpecs(program, buildDir);
  let model: LayersModel;
  try {
    const saved = await loadCheckpoint(checkpointDir);
    model = program.buildModel(program.train.seed).model;
    loadWeights(model, saved.weights, rel(checkpointDir));
  } catch (e) {
    if (!(e instanceof TrainError)) throw e;
    throw new BuildError(e.message.replace(/; was the spec changed\?.*$/, '; was the build changed since training? run tdc train again'));
  }
  const losses = ((lock.resolved as { losses?: LossTermSpec[] } | undefined)?.losses ?? []) as LossTermSpec[];
  const sceneLoss = losses.find((l) => 'head' in l && l.head === 'scene');
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
    sceneActivation: sceneLoss?.type === 'softmax_ce' ? 'softmax' : 'sigmoid',
  };
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
    .option('--backend <name>', 'force a tfjs backend: tensorflow, native, wasm or cpu (also TDC_BACKEND)')
    .option('--json', 'print the scores as JSON')
    .action(async (dir: string | undefined, opts: EvalOptions) => {
      try {
        setExitCode(await evaluate(dir, opts));
      } catch (e) {
        if (!(e instanceof BuildError)) throw e;
        io.err(`tdc: ${e.message}\n`);
        setExitCode(e.exitCode);
      }
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
}

async function evaluate(dirArg: string | undefined, opts: EvalOptions): Promise<number> {
  const split = opts.split ?? 'val';
  if (split !== 'val' && split !== 'test' && split !== 'train') throw new BuildError(`--split must be val, test or train, not '${split}'`, EXIT.usage);
  const t = await loadTrained(dirArg, opts);
  const { DataError } = await import('../../../runtime/data/index.js');
  const { openProgramData, evaluateModel } = await import('../../../runtime/program.js');
  const { batchSource } = await import('../../../runtime/data/index.js');
  const names = t.task.classes.map((c) => c.name);
  let report: EvalReport;
  try {
    const opened = await openProgramData(t.program, t.buildDir);
    const items = opened.dataset.splits[split];
    if (items.length === 0) throw new BuildError(`the ${split} split of ${rel(opened.data.root)} is empty; choose another with --split`);
    const base = { build: rel(t.buildDir), checkpoint: rel(t.checkpointDir), split, samples: items.length, ids: items.map((d) => d.id) };
    if (t.task.dims === 2) {
      const source = batchSource({ dataset: opened.dataset, split, mode: 'eval', seed: t.program.train.seed });
      const r = await evaluateModel(t.model, source, names.length);
      report = {
        ...base,
        classes: names.map((name, i) => ({ name, iou: r.iou[i]!, dice: r.dice[i]! })),
        mean: { iou: r.miou, dice: r.mdice },
        classAcc: r.extra?.['class_acc'] ?? NaN,
        sceneAcc: r.extra?.['scene_acc'] ?? NaN,
        regions: {},
      };
    } else {
      const { Predictor } = await import('../../../runtime/predict/index.js');
      const { evaluateVolumes } = await import('../../../runtime/evaluate/index.js');
      const predictor = new Predictor({ model: t.model, task: t.task, sceneActivation: t.sceneActivation });
      const r = await evaluateVolumes(predictor, opened.dataset, split, {
        regions: t.program.regions,
        onSubject: (done, total, id) => io.err(`evaluated ${done}/${total} ${id}\n`),
      });
      report = {
        ...base,
        classes: r.classes.map((c) => ({ name: c.name, iou: c.iou, dice: c.dice, hd95: c.hd95 })),
        mean: { iou: r.mean.iou, dice: r.mean.dice, hd95: r.mean.hd95 },
        classAcc: r.classAcc,
        sceneAcc: r.sceneAcc,
        regions: r.regions,
      };
    }
  } catch (e) {
    if (e instanceof DataError) throw new BuildError(e.message);
    throw e;
  }
  const { formatTable, cell, jsonNumber } = await import('../../../runtime/evaluate/index.js');
  if (opts.json) {
    const num = (v: number | undefined) => (v === undefined ? undefined : jsonNumber(v));
    const out = {
      ...report,
      classes: report.classes.map((c) => ({ name: c.name, iou: num(c.iou), dice: num(c.dice), hd95: num(c.hd95) })),
      mean: { iou: num(report.mean.iou), dice: num(report.mean.dice), hd95: num(report.mean.hd95) },
      classAcc: num(report.classAcc),
      sceneAcc: num(report.sceneAcc),
      regions: Object.fromEntries(Object.entries(report.regions).map(([k, v]) => [k, { dice: num(v.dice), hd95: num(v.hd95) }])),
    };
    io.out(`${JSON.stringify(out, null, 2)}\n`);
    return EXIT.ok;
  }
  const is3d = t.task.dims === 3;
  const header = is3d ? ['class', 'IoU', 'Dice', 'HD95 mm'] : ['class', 'IoU', 'Dice'];
  const row = (c: ClassRow) => (is3d ? [c.name, cell(c.iou), cell(c.dice), cell(c.hd95 ?? NaN, 2)] : [c.name, cell(c.iou), cell(c.dice)]);
  const bg = names.length > 2 ? ' (without background)' : '';
  const rows = [...report.classes.map(row), row({ name: `mean${bg}`, iou: report.mean.iou, dice: report.mean.dice, hd95: report.mean.hd95 })];
  io.out(`${t.program.name}: ${split} split, ${report.samples} sample${report.samples === 1 ? '' : 's'}, checkpoint ${report.checkpoint}\n`);
  io.out(`${formatTable(header, rows)}\n`);
  const regions = Object.entries(report.regions);
  if (regions.length) {
    io.out(`\n${formatTable(['region', 'Dice', 'HD95 mm'], regions.map(([k, v]) => [k, cell(v.dice), cell(v.hd95, 2)]))}\n`);
  }
  io.out(`\nclass accuracy ${cell(report.classAcc)}  scene accuracy ${cell(report.sceneAcc)}\n`);
  return EXIT.ok;
}
