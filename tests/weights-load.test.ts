/**
 * loadEncoderWeights: Keras 2 .h5 files in both layouts (save_weights / keras.applications *notop* at the root,
 * model.save under /model_weights), written here with h5wasm; a tfjs model.json + shard written with a save
 * handler; and every user-facing error.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../spec/types.js';
import { buildNet } from './helpers/network.js';
import { loadEncoderWeights } from '../runtime/weights/index.js';
import { TdcError } from '../runtime/errors.js';

let dir: string;
let h5: typeof import('h5wasm/node');

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tdc-weights-'));
  h5 = await import('h5wasm/node');
  await h5.ready;
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A tiny VGG16 (2 stages at width 1/8: 8 and 16 channels) named like keras.applications.VGG16. */
function tinyVgg(norm: 'none' | 'batch' = 'none', seed = 0): tf.LayersModel {
  return encoderOnly({ type: 'vgg16', stages: 2, width: 0.125, outputStride: 2, norm }, seed);
}

/** The encoder part of a small tdc network (input → the IR's encoder output), sharing the network's layers. */
function encoderOnly(encoder: ModelSpec['encoder'], seed: number): tf.LayersModel {
  const net = buildNet({
    dims: 2,
    size: [8, 8],
    channels: 3,
    numClasses: 2,
    numScenes: 2,
    encoder,
    context: { pairs: [['seg', 'class']], dilations: [1], combine: 'sum' },
    decoder: { type: 'aspp', dilations: [1], filters: 2, imagePooling: false },
    heads: { seg: { upsample: 'bilinear' }, class: { hidden: 2, dropout: 0 }, scene: { hidden: 2, dropout: 0 } },
    seed,
    batchSize: 1,
  });
  return tf.model({ inputs: net.model.inputs, outputs: net.symbolic(net.ir.encoderOutput) });
}

/** Distinct, recognisable values for each weight: layer index · 1000 + position. */
function fakeWeights(model: tf.LayersModel): Map<string, { shape: number[]; values: Float32Array }[]> {
  const out = new Map<string, { shape: number[]; values: Float32Array }[]>();
  model.layers.forEach((layer, li) => {
    if (layer.weights.length === 0 || !layer.name.includes('conv')) return;
    out.set(
      layer.name,
      layer.weights.map((w, wi) => {
        const shape = w.shape as number[];
        const n = shape.reduce((a, b) => a * b, 1);
        return { shape, values: Float32Array.from({ length: n }, (_, i) => li * 1000 + wi * 100 + i * 1e-3) };
      }),
    );
  });
  return out;
}

/**
 * Writes a Keras 2 HDF5 weights file: attribute layer_names on the root (or /model_weights), one group per layer
 * with attribute weight_names and datasets at <layer>/<layer>/<weight>:0.
 */
function writeKerasH5(
  file: string,
  layers: Map<string, { shape: number[]; values: Float32Array }[]>,
  opts: { wholeModel?: boolean; extraLayers?: string[]; weightNames?: string[] } = {},
): void {
  const f = new h5.File(file, 'w');
  const root = opts.wholeModel ? f.create_group('model_weights') : f;
  if (opts.wholeModel) f.create_attribute('keras_version', '2.13.1');
  const names = [...layers.keys(), ...(opts.extraLayers ?? [])];
  root.create_attribute('layer_names', names);
  root.create_attribute('backend', 'tensorflow');
  for (const [name, weights] of layers) {
    const g = root.create_group(name);
    const short = opts.weightNames ?? ['kernel', 'bias'];
    g.create_attribute('weight_names', weights.map((_, i) => `${name}/${short[i]}:0`));
    const inner = g.create_group(name);
    weights.forEach((w, i) => inner.create_dataset({ name: `${short[i]}:0`, data: w.values, shape: w.shape, dtype: '<f' }));
  }
  for (const name of opts.extraLayers ?? []) {
    const g = root.create_group(name);
    const inner = g.create_group(name);
    inner.create_dataset({ name: 'kernel:0', data: new Float32Array(4), shape: [2, 2], dtype: '<f' });
    g.create_attribute('weight_names', [`${name}/kernel:0`]);
  }
  f.close();
}

