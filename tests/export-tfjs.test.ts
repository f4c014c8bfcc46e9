/**
 * `tdc export --format tfjs`: the written model.json + weights.bin load in a separate Node process that imports
 * only @tensorflow/tfjs (no tdc class registered) and reproduce the tdc network's outputs to 1e-5; 3D networks,
 * refusals of layers with no standard equivalent, a float64 check of the resize convention, and the real CLI path.
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atrousConv, buildNetwork, upsampleTo } from '../runtime/layers/index.js';
import { buildNet, type NetDesc as NetworkArgs } from './helpers/network.js';
import { exportTfjs, layerClassesOf, STANDARD_LAYER_CLASSES, toStandardModel } from '../runtime/export/index.js';
import { readWeights, saveCheckpoint } from '../runtime/train/index.js';
import { compile } from '../compiler/pipeline.js';
import { createNodeHost } from '../compiler/cli/host.js';
import { runCli } from '../compiler/cli/main.js';
import { TdcError } from '../runtime/errors.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
let work: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  work = mkdtempSync(join(tmpdir(), 'tdc-export-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PAIRS: [string, string][] = [['seg', 'class'], ['seg', 'scene'], ['class', 'scene']];

/** A small 2D network exercising every translated layer: dilated convs, batch norm, image pooling, bilinear seg upsampling. */
const NET2D: NetworkArgs = {
  dims: 2,
  size: [16, 24],
  channels: 3,
  numClasses: 4,
  numScenes: 2,
  encoder: { type: 'convstack', filters: [4, 8], convsPerStage: 1, kernel: 3, outputStride: 4, norm: 'batch' },
  context: { pairs: PAIRS, dilations: [3, 1], combine: 'concat' },
  decoder: { type: 'aspp', dilations: [1, 2], filters: 8, imagePooling: true },
  heads: { seg: { upsample: 'bilinear' }, class: { hidden: 8, dropout: 0.3 }, scene: { hidden: 8, dropout: 0 } },
  seed: 3,
};

const NET3D: NetworkArgs = {
  dims: 3,
  size: [16, 16, 3],
  channels: 2,
  numClasses: 4,
  numScenes: 2,
  encoder: { type: 'aniso3d', filters: 4, blocks: 1, downsample: 1, dilations: [1, 2], norm: 'batch' },
  context: { pairs: PAIRS.slice(0, 2), dilations: [2, 1], combine: 'sum' },
  decoder: { type: 'aspp', dilations: [1, 2], filters: 8, imagePooling: true },
  heads: { seg: { upsample: 'trilinear' }, class: { hidden: 8, dropout: 0 }, scene: { hidden: 8, dropout: 0 } },
  seed: 5,
};

/**
 * Replaces every weight with seeded values as a trained model would have them (kernels of He-like scale so that
 * activations stay of order one through the depth, non-zero biases and batch-norm statistics), so that the outputs
 * are far from zero and a wrong mapping of any weight shows.
 */
function scrambleWeights(model: tf.LayersModel, seed: number): void {
  model.weights.forEach((w, i) => {
    const shape = w.shape as number[];
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const [lo, hi] =
      shape.length > 1
        ? [-Math.sqrt(6 / fanIn), Math.sqrt(6 / fanIn)]
        : w.name.endsWith('moving_variance') || w.name.endsWith('gamma')
          ? [0.5, 2]
          : [-0.3, 0.3];
    w.write(tf.randomUniform(shape, lo, hi, 'float32', seed + i));
  });
}

/** Reads an exported folder back with stock tfjs in this process (custom classes are registered here, but unused). */
async function loadInProcess(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const bin = readFileSync(join(dir, 'weights.bin'));
  const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0]!.weights,
      weightData: buffer,
      userDefinedMetadata: json.userDefinedMetadata,
    }),
  );
}

