/**
 * SGD (momentum, Nesterov, L2 weight decay) and Adam (L2 or decoupled AdamW weight decay) written on tf
 * variables with the update rules of PyTorch's torch.optim, because tfjs's own optimizers have no weight decay
 * and their slot state is awkward to save: here every buffer and step count is plain, named state, so a
 * checkpoint restores an optimizer exactly and `--resume` continues bit-for-bit on the cpu backend.
 */
import * as tf from '@tensorflow/tfjs';
import { sgdUpdateInPlace } from '../native/index.js';

/** One trainable variable and its gradient for this step. `key` identifies the variable across save/restore. */
export interface Param {
  key: string;
  variable: tf.Variable;
  grad: tf.Tensor;
}

export interface SgdConfig {
  type: 'sgd';
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

export interface AdamConfig {
  type: 'adam';
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  weightDecayMode: 'l2' | 'decoupled';
}

export type OptimizerConfig = SgdConfig | AdamConfig;

/** The saved form of one buffer. */
export interface SlotState {
  key: string;
  slot: string;
  shape: number[];
  values: Float32Array;
}

/** Everything an optimizer needs to continue exactly where it stopped. */
export interface OptimizerState {
  config: OptimizerConfig;
  /** Updates applied so far, per parameter key (Adam's bias correction uses it, as PyTorch's state['step']). */
  steps: Record<string, number>;
  slots: SlotState[];
}

/** Shared bookkeeping: named slot variables per parameter and per-parameter step counts. */
export abstract class Optimizer {
  protected readonly slots = new Map<string, Map<string, tf.Variable>>();
  protected readonly steps = new Map<string, number>();

  abstract getConfig(): OptimizerConfig;

  /** Applies one update to every param with learning rate `lr`. Disposes nothing it did not create. */
  applyGradients(params: Param[], lr: number): void {
    if (!Number.isFinite(lr)) throw new RangeError(`optimizer: learning rate must be finite, got ${lr}`);
    for (const p of params) {
      if (p.grad.shape.join() !== p.variable.shape.join()) {
        throw new Error(`optimizer: gradient of '${p.key}' has shape [${p.grad.shape}], variable [${p.variable.shape}]`);
      }
    }
    const ts = params.map((p) => {
      const t = (this.steps.get(p.key) ?? 0) + 1;
      this.steps.set(p.key, t);
      return t;
    });
    const done = this.updateInPlace(params, lr);
    params.forEach((p, i) => {
      if (!done[i]) tf.tidy(() => this.update(p, lr, ts[i]!));
    });
  }

  /** One param's update in tf ops (the reference of updateInPlace). */
  protected abstract update(p: Param, lr: number, t: number): void;

  /**
   * Updates what it can of `params` in place, all in one go (the native backend's fused kernels, bit for bit
   * `update`'s result); returns which it did. None here.
   */
  protected updateInPlace(params: Param[], _lr: number): boolean[] {
    return params.map(() => false);
  }

  /** The slot `name` of parameter `key`, created as zeros of `shape` on first use. */
  protected slot(key: string, name: string, shape: number[]): tf.Variable {
    let byName = this.slots.get(key);
    if (!byName) this.slots.set(key, (byName = new Map()));
    let v = byName.get(name);
    if (!v) {
      v = tf.tidy(() => tf.variable(tf.zeros(shape), false));
      byName.set(name, v);
    }
    return v;
  }

  async getState(): Promise<OptimizerState> {
    const slots: SlotState[] = [];
    for (const key of [...this.slots.keys()].sort()) {
      const byName = this.slots.get(key)!;
      for (const name of [...byName.keys()].sort()) {
        const v = byName.get(name)!;
        // Copy: the cpu backend hands out its backing store, which must not leak into a checkpoint buffer.
        slots.push({ key, slot: name, shape: [...v.shape], values: Float32Array.from((await v.data()) as Float32Array) });
      }
    }
    const steps: Record<string, number> = {};
    for (const key of [...this.steps.keys()].sort()) steps[key] = this.steps.get(key)!;
    return { config: this.getConfig(), steps, slots };
  }

  /** Replaces all state by a saved one; the saved config must describe the same optimizer. */
  setState(state: OptimizerState): void {
    const mine = JSON.stringify(this.getConfig());
    const theirs = JSON.stringify(state.config);
    if (mine !== theirs) throw new Error(`optimizer: saved state is for ${theirs}, this optimizer is ${mine}`);
    this.disposeSlots();
    for (const [key, t] of Object.entries(state.steps)) this.steps.set(key, t);
    for (const s of state.slots) {
      const v = tf.tidy(() => tf.variable(tf.tensor(Float32Array.from(s.values), s.shape, 'float32'), false));
      let byName = this.slots.get(s.key);
      if (!byName) this.slots.set(s.key, (byName = new Map()));
      byName.set(s.slot, v);
    }
  }

  dispose(): void {
    this.disposeSlots();
  }

  private disposeSlots(): void {
    for (const byName of this.slots.values()) for (const v of byName.values()) v.dispose();
    this.slots.clear();
    this.steps.clear();
  }
}

export interface SgdArgs {
  /** Momentum factor (0 = plain SGD). PyTorch form: buf = momentum·buf + g; the first buf is g. */
  momentum?: number;
  /** Nesterov momentum: the step uses g + momentum·buf instead of buf. */
  nesterov?: boolean;
  /** L2 weight decay added to the gradient (g += weightDecay·w), as PyTorch SGD's weight_decay; not in the loss. */
  weightDecay?: number;
}

/** w ← w − lr·buf with buf = momentum·buf + (∇ + wd·w), exactly torch.optim.SGD with dampening 0. */
export class Sgd extends Optimizer {
  static readonly className = 'Sgd';
  private readonly config: SgdConfig;

