/**
 * The contracts between the generic training loop and the code around it: batches and their sources, the
 * per-stage plan the generated trainer builds from the spec, validation results and the run summary.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Schedule } from './schedule.js';

/** One training or validation batch, channels-last. The consumer of a `BatchSource` disposes the tensors. */
export interface Batch {
  /** Input images [B, H, W, C] (2D) or volumes [B, Z, Y, X, C] (3D). */
  image: tf.Tensor;
  /** Segmentation labels (class ids or one-hot, as the loss functions expect). */
  mask: tf.Tensor;
  /** Multi-hot class presence [B, K]. */
  classes: tf.Tensor;
  /** Scene labels [B, S] (one-hot or multi-hot). */
  scene: tf.Tensor;
  /** Sample ids, for logs and error messages. */
  ids: string[];
}

/** A seeded, resumable stream of batches that cycles over epochs. */
export interface BatchSource {
  /** Number of batches per epoch. */
  readonly length: number;
  /** The next batch; the caller disposes its tensors. */
  next(): Promise<Batch>;
  /**
   * Position + RNG state as seen by the consumer (batches already returned by `next`, not those prefetched),
   * JSON-serializable: a checkpoint stores it and `restore` continues with exactly the next batch.
   */
  state(): unknown;
  restore(state: unknown): void;
}

/** One training stage, as the generated trainer compiles it from the spec. */
export interface StagePlan {
  /** Stage name from the spec (used in logs, checkpoints and messages). */
  name: string;
  /** The stage's row label in the summary, e.g. "Base+Class" (the paper's Tables 1, 3, 6 name the steps so). */
  label: string;
  /** Number of optimizer steps. */
  steps: number;
  /** 'init': freshly initialised weights; 'previous': the previous stage's final weights. */
  from: 'init' | 'previous';
  /** Layer groups (keys of `TrainerArgs.layerGroups`) whose weights stay unchanged during this stage. */
  freeze: string[];
  /** The loss terms the total needs; passed to `computeTerms` as `needed` and logged each step. */
  terms: string[];
  /** The stage's total loss over the term values (weights already folded in by the generator). */
  total: (t: Record<string, tf.Scalar>) => tf.Scalar;
  /** Learning rate as a function of the step index within this stage. */
  schedule: Schedule;
}

/** What the injected `evaluate` returns for one pass over the validation source. */
export interface ValidationResult {
  /** Per-class IoU, index = class id (NaN for a class absent from both prediction and ground truth). */
  iou: number[];
  /** Per-class Dice, same indexing. */
  dice: number[];
  /** Mean IoU over the classes the metric code decides to average (e.g. excluding background). */
  miou: number;
  /** Mean Dice, same classes. */
  mdice: number;
  /** Further metrics by name (class accuracy, scene accuracy, WT/TC/ET Dice, …). */
  extra?: Record<string, number>;
}

/** A stage's final weights scored by the evaluation protocol (runtime/evaluate/protocol.ts fits this shape). */
export interface StageScores {
  /** Metric name → value. */
  metrics: Record<string, number>;
  /** The table's columns in order: key into `metrics`, header, and how to print the value. */
  columns: { key: string; label: string; format: 'percent' | 'distance' | 'ratio' }[];
  /** How the figures were computed, one sentence. */
  note: string;
}

/** The final validation of one stage, one row of the summary table. */
export interface StageSummary {
  name: string;
  label: string;
  /** Steps completed in this stage. */
  steps: number;
  /** The stage-end validation (null when the stage did not finish). */
  validation: ValidationResult | null;
  /** The stage's final weights scored by `TrainerArgs.scoreStage` (the paper's protocol), when given. */
  scores?: StageScores;
}

/** How a run ended. */
export type RunStatus = 'completed' | 'interrupted' | 'stopped' | 'diverged';

export interface RunSummary {
  status: RunStatus;
  /** The process exit code the CLI should use: 0 completed/stopped, 130 interrupted (SIGINT), 1 diverged. */
  exitCode: number;
  /** The one-line message printed for a run that did not complete. */
  message?: string;
  /** Index of the stage that was running when the run ended (stages.length when completed). */
  stageIndex: number;
  /** Steps completed in that stage. */
  step: number;
  /** One entry per stage that finished, in order. */
  stages: StageSummary[];
  /** The best validation so far by `bestMetric` (written to `<run>/best/`). */
  best: { stage: string; step: number; metric: 'miou' | 'mdice'; value: number } | null;
  runDir: string;
}

/** Where progress goes: a stream and whether it is an interactive terminal (bars) or not (plain lines). */
export interface OutputSink {
  stream: NodeJS.WritableStream;
  isTTY: boolean;
}

