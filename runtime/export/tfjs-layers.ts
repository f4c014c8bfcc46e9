/**
 * Export to the standard tfjs Layers format: rebuilds a tdc network from tfjs' own layer classes only (so plain
 * `tf.loadLayersModel` loads it with no tdc code registered), copies the weights and writes `model.json` + `weights.bin`.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TdcError } from '../errors.js';

/**
 * The tfjs-layers classes a plain `tf.loadLayersModel` deserializes. Layers of these classes are copied as they
 * are; tdc's custom layers are translated; anything else is refused rather than written as a model that fails to load.
 */
export const STANDARD_LAYER_CLASSES: ReadonlySet<string> = new Set([
  'InputLayer', 'Dense', 'Dropout', 'Activation', 'ReLU', 'LeakyReLU', 'Softmax', 'ELU', 'Add', 'Multiply', 'Average',
  'Maximum', 'Minimum', 'Concatenate', 'Conv1D', 'Conv2D', 'Conv3D', 'SeparableConv2D', 'DepthwiseConv2D',
  'Conv2DTranspose', 'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D', 'AveragePooling2D',
  'AveragePooling3D', 'GlobalAveragePooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D',
  'BatchNormalization', 'LayerNormalization', 'UpSampling2D', 'ZeroPadding2D', 'Cropping2D', 'Reshape', 'Flatten',
  'Permute', 'RepeatVector', 'TimeDistributed', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout',
]);

/** tdc's custom layer classes that the exporter knows how to translate. */
const TRANSLATED = new Set(['AtrousConv', 'BatchNorm', 'UpsampleTo', 'GlobalAvgPool']);

export interface ExportTfjsArgs {
  /** Folder that receives `model.json` and the weight file (created when missing). */
  outDir: string;
  /** File name of the single weight shard, referenced from model.json (default 'weights.bin'). */
  weightsFile?: string;
  /** JSON written as model.json's `userDefinedMetadata` (tfjs hands it back from `model.getUserDefinedMetadata()`). */
  metadata?: Record<string, unknown>;
}

/** What an export wrote. */
export interface ExportResult {
  /** Absolute or as-given paths of the files written: model.json first. */
  files: string[];
  /** The standard layer classes the exported model uses, sorted. */
  classes: string[];
  /** Number of weight tensors and their total bytes. */
  weights: number;
  bytes: number;
}

/**
 * The same network as `model` (same inputs, outputs in the same order, same weights) built from standard tfjs
 * layers only, for inference: tdc's AtrousConv becomes Conv2D/Conv3D with `dilationRate`, BatchNorm becomes
 * BatchNormalization (3D: inside TimeDistributed, as tfjs' own refuses rank-5 input), GlobalAvgPool becomes
 * GlobalAveragePooling2D (3D: AveragePooling3D over the whole volume) + Reshape, UpsampleTo becomes UpSampling2D
 * (3D: inside TimeDistributed) or, from a 1-pixel map, Reshape + RepeatVector + Reshape. Throws TdcError when a
 * layer has no exact standard equivalent.
 */
export function toStandardModel(model: tf.LayersModel): tf.LayersModel {
  const produced = new Map<string, tf.SymbolicTensor[]>();
  const copies: [tf.layers.Layer, tf.layers.Layer][] = [];
  const used = new Set(model.layers.map((l) => l.name));
  const fresh = (base: string): string => {
    let name = base;
    for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    return name;
  };

  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (layer.inboundNodes.length !== 1) {
      throw new TdcError(`layer '${layer.name}' is used ${layer.inboundNodes.length} times; tdc export supports single-use layers only`);
    }
    const node = layer.inboundNodes[0]!;
    if (cls === 'InputLayer') {
      const shape = layer.batchInputShape ?? (node.outputTensors[0]!.shape as (number | null)[]);
      produced.set(layer.name, [tf.input({ batchShape: [...shape], name: layer.name, dtype: layer.dtype as tf.DataType })]);
      continue;
    }
    const inputs = node.inboundLayers.map((src, i) => {
      const outs = produced.get(src.name);
      const t = outs?.[node.tensorIndices[i]!];
      if (!t || node.nodeIndices[i] !== 0) throw new TdcError(`layer '${layer.name}': cannot follow its input from '${src.name}'`);
      return t;
    });
    const input = inputs.length === 1 ? inputs[0]! : inputs;
    const apply = (l: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => l.apply(x) as tf.SymbolicTensor;
    let out: tf.SymbolicTensor;
    if (TRANSLATED.has(cls)) {
      out = translate(layer, inputs[0]!, fresh, copies);
    } else if (STANDARD_LAYER_CLASSES.has(cls)) {
      // The layer's own class rebuilt from its config: a fresh layer with the same settings and no graph position.
      const ctor = layer.constructor as tf.serialization.SerializableConstructor<tf.serialization.Serializable>;
      const copy = tf.serialization.SerializationMap.getMap().classNameMap[cls]![1](ctor, layer.getConfig()) as tf.layers.Layer;
      out = apply(copy, input);
      copies.push([layer, copy]);
    } else {
      throw new TdcError(`layer '${layer.name}' is a ${cls}, which plain tfjs cannot load and tdc export cannot translate`);
    }
    produced.set(layer.name, [out]);
  }

  const outputs = model.outputLayers.map((l, i) => produced.get(l.name)![model.outputLayersTensorIndices[i]!]!);
  const inputs = model.inputLayers.map((l) => produced.get(l.name)![0]!);
  const standard = tf.model({ inputs, outputs, name: model.name });
  for (const [from, to] of copies) {
    const weights = from.getWeights();
    if (weights.length > 0) to.setWeights(weights);
  }
  return standard;
}