  constructor(args: SgdArgs = {}) {
    super();
    this.config = {
      type: 'sgd',
      momentum: nonNegative(args.momentum ?? 0, 'momentum'),
      nesterov: args.nesterov ?? false,
      weightDecay: nonNegative(args.weightDecay ?? 0, 'weightDecay'),
    };
  }

  getConfig(): SgdConfig {
    return { ...this.config };
  }

  protected override updateInPlace(params: Param[], lr: number): boolean[] {
    const { momentum, nesterov, weightDecay } = this.config;
    const items = params.map((p) => ({ w: p.variable, g: p.grad, buf: momentum > 0 ? this.slot(p.key, 'momentum', p.variable.shape) : null }));
    return sgdUpdateInPlace(items, { lr, momentum, nesterov, weightDecay });
  }

  protected update(p: Param, lr: number): void {
    const { momentum, nesterov, weightDecay } = this.config;
    const w = p.variable;
    let g: tf.Tensor = weightDecay > 0 ? p.grad.add(w.mul(weightDecay)) : p.grad;
    if (momentum > 0) {
      const buf = this.slot(p.key, 'momentum', w.shape);
      // buf starts at zero, so momentum·0 + g reproduces PyTorch's "first buf = g".
      const next = buf.mul(momentum).add(g);
      buf.assign(next);
      g = nesterov ? g.add(next.mul(momentum)) : next;
    }
    w.assign(w.sub(g.mul(lr)));
  }
}

export interface AdamArgs {
  /** Decay of the first-moment average (default 0.9). */
  beta1?: number;
  /** Decay of the second-moment average (default 0.999). */
  beta2?: number;
  /** Added to the bias-corrected √v in the denominator (default 1e-8, PyTorch placement). */
  epsilon?: number;
  /** Weight decay factor (default 0). */
  weightDecay?: number;
  /**
   * 'l2' (default): added to the gradient before the moments, as torch.optim.Adam's weight_decay — it is then
   * rescaled by the adaptive denominator. 'decoupled': AdamW, w ← w·(1 − lr·wd) before the Adam step, as
   * torch.optim.AdamW.
   */
  weightDecayMode?: 'l2' | 'decoupled';
}

/** Adam with PyTorch's update: w ← w − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε). */
export class Adam extends Optimizer {
  static readonly className = 'Adam';
  private readonly config: AdamConfig;

  constructor(args: AdamArgs = {}) {
    super();
    this.config = {
      type: 'adam',
      beta1: unitInterval(args.beta1 ?? 0.9, 'beta1'),
      beta2: unitInterval(args.beta2 ?? 0.999, 'beta2'),
      epsilon: nonNegative(args.epsilon ?? 1e-8, 'epsilon'),
      weightDecay: nonNegative(args.weightDecay ?? 0, 'weightDecay'),
      weightDecayMode: args.weightDecayMode ?? 'l2',
    };
  }

  getConfig(): AdamConfig {
    return { ...this.config };
  }

  protected update(p: Param, lr: number, t: number): void {
    const { beta1, beta2, epsilon, weightDecay, weightDecayMode } = this.config;
    const w = p.variable;
    let g: tf.Tensor = p.grad;
    let base: tf.Tensor = w;
    if (weightDecay > 0 && weightDecayMode === 'l2') g = g.add(w.mul(weightDecay));
    if (weightDecay > 0 && weightDecayMode === 'decoupled') base = w.mul(1 - lr * weightDecay);
    const m = this.slot(p.key, 'm', w.shape);
    const v = this.slot(p.key, 'v', w.shape);
    m.assign(m.mul(beta1).add(g.mul(1 - beta1)));
    v.assign(v.mul(beta2).add(g.square().mul(1 - beta2)));
    const bc1 = 1 - Math.pow(beta1, t);
    const bc2 = 1 - Math.pow(beta2, t);
    const denom = v.sqrt().div(Math.sqrt(bc2)).add(epsilon);
    w.assign(base.sub(m.div(denom).mul(lr / bc1)));
  }
}

/** The optimizer part of a spec; `OptimizerSpec` from spec/types.ts fits, extra fields are ignored. */
export interface OptimizerOptions {
  type: 'sgd' | 'adam';
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecayMode?: 'l2' | 'decoupled';
}

/** A fresh optimizer for the given options (the trainer makes one per stage). */
export function optimizer(options: OptimizerOptions): Optimizer {
  if (options.type === 'sgd') {
    return new Sgd({ momentum: options.momentum, nesterov: options.nesterov, weightDecay: options.weightDecay });
  }
  return new Adam({
    beta1: options.beta1,
    beta2: options.beta2,
    epsilon: options.epsilon,
    weightDecay: options.weightDecay,
    weightDecayMode: options.weightDecayMode,
  });
}

function nonNegative(v: number, what: string): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`optimizer: ${what} must be a finite number >= 0, got ${v}`);
  return v;
}

function unitInterval(v: number, what: string): number {
  if (!(v >= 0 && v < 1)) throw new RangeError(`optimizer: ${what} must be in [0, 1), got ${v}`);
  return v;
}
