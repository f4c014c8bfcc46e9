// The quickstart network's outputs and loss terms for fixed weights and a fixed batch, and for the spec's seed,
// recorded once (UPDATE_REFERENCE=1) before the runtime was rebuilt on the model IR. Any later change to how
// the network is wired or initialised shows up here as a difference beyond float32 rounding.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SpecHost } from '../compiler/frontend.js';
import { compile } from '../compiler/pipeline.js';
import { buildNetwork } from '../runtime/layers/index.js';
import { bceLoss, segLoss, syncLoss } from '../runtime/losses/index.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/quickstart-network.json', import.meta.url));
const SPEC = fileURLToPath(new URL('../examples/quickstart.yaml', import.meta.url));

interface Record_ {
  params: number;
  fixed: Outcome;
  seeded: Outcome;
}
interface Outcome {
  losses: { seg: number; class: number; scene: number; sync: number };
  /** Every 37th value of each output (seg, class, scene), in row-major order. */
  samples: number[][];
  sums: number[];
}

function quickstartModel(): tf.LayersModel {
  const text = readFileSync(SPEC, 'utf8');
  const host: SpecHost = { readFile: (p) => (p === 'spec.yaml' ? text : undefined), resolve: (_f, rel) => rel };
  const r = compile('spec.yaml', host, []);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return buildNetwork(r.ir!, { seed: r.spec!.train.seed, name: r.spec!.name }).model;
}

/** Weights from a formula of the weight's name and index (independent of creation order and of any RNG). */
function setFixedWeights(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    const ws = layer.weights;
    if (!ws.length) continue;
    layer.setWeights(
      ws.map((w, k) => {
        const shape = w.shape as number[];
        const n = shape.reduce((a, b) => a * b, 1);
        const fanIn = shape.length > 1 ? shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
        let h = 0;
        for (const ch of `${layer.name}/${k}`) h = (h * 31 + ch.charCodeAt(0)) % 997;
        const vals = new Float32Array(n);
        for (let i = 0; i < n; i++) vals[i] = (Math.sin(0.7 * i + h) * 1.5) / Math.sqrt(fanIn);
        return tf.tensor(vals, shape);
      }),
    );
  }
}

function fixedBatch() {
  const [b, h, w] = [2, 64, 80];
  const img = new Float32Array(b * h * w * 3).map((_, i) => 0.5 + 0.5 * Math.sin(0.013 * i) * Math.cos(0.0071 * i));
  const mask = new Int32Array(b * h * w).map((_, i) => Math.floor(((i % w) / w) * 3 + ((Math.floor(i / w) % h) / h) * 2) % 5);
  const classes = tf.tensor2d([[1, 1, 1, 1, 0], [1, 0, 1, 1, 1]]);
  const scene = tf.tensor2d([[0, 1, 0], [1, 0, 0]]);
  return { image: tf.tensor4d(img, [b, h, w, 3]), mask: tf.tensor3d(mask, [b, h, w], 'int32'), classes, scene };
}

function outcome(model: tf.LayersModel): Outcome {
  const batch = fixedBatch();
  const out = model.apply(batch.image, { training: false }) as tf.Tensor[];
  const losses = {
    // Recorded with the batch-pooled soft IoU (the only one then); per-image IoU is checked in losses-terms.
    seg: segLoss(out[0]!, batch.mask, { ce: 1, iou: 1, iouReduction: 'batch' }).dataSync()[0]!,
    class: bceLoss(out[1]!, batch.classes).dataSync()[0]!,
    scene: bceLoss(out[2]!, batch.scene).dataSync()[0]!,
    sync: syncLoss(out[0]!, out[1]!, { presence: 'hard', direction: 'seg->class' }).dataSync()[0]!,
  };
  const samples = out.map((t) => Array.from(t.dataSync()).filter((_, i) => i % 37 === 0));
  const sums = out.map((t) => tf.sum(t).dataSync()[0]!);
  return { losses, samples, sums };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('quickstart network reference', () => {
  it('reproduces the recorded outputs and losses (fixed weights; the spec seed)', () => {
    const model = quickstartModel();
    const seeded = outcome(model);
    setFixedWeights(model);
    const fixed = outcome(model);
    const now: Record_ = { params: model.countParams(), fixed, seeded };
    model.dispose();
    if (process.env.UPDATE_REFERENCE || !existsSync(FIXTURE)) {
      writeFileSync(FIXTURE, `${JSON.stringify(now)}\n`);
      return;
    }
    const want = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record_;
    expect(now.params).toBe(want.params);
    for (const key of ['fixed', 'seeded'] as const) {
      for (const [term, v] of Object.entries(want[key].losses)) {
        expect(Math.abs(now[key].losses[term as keyof Outcome['losses']] - v), `${key} ${term}`).toBeLessThan(1e-6);
      }
      // float32 rounding scales with the value: an equally exact summation order (the atrous conv's per-tap products
      // at rate 7, since the reference was recorded) moves logits of 1–2 by 1.2e-6, 5–10 ulp.
      want[key].samples.forEach((s, o) =>
        s.forEach((v, i) => expect(Math.abs(now[key].samples[o]![i]! - v), `${key} output ${o}[${i * 37}]`).toBeLessThan(2e-6 * Math.max(1, Math.abs(v)))),
      );
    }
  });
});
