/**
 * The facade generated code is written against: the types `model.ts`, `trainer.ts`, `data.ts` and `main.ts`
 * use, and the runners `tdc train` / `tdc eval` call with a generated `Program`. It binds the runtime's parts
 * (layers, losses, metrics, data, trainer) together so generated files stay short and readable.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve as resolvePath } from 'node:path';
import type { DataSpec, LossTermSpec, OptimizerSpec, ScheduleSpec, TaskSpec } from '../spec/types.js';
import { openDataset, ensureDataset, type Dataset } from './data/dataset.js';
import { batchSource } from './data/loader.js';
import { scanDataset, formatScan } from './data/scan.js';
import { layerGroups, layerParts, type Network } from './layers/network.js';
import { confusionMatrix, addConfusion, perClassIoU, perClassDice, meanIoU, meanDice } from './metrics/confusion.js';
import { regionScores } from './metrics/regions.js';
import { writeSampleOverlays } from './report/samples.js';
import { protocolFor, scoreProtocol, type ProtocolResult, type ProtocolSetup } from './evaluate/protocol.js';
import { Predictor } from './predict/predictor.js';
import type { SplitName } from './data/splits.js';
import { loadEncoderWeights } from './weights/index.js';
import { train as runTrainer, schedule as makeSchedule, loadCheckpoint, loadWeights, checkRunDir, hasCheckpoint, readSummary, stageCheckpointDir, writeSummary } from './train/index.js';
import type { Batch, BatchSource, OutputSink, RunSummary, StagePlan as TrainerStagePlan, StageSummary, ValidationResult } from './train/index.js';

export { buildNetwork, type Network } from './layers/network.js';
export type { ModelIR } from '../spec/ir/index.js';
import type { ModelIR } from '../spec/ir/index.js';
import { TdcError } from './errors.js';

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
  /** Batch-norm momentum, PyTorch convention (train.bn_momentum); absent in builds made before it existed. */
  bnMomentum?: number;
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
  /** The network, as the model IR the spec lowers to (what `tdc explain` prints). */
  network: ModelIR;
  /** Builds `network` with weights initialised from `seed`. */
  buildModel(seed: number): Network<O>;
  /** How scene logits become probabilities: 'softmax' when the scene loss is softmax cross-entropy (one scene per sample). */
  sceneActivation: 'softmax' | 'sigmoid';
  /** The class / scene heads no stage's loss trains (spec/heads.ts): their accuracy and probabilities are not reported. */
  untrainedHeads: ('class' | 'scene')[];
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

/** How many samples the scan before training decodes, shared among the splits (all are listed and header-checked). */
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
  // Training does not start on a broken dataset: the scan lists every sample, checks every file's header in every
  // split (existence, size, dimensions), decodes a share of each split (a few volumes in 3D, where one takes
  // seconds; its table says when counts are partial) and names each problem's file. `tdc check --data` decodes all.
  const full = await scanDataset({ data, task, train: { seed: program.train.seed } }, { limit: task.dims === 3 ? SCAN_VOLUMES : SCAN_IMAGES });
  const errors = full.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more problems: run tdc check <spec> --data)` : '';
    throw new TdcError(`data: ${errors[0]!.message}${more}`);
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

/**
 * Scores a model on the val split by the paper's protocol (runtime/evaluate/protocol.ts): what the trainer calls
 * at each stage's end with the stage's final weights, and what `tdc eval` prints.
 */
export async function scoreStageByProtocol(
  model: tf.LayersModel,
  stageName: string,
  args: { dataset: Dataset; task: TaskSpec; sceneActivation: 'softmax' | 'sigmoid'; protocol: ProtocolSetup; split?: SplitName; note?: (line: string) => void },
): Promise<ProtocolResult> {
  const split = args.split ?? 'val';
  const n = args.dataset.splits[split].length;
  const what = args.task.dims === 3 ? 'whole volumes' : 'images at their original size';
  args.note?.(`stage ${stageName}: scoring its final weights on the ${split} split (${n} ${what}, the paper's protocol)`);
  const predictor = new Predictor({ model, task: args.task, sceneActivation: args.sceneActivation });
  return scoreProtocol(predictor, args.dataset, split, args.protocol);
}

export interface TrainProgramOptions {
  /** The folder of the generated files (data paths are resolved from it). */
  buildDir: string;
  /** The run folder (logs, checkpoints, summary). */
  runDir: string;
  /** The generated spec.lock.json, written beside checkpoints. */
  lockJson: string;
  resume?: boolean;
  /** Start a new run where the run folder holds one (the old run is moved aside); see TrainerArgs.fresh. */
  fresh?: boolean;
  output?: OutputSink;
  installSignalHandlers?: boolean;
  /** Test hook: stop (with a checkpoint) after a step. */
  shouldStop?: (info: { stageIndex: number; step: number }) => boolean;
  /** Where one-line notes go before training starts. */
  note?: (line: string) => void;
  /** Validation samples drawn as overlays into `<run>/samples/` after a completed run (default 6; 0 = none). */
  samples?: number;
}


/** The metric of each head that validation reports. */
const HEAD_METRIC = { class: 'class_acc', scene: 'scene_acc' } as const;

