// Optimizers against a plain-JS float64 re-computation of torch.optim's update rules on a quadratic, state
// round trips, and the learning-rate schedules against hand-computed values.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeAvailable, registerNativeBackend } from '../runtime/backend/index.js';
import { nativeKernelStats, resetNativeKernelStats, SGD_UPDATE } from '../runtime/native/index.js';
import { Adam, Sgd, optimizer, type Optimizer } from '../runtime/train/optimizers.js';
import type { ScheduleSpec } from '../spec/types.js';
import { ConstantSchedule, CosineSchedule, StepSchedule, schedule } from '../runtime/train/schedule.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// f(w) = ½ Σ a_i (w_i − c_i)²  ⇒  ∇f = a ⊙ (w − c)
const A = [1.5, 0.2, 3.0, 0.7, 2.2, 0.05];
const C = [0.3, -1.2, 0.8, 2.0, -0.4, 5.0];
const W0 = [1.0, 0.5, -0.7, 0.1, 0.9, -2.0];
const LRS = [0.1, 0.1, 0.05, 0.05, 0.02, 0.2, 0.1, 0.01, 0.03, 0.08];

function grad64(w: number[]): number[] {
  return w.map((x, i) => A[i]! * (x - C[i]!));
}

/** torch.optim.SGD, float64. */
function sgd64(momentum: number, wd: number, nesterov: boolean): number[] {
  const w = [...W0];
  let buf: number[] | null = null;
  for (const lr of LRS) {
    const g = grad64(w).map((gi, i) => gi + wd * w[i]!);
    let d = g;
    if (momentum > 0) {
      buf = buf === null ? [...g] : buf.map((b, i) => momentum * b + g[i]!);
      d = nesterov ? g.map((gi, i) => gi + momentum * buf![i]!) : buf;
    }
    for (let i = 0; i < w.length; i++) w[i] = w[i]! - lr * d[i]!;
  }
  return w;
}

/** torch.optim.Adam (l2) / torch.optim.AdamW (decoupled), float64. */
function adam64(b1: number, b2: number, eps: number, wd: number, mode: 'l2' | 'decoupled'): number[] {
  const w = [...W0];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  LRS.forEach((lr, k) => {
    const t = k + 1;
    let g = grad64(w);
    if (mode === 'l2') g = g.map((gi, i) => gi + wd * w[i]!);
    else for (let i = 0; i < w.length; i++) w[i] = w[i]! * (1 - lr * wd);
    for (let i = 0; i < w.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      const mhat = m[i]! / (1 - b1 ** t);
      const vhat = v[i]! / (1 - b2 ** t);
      w[i] = w[i]! - (lr * mhat) / (Math.sqrt(vhat) + eps);
    }
  });
  return w;
}

/** Runs `opt` with tf gradients of the same quadratic; the variable is split in two to exercise several keys. */
function runTf(opt: Optimizer, lrs: number[], start: number[] = W0, vars?: tf.Variable[]): tf.Variable[] {
  const a = tf.tensor1d(A);
  const c = tf.tensor1d(C);
  const [w1, w2] = vars ?? [tf.variable(tf.tensor1d(start.slice(0, 4))), tf.variable(tf.tensor2d([start.slice(4)]))];
  for (const lr of lrs) {
    const { value, grads } = tf.variableGrads(() => {
      const w = tf.concat([w1!, w2!.reshape([2])]);
      return tf.sum(tf.mul(a, tf.square(tf.sub(w, c)))).mul(0.5) as tf.Scalar;
    }, [w1!, w2!]);
    opt.applyGradients(
      [
        { key: 'w1', variable: w1!, grad: grads[w1!.name]! },
        { key: 'w2', variable: w2!, grad: grads[w2!.name]! },
      ],
      lr,
    );
    value.dispose();
    tf.dispose(Object.values(grads));
  }
  a.dispose();
  c.dispose();
  return [w1!, w2!];
}

function flat(vars: tf.Variable[]): number[] {
  return vars.flatMap((v) => Array.from(v.dataSync()));
}

function expectClose(actual: number[], expected: number[], rel = 2e-5): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((x, i) => expect(Math.abs(x - expected[i]!)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(expected[i]!))));
}