/** One translated custom layer: its standard layer(s) applied to `x`, weights queued in `copies`. */
function translate(
  layer: tf.layers.Layer,
  x: tf.SymbolicTensor,
  fresh: (base: string) => string,
  copies: [tf.layers.Layer, tf.layers.Layer][],
): tf.SymbolicTensor {
  const cfg = layer.getConfig() as Record<string, unknown>;
  const name = layer.name;
  const trainable = layer.trainable;
  const apply = (l: tf.layers.Layer, t: tf.SymbolicTensor) => l.apply(t) as tf.SymbolicTensor;
  const spatial = x.shape.slice(1, -1) as (number | null)[];
  const channels = x.shape[x.shape.length - 1] as number;
  switch (layer.getClassName()) {
    case 'AtrousConv': {
      const kernelSize = cfg.kernelSize as number[];
      const padding = cfg.padding as 'same' | 'valid';
      // With 'same' padding, a rate at least the map's length puts every off-centre tap on that axis in the zero
      // padding, and so does the rate equal to that length: the capped conv computes the same, while tfjs would
      // pad by (k−1)·rate/2 per side (a warned dilation of 1e8 padded by 1e8 and ran out of memory).
      const dilation = (cfg.dilation as number[]).map((r, a) => {
        const n = spatial[a];
        return padding === 'same' && typeof n === 'number' ? Math.min(r, Math.max(1, n)) : r;
      });
      const args: Parameters<typeof tf.layers.conv2d>[0] = {
        name,
        trainable,
        filters: cfg.filters as number,
        kernelSize,
        dilationRate: dilation as [number, number],
        padding,
        useBias: cfg.useBias as boolean,
        activation: cfg.activation as 'linear' | 'relu',
        strides: 1,
      };
      const conv = kernelSize.length === 2 ? tf.layers.conv2d(args) : tf.layers.conv3d(args);
      copies.push([layer, conv]);
      return apply(conv, x);
    }
    case 'BatchNorm': {
      const bnArgs = { momentum: cfg.momentum as number, epsilon: cfg.epsilon as number, axis: -1, trainable };
      if (x.rank <= 4) {
        const bn = tf.layers.batchNormalization({ ...bnArgs, name });
        copies.push([layer, bn]);
        return apply(bn, x);
      }
      if (x.rank !== 5) throw new TdcError(`layer '${name}': batch norm of a rank-${x.rank} map cannot be exported`);
      // Inference batch norm is per-channel affine, so folding z into the batch (TimeDistributed) changes nothing.
      const bn = tf.layers.batchNormalization({ ...bnArgs, name: fresh(`${name}_2d`) });
      copies.push([layer, bn]);
      return apply(tf.layers.timeDistributed({ layer: bn, name }), x);
    }
    case 'GlobalAvgPool': {
      const keep = cfg.keepDims as boolean;
      let y: tf.SymbolicTensor;
      if (x.rank === 4) {
        y = apply(tf.layers.globalAveragePooling2d({ name }), x);
      } else if (x.rank === 5) {
        if (spatial.some((s) => s == null)) throw new TdcError(`layer '${name}': 3D global pooling needs a known input size`);
        const pool = spatial as [number, number, number];
        // tfjs has no GlobalAveragePooling3D; one average-pooling window over the whole volume is the same mean.
        y = apply(tf.layers.averagePooling3d({ name, poolSize: pool, strides: pool, padding: 'valid' }), x);
        if (!keep) y = apply(tf.layers.reshape({ name: fresh(`${name}_flat`), targetShape: [channels] }), y);
        return y;
      } else {
        throw new TdcError(`layer '${name}': global pooling of a rank-${x.rank} map cannot be exported`);
      }
      return keep ? apply(tf.layers.reshape({ name: fresh(`${name}_keepdims`), targetShape: [1, 1, channels] }), y) : y;
    }
    case 'UpsampleTo':
      return translateUpsample(layer, cfg, x, fresh);
    default:
      throw new TdcError(`layer '${name}' (${layer.getClassName()}) cannot be exported`);
  }
}

