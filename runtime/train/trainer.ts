/**
 * The generic multi-stage training loop the generated `trainer.ts` calls: stages in order with their own loss,
 * schedule and frozen groups, NaN/Inf stop, logs and progress, validation with a best checkpoint, atomic
 * resumable checkpoints (same data order, schedule, optimizer and RNG state), SIGINT handling and the summary.
 */
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng.js';
import { variableGradsLowMemory } from './grads.js';
import { hasCheckpoint, loadCheckpoint, recoverCheckpointDir, saveCheckpoint, type CheckpointData, type TensorRecord } from './checkpoint.js';
import { Progress, RunLog, type LogPosition } from './log.js';
import { batchNormDrift, formatDrift, setBatchNormMomentum } from './batch-norm-stats.js';
import { checkRunDir, RunLock, setRunAside, stageCheckpointDir } from './run-dir.js';
import { optimizer as makeOptimizer, type Optimizer, type OptimizerOptions, type Param } from './optimizers.js';
import { formatSummaryTable, writeSummary } from './summary.js';
import {
  type Batch,
  type BatchSource,
  type OutputSink,
  type RunSummary,
  type StagePlan,
  type StageScores,
  type StageSummary,
  type ValidationResult,
} from './types.js';
import { TdcError } from '../errors.js';

/** Where the loop is, handed to `shouldStop`. */
export interface StepInfo {
  stage: string;
  stageIndex: number;
  /** Steps completed in the stage. */
  step: number;
}

export interface TrainerArgs {
  /**
   * Builds a freshly initialised model (outputs: seg logits, class logits, scene logits). Called for the first
   * stage, for every `from: 'init'` stage and on resume. While it runs synchronously, `Math.random` (which tfjs
   * initialisers fall back to without a seed) is drawn from a generator seeded by `seed` and the stage index,
   * so initial weights are reproducible.
   */
  model: (seed: number) => tf.LayersModel | Promise<tf.LayersModel>;
  /**
   * Computes the named loss terms from the model outputs (in model output order) and the batch. Must return at
   * least the `needed` names as scalars; it runs inside the gradient tape, so intermediate tensors are freed.
   */
  computeTerms: (outputs: tf.Tensor[], batch: Batch, needed: string[]) => Record<string, tf.Scalar>;
  /** The stages, run in order. */
  stages: StagePlan[];
  /** Optimizer type and hyper-parameters (`OptimizerSpec` fits); a fresh optimizer is made for every stage. */
  optimizer: OptimizerOptions;
  /**
   * Group name → layers, for `freeze`: either layer names (looked up with `model.getLayer`) or a function of the
   * model returning the layers (needed because every `from: 'init'` stage builds a new model).
   */
  layerGroups: Record<string, string[]> | ((model: tf.LayersModel) => Record<string, tf.layers.Layer[]>);
  /** Training batches; continues across stages; its `state()` is checkpointed. */
  train: BatchSource;
  /** Validation batches; restored to its initial state before every evaluation so each sees the same data. */
  val: BatchSource;
  /** Runs the model over `val` (inference mode) and returns per-class IoU/Dice, mIoU, mDice and extra metrics. */
  evaluate: (model: tf.LayersModel, val: BatchSource) => Promise<ValidationResult>;
  /** The run directory: logs, checkpoints/last, best, summary. */
  runDir: string;
  /** Seed of weight initialisation and of the in-step randomness (dropout). */
  seed: number;
  /** Log (files and plain progress lines) every N steps; a stage's last step is always logged. */
  logEvery: number;
  /** Validate every N steps (0 = only at the end of each stage, which always happens). */
  validateEvery: number;
  /** Write `checkpoints/last` every N steps (0 = only at stage ends, on SIGINT and on `shouldStop`). */
  checkpointEvery: number;
  /** Validation metric that selects `best/` (higher is better). */
  bestMetric: 'miou' | 'mdice';
  /** The resolved spec as JSON, written as `spec.lock.json` beside every checkpoint; resume refuses a different one. */
  lockJson: string;
  /** Progress output (default: process.stdout, bars when it is a TTY). */
  output?: OutputSink;
  /** Continue from `checkpoints/last`. Without it (or `fresh`), a run folder that holds a run is refused. */
  resume?: boolean;
  /** Start a new run even where the folder holds one: the old run is moved into a timestamped sibling folder. */
  fresh?: boolean;
  /**
   * Batch-norm momentum in PyTorch's convention (the weight of the new batch's statistics in the running
   * average), applied to every batch-norm layer of every model the trainer builds; absent: the layers' own.
   */
  bnMomentum?: number;
  /** Catch SIGINT: finish the step, save a checkpoint, print one line, return exit code 130. Default false. */
  installSignalHandlers?: boolean;
  /** Called after every step; true stops the run like SIGINT (checkpoint saved) with status 'stopped'. */
  shouldStop?: (info: StepInfo) => boolean;
  /** Extra validation metrics that get their own column in log.csv (all metrics are always in log.jsonl). */
  metricNames?: string[];
  /**
   * Scores a stage's final weights (called once at each stage's end, with the model in hand, after its
   * validation): the summary's stage rows. The paper's protocol in `trainProgram`.
   */
  scoreStage?: (model: tf.LayersModel, stage: StagePlan) => Promise<StageScores>;
}

