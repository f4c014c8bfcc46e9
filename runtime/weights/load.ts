/** Loads pretrained encoder weights by layer name from a Keras .h5 file or a tfjs model.json into a tdc model. */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TdcError } from '../errors.js';

export interface LoadEncoderWeightsOptions {
  /** What the model's layer names carry in front of the file's names (model 'enc_block1_conv1' ← file 'block1_conv1'); default ''. */
  prefix?: string;
  /** Model layers to fill (default: every layer with weights whose name starts with the prefix; a tdc network
   *  passes its encoder's layers, as the model IR names them). */
  layers?: string[];
}

export interface LoadEncoderWeightsResult {
  /** Model layer names whose weights were set. */
  loaded: string[];
  /** Batch-norm layers absent from the file, left at their initial values (ImageNet VGG16 has no batch norm). */
  skipped: string[];
}

/** One stored weight: row-major float32 values and their shape. */
interface StoredWeight {
  shape: number[];
  values: Float32Array;
}

/** File layer name → short weight name ('kernel', 'bias', 'gamma', …) → weight, read lazily. */
interface WeightSource {
  /** The file's layer names in file order (for error messages). */
  layerNames: string[];
  /** The layer's weights by short name, or undefined when the file has no such layer. */
  layer(name: string): Map<string, () => StoredWeight> | undefined;
  close(): void;
}

/**
 * Copies weights into `model` by layer name. Each model layer `prefix + name` takes the file's layer `name`;
 * its weights are matched by short name (`block1_conv1/kernel:0` → kernel). Throws TdcError on a missing
 * file, a layer the file lacks (naming what it has), a missing weight, or a shape mismatch (both shapes).
 * Nothing is changed in the model unless every layer matches.
 */
export async function loadEncoderWeights(
  model: tf.LayersModel,
  path: string,
  options: LoadEncoderWeightsOptions = {},
): Promise<LoadEncoderWeightsResult> {
  const prefix = options.prefix ?? '';
  if (!fs.existsSync(path)) throw new TdcError(`weights file not found: ${path}`);
  if (fs.statSync(path).isDirectory()) throw new TdcError(`weights path is a folder, not a file: ${path}`);
  const source = path.toLowerCase().endsWith('.json') ? openTfjs(path) : await openH5(path);
  try {
    const targets = pickLayers(model, prefix, options.layers);
    if (targets.length === 0) throw new TdcError(`the model has no layers named '${prefix}…' with weights to load from ${path}`);
    const assignments: { layer: tf.layers.Layer; values: tf.Tensor[] }[] = [];
    const skipped: string[] = [];
    try {
      for (const layer of targets) {
        const fileName = layer.name.slice(prefix.length);
        const stored = source.layer(fileName);
        if (!stored) {
          if (layer.getClassName() === 'BatchNorm' || layer.getClassName() === 'BatchNormalization') {
            skipped.push(layer.name);
            continue;
          }
          throw new TdcError(
            `${nodePath.basename(path)} has no layer '${fileName}' (for model layer '${layer.name}'); it has: ${listNames(source.layerNames)}`,
          );
        }
        // Match by weight name; when the names differ but the counts agree, use file order as Keras' own
        // load_weights does (the keras.applications VGG16 files of 2016 name them block1_conv1_W_1:0, …_b_1:0).
        const byName = layer.weights.every((w) => stored.has(shortName(w.originalName)));
        const ordered = [...stored.values()];
        const values = layer.weights.map((w, wi) => {
          const short = shortName(w.originalName);
          const read = byName ? stored.get(short) : ordered.length === layer.weights.length ? ordered[wi] : undefined;
          if (!read) {
            throw new TdcError(
              `${nodePath.basename(path)}: layer '${fileName}' has no weight '${short}'; it has: ${[...stored.keys()].join(', ')}`,
            );
          }
          const got = read();
          if (!sameShape(got.shape, w.shape)) {
            throw new TdcError(
              `shape mismatch for ${layer.name}/${short}: the model has [${w.shape.join(', ')}], ${nodePath.basename(path)} has [${got.shape.join(', ')}]`,
            );
          }
          return tf.tensor(got.values, w.shape as number[], 'float32');
        });
        assignments.push({ layer, values });
      }
      for (const a of assignments) a.layer.setWeights(a.values);
    } finally {
      for (const a of assignments) tf.dispose(a.values);
    }
    return { loaded: assignments.map((a) => a.layer.name), skipped };
  } finally {
    source.close();
  }
}