/** UpsampleTo → the standard layers that compute exactly the same resize, or an TdcError saying why none do. */
function translateUpsample(
  layer: tf.layers.Layer,
  cfg: Record<string, unknown>,
  x: tf.SymbolicTensor,
  fresh: (base: string) => string,
): tf.SymbolicTensor {
  const name = layer.name;
  const size = cfg.size as number[];
  const mode = cfg.mode as 'bilinear' | 'trilinear' | 'nearest';
  const apply = (l: tf.layers.Layer, t: tf.SymbolicTensor) => l.apply(t) as tf.SymbolicTensor;
  const spatial = x.shape.slice(1, -1) as (number | null)[];
  const channels = x.shape[x.shape.length - 1] as number;
  if (spatial.some((s) => s == null)) throw new TdcError(`layer '${name}': resizing needs a known input size`);
  const from = spatial as number[];
  if (from.every((s) => s === 1)) {
    // From one pixel every mode is a broadcast: repeat the channel vector over all output positions.
    const cells = size.reduce((a, b) => a * b, 1);
    let y = apply(tf.layers.reshape({ name: fresh(`${name}_vector`), targetShape: [channels] }), x);
    y = apply(tf.layers.repeatVector({ name: fresh(`${name}_repeat`), n: cells }), y);
    return apply(tf.layers.reshape({ name, targetShape: [...size, channels] }), y);
  }
  if (cfg.alignCorners === true && mode !== 'nearest') {
    throw new TdcError(`layer '${name}' resizes with align-corners, which tfjs UpSampling2D does not do`);
  }
  const factors = size.map((s, i) => s / from[i]!);
  if (factors.some((f) => !Number.isInteger(f))) {
    throw new TdcError(
      `layer '${name}' resizes [${from}] to [${size}], not by an integer factor; tfjs UpSampling2D cannot express it (choose a size divisible by the encoder stride)`,
    );
  }
  // tdc's linear and nearest resizes use src = dst·in/out without half-pixel centres, as tf.image (and so UpSampling2D) does.
  const interpolation = mode === 'nearest' ? 'nearest' : 'bilinear';
  if (size.length === 2) {
    return apply(tf.layers.upSampling2d({ name, size: factors, interpolation }), x);
  }
  if (factors[0] !== 1) {
    throw new TdcError(
      `layer '${name}' resizes along z ([${from}] → [${size}]); standard tfjs has no 3D up-sampling layer, so this model cannot be exported`,
    );
  }
  // z unchanged: the 3D resize is a 2D resize of every slice.
  const up = tf.layers.upSampling2d({ name: fresh(`${name}_2d`), size: factors.slice(1), interpolation });
  return apply(tf.layers.timeDistributed({ layer: up, name }), x);
}

/** The standard tfjs `model.json` object and the weight bytes of `model` (after `toStandardModel`). */
export async function tfjsArtifacts(
  standard: tf.LayersModel,
  weightsFile = 'weights.bin',
): Promise<{ modelJson: tf.io.ModelJSON; weightData: Uint8Array }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await standard.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts?.modelTopology || !artifacts.weightSpecs || artifacts.weightData === undefined) {
    throw new TdcError('tfjs returned no model topology or weights');
  }
  const weightData = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
  const modelJson: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology,
    format: 'layers-model',
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: 'tdc export',
    weightsManifest: [{ paths: [`./${weightsFile}`], weights: artifacts.weightSpecs }],
  };
  if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
  return { modelJson, weightData };
}

/** The layer classes named in a model.json topology (nested TimeDistributed layers included), sorted. */
export function layerClassesOf(modelJson: tf.io.ModelJSON): string[] {
  const found = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.class_name === 'string' && o.config && typeof o.config === 'object' && 'name' in (o.config as object)) {
        found.add(o.class_name);
      }
      Object.values(o).forEach(visit);
    }
  };
  const topo = modelJson.modelTopology as Record<string, unknown>;
  // The topology is { class_name: 'Model', config: { layers: [...] } }; the model itself is not a layer class.
  visit(topo.config ?? topo);
  return [...found].sort();
}

/**
 * Writes `model` as `<outDir>/model.json` + `<outDir>/weights.bin` in the standard tfjs Layers format
 * (what `model.save('file://…')` writes under tfjs-node), loadable by plain `tf.loadLayersModel`.
 */
export async function exportTfjs(model: tf.LayersModel, args: ExportTfjsArgs): Promise<ExportResult> {
  const weightsFile = args.weightsFile ?? 'weights.bin';
  const standard = toStandardModel(model);
  if (args.metadata) standard.setUserDefinedMetadata(args.metadata);
  try {
    const { modelJson, weightData } = await tfjsArtifacts(standard, weightsFile);
    const classes = layerClassesOf(modelJson);
    const foreign = classes.filter((c) => !STANDARD_LAYER_CLASSES.has(c));
    if (foreign.length > 0) throw new TdcError(`the exported model still names non-standard layers: ${foreign.join(', ')}`);
    await mkdir(args.outDir, { recursive: true });
    const jsonFile = join(args.outDir, 'model.json');
    const binFile = join(args.outDir, weightsFile);
    await writeFile(jsonFile, `${JSON.stringify(modelJson)}\n`);
    await writeFile(binFile, weightData);
    return { files: [jsonFile, binFile], classes, weights: modelJson.weightsManifest[0]!.weights.length, bytes: weightData.byteLength };
  } finally {
    standard.dispose();
  }
}