/** What a checkpoint's state.json holds. */
interface TrainerState {
  /** The stage to run next, and the steps of it already done (a finished stage is saved as (k + 1, 0)). */
  stageIndex: number;
  step: number;
  /** The run's stage names, so a resume with a different stage list is refused. */
  stageNames: string[];
  data: unknown;
  rng: number;
  log: LogPosition;
  elapsed: number;
  best: RunSummary['best'];
  stages: StageSummary[];
  /** The validation due after `step` did not complete (it failed); a resume runs it first. */
  pendingValidation?: boolean;
}

interface TrainableVar {
  key: string;
  variable: tf.Variable;
}

export class Trainer {
  private readonly args: TrainerArgs;
  private readonly sink: OutputSink;
  private readonly lastDir: string;
  private readonly bestDir: string;
  private log!: RunLog;
  private progress!: Progress;
  private rng!: Rng;
  private elapsedBase = 0;
  private startedAt = 0;
  private best: RunSummary['best'] = null;
  private finished: StageSummary[] = [];
  private valStart: string = 'null';
  private interrupted = false;
  /** Stages whose batch-norm drift warning was already printed. */
  private readonly driftWarned = new Set<string>();

  constructor(args: TrainerArgs) {
    checkArgs(args);
    this.args = args;
    this.sink = args.output ?? { stream: process.stdout, isTTY: Boolean(process.stdout.isTTY) };
    this.lastDir = path.join(args.runDir, 'checkpoints', 'last');
    this.bestDir = path.join(args.runDir, 'best');
  }

  async run(): Promise<RunSummary> {
    const lock = RunLock.acquire(this.args.runDir);
    try {
      return await this.runLocked();
    } finally {
      lock.releaseSync();
    }
  }

