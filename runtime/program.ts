/**
 * The facade generated code is written against: the types `model.ts`, `trainer.ts`, `data.ts` and `main.ts`
 * use, and the runners `tdc train` / `tdc eval` call with a generated `Program`. It binds the runtime's parts
 * (layers, losses, metrics, data, trainer) together so generated files stay short and readable.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve as resolvePath } from 'node:path';
import type { DataSpec, OptimizerSpec, ScheduleSpec, TaskSpec } from '../spec/types.js';
import { openDataset, ensureDataset, type Dataset } from './data/dataset.js';
import { batchSource } from './data/loader.js';
import { scanDataset, formatScan } from './data/scan.js';
import { buildNetwork as buildLayersNetwork, layerGroups, type NetworkArgs as LayersNetworkArgs } from './layers/network.js';
import { confusionMatrix, addConfusion, perClassIoU, perClassDice, meanIoU, meanDice } from './metrics/confusion.js';
import { regionScores } from './metrics/regions.js';
import { writeSampleOverlays } from './report/samples.js';
import { loadEncoderWeights, WeightLoadError } from './weights/index.js';
import { train as runTrainer, schedule as makeSchedule, TrainError, loadCheckpoint, loadWeights } from './train/index.js';
import type { Batch, BatchSource, OutputSink, RunSummary, StagePlan as TrainerStagePlan, ValidationResult } from './train/index.js';

export type NetworkArgs = Omit<LayersNetworkArgs, 'seed'>;

/** A built network whose outputs are typed by head. */
export interface Network<O> {
  model: tf.LayersModel;
  /** Runs the network; `training` switches dropout / batch-norm to training behaviour. */
  apply(x: tf.Tensor, training: boolean): O;
}

/** Generated `buildModel` calls this: the runtime network with typed outputs. */
export function buildNetwork<O>(args: NetworkArgs, seed: number): Network<O> {
  const { model, outputs } = buildLayersNetwork({ ...args, seed });
  return {
    model,
    apply(x, training) {
      const out = model.apply(x, { training }) as tf.Tensor[];
      return { seg: out[outputs.seg], class: out[outputs.class], scene: out[outputs.scene] } as O;
    },
  };
}

/** One loss term from the typed outputs and a batch. */
export type TermFn<O> = (outputs: O, batch: Batch) => tf.Scalar;

/** A training stage as the generator writes it (the schedule still as spec data). */
export interface StagePlan<T extends string> {
  name: string;
  label: string;
  steps: number;
  from: 'init' | 'previous';
  freeze: string[];
  terms: T[];
  total: (t: Record<T, tf.Scalar>) => tf.Scalar;
  schedule: ScheduleSpec;
}

export type OptimizerArgs = OptimizerSpec;

export interface TrainArgs {
  seed: number;
  validateEvery: number;
  checkpointEvery: number;
  logEvery: number;
  bestMetric: 'miou' | 'mdice';
}

/** The dataset binding: the resolved data and task spec; paths are relative to `specDir`, the spec's folder
 *  relative to the build folder. */
export interface DatasetArgs {
  specDir: string;
  data: DataSpec;
  task: TaskSpec;
}

/** Everything one spec compiles to, as `main.ts` exports it. */
export interface Program<O, T extends string> {
  name: string;
  specHash: string;
  dims: 2 | 3;
  classes: readonly string[];
  scenes: readonly string[];
  /** Region name → class indices (BraTS WT/TC/ET). */
  regions: Record<string, number[]>;
  buildModel(seed: number): Network<O>;
  /**
   * The encoder's pretrained weights (Keras .h5 or tfjs model.json), relative to the spec's folder like the data
   * paths (`data.specDir`); null or absent: random initialisation.
   */
  pretrained?: string | null;
  terms: Record<T, TermFn<O>>;
  stages: StagePlan<T>[];
  optimizer: OptimizerArgs;
  train: TrainArgs;
  data: DatasetArgs;
}