/** Largest absolute difference between two output lists, and the largest magnitude in the reference. */
function compare(a: tf.Tensor[], b: tf.Tensor[]): { diff: number; scale: number } {
  expect(b.map((t) => t.shape)).toEqual(a.map((t) => t.shape));
  let diff = 0;
  let scale = 0;
  a.forEach((t, i) => {
    const x = t.dataSync();
    const y = b[i]!.dataSync();
    for (let k = 0; k < x.length; k++) {
      diff = Math.max(diff, Math.abs(x[k]! - y[k]!));
      scale = Math.max(scale, Math.abs(x[k]!));
    }
  });
  return { diff, scale };
}

/**
 * The loader a user without tdc writes: a child Node process importing only @tensorflow/tfjs, a custom IOHandler
 * reading model.json and weights.bin, then predict on the given input; prints the outputs as JSON.
 */
const PLAIN_LOADER = `
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
const [dir, inputFile, shapeJson] = process.argv.slice(1);
await tf.setBackend('cpu');
const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
const handler = { load: () => tf.io.getModelArtifactsForJSON(json, async (manifest) => {
  const bin = readFileSync(join(dir, manifest[0].paths[0]));
  return [manifest[0].weights, bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength)];
}) };
const model = await tf.loadLayersModel(handler);
const raw = readFileSync(inputFile);
const x = tf.tensor(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), JSON.parse(shapeJson));
const outs = model.predict(x);
process.stdout.write(JSON.stringify({ classes: model.layers.map((l) => l.getClassName()), outputs: outs.map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) })) }));
`;