  private async runLocked(): Promise<RunSummary> {
    const a = this.args;
    await recoverCheckpointDir(this.lastDir);
    await recoverCheckpointDir(this.bestDir);
    let resumeFrom: CheckpointData | null = null;
    let state: TrainerState | null = null;
    if (a.resume) {
      if (!(await hasCheckpoint(this.lastDir))) {
        throw new TdcError(`nothing to resume: no checkpoint in ${this.lastDir}; run without --resume to start over`);
      }
      resumeFrom = await loadCheckpoint(this.lastDir);
      if (resumeFrom.lockJson !== undefined && resumeFrom.lockJson !== a.lockJson) {
        throw new TdcError(`cannot resume: the checkpoint in ${this.lastDir} was trained from a different spec (spec.lock.json differs); run without --resume to start over`);
      }
      state = resumeFrom.state as TrainerState;
      if (typeof state?.stageIndex !== 'number' || typeof state.step !== 'number') {
        throw new TdcError(`checkpoint ${this.lastDir} is unreadable: state.json has no stage/step`);
      }
      const names = a.stages.map((s) => s.name);
      if (JSON.stringify(state.stageNames) !== JSON.stringify(names)) {
        throw new TdcError(`cannot resume: the checkpoint's stages (${(state.stageNames ?? []).join(', ')}) differ from this run's (${names.join(', ')}); run without --resume to start over`);
      }
    } else if (checkRunDir(a.runDir, { fresh: a.fresh }).kind !== 'empty') {
      // Never replace a run silently: checkRunDir refused unless `fresh` asked for a new one.
      const aside = setRunAside(a.runDir);
      this.sink.stream.write(`the previous run in ${a.runDir} was moved to ${aside}\n`);
    }

    const allTerms: string[] = [];
    for (const s of a.stages) for (const t of s.terms) if (!allTerms.includes(t)) allTerms.push(t);
    this.log = new RunLog({ runDir: a.runDir, terms: allTerms, metrics: a.metricNames ?? [] });
    this.log.open(state?.log);
    this.progress = new Progress({ sink: this.sink, logEvery: a.logEvery });
    this.rng = new Rng(a.seed);
    if (state) {
      a.train.restore(state.data);
      this.rng.setState(state.rng);
      this.elapsedBase = state.elapsed;
      this.best = state.best;
      this.finished = state.stages;
    }
    this.valStart = JSON.stringify(a.val.state() ?? null);
    this.startedAt = performance.now();

    const onSigint = () => {
      // A second Ctrl-C means "now": the checkpoint of the first one may be what is taking time.
      if (this.interrupted) process.exit(130);
      this.interrupted = true;
    };
    if (a.installSignalHandlers) process.on('SIGINT', onSigint);
    let model: tf.LayersModel | null = null;
    try {
      const first = state?.stageIndex ?? 0;
      for (let k = first; k < a.stages.length; k++) {
        const stage = a.stages[k]!;
        const startStep = k === first && state ? state.step : 0;
        const fresh = k === 0 || stage.from === 'init';
        let opt: Optimizer;
        let pending = false;
        if (resumeFrom && k === first) {
          // Mid-stage, or a 'previous' stage continuing from the saved final weights of the stage before. The model
          // is built as the uninterrupted run built it (the seed of the stage that initialised it), so state
          // outside the weights that depends on the seed is the same.
          model?.dispose();
          model = await this.build(this.origin(k));
          pending = state?.pendingValidation === true;
          if (startStep > 0 || !fresh) loadWeights(model, resumeFrom.weights, this.lastDir);
          opt = makeOptimizer(a.optimizer);
          if (startStep > 0 && resumeFrom.optimizer) opt.setState(resumeFrom.optimizer);
          resumeFrom = null;
        } else {
          if (fresh || model === null) {
            model?.dispose();
            model = await this.build(this.origin(k));
          }
          opt = makeOptimizer(a.optimizer);
        }
        const outcome = await this.runStage(model, opt, k, startStep, pending);
        opt.dispose();
        if (outcome !== 'done') return await this.finish(outcome, k);
      }
      return await this.finish({ status: 'completed' }, a.stages.length);
    } finally {
      if (a.installSignalHandlers) process.off('SIGINT', onSigint);
      this.progress.endStage();
      model?.dispose();
    }
  }