describe('optimizers vs float64 reference', () => {
  const cases: [string, () => Optimizer, () => number[]][] = [
    ['plain SGD', () => new Sgd(), () => sgd64(0, 0, false)],
    ['SGD momentum 0.9', () => new Sgd({ momentum: 0.9 }), () => sgd64(0.9, 0, false)],
    ['SGD momentum + weight decay', () => new Sgd({ momentum: 0.9, weightDecay: 0.05 }), () => sgd64(0.9, 0.05, false)],
    ['SGD Nesterov + weight decay', () => new Sgd({ momentum: 0.8, nesterov: true, weightDecay: 0.01 }), () => sgd64(0.8, 0.01, true)],
    ['Adam', () => new Adam(), () => adam64(0.9, 0.999, 1e-8, 0, 'l2')],
    ['Adam + L2 weight decay', () => new Adam({ beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1 }), () => adam64(0.8, 0.99, 1e-6, 0.1, 'l2')],
    ['AdamW', () => new Adam({ weightDecay: 0.1, weightDecayMode: 'decoupled' }), () => adam64(0.9, 0.999, 1e-8, 0.1, 'decoupled')],
  ];
  for (const [name, make, ref] of cases) {
    it(`${name} matches over ${LRS.length} steps`, () => {
      const opt = make();
      const vars = runTf(opt, LRS);
      const expected = ref();
      // The weights must actually have moved, or the comparison would prove nothing.
      expect(Math.max(...expected.map((x, i) => Math.abs(x - W0[i]!)))).toBeGreaterThan(0.05);
      expectClose(flat(vars), expected);
      opt.dispose();
      tf.dispose(vars);
    });
  }

  it('weight decay differs between L2 and decoupled Adam (they are not the same rule)', () => {
    const l2 = adam64(0.9, 0.999, 1e-8, 0.1, 'l2');
    const dec = adam64(0.9, 0.999, 1e-8, 0.1, 'decoupled');
    expect(Math.max(...l2.map((x, i) => Math.abs(x - dec[i]!)))).toBeGreaterThan(1e-3);
  });
});

// On the native backend Sgd runs one in-place addon pass per variable (runtime/native/optimizer.ts); its tf ops are
// the reference: the same float32 values bit for bit, and the float64 recomputation above within float32 error.
describe.skipIf(!nativeAvailable())('SGD in place on the native backend', () => {
  beforeAll(() => {
    registerNativeBackend();
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });
  /** Variables that own their storage (the initial tensors disposed), as a model's weights are. */
  const owned = () => [tf.tidy(() => tf.variable(tf.tensor1d(W0.slice(0, 4)))), tf.tidy(() => tf.variable(tf.tensor2d([W0.slice(4)])))];
  const sgdCases: [string, () => Optimizer, () => number[]][] = [
    ['plain', () => new Sgd(), () => sgd64(0, 0, false)],
    ['weight decay', () => new Sgd({ weightDecay: 0.05 }), () => sgd64(0, 0.05, false)],
    ['momentum + weight decay', () => new Sgd({ momentum: 0.9, weightDecay: 0.05 }), () => sgd64(0.9, 0.05, false)],
    ['Nesterov', () => new Sgd({ momentum: 0.8, nesterov: true }), () => sgd64(0.8, 0, true)],
    ['Nesterov + weight decay', () => new Sgd({ momentum: 0.8, nesterov: true, weightDecay: 0.01 }), () => sgd64(0.8, 0.01, true)],
  ];
  for (const [name, make, ref] of sgdCases) {
    it(`${name}: the in-place step ran, equals the tf ops on cpu bit for bit and the float64 rule`, async () => {
      await tf.setBackend('cpu');
      const opsOpt = make();
      const ops = runTf(opsOpt, LRS, W0, owned());
      const expected = flat(ops);
      await tf.setBackend('native');
      resetNativeKernelStats();
      const opt = make();
      const vars = runTf(opt, LRS, W0, owned());
      expect(nativeKernelStats()[SGD_UPDATE]).toEqual({ native: 2 * LRS.length, fallback: 0, lastError: '' });
      expect(flat(vars)).toEqual(expected);
      expectClose(flat(vars), ref());
      // The momentum buffers too (what a checkpoint saves).
      expect((await opt.getState()).slots).toEqual((await opsOpt.getState()).slots);
      tf.dispose([...ops, ...vars]);
      opt.dispose();
      opsOpt.dispose();
    });
  }

  it('a variable sharing its storage takes the tf ops (the sharer is left untouched), then owns a new one', async () => {
    await tf.setBackend('native');
    resetNativeKernelStats();
    const opt = new Sgd({ momentum: 0.9, weightDecay: 0.05 });
    const init = [tf.tensor1d(W0.slice(0, 4)), tf.tensor2d([W0.slice(4)])];
    const vars = runTf(opt, LRS, W0, init.map((t) => tf.variable(t))); // tf.variable(t) shares t's storage
    // First step: the ops (assign gives each variable a new array); every later one in place.
    expect(nativeKernelStats()[SGD_UPDATE]).toMatchObject({ native: 2 * LRS.length - 2, fallback: 2 });
    expect(flat(init as tf.Variable[])).toEqual(Array.from(Float32Array.from(W0)));
    expectClose(flat(vars), sgd64(0.9, 0.05, false));
    tf.dispose([...init, ...vars]);
    opt.dispose();
  });

  it('an array read out with dataSync is left alone (that step takes the tf ops), later steps run in place again', async () => {
    await tf.setBackend('native');
    const opt = new Sgd({ momentum: 0.9 });
    const vars = owned();
    runTf(opt, LRS.slice(0, 2), W0, vars);
    const held = vars[0]!.dataSync(); // the backend's own array, as a checkpoint writer may hold it
    const copy = Array.from(held);
    resetNativeKernelStats();
    runTf(opt, LRS.slice(2, 4), W0, vars);
    expect(Array.from(held)).toEqual(copy);
    // Step 3: w1 by the ops (read out), w2 in place; step 4: both in place (w1 has a new array).
    expect(nativeKernelStats()[SGD_UPDATE]).toMatchObject({ native: 3, fallback: 1 });
    tf.dispose(vars);
    opt.dispose();
  });
});