/** A data spec with its paths (root, labels file, scene file) made absolute against `baseDir`, the spec's folder. */
export function resolveDataPaths(data: DataSpec, baseDir: string): DataSpec {
  const abs = (p: string) => (isAbsolute(p) ? p : join(baseDir, p));
  const resolved: DataSpec = { ...data, root: abs(data.root) };
  if (data.labelsFile) resolved.labelsFile = abs(data.labelsFile);
  if (data.scenes.from === 'file') resolved.scenes = { from: 'file', file: abs(data.scenes.file) };
  return resolved;
}

/** The task and data specs of a program's dataset binding, with paths resolved against the build folder. */
export function dataSpecs(program: Program<unknown, string>, buildDir: string): { data: DataSpec; task: TaskSpec } {
  const { specDir, data, task } = program.data;
  return { data: resolveDataPaths(data, resolvePath(buildDir, specDir)), task };
}

/** How many samples the scan before training decodes (all are listed). */
const SCAN_IMAGES = 400;
const SCAN_VOLUMES = 4;

export interface OpenedData {
  dataset: Dataset;
  data: DataSpec;
  task: TaskSpec;
  /** One line per fact, for the start of a run (synthesized data, split counts, class frequencies). */
  notes: string[];
}

/** Opens (and, when the spec asks for it and the root is missing, first generates) the program's dataset. */
export async function openProgramData(program: Program<unknown, string>, buildDir: string): Promise<OpenedData> {
  const { data, task } = dataSpecs(program, buildDir);
  const notes: string[] = [];
  const synth = await ensureDataset(data, task);
  if (synth) notes.push(`generated a ${data.format} stand-in dataset at ${data.root}`);
  // Training does not start on a broken dataset: the scan lists every sample, decodes the first ones (a few
  // volumes in 3D, where one takes seconds) and names each problem's file. `tdc check --data` decodes all.
  const full = await scanDataset({ data, task, train: { seed: program.train.seed } }, { limit: task.dims === 3 ? SCAN_VOLUMES : SCAN_IMAGES });
  const errors = full.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more problems: run tdc check <spec> --data)` : '';
    throw new TrainError(`data: ${errors[0]!.message}${more}`);
  }
  notes.push(formatScan(full, task).trimEnd());
  const dataset = await openDataset({ data, task, seed: program.train.seed });
  return { dataset, data, task, notes };
}

export interface EvaluateOptions {
  /** Region name → class indices, for region Dice / HD95 (3D). */
  regions?: Record<string, number[]>;
  /** Voxel spacing for HD95, in tensor axis order. */
  spacing?: number[];
}

/**
 * Runs the model over a source once and scores it: per-class and mean IoU / Dice (background excluded from the
 * means when there is more than one foreground class), class- and scene-head accuracy, regions when given.
 */
export async function evaluateModel(
  model: tf.LayersModel,
  source: BatchSource,
  numClasses: number,
  opts: EvaluateOptions = {},
): Promise<ValidationResult> {
  let cm: Float64Array = new Float64Array(numClasses * numClasses);
  let clsHits = 0;
  let clsTotal = 0;
  let sceneHits = 0;
  let sceneTotal = 0;
  const regionSums: Record<string, { dice: number; hd95: number; n: number; nHd: number }> = {};
  for (let i = 0; i < source.length; i++) {
    const batch = await source.next();
    const [segPred, clsPred, scenePred] = tf.tidy(() => {
      const out = model.predict(batch.image) as tf.Tensor[];
      return [
        tf.argMax(out[0]!, -1).toInt(),
        tf.greater(out[1]!, 0).toInt(),
        tf.argMax(out[2]!, -1).toInt(),
      ] as const;
    });
    const pred = (await segPred.data()) as Int32Array;
    const gt = (await batch.mask.data()) as Int32Array;
    cm = addConfusion(cm, confusionMatrix(pred, gt, numClasses));
    const cp = await clsPred.data();
    const ct = await batch.classes.data();
    for (let j = 0; j < cp.length; j++) clsHits += Number(cp[j] === (ct[j]! > 0.5 ? 1 : 0));
    clsTotal += cp.length;
    const sp = await scenePred.data();
    const st = (await tf.tidy(() => tf.argMax(batch.scene, -1)).data()) as Int32Array;
    const sceneKnown = await batch.scene.sum(-1).data();
    for (let j = 0; j < sp.length; j++) {
      if (sceneKnown[j]! <= 0) continue;
      sceneHits += Number(sp[j] === st[j]);
      sceneTotal += 1;
    }
    if (opts.regions && Object.keys(opts.regions).length) {
      const shape = batch.mask.shape.slice(1);
      const per = shape.reduce((a, b) => a * b, 1);
      for (let b = 0; b < batch.mask.shape[0]!; b++) {
        const scores = regionScores(pred.subarray(b * per, (b + 1) * per), gt.subarray(b * per, (b + 1) * per), shape, opts.regions, {
          spacing: opts.spacing,
        });
        for (const [name, s] of Object.entries(scores)) {
          const acc = (regionSums[name] ??= { dice: 0, hd95: 0, n: 0, nHd: 0 });
          if (Number.isFinite(s.dice)) {
            acc.dice += s.dice;
            acc.n += 1;
          }
          if (Number.isFinite(s.hd95)) {
            acc.hd95 += s.hd95;
            acc.nHd += 1;
          }
        }
      }
    }
    tf.dispose([segPred, clsPred, scenePred, batch.image, batch.mask, batch.classes, batch.scene]);
  }
  const excludeBackground = numClasses > 2;
  const extra: Record<string, number> = {
    class_acc: clsTotal ? clsHits / clsTotal : NaN,
    scene_acc: sceneTotal ? sceneHits / sceneTotal : NaN,
  };
  for (const [name, s] of Object.entries(regionSums)) {
    extra[`${name}_dice`] = s.n ? s.dice / s.n : NaN;
    extra[`${name}_hd95`] = s.nHd ? s.hd95 / s.nHd : NaN;
  }
  return {
    iou: perClassIoU(cm, numClasses),
    dice: perClassDice(cm, numClasses),
    miou: meanIoU(cm, numClasses, { excludeBackground }),
    mdice: meanDice(cm, numClasses, { excludeBackground }),
    extra,
  };
}

export interface TrainProgramOptions {
  /** The folder of the generated files (data paths are resolved from it). */
  buildDir: string;
  /** The run folder (logs, checkpoints, summary). */
  runDir: string;
  /** The generated spec.lock.json, written beside checkpoints. */
  lockJson: string;
  resume?: boolean;
  output?: OutputSink;
  installSignalHandlers?: boolean;
  /** Test hook: stop (with a checkpoint) after a step. */
  shouldStop?: (info: { stageIndex: number; step: number }) => boolean;
  /** Where one-line notes go before training starts. */
  note?: (line: string) => void;
  /** Validation samples drawn as overlays into `<run>/samples/` after a completed run (default 6; 0 = none). */
  samples?: number;
}

/** `tdc train`: opens the data, then runs the program's stages through the generic trainer. */
export async function trainProgram<O, T extends string>(program: Program<O, T>, opts: TrainProgramOptions): Promise<RunSummary> {
  const note = opts.note ?? ((l: string) => process.stdout.write(`${l}\n`));
  const opened = await openProgramData(program as Program<unknown, string>, opts.buildDir);
  for (const n of opened.notes) note(n);
  const seed = program.train.seed;
  const train = batchSource({ dataset: opened.dataset, split: 'train', mode: 'train', seed });
  const val = batchSource({ dataset: opened.dataset, split: 'val', mode: 'eval', seed });
  if (train.length === 0) throw new TrainError(`data: the train split of ${opened.data.root} is empty`);
  if (val.length === 0) throw new TrainError(`data: the val split of ${opened.data.root} is empty (set data.splits.val or val_fraction)`);
  const stages: TrainerStagePlan[] = program.stages.map((s) => ({
    name: s.name,
    label: s.label,
    steps: s.steps,
    from: s.from,
    freeze: s.freeze,
    terms: s.terms,
    total: (t) => s.total(t as Record<T, tf.Scalar>),
    schedule: makeSchedule(s.schedule, s.steps),
  }));
  const regions = program.dims === 3 ? program.regions : undefined;
  const pretrained = program.pretrained ? resolvePath(opts.buildDir, program.data.specDir, program.pretrained) : undefined;
  let pretrainedNoted = false;
  const summary = await runTrainer({
    model: async (modelSeed) => {
      const net = program.buildModel(modelSeed);
      // Fresh weights ('init' stages, and before a resume overwrites them) start from the pretrained encoder.
      if (pretrained) {
        const shown = relative(process.cwd(), pretrained) || pretrained;
        if (!existsSync(pretrained)) {
          if (!pretrainedNoted) note(`warning: pretrained weights ${shown} not found; the encoder starts from random weights`);
        } else {
          try {
            const r = await loadEncoderWeights(net.model, pretrained);
            if (!pretrainedNoted) note(`loaded pretrained encoder weights from ${shown} (${r.loaded.length} layers)`);
          } catch (e) {
            if (e instanceof WeightLoadError) throw new TrainError(e.message);
            throw e;
          }
        }
        pretrainedNoted = true;
      }
      return net.model;
    },
    computeTerms: (outputs, batch, needed) => {
      const o = { seg: outputs[0], class: outputs[1], scene: outputs[2] } as O;
      const out: Record<string, tf.Scalar> = {};
      for (const name of needed) out[name] = program.terms[name as T](o, batch);
      return out;
    },
    stages,
    optimizer: program.optimizer,
    layerGroups: (model) => layerGroups(model),
    train: train as unknown as BatchSource,
    val: val as unknown as BatchSource,
    evaluate: (model, source) => evaluateModel(model, source, program.classes.length, { regions }),
    runDir: opts.runDir,
    seed,
    logEvery: program.train.logEvery,
    validateEvery: program.train.validateEvery,
    checkpointEvery: program.train.checkpointEvery,
    bestMetric: program.train.bestMetric,
    lockJson: opts.lockJson,
    resume: opts.resume,
    output: opts.output,
    installSignalHandlers: opts.installSignalHandlers,
    shouldStop: opts.shouldStop,
    metricNames: ['class_acc', 'scene_acc', ...Object.keys(regions ?? {}).flatMap((r) => [`${r}_dice`, `${r}_hd95`])],
  });
  if (summary.status === 'completed' && (opts.samples ?? 6) > 0) {
    await writeRunSamples(program as Program<unknown, string>, { runDir: opts.runDir, lockJson: opts.lockJson, count: opts.samples ?? 6, opened, source: val as unknown as BatchSource });
  }
  return summary;
}


export interface RunSamplesOptions {
  runDir: string;
  lockJson: string;
  /** Validation samples to draw (default 6). */
  count?: number;
  /** The opened data and the validation source, when the caller has them (else opened from `buildDir`). */
  opened?: OpenedData;
  source?: BatchSource;
  buildDir?: string;
}

/**
 * Draws validation overlays into `<run>/samples/` from the run's best checkpoint (else its last one): after `tdc
 * train`, and after a run of the generated PyTorch project (its checkpoints are tdc checkpoints).
 */
export async function writeRunSamples(program: Program<unknown, string>, o: RunSamplesOptions): Promise<void> {
  const dir = [join(o.runDir, 'best'), join(o.runDir, 'checkpoints', 'last')].find((d) => existsSync(join(d, 'state.json')));
  if (!dir) return;
  const opened = o.opened ?? (await openProgramData(program, o.buildDir ?? '.'));
  const source = o.source ?? (batchSource({ dataset: opened.dataset, split: 'val', mode: 'eval', seed: program.train.seed }) as unknown as BatchSource);
  const net = program.buildModel(program.train.seed);
  loadWeights(net.model, (await loadCheckpoint(dir)).weights, dir);
  const resolved = (JSON.parse(o.lockJson) as { resolved?: { losses?: { type: string }[] } }).resolved;
  const softmaxScene = resolved?.losses?.some((l) => l.type === 'softmax_ce') ?? false;
  await writeSampleOverlays({
    model: net.model,
    source,
    classes: opened.task.classes,
    scenes: opened.task.scenes,
    runDir: o.runDir,
    count: o.count ?? 6,
    sceneActivation: softmaxScene ? 'softmax' : 'sigmoid',
  });
  net.model.dispose();
}