  /**
   * Runs stage k from `startStep`; returns 'done' or why the run must end. `pending`: the validation due after
   * `startStep` did not complete before the run ended, so it runs first.
   */
  private async runStage(model: tf.LayersModel, opt: Optimizer, k: number, startStep: number, pending = false): Promise<'done' | EndReason> {
    const a = this.args;
    const stage = a.stages[k]!;
    const { trainable, frozenState } = this.partition(model, stage);
    this.progress.startStage(stage.name, stage.label, k, a.stages.length, stage.steps, startStep);
    try {
      if (pending) {
        const end = await this.afterStep(model, opt, k, startStep);
        if (end) return end;
      }
      for (let s = startStep; s < stage.steps; ) {
        const lr = stage.schedule.lr(s);
        const t0 = performance.now();
        const r = await this.step(model, stage, trainable, opt, lr);
        if ('bad' in r) {
          const dir = (await hasCheckpoint(this.lastDir)) ? `the last good checkpoint is ${this.lastDir}` : 'no checkpoint was written yet';
          return { status: 'diverged', message: `loss term '${r.bad}' became ${r.value} at stage '${stage.name}' step ${s + 1}; training stopped, ${dir}`, step: s };
        }
        // Frozen groups keep their non-trainable state too (batch-norm moving statistics move in training mode).
        for (const f of frozenState) f.variable.write(f.value);
        s++;
        const imagesPerSec = r.images / Math.max((performance.now() - t0) / 1000, 1e-9);
        if (s % a.logEvery === 0 || s === stage.steps) {
          this.log.write({ kind: 'step', stage: stage.name, step: s, terms: r.terms, total: r.total, lr, imagesPerSec, time: new Date().toISOString(), elapsed: this.elapsed() });
        }
        this.progress.step({ step: s, terms: r.terms, total: r.total, lr, imagesPerSec });
        const end = await this.afterStep(model, opt, k, s);
        if (end) return end;
      }
      return 'done';
    } finally {
      for (const f of frozenState) f.value.dispose();
      this.progress.endStage();
    }
  }

  /**
   * What follows step `s` of stage k: the stage's final weights, validation, checkpoints, and the stop check.
   * A failing validation never loses the steps: the checkpoint is written first (marked so that a resume
   * validates again), then the run ends with one line.
   */
  private async afterStep(model: tf.LayersModel, opt: Optimizer, k: number, s: number): Promise<EndReason | null> {
    const a = this.args;
    const stage = a.stages[k]!;
    const atEnd = s === stage.steps;
    let saved = false;
    if (atEnd) {
      await saveCheckpoint(stageCheckpointDir(a.runDir, stage.name), {
        weights: await readWeights(model),
        optimizer: null,
        state: { stage: stage.name, label: stage.label, step: s },
        lockJson: a.lockJson,
      });
    }
    if (atEnd || (a.validateEvery > 0 && s % a.validateEvery === 0)) {
      let v: ValidationResult;
      try {
        v = await this.validate(model, stage, s);
      } catch (e) {
        await this.checkpoint(model, opt, k, s, true);
        if (e instanceof TdcError) {
          throw new TdcError(
            `validation at stage ${stage.name} step ${s} failed: ${e.message}; the ${s} steps are saved in ${this.lastDir}; fix or remove the file, then continue with tdc train --resume`,
          );
        }
        throw e;
      }
      if (atEnd) {
        const scores = a.scoreStage ? await a.scoreStage(model, stage) : undefined;
        this.finished.push({ name: stage.name, label: stage.label, steps: s, validation: v, ...(scores ? { scores } : {}) });
      }
    }
    if (atEnd) {
      await this.checkpoint(model, null, k + 1, 0);
      saved = true;
    } else if (a.checkpointEvery > 0 && s % a.checkpointEvery === 0) {
      await this.checkpoint(model, opt, k, s);
      saved = true;
    }
    // Let pending signals run their handlers: the loop itself only ever yields to microtasks.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const hookStop = a.shouldStop?.({ stage: stage.name, stageIndex: k, step: s }) ?? false;
    const stop = this.interrupted ? 'interrupted' : hookStop ? 'stopped' : null;
    if (!stop) return null;
    if (!saved) await this.checkpoint(model, opt, k, s);
    const message =
      stop === 'interrupted'
        ? `interrupted at stage ${stage.name} step ${s}; checkpoint saved; resume with tdc train --resume`
        : `stopped at stage ${stage.name} step ${s}; checkpoint saved; resume with tdc train --resume`;
    return { status: stop, message, step: s };
  }