describe('optimizer state', () => {
  for (const [name, make] of [
    ['SGD', () => new Sgd({ momentum: 0.9, weightDecay: 0.01 })],
    ['Adam', () => new Adam({ weightDecay: 0.01 })],
  ] as const) {
    it(`${name}: save after 4 steps, restore into a new optimizer, continue = uninterrupted (bitwise)`, async () => {
      const straight = make();
      const ref = flat(runTf(straight, LRS));
      const first = make();
      const vars = runTf(first, LRS.slice(0, 4));
      const state = JSON.parse(JSON.stringify(await first.getState(), (_k, v) => (v instanceof Float32Array ? Array.from(v) : v)));
      for (const s of state.slots) s.values = Float32Array.from(s.values);
      first.dispose();
      const second = make();
      second.setState(state);
      const resumed = flat(runTf(second, LRS.slice(4), W0, vars));
      expect(resumed).toEqual(ref);
      straight.dispose();
      second.dispose();
    });
  }

  it('refuses state saved by a differently configured optimizer', async () => {
    const a = new Sgd({ momentum: 0.9 });
    const b = new Sgd({ momentum: 0.5 });
    expect(() => b.setState({ config: a.getConfig(), steps: {}, slots: [] })).toThrow(/saved state/);
  });

  it('no tensor leak per step and slots are created once', () => {
    const opt = new Adam();
    const vars = runTf(opt, [0.1]);
    const before = tf.memory().numTensors;
    runTf(opt, [0.1, 0.1, 0.1], W0, vars);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    tf.dispose(vars);
  });

  it('getConfig round-trips through optimizer()', () => {
    for (const o of [new Sgd({ momentum: 0.5, nesterov: true, weightDecay: 0.1 }), new Adam({ beta1: 0.7, weightDecay: 0.2, weightDecayMode: 'decoupled' })]) {
      expect(optimizer(o.getConfig()).getConfig()).toEqual(o.getConfig());
    }
  });

  it('optimizer() accepts the spec shape', () => {
    expect(optimizer({ type: 'sgd', momentum: 0.9, weightDecay: 5e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }).getConfig()).toEqual({
      type: 'sgd',
      momentum: 0.9,
      nesterov: false,
      weightDecay: 5e-4,
    });
    expect(optimizer({ type: 'adam', momentum: 0, weightDecay: 0, beta1: 0.5, beta2: 0.9, epsilon: 1e-7 }).getConfig()).toEqual({
      type: 'adam',
      beta1: 0.5,
      beta2: 0.9,
      epsilon: 1e-7,
      weightDecay: 0,
      weightDecayMode: 'l2',
    });
  });
});

describe('schedules', () => {
  it('constant', () => {
    const s = new ConstantSchedule({ lr: 3e-4 });
    expect([0, 1, 1000].map((t) => s.lr(t))).toEqual([3e-4, 3e-4, 3e-4]);
  });

  it("step: the paper's 1e-4, 5e-5, 2e-5 every 50 steps, last value stays", () => {
    const s = new StepSchedule({ values: [1e-4, 5e-5, 2e-5], every: 50 });
    expect([0, 49, 50, 99, 100, 149, 150, 10_000].map((t) => s.lr(t))).toEqual([1e-4, 1e-4, 5e-5, 5e-5, 2e-5, 2e-5, 2e-5, 2e-5]);
  });

  it('cosine: starts at lr, halfway at the midpoint, ends at minLr', () => {
    const s = new CosineSchedule({ lr: 1e-3, minLr: 1e-5, totalSteps: 100 });
    expect(s.lr(0)).toBeCloseTo(1e-3, 15);
    expect(s.lr(50)).toBeCloseTo((1e-3 + 1e-5) / 2, 15);
    expect(s.lr(100)).toBeCloseTo(1e-5, 15);
    // cos(π/4) = √2/2: lr(25) = min + (max − min)(1 + √2/2)/2
    expect(s.lr(25)).toBeCloseTo(1e-5 + (1e-3 - 1e-5) * (1 + Math.SQRT1_2) / 2, 15);
    expect(s.lr(500)).toBeCloseTo(1e-5, 15);
  });

  it('schedule() from the spec form, and its config round-trips', () => {
    const specs: ScheduleSpec[] = [
      { type: 'constant', lr: 0.01 },
      { type: 'step', values: [1e-4, 5e-5, 2e-5], every: 50 },
      { type: 'cosine', lr: 0.1, minLr: 0 },
    ];
    for (const spec of specs) {
      expect(schedule(spec, 10).getConfig()).toEqual(spec);
    }
  });

  it('rejects nonsense', () => {
    expect(() => new StepSchedule({ values: [], every: 5 })).toThrow(/empty/);
    expect(() => new StepSchedule({ values: [0.1], every: 0 })).toThrow(/every/);
    expect(() => new ConstantSchedule({ lr: Number.NaN })).toThrow(/lr/);
  });
});
