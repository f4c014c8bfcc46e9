/**
 * Atomic checkpoints on disk: everything is written into `<dir>.tmp-<pid>`, each file fsynced, then the
 * directory is swapped in by renames (old → `<dir>.old`, new → `<dir>`, remove old), so at every instant either
 * the previous or the new complete checkpoint exists; `recoverCheckpointDir` repairs what a crash between the
 * renames leaves behind.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { OptimizerConfig, OptimizerState } from './optimizers.js';
import { TdcError } from '../errors.js';

/** One saved tensor (model weight). Values are raw float32 or int32, as the variable holds them. */
export interface TensorRecord {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

/** What a checkpoint directory holds. */
export interface CheckpointData {
  /** Model weights in `model.weights` order (names are informative; loading matches by order and shape). */
  weights: TensorRecord[];
  /** Optimizer buffers and step counts, or null (e.g. the `best/` snapshot only needs weights). */
  optimizer: OptimizerState | null;
  /** Trainer state (stage, step, data source state, RNG, log positions, …): any JSON value. */
  state: unknown;
  /** The `spec.lock.json` text written beside the weights. */
  lockJson?: string;
}

/** Writes one file completely and durably; replaceable so tests can simulate a crash in the middle. */
export type FileWriter = (file: string, data: Uint8Array | string) => Promise<void>;

export interface SaveCheckpointOptions {
  /** Writes each file (default: write + fsync + close). */
  writeFile?: FileWriter;
}

const FORMAT = 'tdc-checkpoint-1';

/** Writes, fsyncs and closes `file`. */
export const writeFileSynced: FileWriter = async (file, data) => {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/** Saves `data` as the checkpoint directory `dir`, atomically replacing any previous one. */
export async function saveCheckpoint(dir: string, data: CheckpointData, options: SaveCheckpointOptions = {}): Promise<void> {
  const write = options.writeFile ?? writeFileSynced;
  const tmp = `${dir}.tmp-${process.pid}`;
  const old = `${dir}.old`;
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  try {
    const weights = pack(data.weights.map((w) => ({ meta: { name: w.name, shape: w.shape, dtype: w.dtype }, values: w.values })));
    await write(path.join(tmp, 'weights.bin'), weights.bin);
    await write(path.join(tmp, 'weights.json'), json({ format: FORMAT, tensors: weights.entries }));
    if (data.optimizer) {
      const o = data.optimizer;
      const slots = pack(o.slots.map((s) => ({ meta: { key: s.key, slot: s.slot, shape: s.shape, dtype: 'float32' }, values: s.values })));
      await write(path.join(tmp, 'optimizer.bin'), slots.bin);
      await write(path.join(tmp, 'optimizer.json'), json({ format: FORMAT, config: o.config, steps: o.steps, slots: slots.entries }));
    }
    if (data.lockJson !== undefined) await write(path.join(tmp, 'spec.lock.json'), data.lockJson);
    // state.json last: its presence marks a complete directory even for readers that skip the rename dance.
    await write(path.join(tmp, 'state.json'), json({ format: FORMAT, state: data.state }));
    await syncDir(tmp);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  await fs.rm(old, { recursive: true, force: true });
  if (await exists(dir)) await fs.rename(dir, old);
  await fs.rename(tmp, dir);
  await syncDir(path.dirname(dir));
  await fs.rm(old, { recursive: true, force: true });
}

/**
 * Repairs the state a crash can leave: `<dir>` missing but `<dir>.old` present (crash between the two renames)
 * → the old one is put back; a stale `<dir>.old` beside a complete `<dir>` → removed; `<dir>.tmp-*` → removed.
 */
export async function recoverCheckpointDir(dir: string): Promise<void> {
  const old = `${dir}.old`;
  if (await exists(old)) {
    if (await exists(path.join(dir, 'state.json'))) await fs.rm(old, { recursive: true, force: true });
    else {
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rename(old, dir);
    }
  }
  const parent = path.dirname(dir);
  const prefix = `${path.basename(dir)}.tmp-`;
  const siblings = await fs.readdir(parent).catch(() => [] as string[]);
  for (const name of siblings) {
    if (name.startsWith(prefix)) await fs.rm(path.join(parent, name), { recursive: true, force: true });
  }
}

/** True when `dir` holds a complete checkpoint. */
export async function hasCheckpoint(dir: string): Promise<boolean> {
  return exists(path.join(dir, 'state.json'));
}

/** Reads a checkpoint directory; a missing or damaged one is a one-line TdcError with a message. */
export async function loadCheckpoint(dir: string): Promise<CheckpointData> {
  const bad = (why: string) => new TdcError(`checkpoint ${dir} is unreadable: ${why}`);
  const readJson = async (name: string): Promise<Record<string, unknown>> => {
    let text: string;
    try {
      text = await fs.readFile(path.join(dir, name), 'utf8');
    } catch {
      throw bad(`${name} is missing`);
    }
    try {
      const v = JSON.parse(text) as Record<string, unknown>;
      if (v.format !== FORMAT) throw new Error();
      return v;
    } catch {
      throw bad(`${name} is not a ${FORMAT} file`);
    }
  };
  const readBin = async (name: string): Promise<Buffer> => {
    try {
      return await fs.readFile(path.join(dir, name));
    } catch {
      throw bad(`${name} is missing`);
    }
  };
  const stateFile = await readJson('state.json');
  const weightsMeta = await readJson('weights.json');
  const weightsBin = await readBin('weights.bin');
  const weights = unpack(weightsBin, weightsMeta.tensors as PackedEntry[], 'weights.bin', bad).map(
    ({ meta, values }): TensorRecord => ({
      name: String(meta.name),
      shape: meta.shape,
      dtype: meta.dtype,
      values,
    }),
  );
  let optimizer: OptimizerState | null = null;
  if (await exists(path.join(dir, 'optimizer.json'))) {
    const o = await readJson('optimizer.json');
    const bin = await readBin('optimizer.bin');
    optimizer = {
      config: o.config as OptimizerConfig,
      steps: o.steps as Record<string, number>,
      slots: unpack(bin, o.slots as PackedEntry[], 'optimizer.bin', bad).map(({ meta, values }) => ({
        key: String(meta.key),
        slot: String(meta.slot),
        shape: meta.shape,
        values: values as Float32Array,
      })),
    };
  }
  let lockJson: string | undefined;
  try {
    lockJson = await fs.readFile(path.join(dir, 'spec.lock.json'), 'utf8');
  } catch {
    lockJson = undefined;
  }
  return { weights, optimizer, state: stateFile.state, lockJson };
}

interface PackedEntry {
  shape: number[];
  dtype: 'float32' | 'int32';
  offset: number;
  bytes: number;
  [k: string]: unknown;
}

/** Concatenates typed arrays into one little-endian buffer (both dtypes are 4 bytes, so offsets stay aligned). */
function pack(items: { meta: Record<string, unknown> & { shape: number[]; dtype: string }; values: Float32Array | Int32Array }[]): {
  bin: Uint8Array;
  entries: PackedEntry[];
} {
  const total = items.reduce((n, it) => n + it.values.byteLength, 0);
  const bin = new Uint8Array(total);
  const entries: PackedEntry[] = [];
  let offset = 0;
  for (const it of items) {
    const size = it.meta.shape.reduce((a, b) => a * b, 1);
    if (size !== it.values.length) throw new Error(`checkpoint: ${String(it.meta.name ?? it.meta.key)} has ${it.values.length} values for shape [${it.meta.shape}]`);
    bin.set(new Uint8Array(it.values.buffer, it.values.byteOffset, it.values.byteLength), offset);
    entries.push({ ...it.meta, dtype: it.meta.dtype as PackedEntry['dtype'], offset, bytes: it.values.byteLength });
    offset += it.values.byteLength;
  }
  return { bin, entries };
}

function unpack(
  bin: Buffer,
  entries: PackedEntry[],
  file: string,
  bad: (why: string) => Error,
): { meta: PackedEntry; values: Float32Array | Int32Array }[] {
  if (!Array.isArray(entries)) throw bad(`the manifest of ${file} has no entry list`);
  return entries.map((e) => {
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (e.offset + e.bytes > bin.byteLength || e.bytes !== count * 4) throw bad(`${file} is truncated or does not match its manifest`);
    // Copy into a fresh, aligned buffer: Buffer slices may sit at odd offsets of a shared pool.
    const bytes = new Uint8Array(e.bytes);
    bytes.set(bin.subarray(e.offset, e.offset + e.bytes));
    const values = e.dtype === 'int32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
    return { meta: e, values };
  });
}

function json(v: unknown): string {
  return `${JSON.stringify(v, null, 1)}\n`;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