  /** One optimizer step; returns the logged values, or the first non-finite term (the weights are left untouched). */
  private async step(
    model: tf.LayersModel,
    stage: StagePlan,
    trainable: TrainableVar[],
    opt: Optimizer,
    lr: number,
  ): Promise<{ terms: Record<string, number>; total: number; images: number } | { bad: string; value: number }> {
    const batch = await this.args.train.next();
    let kept: tf.Scalar[] = [];
    let value: tf.Scalar | null = null;
    let grads: tf.NamedTensorMap = {};
    try {
      const images = batch.image.shape[0] ?? 1;
      const result = withSeededRandom(this.rng, () =>
        variableGradsLowMemory(() => {
          const out = model.apply(batch.image, { training: true }) as tf.Tensor | tf.Tensor[];
          const terms = this.args.computeTerms(Array.isArray(out) ? out : [out], batch, stage.terms);
          for (const name of stage.terms) {
            const t = terms[name];
            if (!t) throw new TdcError(`stage '${stage.name}': the loss term '${name}' was not computed`);
            if (t.size !== 1) throw new TdcError(`stage '${stage.name}': the loss term '${name}' is not a scalar (shape [${t.shape}])`);
          }
          kept = stage.terms.map((name) => tf.keep(terms[name]!));
          return stage.total(terms);
        }, trainable.map((t) => t.variable)),
      );
      value = result.value;
      grads = result.grads;
      // One read-back per step for every logged value.
      const stacked = tf.tidy(() => tf.stack([...kept, value!].map((t) => t.reshape([]))));
      const all = (await stacked.data().finally(() => stacked.dispose())) as Float32Array;
      const names = [...stage.terms, 'total'];
      const badIndex = all.findIndex((x) => !Number.isFinite(x));
      if (badIndex >= 0) return { bad: names[badIndex]!, value: all[badIndex]! };
      const params: Param[] = [];
      for (const t of trainable) {
        const g = grads[t.variable.name];
        if (g) params.push({ key: t.key, variable: t.variable, grad: g });
      }
      opt.applyGradients(params, lr);
      const terms: Record<string, number> = {};
      stage.terms.forEach((name, i) => (terms[name] = all[i]!));
      return { terms, total: all[all.length - 1]!, images };
    } finally {
      for (const t of kept) t.dispose();
      value?.dispose();
      tf.dispose(Object.values(grads));
      tf.dispose([batch.image, batch.mask, batch.classes, batch.scene]);
    }
  }

  /** The stage's trainable variables (frozen groups removed) and copies of the frozen layers' other state. */
  private partition(model: tf.LayersModel, stage: StagePlan): { trainable: TrainableVar[]; frozenState: { variable: tf.LayerVariable; value: tf.Tensor }[] } {
    const groups = this.groups(model);
    const frozen = new Set<tf.LayerVariable>();
    for (const g of stage.freeze) {
      const layers = groups[g];
      if (!layers) {
        throw new TdcError(`stage '${stage.name}' freezes unknown layer group '${g}' (known groups: ${Object.keys(groups).join(', ') || 'none'})`);
      }
      for (const layer of layers) for (const w of layer.weights) frozen.add(w);
    }
    const index = new Map(model.weights.map((w, i) => [w, i] as const));
    const trainable = model.trainableWeights
      .filter((w) => !frozen.has(w))
      .map((w) => ({ key: String(index.get(w)), variable: w.read() as tf.Variable }));
    if (trainable.length === 0) throw new TdcError(`stage '${stage.name}' freezes every trainable weight; nothing to train`);
    const frozenState = [...frozen]
      .filter((w) => !w.trainable)
      .map((w) => ({ variable: w, value: tf.keep(w.read().clone()) }));
    return { trainable, frozenState };
  }

  private groups(model: tf.LayersModel): Record<string, tf.layers.Layer[]> {
    const spec = this.args.layerGroups;
    if (typeof spec === 'function') return spec(model);
    const out: Record<string, tf.layers.Layer[]> = {};
    for (const [group, names] of Object.entries(spec)) {
      out[group] = names.map((n) => {
        try {
          return model.getLayer(n);
        } catch {
          throw new TdcError(`layer group '${group}' names a layer '${n}' the model does not have`);
        }
      });
    }
    return out;
  }