function expectLoaded(model: tf.LayersModel, expected: Map<string, { shape: number[]; values: Float32Array }[]>, prefix = ''): void {
  for (const [name, weights] of expected) {
    const got = model.getLayer(prefix + name).getWeights();
    expect(got.length).toBe(weights.length);
    got.forEach((t, i) => {
      expect(t.shape).toEqual(weights[i]!.shape);
      expect(Array.from(t.dataSync())).toEqual(Array.from(weights[i]!.values));
    });
  }
}

async function loadError(p: Promise<unknown>): Promise<TdcError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TdcError);
  expect((e as Error).message).not.toContain('\n');
  return e as TdcError;
}

describe('Keras .h5', () => {
  it('loads the notop layout (layers at the root), ignoring layers the model does not use', async () => {
    const model = tinyVgg();
    const weights = fakeWeights(model);
    const file = path.join(dir, 'notop.h5');
    writeKerasH5(file, weights, { extraLayers: ['block3_conv1'] });
    const result = await loadEncoderWeights(model, file);
    expect(result.loaded).toEqual(['block1_conv1', 'block1_conv2', 'block2_conv1', 'block2_conv2']);
    expect(result.skipped).toEqual([]);
    expectLoaded(model, weights);
    model.dispose();
  });

  it('loads a whole-model file (weights under /model_weights)', async () => {
    const model = tinyVgg();
    const weights = fakeWeights(model);
    const file = path.join(dir, 'model.h5');
    writeKerasH5(file, weights, { wholeModel: true, extraLayers: ['predictions'] });
    const result = await loadEncoderWeights(model, file);
    expect(result.loaded).toHaveLength(4);
    expectLoaded(model, weights);
    model.dispose();
  });

  it('loads the Keras 1 weight names of the original keras.applications files (block1_conv1_W_1:0) by order', async () => {
    const model = tinyVgg();
    const weights = fakeWeights(model);
    const file = path.join(dir, 'keras1.h5');
    const f = new h5.File(file, 'w');
    f.create_attribute('layer_names', [...weights.keys()]);
    for (const [name, ws] of weights) {
      const g = f.create_group(name);
      const names = [`${name}_W_1:0`, `${name}_b_1:0`];
      g.create_attribute('weight_names', names);
      ws.forEach((w, i) => g.create_dataset({ name: names[i]!, data: w.values, shape: w.shape, dtype: '<f' }));
    }
    f.close();
    expect((await loadEncoderWeights(model, file)).loaded).toHaveLength(4);
    expectLoaded(model, weights);
    model.dispose();
  });

  it('leaves batch-norm layers absent from an ImageNet file at their initial values and reports them', async () => {
    const model = tinyVgg('batch');
    const weights = fakeWeights(model);
    const file = path.join(dir, 'notop-bn.h5');
    writeKerasH5(file, weights);
    const result = await loadEncoderWeights(model, file);
    expect(result.loaded).toEqual(['block1_conv1', 'block1_conv2', 'block2_conv1', 'block2_conv2']);
    expect(result.skipped).toEqual(['block1_bn1', 'block1_bn2', 'block2_bn1', 'block2_bn2']);
    expectLoaded(model, weights);
    expect(Array.from(model.getLayer('block1_bn1').getWeights()[0]!.dataSync())).toEqual(Array(8).fill(1));
    model.dispose();
  });

  it('loads batch-norm weights by their Keras names when the file has them', async () => {
    const model = tinyVgg('batch');
    const bn = model.getLayer('block2_bn1');
    const c = 16;
    const layers = new Map([[
      'block2_bn1',
      [0, 1, 2, 3].map((k) => ({ shape: [c], values: Float32Array.from({ length: c }, (_, i) => k + i / 100) })),
    ]]);
    const file = path.join(dir, 'bn.h5');
    writeKerasH5(file, layers, { weightNames: ['gamma', 'beta', 'moving_mean', 'moving_variance'] });
    const result = await loadEncoderWeights(model, file, { layers: ['block2_bn1'] });
    expect(result.loaded).toEqual(['block2_bn1']);
    bn.getWeights().forEach((t, k) => expect(Array.from(t.dataSync())).toEqual(Array.from(layers.get('block2_bn1')![k]!.values)));
    model.dispose();
  });
});