describe('export to the standard tfjs Layers format', () => {
  it('2D: plain tfjs in a separate process (no tdc code) reproduces all three outputs to 1e-5 (relative to the largest)', async () => {
    const { model } = buildNet(NET2D);
    scrambleWeights(model, 11);
    const dir = join(work, 'net2d');
    const result = await exportTfjs(model, { outDir: dir, metadata: { tdc: { outputs: ['seg', 'class', 'scene'] } } });
    expect(result.files.map((f) => f.slice(dir.length + 1))).toEqual(['model.json', 'weights.bin']);
    expect(result.classes).toEqual(expect.arrayContaining(['Conv2D', 'BatchNormalization', 'UpSampling2D', 'GlobalAveragePooling2D']));
    expect(result.classes.every((c) => STANDARD_LAYER_CLASSES.has(c))).toBe(true);
    const json = readFileSync(join(dir, 'model.json'), 'utf8');
    for (const custom of ['AtrousConv', 'BatchNorm"', 'UpsampleTo', 'GlobalAvgPool']) expect(json).not.toContain(custom);

    const shape = [2, 16, 24, 3];
    const x = tf.randomUniform(shape, -1, 1, 'float32', 21);
    const inputFile = join(work, 'x2d.bin');
    writeFileSync(inputFile, Buffer.from((x.dataSync() as Float32Array).buffer));
    const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', PLAIN_LOADER, dir, inputFile, JSON.stringify(shape)], {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 << 20,
    });
    const plain = JSON.parse(stdout) as { classes: string[]; outputs: { shape: number[]; values: number[] }[] };
    expect(plain.classes.every((c) => STANDARD_LAYER_CLASSES.has(c))).toBe(true);
    const expected = model.predict(x) as tf.Tensor[];
    const got = plain.outputs.map((o) => tf.tensor(o.values, o.shape));
    const { diff, scale } = compare(expected, got);
    expect(scale).toBeGreaterThan(0.1);
    expect(diff).toBeLessThan(1e-5 * Math.max(1, scale));
    tf.dispose([x, ...expected, ...got]);
    model.dispose();
  });

  it('2D: the metadata and the weight names of model.json follow the tfjs format', async () => {
    const json = JSON.parse(readFileSync(join(work, 'net2d', 'model.json'), 'utf8')) as tf.io.ModelJSON;
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0]!.paths).toEqual(['./weights.bin']);
    expect(json.userDefinedMetadata).toEqual({ tdc: { outputs: ['seg', 'class', 'scene'] } });
    const names = json.weightsManifest[0]!.weights.map((w) => w.name);
    expect(names).toEqual(expect.arrayContaining(['context_seg_class_0/kernel', 'aspp_rate2/kernel', 'enc_stage1_bn1/moving_variance']));
    const bytes = json.weightsManifest[0]!.weights.reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
    expect(readFileSync(join(work, 'net2d', 'weights.bin')).byteLength).toBe(bytes);
  });

  it('3D: aniso3d with batch norm exports to Conv3D, TimeDistributed and AveragePooling3D and matches to 1e-5 (relative)', async () => {
    const { model } = buildNet(NET3D);
    scrambleWeights(model, 31);
    const dir = join(work, 'net3d');
    const result = await exportTfjs(model, { outDir: dir });
    expect(result.classes).toEqual(expect.arrayContaining(['Conv3D', 'TimeDistributed', 'AveragePooling3D', 'RepeatVector']));
    expect(layerClassesOf(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON).every((c) => STANDARD_LAYER_CLASSES.has(c))).toBe(true);
    const loaded = await loadInProcess(dir);
    const x = tf.randomUniform([2, 3, 16, 16, 2], -1, 1, 'float32', 41);
    const a = model.predict(x) as tf.Tensor[];
    const b = loaded.predict(x) as tf.Tensor[];
    const { diff, scale } = compare(a, b);
    expect(scale).toBeGreaterThan(0.1);
    expect(diff).toBeLessThan(1e-5 * Math.max(1, scale));
    tf.dispose([x, ...a, ...b]);
    model.dispose();
    loaded.dispose();
  });

  it('the exported bilinear up-sampling equals a float64 resize with src = dst·in/out (no half-pixel centres)', () => {
    const input = tf.input({ batchShape: [1, 3, 4, 2] });
    const output = upsampleTo({ name: 'up', size: [12, 8], mode: 'bilinear' }).apply(input) as tf.SymbolicTensor;
    const standard = toStandardModel(tf.model({ inputs: input, outputs: output }));
    expect(standard.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'UpSampling2D']);
    const values = Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.7) * 3);
    const y = (standard.predict(tf.tensor(values, [1, 3, 4, 2])) as tf.Tensor).dataSync();
    const [H, W, h, w, C] = [3, 4, 12, 8, 2];
    let worst = 0;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const sy = (i * H) / h;
        const sx = (j * W) / w;
        const y0 = Math.floor(sy);
        const x0 = Math.floor(sx);
        const y1 = Math.min(y0 + 1, H - 1);
        const x1 = Math.min(x0 + 1, W - 1);
        const fy = sy - y0;
        const fx = sx - x0;
        for (let c = 0; c < C; c++) {
          const at = (yy: number, xx: number) => values[(yy * W + xx) * C + c]!;
          const top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx;
          const bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx;
          worst = Math.max(worst, Math.abs(top * (1 - fy) + bottom * fy - y[(i * w + j) * C + c]!));
        }
      }
    }
    expect(worst).toBeLessThan(1e-5);
    standard.dispose();
  });

  it('a dilation far past the map (a warned 1e8) exports capped at the map size, in no time, with the same outputs', () => {
    const input = tf.input({ batchShape: [1, 5, 7, 2] });
    const layer = atrousConv({ name: 'wide', filters: 3, kernelSize: [3, 3], dilation: [1e8, 4], seed: 2, useBias: true });
    const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
    scrambleWeights(model, 4);
    const standard = toStandardModel(model);
    const conv = standard.layers.find((l) => l.name === 'wide')!;
    expect((conv.getConfig() as { dilationRate: number[] }).dilationRate).toEqual([5, 4]);
    const x = tf.randomUniform([1, 5, 7, 2], -1, 1, 'float32', 9);
    // The reference: off-centre rows read only padding, so only the kernel's middle row contributes.
    const [w, b] = layer.getWeights();
    const middle = tf.slice(w!, [1, 0, 0, 0], [1, 3, 2, 3]);
    const ref = tf.add(tf.conv2d(x as tf.Tensor4D, middle as tf.Tensor4D, 1, 'same', 'NHWC', [1, 4]), b!);
    const y = standard.predict(x) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(y, ref))).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(tf.sub(model.predict(x) as tf.Tensor, ref))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, middle, ref, y]);
    standard.dispose();
    model.dispose();
  });

  it('refuses, with one line, resizes that no standard layer expresses', () => {
    const refuse = (shape: number[], size: number[], alignCorners = false) => {
      const input = tf.input({ batchShape: [1, ...shape] });
      const out = upsampleTo({ name: 'up', size, mode: 'bilinear', alignCorners }).apply(input) as tf.SymbolicTensor;
      const model = tf.model({ inputs: input, outputs: out });
      try {
        toStandardModel(model);
        return 'exported';
      } catch (e) {
        expect(e).toBeInstanceOf(TdcError);
        return (e as Error).message;
      }
    };
    expect(refuse([4, 4, 2], [10, 8])).toMatch(/^layer 'up' resizes \[4,4\] to \[10,8\], not by an integer factor/);
    expect(refuse([2, 4, 4, 2], [4, 8, 8])).toMatch(/^layer 'up' resizes along z .* no 3D up-sampling layer/);
    expect(refuse([4, 4, 2], [8, 8], true)).toMatch(/align-corners/);
    for (const m of [refuse([4, 4, 2], [10, 8]), refuse([2, 4, 4, 2], [4, 8, 8])]) expect(m).not.toContain('\n');
  });
});