/** `tdc train`: opens the data, then runs the program's stages through the generic trainer. */
export async function trainProgram<O, T extends string>(program: Program<O, T>, opts: TrainProgramOptions): Promise<RunSummary> {
  const note = opts.note ?? ((l: string) => process.stdout.write(`${l}\n`));
  // Refuse before the data scan, which can take a while; the trainer checks again under the run folder's lock.
  if (!opts.resume) checkRunDir(opts.runDir, { fresh: opts.fresh });
  const opened = await openProgramData(program as Program<unknown, string>, opts.buildDir);
  for (const n of opened.notes) note(n);
  const seed = program.train.seed;
  const train = batchSource({ dataset: opened.dataset, split: 'train', mode: 'train', seed });
  const val = batchSource({ dataset: opened.dataset, split: 'val', mode: 'eval', seed });
  if (train.length === 0) throw new TdcError(`data: the train split of ${opened.data.root} is empty`);
  if (val.length === 0) throw new TdcError(`data: the val split of ${opened.data.root} is empty (set data.splits.val or val_fraction)`);
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
  const untrained = program.untrainedHeads.map((h) => HEAD_METRIC[h] as string);
  if (untrained.length) note(`note: no stage trains the ${untrained.map((m) => m.replace('_acc', '')).join(' or ')} head: its accuracy is not reported`);
  const protocol = protocolFor({ format: opened.data.format, dims: program.dims, classes: opened.task.classes, scenes: opened.task.scenes, regions: program.regions });
  const sceneActivation = program.sceneActivation;
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
          const encoder = [...layerParts(program.network)].filter(([, part]) => part === 'encoder').map(([name]) => name);
          const r = await loadEncoderWeights(net.model, pretrained, { layers: encoder.filter((n) => net.model.getLayer(n).weights.length > 0) });
          if (!pretrainedNoted) note(`loaded pretrained encoder weights from ${shown} (${r.loaded.length} layers)`);
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
    layerGroups: (model) => layerGroups(model, program.network),
    train: train as unknown as BatchSource,
    val: val as unknown as BatchSource,
    evaluate: async (model, source) => {
      const r = await evaluateModel(model, source, program.classes.length, { regions });
      for (const m of untrained) delete r.extra?.[m];
      return r;
    },
    runDir: opts.runDir,
    seed,
    logEvery: program.train.logEvery,
    validateEvery: program.train.validateEvery,
    checkpointEvery: program.train.checkpointEvery,
    bestMetric: program.train.bestMetric,
    lockJson: opts.lockJson,
    resume: opts.resume,
    fresh: opts.fresh,
    bnMomentum: program.train.bnMomentum,
    output: opts.output,
    installSignalHandlers: opts.installSignalHandlers,
    shouldStop: opts.shouldStop,
    metricNames: ['class_acc', 'scene_acc', ...Object.keys(regions ?? {}).flatMap((r) => [`${r}_dice`, `${r}_hd95`])].filter((m) => !untrained.includes(m)),
    // Each stage's final weights, scored by the paper's protocol: the summary's rows.
    scoreStage: (model, stage) => scoreStageByProtocol(model, stage.name, { dataset: opened.dataset, task: opened.task, sceneActivation, protocol, note }),
  });
  if (summary.status === 'completed' && (opts.samples ?? 6) > 0) {
    await writeRunSamples(program as Program<unknown, string>, { runDir: opts.runDir, count: opts.samples ?? 6, opened, source: val as unknown as BatchSource });
  }
  return summary;
}


export interface RunSamplesOptions {
  runDir: string;
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
  await writeSampleOverlays({
    model: net.model,
    source,
    classes: opened.task.classes,
    scenes: opened.task.scenes,
    runDir: o.runDir,
    count: o.count ?? 6,
    sceneActivation: program.sceneActivation,
  });
  net.model.dispose();
}

/**
 * Scores each stage of a run folder that has no protocol scores yet (its final weights, `checkpoints/stages/
 * <name>/`) on the val split by the paper's protocol, as `tdc train` does at each stage's end (the same
 * `scoreStageByProtocol`), and writes the scores into the stage rows of `<run>/summary.json` / `summary.md`, the
 * summary's other fields kept: a run of the generated PyTorch project writes pooled validation figures only.
 * Stages already scored are not scored again; `only` limits it to the stages named. Returns the summary's stages
 * (their order), scored or not.
 */
export async function scoreRunStages(
  program: Program<unknown, string>,
  o: { runDir: string; buildDir: string; note?: (line: string) => void; only?: readonly string[] },
): Promise<StageSummary[]> {
  const summary = readSummary(o.runDir);
  if (!summary) throw new TdcError(`no summary.json in ${o.runDir}: the run has not ended`);
  const todo = summary.stages.filter((s) => !s.scores && (!o.only || o.only.includes(s.name)));
  if (todo.length === 0) return summary.stages;
  const opened = await openProgramData(program, o.buildDir);
  const protocol = protocolFor({ format: opened.data.format, dims: program.dims, classes: opened.task.classes, scenes: opened.task.scenes, regions: program.regions });
  for (const stage of todo) {
    const dir = stageCheckpointDir(o.runDir, stage.name);
    if (!(await hasCheckpoint(dir))) throw new TdcError(`stage '${stage.name}' has no final weights in ${dir}; cannot score it by the protocol`);
    const net = program.buildModel(program.train.seed);
    try {
      loadWeights(net.model, (await loadCheckpoint(dir)).weights, dir);
      stage.scores = await scoreStageByProtocol(net.model, stage.name, { dataset: opened.dataset, task: opened.task, sceneActivation: program.sceneActivation, protocol, note: o.note });
    } finally {
      net.model.dispose();
    }
    // After each stage: an interrupted scoring keeps the stages it finished.
    await writeSummary(o.runDir, summary);
  }
  return summary.stages;
}