describe('tfjs model.json', () => {
  it('loads a model.json + shard saved by tfjs, with a prefix mapping file names to model names', async () => {
    // Source: file layer names stage1_conv1 …; target: the tdc convstack encoder's enc_stage1_conv1 ….
    const xs = tf.input({ batchShape: [1, 8, 8, 3] });
    const ys = tf.layers.conv2d({ name: 'stage1_conv1', filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.randomUniform({ seed: 3 }), biasInitializer: tf.initializers.randomUniform({ seed: 4 }) }).apply(xs) as tf.SymbolicTensor;
    const ys2 = tf.layers.conv2d({ name: 'stage2_conv1', filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.randomUniform({ seed: 5 }), biasInitializer: tf.initializers.randomUniform({ seed: 6 }) }).apply(ys) as tf.SymbolicTensor;
    const source = tf.model({ inputs: xs, outputs: ys2 });
    const jsonPath = path.join(dir, 'tfjs', 'model.json');
    fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
    await source.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const data = artifacts.weightData as ArrayBuffer;
        fs.writeFileSync(path.join(path.dirname(jsonPath), 'group1-shard1of1.bin'), Buffer.from(data));
        fs.writeFileSync(jsonPath, JSON.stringify({
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs }],
        }));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const target = encoderOnly({ type: 'convstack', filters: [4, 6], convsPerStage: 1, kernel: 3, outputStride: 1, norm: 'none' }, 9);
    const result = await loadEncoderWeights(target, jsonPath, { prefix: 'enc_' });
    expect(result.loaded).toEqual(['enc_stage1_conv1', 'enc_stage2_conv1']);
    for (const name of ['stage1_conv1', 'stage2_conv1']) {
      const a = source.getLayer(name).getWeights();
      const b = target.getLayer(`enc_${name}`).getWeights();
      a.forEach((t, i) => expect(Array.from(b[i]!.dataSync())).toEqual(Array.from(t.dataSync())));
    }
    // a missing shard is named
    fs.renameSync(path.join(path.dirname(jsonPath), 'group1-shard1of1.bin'), path.join(dir, 'moved.bin'));
    const e = await loadError(loadEncoderWeights(target, jsonPath, { prefix: 'enc_' }));
    expect(e.message).toMatch(/weight shard not found: .*group1-shard1of1\.bin/);
    source.dispose();
    target.dispose();
  });
});

describe('errors (one line each, model untouched)', () => {
  it('a missing file', async () => {
    const model = tinyVgg();
    const e = await loadError(loadEncoderWeights(model, path.join(dir, 'nope', 'vgg16_notop.h5')));
    expect(e.message).toBe(`weights file not found: ${path.join(dir, 'nope', 'vgg16_notop.h5')}`);
    model.dispose();
  });

  it('a file that is not HDF5, and a JSON without a manifest', async () => {
    const model = tinyVgg();
    const bad = path.join(dir, 'text.h5');
    fs.writeFileSync(bad, 'this is not an hdf5 file\n');
    expect((await loadError(loadEncoderWeights(model, bad))).message).toBe(`cannot read ${bad} as an HDF5 (.h5) file`);
    const json = path.join(dir, 'empty.json');
    fs.writeFileSync(json, '{"modelTopology": {}}');
    expect((await loadError(loadEncoderWeights(model, json))).message).toMatch(/not a tfjs model.json/);
    model.dispose();
  });

  it('a layer the file lacks: names it and lists what the file has; nothing is loaded', async () => {
    const model = tinyVgg();
    const before = model.getLayer('block1_conv1').getWeights()[0]!.dataSync().slice();
    const weights = fakeWeights(model);
    weights.delete('block2_conv2');
    const file = path.join(dir, 'partial.h5');
    writeKerasH5(file, weights);
    const e = await loadError(loadEncoderWeights(model, file));
    expect(e.message).toBe(
      "partial.h5 has no layer 'block2_conv2' (for model layer 'block2_conv2'); it has: block1_conv1, block1_conv2, block2_conv1",
    );
    expect(Array.from(model.getLayer('block1_conv1').getWeights()[0]!.dataSync())).toEqual(Array.from(before));
    model.dispose();
  });

  it('a shape mismatch: both shapes', async () => {
    const model = tinyVgg();
    const weights = fakeWeights(model);
    weights.set('block1_conv2', [
      { shape: [3, 3, 8, 4], values: new Float32Array(3 * 3 * 8 * 4) },
      { shape: [4], values: new Float32Array(4) },
    ]);
    const file = path.join(dir, 'narrow.h5');
    writeKerasH5(file, weights);
    const e = await loadError(loadEncoderWeights(model, file));
    expect(e.message).toBe('shape mismatch for block1_conv2/kernel: the model has [3, 3, 8, 8], narrow.h5 has [3, 3, 8, 4]');
    model.dispose();
  });

  it('a prefix that matches no model layer', async () => {
    const model = tinyVgg();
    const file = path.join(dir, 'notop.h5');
    const e = await loadError(loadEncoderWeights(model, file, { prefix: 'enc_' }));
    expect(e.message).toMatch(/the model has no layers named 'enc_…' with weights/);
    model.dispose();
  });
});