describe('tdc export (CLI)', () => {
  async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCli(argv, { out: (s) => (out += s), err: (s) => (err += s), color: false });
    return { code, out, err };
  }

  /** A run folder as `tdc train` leaves it: best/ with the weights and the spec lock of the quickstart example. */
  async function fakeRun(): Promise<{ runDir: string; model: tf.LayersModel }> {
    const r = compile(join(repoRoot, 'examples/quickstart.yaml'), createNodeHost());
    expect(r.spec).toBeDefined();
    const { model } = buildNetwork(r.ir!, { seed: r.spec!.train.seed, name: r.spec!.name });
    scrambleWeights(model, 77);
    const runDir = join(work, 'build', 'run');
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(work, 'build', 'spec.lock.json'), '{}');
    await saveCheckpoint(join(runDir, 'best'), {
      weights: await readWeights(model),
      optimizer: null,
      state: { stage: 0, step: 1 },
      lockJson: JSON.stringify({ hash: 'x', resolved: r.spec }),
    });
    return { runDir, model };
  }

  it('exports the best checkpoint of a build folder, verifies it, and the files reproduce the checkpoint', async () => {
    const { runDir, model } = await fakeRun();
    const out = join(work, 'cli-out');
    const r = await run('export', join(work, 'build'), '-o', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^verified: plain tf.loadLayersModel reproduces the outputs/m);
    expect(r.out).toMatch(/exported best checkpoint of quickstart \(\d+ weights/);
    const loaded = await loadInProcess(out);
    const meta = loaded.getUserDefinedMetadata() as { tdc: { classes: string[]; outputs: string[] } };
    expect(meta.tdc.outputs).toEqual(['seg', 'class', 'scene']);
    expect(meta.tdc.classes[0]).toBe('background');
    const x = tf.randomUniform([1, 64, 80, 3], 0, 1, 'float32', 5);
    const { diff, scale } = compare(model.predict(x) as tf.Tensor[], loaded.predict(x) as tf.Tensor[]);
    expect(scale).toBeGreaterThan(0.1);
    expect(diff).toBeLessThan(1e-5 * Math.max(1, scale));
    expect(existsSync(join(runDir, 'export'))).toBe(false);
    model.dispose();
    loaded.dispose();
  });

  it('one-line errors: no checkpoint, a missing last checkpoint, an unknown format', async () => {
    const empty = join(work, 'empty-run');
    mkdirSync(empty, { recursive: true });
    let r = await run('export', empty);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tdc: no checkpoint in .*empty-run \(neither best\/ nor checkpoints\/last\/\); run tdc train first\n$/);
    r = await run('export', join(work, 'build', 'run'), '--checkpoint', 'last');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tdc: no last checkpoint in .*; try --checkpoint best\n$/);
    r = await run('export', join(work, 'build'), '--format', 'onnx');
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toMatch(/onnx/);
  });
});
