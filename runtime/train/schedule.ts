/**
 * Learning-rate schedules. The step index is global within a stage: it starts at 0 at the stage's first step,
 * keeps counting across epochs and across a `--resume`, and restarts at 0 in the next stage (each stage has its
 * own schedule, as in the paper's three-stage training).
 */
import type { ScheduleSpec } from '../../spec/types.js';

/** A learning rate for each step of a stage. */
export interface Schedule {
  /** Learning rate used for the step with 0-based index `step` within the stage. */
  lr(step: number): number;
  getConfig(): ScheduleSpec;
}

export interface ConstantScheduleArgs {
  /** The learning rate of every step. */
  lr: number;
}

export class ConstantSchedule implements Schedule {
  static readonly className = 'ConstantSchedule';
  private readonly rate: number;

  constructor(args: ConstantScheduleArgs) {
    this.rate = checkRate(args.lr, 'lr');
  }

  lr(_step: number): number {
    return this.rate;
  }

  getConfig(): ScheduleSpec {
    return { type: 'constant', lr: this.rate };
  }
}

export interface StepScheduleArgs {
  /** values[i] is used from step i·every on; the last value stays (paper: [1e-4, 5e-5, 2e-5]). */
  values: number[];
  /** Steps between changes (paper: 50). */
  every: number;
}

export class StepSchedule implements Schedule {
  static readonly className = 'StepSchedule';
  private readonly values: number[];
  private readonly every: number;

  constructor(args: StepScheduleArgs) {
    if (args.values.length === 0) throw new RangeError('step schedule: values must not be empty');
    if (!Number.isInteger(args.every) || args.every < 1) {
      throw new RangeError(`step schedule: every must be a positive integer, got ${args.every}`);
    }
    this.values = args.values.map((v, i) => checkRate(v, `values[${i}]`));
    this.every = args.every;
  }

  lr(step: number): number {
    const i = Math.min(Math.floor(Math.max(step, 0) / this.every), this.values.length - 1);
    return this.values[i]!;
  }

  getConfig(): ScheduleSpec {
    return { type: 'step', values: [...this.values], every: this.every };
  }
}

export interface CosineScheduleArgs {
  /** Learning rate at step 0. */
  lr: number;
  /** Learning rate reached at the stage's last step + 1 (the floor of the cosine). */
  minLr: number;
  /** Number of steps of the stage: the cosine spans [0, totalSteps]. */
  totalSteps: number;
}

/** lr(t) = minLr + ½(lr − minLr)(1 + cos(π·t/T)), t clamped to [0, T]. */
export class CosineSchedule implements Schedule {
  static readonly className = 'CosineSchedule';
  private readonly max: number;
  private readonly min: number;
  private readonly total: number;

  constructor(args: CosineScheduleArgs) {
    this.max = checkRate(args.lr, 'lr');
    this.min = checkRate(args.minLr, 'minLr');
    if (!(args.totalSteps > 0)) throw new RangeError(`cosine schedule: totalSteps must be > 0, got ${args.totalSteps}`);
    this.total = args.totalSteps;
  }

  lr(step: number): number {
    const t = Math.min(Math.max(step, 0), this.total);
    return this.min + 0.5 * (this.max - this.min) * (1 + Math.cos((Math.PI * t) / this.total));
  }

  getConfig(): ScheduleSpec {
    return { type: 'cosine', lr: this.max, minLr: this.min };
  }
}

/** The schedule a spec describes, for a stage of `totalSteps` steps (only the cosine needs the length). */
export function schedule(spec: ScheduleSpec, totalSteps: number): Schedule {
  switch (spec.type) {
    case 'constant':
      return new ConstantSchedule({ lr: spec.lr });
    case 'step':
      return new StepSchedule({ values: spec.values, every: spec.every });
    case 'cosine':
      return new CosineSchedule({ lr: spec.lr, minLr: spec.minLr, totalSteps });
  }
}

function checkRate(v: number, what: string): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`schedule: ${what} must be a finite number >= 0, got ${v}`);
  return v;
}