  /** Builds the model of stage k's initialisation (seeded by k), with the run's batch-norm momentum. */
  private async build(k: number): Promise<tf.LayersModel> {
    const init = new Rng(this.args.seed).fork(k + 1);
    const seed = init.nextUint32();
    const model = await withSeededRandom(init, () => this.args.model(seed));
    if (this.args.bnMomentum !== undefined) setBatchNormMomentum(model, this.args.bnMomentum);
    return model;
  }

  /** The stage whose fresh model stage k trains: k itself for `from: 'init'` (and the first), else the nearest such before it. */
  private origin(k: number): number {
    let j = k;
    while (j > 0 && this.args.stages[j]!.from !== 'init') j--;
    return j;
  }

  private async validate(model: tf.LayersModel, stage: StagePlan, step: number): Promise<ValidationResult> {
    const a = this.args;
    await this.checkBatchNorm(model, stage);
    a.val.restore(JSON.parse(this.valStart));
    const v = await a.evaluate(model, a.val);
    this.log.write({ kind: 'val', stage: stage.name, step, ...v, time: new Date().toISOString(), elapsed: this.elapsed() });
    this.progress.validation(step, v);
    const value = v[a.bestMetric];
    if (Number.isFinite(value) && (this.best === null || value > this.best.value)) {
      this.best = { stage: stage.name, step, metric: a.bestMetric, value };
      await saveCheckpoint(this.bestDir, { weights: await readWeights(model), optimizer: null, state: this.best, lockJson: a.lockJson });
    }
    return v;
  }

  /**
   * Warns (once per stage) when a batch-norm layer's running statistics, which inference uses, are far from the
   * statistics of a training batch: validation would then score a different network than the one trained. The
   * batch is peeked (the source is restored), so the data order stays as it was.
   */
  private async checkBatchNorm(model: tf.LayersModel, stage: StagePlan): Promise<void> {
    if (this.driftWarned.has(stage.name)) return;
    const a = this.args;
    const position = a.train.state();
    const batch = await a.train.next();
    a.train.restore(position);
    try {
      const drift = await batchNormDrift(model, batch.image);
      if (drift) {
        this.driftWarned.add(stage.name);
        this.progress.warning(formatDrift(drift));
      }
    } finally {
      tf.dispose([batch.image, batch.mask, batch.classes, batch.scene]);
    }
  }

  private async checkpoint(model: tf.LayersModel, opt: Optimizer | null, stageIndex: number, step: number, pendingValidation = false): Promise<void> {
    const state: TrainerState = {
      stageIndex,
      step,
      stageNames: this.args.stages.map((s) => s.name),
      data: this.args.train.state(),
      rng: this.rng.getState(),
      log: this.log.position(),
      elapsed: this.elapsed(),
      best: this.best,
      stages: this.finished,
      ...(pendingValidation ? { pendingValidation } : {}),
    };
    await saveCheckpoint(this.lastDir, {
      weights: await readWeights(model),
      optimizer: opt ? await opt.getState() : null,
      state,
      lockJson: this.args.lockJson,
    });
  }

  private async finish(end: EndReason | { status: 'completed' }, stageIndex: number): Promise<RunSummary> {
    const a = this.args;
    const exitCode = end.status === 'completed' || end.status === 'stopped' ? 0 : end.status === 'interrupted' ? 130 : 1;
    const summary: RunSummary = {
      status: end.status,
      exitCode,
      stageIndex,
      step: 'step' in end ? end.step : 0,
      stages: this.finished,
      best: this.best,
      runDir: a.runDir,
    };
    if ('message' in end) summary.message = end.message;
    await writeSummary(a.runDir, summary);
    if (end.status === 'completed') {
      this.progress.message(`${formatSummaryTable(this.finished)}\nsummary written to ${path.join(a.runDir, 'summary.md')}`);
    } else {
      this.progress.message(summary.message!);
    }
    return summary;
  }