describe('ResNet encoders: Keras-layout names', () => {
  it('conv and batch-norm weights of a Keras ResNet50 file load by name (stem and the first block)', async () => {
    const net = buildNet({
      dims: 2,
      size: [32, 32],
      channels: 3,
      numClasses: 2,
      numScenes: 2,
      encoder: { type: 'resnet50', width: 1, outputStride: 32, bias: true, norm: 'batch' },
      context: { pairs: [], dilations: [], combine: 'sum' },
      decoder: { type: 'aspp', dilations: [1], filters: 2, imagePooling: false },
      heads: { seg: { upsample: 'bilinear' }, class: { hidden: 2, dropout: 0 }, scene: { hidden: 2, dropout: 0 } },
      seed: 4,
      batchSize: 1,
    });
    // keras.applications.ResNet50's own names for these layers and their weights.
    const names = ['conv1_conv', 'conv1_bn', 'conv2_block1_0_conv', 'conv2_block1_0_bn', 'conv2_block1_1_conv', 'conv2_block1_1_bn', 'conv2_block1_2_conv', 'conv2_block1_3_bn'];
    const file = path.join(dir, 'resnet50_part.h5');
    const f = new h5.File(file, 'w');
    f.create_attribute('layer_names', names);
    f.create_attribute('backend', 'tensorflow');
    const written = new Map<string, Float32Array[]>();
    names.forEach((name, li) => {
      const layer = net.model.getLayer(name);
      const shorts = name.endsWith('_bn') ? ['gamma', 'beta', 'moving_mean', 'moving_variance'] : ['kernel', 'bias'];
      expect(layer.weights.length, name).toBe(shorts.length);
      const g = f.create_group(name);
      g.create_attribute('weight_names', shorts.map((s) => `${name}/${s}:0`));
      const inner = g.create_group(name);
      const vals = layer.weights.map((w, wi) => {
        const shape = w.shape as number[];
        const v = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => li + wi / 10 + i * 1e-4);
        inner.create_dataset({ name: `${shorts[wi]}:0`, data: v, shape, dtype: '<f' });
        return v;
      });
      written.set(name, vals);
    });
    f.close();
    const r = await loadEncoderWeights(net.model, file, { layers: names });
    expect(r.loaded).toEqual(names);
    for (const [name, vals] of written) {
      net.model.getLayer(name).getWeights().forEach((t, i) => expect(Array.from(t.dataSync())).toEqual(Array.from(vals[i]!)));
    }
    net.model.dispose();
  });

  it('a width-0.25 ResNet50 refuses the published-width file as a width-0.125 VGG16 does: both shapes, nothing loaded', async () => {
    // Published ResNet50 stem: 64 filters of 7×7×3 (Keras, with a bias); the model at width 0.25 has 16.
    const model = encoderOnly({ type: 'resnet50', width: 0.25, outputStride: 32, bias: true, norm: 'batch' }, 5);
    const before = Array.from(model.getLayer('conv1_conv').getWeights()[0]!.dataSync());
    const file = path.join(dir, 'resnet50_notop.h5');
    writeKerasH5(file, new Map([['conv1_conv', [{ shape: [7, 7, 3, 64], values: new Float32Array(7 * 7 * 3 * 64) }, { shape: [64], values: new Float32Array(64) }]]]));
    const e = await loadError(loadEncoderWeights(model, file, { layers: ['conv1_conv'] }));
    expect(e.message).toBe('shape mismatch for conv1_conv/kernel: the model has [7, 7, 3, 16], resnet50_notop.h5 has [7, 7, 3, 64]');
    expect(Array.from(model.getLayer('conv1_conv').getWeights()[0]!.dataSync())).toEqual(before);
    model.dispose();
  });
});
