/**
 * The runtime learns: a small network built from tdc's blocks (conv stack → dilated context ensemble → ASPP →
 * three heads), trained with tdc's losses and optimizer for a few hundred steps on generated 2D data, drives the
 * total loss down and lifts mean IoU well above what predicting the majority class scores; and two runs with the
 * same seed on the cpu backend are identical.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { layerGroups } from '../runtime/layers/index.js';
import { buildNet as buildNetwork, type NetDesc as NetworkArgs } from './helpers/network.js';
import { bceLoss, segLoss, syncLoss } from '../runtime/losses/index.js';
import { confusionMatrix, meanIoU } from '../runtime/metrics/index.js';
import { Adam } from '../runtime/train/optimizers.js';
import { Rng } from '../runtime/rng.js';
import { selectBackend } from '../runtime/backend/index.js';

// Learning runs on wasm (with tdc's training kernels, as `tdc train` does by default): a few hundred steps on the
// plain-JS cpu backend take minutes. Determinism is checked on the cpu backend.
beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

const H = 24;
const W = 32;
const K = 3; // background, bar, disc
const S = 2; // scene: which object the image shows more of

const NET: NetworkArgs = {
  dims: 2,
  size: [H, W],
  channels: 3,
  numClasses: K,
  numScenes: S,
  encoder: { type: 'convstack', filters: [8, 16], convsPerStage: 1, kernel: 3, outputStride: 2, norm: 'none' },
  context: { pairs: [['seg', 'class'], ['seg', 'scene'], ['class', 'scene']], dilations: [4, 2, 1], filters: 16, combine: 'sum' },
  decoder: { type: 'aspp', dilations: [1, 2], filters: 8, imagePooling: true },
  heads: { seg: { upsample: 'bilinear' }, class: { hidden: 8, dropout: 0 }, scene: { hidden: 8, dropout: 0 } },
  kernelInitializer: 'heNormal',
};

/** One generated sample: a noisy background with a bright horizontal bar and/or a dark disc. */
function sample(rng: Rng): { image: Float32Array; mask: Int32Array; classes: number[]; scene: number } {
  const image = new Float32Array(H * W * 3);
  const mask = new Int32Array(H * W);
  const hasBar = rng.next() < 0.7;
  const hasDisc = rng.next() < 0.7;
  const by = 3 + rng.int(H - 8);
  const [cx, cy, r] = [6 + rng.int(W - 12), 6 + rng.int(H - 12), 3 + rng.int(3)];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      let k = 0;
      if (hasBar && y >= by && y < by + 3) k = 1;
      if (hasDisc && (x - cx) ** 2 + (y - cy) ** 2 <= r * r) k = 2;
      mask[i] = k;
      const base = k === 1 ? [0.9, 0.8, 0.2] : k === 2 ? [0.1, 0.2, 0.7] : [0.5, 0.4, 0.4];
      for (let c = 0; c < 3; c++) image[i * 3 + c] = base[c]! + 0.1 * rng.normal();
    }
  }
  let bar = 0;
  let disc = 0;
  for (const k of mask) (k === 1 ? bar++ : k === 2 ? disc++ : 0);
  return { image, mask, classes: [1, bar > 0 ? 1 : 0, disc > 0 ? 1 : 0], scene: bar >= disc ? 0 : 1 };
}

function batch(rng: Rng, n: number) {
  const items = Array.from({ length: n }, () => sample(rng));
  const image = new Float32Array(n * H * W * 3);
  const mask = new Int32Array(n * H * W);
  items.forEach((s, b) => {
    image.set(s.image, b * H * W * 3);
    mask.set(s.mask, b * H * W);
  });
  return {
    image: tf.tensor4d(image, [n, H, W, 3]),
    mask: tf.tensor3d(mask, [n, H, W], 'int32'),
    classes: tf.tensor2d(items.map((s) => s.classes)),
    scene: tf.tensor2d(items.map((s) => [s.scene === 0 ? 1 : 0, s.scene === 1 ? 1 : 0])),
    gt: mask,
  };
}

/**
 * Trains `steps` steps (seg + 0.5·class + 0.2·scene + 0.1·sync) and returns the loss curve and the final model.
 * Yields to the event loop after each step: a long synchronous loop starves vitest's worker RPC ("Timeout calling
 * onTaskUpdate") on a busy machine.
 */
async function run(seed: number, steps: number) {
  const { model, ir } = buildNetwork({ ...NET, seed });
  const groups = layerGroups(model, ir);
  expect(Object.values(groups).every((g) => g.length > 0)).toBe(true);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const opt = new Adam({});
  const rng = new Rng(seed);
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const b = batch(rng, 4);
    const { value, grads } = tf.variableGrads(() => {
      const [seg, cls, scene] = model.apply(b.image, { training: true }) as tf.Tensor[];
      return tf.addN([
        segLoss(seg!, b.mask, { ce: 1, iou: 1 }),
        tf.mul(0.5, bceLoss(cls!, b.classes)),
        tf.mul(0.2, bceLoss(scene!, b.scene)),
        tf.mul(0.1, syncLoss(seg!, cls!, { presence: 'hard', direction: 'seg->class' })),
      ]) as tf.Scalar;
    }, vars);
    losses.push(value.dataSync()[0]!);
    opt.applyGradients(
      vars.map((v) => ({ key: v.name, variable: v, grad: grads[v.name]! })),
      3e-3,
    );
    tf.dispose([value, ...Object.values(grads), b.image, b.mask, b.classes, b.scene]);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { model, losses, opt };
}

function evaluate(model: tf.LayersModel, seed: number): { miou: number; majority: number } {
  const b = batch(new Rng(seed), 16);
  const pred = tf.tidy(() => tf.argMax((model.predict(b.image) as tf.Tensor[])[0]!, -1).dataSync());
  const cm = confusionMatrix(pred as Int32Array, b.gt, K);
  const majority = confusionMatrix(new Int32Array(b.gt.length), b.gt, K);
  tf.dispose([b.image, b.mask, b.classes, b.scene]);
  return { miou: meanIoU(cm, K), majority: meanIoU(majority, K) };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('a small tdc network learns generated 2D data', () => {
  it('the loss falls and mean IoU rises far above the majority-class baseline', { timeout: 300_000 }, async () => {
    const { model, losses, opt } = await run(7, 250);
    const first = mean(losses.slice(0, 20));
    const last = mean(losses.slice(-20));
    expect(last).toBeLessThan(0.5 * first);
    const { miou, majority } = evaluate(model, 99);
    // Predicting background everywhere scores IoU 0 on both objects: mIoU ≈ 0.3 here.
    expect(majority).toBeLessThan(0.35);
    expect(miou).toBeGreaterThan(0.6);
    model.dispose();
    opt.dispose();
  });

  it('the same seed gives the same losses and weights (cpu backend)', { timeout: 120_000 }, async () => {
    await tf.setBackend('cpu');
    const a = await run(3, 4);
    const b = await run(3, 4);
    expect(b.losses).toEqual(a.losses);
    const wa = a.model.getWeights().map((w) => Array.from(w.dataSync()));
    const wb = b.model.getWeights().map((w) => Array.from(w.dataSync()));
    expect(wb).toEqual(wa);
    const c = await run(4, 4);
    expect(c.losses).not.toEqual(a.losses);
    for (const r of [a, b, c]) {
      r.model.dispose();
      r.opt.dispose();
    }
  });
});