function pickLayers(model: tf.LayersModel, prefix: string, names: string[] | undefined): tf.layers.Layer[] {
  if (names) {
    return names.map((n) => {
      try {
        return model.getLayer(n);
      } catch {
        throw new TdcError(`the model has no layer '${n}'`);
      }
    });
  }
  return model.layers.filter((l) => l.weights.length > 0 && l.name.startsWith(prefix));
}

/** 'block1_conv1/kernel:0' or 'model/block1_conv1/kernel' → 'kernel'. */
function shortName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1).replace(/:\d+$/, '');
}

function sameShape(a: readonly number[], b: readonly (number | null)[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function listNames(names: string[]): string {
  if (names.length === 0) return '(no layers)';
  const shown = names.slice(0, 24).join(', ');
  return names.length > 24 ? `${shown}, … (${names.length - 24} more)` : shown;
}

// ---------------------------------------------------------------------------------------------- Keras .h5

type H5Module = typeof import('h5wasm/node');
type H5Group = InstanceType<H5Module['Group']>;
let h5Promise: Promise<H5Module> | undefined;

/** h5wasm's node build reads the host file system directly (NODERAWFS), so no copy into a virtual FS is needed. */
function loadH5wasm(): Promise<H5Module> {
  h5Promise ??= import('h5wasm/node').then(async (m) => {
    await m.ready;
    return m;
  });
  return h5Promise;
}

/**
 * A Keras 2 weights file: `save_weights` / the keras.applications *notop* files keep `<layer>/<layer>/kernel:0`
 * at the root; a whole-model `model.save` keeps the same under `/model_weights`. Each layer group names its
 * datasets in the `weight_names` attribute; long attribute lists are split as `name0`, `name1`, … (Keras'
 * HDF5_OBJECT_HEADER_LIMIT workaround).
 */
async function openH5(path: string): Promise<WeightSource> {
  if (!looksLikeHdf5(path)) throw new TdcError(`cannot read ${path} as an HDF5 (.h5) file`);
  const h5 = await loadH5wasm();
  let file: InstanceType<H5Module['File']>;
  try {
    file = new h5.File(nodePath.resolve(path), 'r');
  } catch {
    throw new TdcError(`cannot read ${path} as an HDF5 (.h5) file`);
  }
  if (file.file_id < 0n) throw new TdcError(`cannot read ${path} as an HDF5 (.h5) file`);
  const rootKeys = file.keys();
  const root = rootKeys.includes('model_weights') ? (file.get('model_weights') as H5Group) : (file as H5Group);
  const fromAttr = readStringListAttr(root, 'layer_names');
  const groupKeys = root.keys();
  const layerNames = fromAttr.length > 0 ? fromAttr.filter((n) => groupKeys.includes(n)) : groupKeys;
  return {
    layerNames,
    layer(name) {
      if (!layerNames.includes(name)) return undefined;
      const group = root.get(name) as H5Group | null;
      if (!group || !(group instanceof h5.Group)) return undefined;
      const paths = readStringListAttr(group, 'weight_names');
      const datasetPaths = paths.length > 0 ? paths : datasetsUnder(h5, group, '');
      const out = new Map<string, () => StoredWeight>();
      for (const p of datasetPaths) {
        out.set(shortName(p), () => {
          const ds = group.get(p);
          if (!ds || !(ds instanceof h5.Dataset)) {
            throw new TdcError(`${nodePath.basename(path)}: layer '${name}' lists weight '${p}' but has no such dataset`);
          }
          const value = ds.value;
          if (!ArrayBuffer.isView(value) || value instanceof DataView || typeof (value as { length?: unknown }).length !== 'number') {
            throw new TdcError(`${nodePath.basename(path)}: weight '${name}/${p}' is not a numeric array`);
          }
          return { shape: ds.shape ?? [], values: Float32Array.from(value as unknown as ArrayLike<number>) };
        });
      }
      return out;
    },
    close() {
      file.close();
    },
  };
}

/**
 * HDF5's format signature sits at byte 0 or after a user block of 512·2^k bytes. Checking it first keeps the
 * HDF5 library from printing its multi-line error trace for a file that is not HDF5 at all.
 */
function looksLikeHdf5(path: string): boolean {
  const signature = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(8);
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      fs.readSync(fd, buf, 0, 8, offset);
      if (buf.equals(signature)) return true;
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

function readStringListAttr(group: H5Group, name: string): string[] {
  const attrs = group.attrs;
  const read = (key: string): string[] => {
    const v = attrs[key]!.json_value;
    return (Array.isArray(v) ? v : [v]).map(String);
  };
  if (name in attrs) return read(name);
  const out: string[] = [];
  for (let i = 0; `${name}${i}` in attrs; i++) out.push(...read(`${name}${i}`));
  return out;
}

function datasetsUnder(h5: H5Module, group: H5Group, base: string): string[] {
  const out: string[] = [];
  for (const key of group.keys()) {
    const child = group.get(key);
    const rel = base ? `${base}/${key}` : key;
    if (child instanceof h5.Dataset) out.push(rel);
    else if (child instanceof h5.Group) out.push(...datasetsUnder(h5, child, rel));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- tfjs model.json

interface ManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

/** A tfjs model.json (layers or weights-only) with its binary shards next to it; names like `block1_conv1/kernel`. */
function openTfjs(path: string): WeightSource {
  let manifest: ManifestGroup[];
  try {
    const json = JSON.parse(fs.readFileSync(path, 'utf8')) as { weightsManifest?: ManifestGroup[] };
    if (!Array.isArray(json.weightsManifest)) throw new Error('no weightsManifest');
    manifest = json.weightsManifest;
  } catch {
    throw new TdcError(`${path} is not a tfjs model.json (no readable weightsManifest)`);
  }
  const dir = nodePath.dirname(path);
  const byLayer = new Map<string, Map<string, () => StoredWeight>>();
  const decoded = new Map<ManifestGroup, tf.NamedTensorMap>();
  const decode = (group: ManifestGroup): tf.NamedTensorMap => {
    let map = decoded.get(group);
    if (!map) {
      const buffers = group.paths.map((p) => {
        const file = nodePath.join(dir, p);
        if (!fs.existsSync(file)) throw new TdcError(`weight shard not found: ${file} (listed in ${path})`);
        return fs.readFileSync(file);
      });
      const all = Buffer.concat(buffers);
      map = tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), group.weights);
      decoded.set(group, map);
    }
    return map;
  };
  for (const group of manifest) {
    for (const entry of group.weights) {
      const slash = entry.name.lastIndexOf('/');
      if (slash < 0) continue;
      const layer = entry.name.slice(0, slash).split('/').pop()!;
      if (!byLayer.has(layer)) byLayer.set(layer, new Map());
      byLayer.get(layer)!.set(shortName(entry.name), () => {
        const t = decode(group)[entry.name]!;
        return { shape: [...t.shape], values: Float32Array.from(t.dataSync()) };
      });
    }
  }
  return {
    layerNames: [...byLayer.keys()],
    layer: (name) => byLayer.get(name),
    close() {
      for (const map of decoded.values()) tf.dispose(Object.values(map));
    },
  };
}