  private elapsed(): number {
    return this.elapsedBase + (performance.now() - this.startedAt) / 1000;
  }
}

type EndReason = { status: 'interrupted' | 'stopped' | 'diverged'; message: string; step: number };

/** Trains through all stages; see `TrainerArgs`. Rejects only with TdcError (one-line) or an error of injected code. */
export async function train(args: TrainerArgs): Promise<RunSummary> {
  return new Trainer(args).run();
}

/** The model's weights in `model.weights` order, copied out of the backend. */
export async function readWeights(model: tf.LayersModel): Promise<TensorRecord[]> {
  return Promise.all(
    model.weights.map(async (w) => {
      const data = await w.read().data();
      const dtype = w.dtype === 'int32' ? 'int32' : 'float32';
      return {
        name: w.originalName,
        shape: [...w.shape] as number[],
        dtype,
        values: dtype === 'int32' ? Int32Array.from(data as Int32Array) : Float32Array.from(data as Float32Array),
      } satisfies TensorRecord;
    }),
  );
}

/**
 * Writes saved weights into `model`, checking count and shapes: by name when the saved names are exactly the
 * model's (a checkpoint written by the generated PyTorch project lists them in its own order), else by position.
 */
export function loadWeights(model: tf.LayersModel, saved: TensorRecord[], from: string): void {
  const mine = model.weights;
  const mismatch = (why: string) =>
    new TdcError(`the checkpoint in ${from} does not fit this model (${why}); was the spec changed? run without --resume to start over`);
  if (mine.length !== saved.length) throw mismatch(`${saved.length} saved weights, the model has ${mine.length}`);
  const byName = new Map(saved.map((w) => [w.name, w]));
  const named = byName.size === saved.length && mine.every((w) => byName.has(w.originalName));
  const weights = named ? mine.map((w) => byName.get(w.originalName)!) : saved;
  mine.forEach((w, i) => {
    if (w.shape.join() !== weights[i]!.shape.join()) throw mismatch(`weight ${i} '${weights[i]!.name}' has shape [${weights[i]!.shape}], the model's [${w.shape}]`);
  });
  const tensors = weights.map((w) => tf.tensor(w.dtype === 'int32' ? Int32Array.from(w.values) : Float32Array.from(w.values), w.shape, w.dtype));
  model.setWeights(tensors);
  tf.dispose(tensors);
}

/**
 * Runs `fn` with `Math.random` drawn from `rng`. tfjs random ops without an explicit seed (initialisers,
 * dropout) seed themselves from Math.random, so this makes them reproducible and resumable. `fn` is
 * synchronous (or its synchronous part is what gets covered), so no other code sees the replacement.
 */
export function withSeededRandom<T>(rng: Rng, fn: () => T): T {
  const saved = Math.random;
  Math.random = () => rng.next();
  try {
    return fn();
  } finally {
    Math.random = saved;
  }
}

function checkArgs(a: TrainerArgs): void {
  if (a.stages.length === 0) throw new TdcError('no training stages');
  const names = new Set<string>();
  for (const s of a.stages) {
    if (names.has(s.name)) throw new TdcError(`two stages are named '${s.name}'`);
    names.add(s.name);
    if (!Number.isInteger(s.steps) || s.steps < 1) throw new TdcError(`stage '${s.name}': steps must be a positive integer, got ${s.steps}`);
    if (s.terms.length === 0) throw new TdcError(`stage '${s.name}' has no loss terms`);
  }
  for (const [what, v] of [['logEvery', a.logEvery], ['validateEvery', a.validateEvery], ['checkpointEvery', a.checkpointEvery]] as const) {
    if (!Number.isInteger(v) || v < 0 || (what === 'logEvery' && v < 1)) throw new TdcError(`${what} must be a ${what === 'logEvery' ? 'positive' : 'non-negative'} integer, got ${v}`);
  }
}
