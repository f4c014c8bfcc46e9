/**
 * Streams a split as tfjs batches: a seeded order per epoch, crops and augmentation, a bounded LRU cache of
 * decoded samples, prefetch of the next batches while the current one trains, and exact resume.
 *
 * Determinism: a batch's content depends only on (seed, epoch, batch index) — the epoch order comes from a
 * generator seeded by (seed, epoch) and each batch's crops/augmentation from one seeded by (seed, epoch, batch) —
 * never on timing, on which batches were prefetched, or on what the cache held. That is what makes
 * `state()`/`restore()` exact: the state is just (epoch, position) plus the seed it was derived from.
 */
import * as tf from '@tensorflow/tfjs';
import type { DataSpec, InputNormalization, TaskSpec } from '../../spec/types.js';
import { sizeAxes, sizeText } from '../../spec/shape.js';
import { inputNormalization, normalizeInto } from './normalize.js';
import { Rng } from '../rng.js';
import { cropBox } from './arrays.js';
import { Augmenter } from './augment.js';
import type { Dataset } from './dataset.js';
import type { SplitName } from './splits.js';
import { type Sample, type SampleDescriptor, dataError } from './types.js';
import { TdcError } from '../errors.js';

/** One training/evaluation batch. The caller disposes the tensors. */
export interface Batch {
  /** float32 [B, H, W, C] (2D) or [B, Z, Y, X, C] (3D). */
  image: tf.Tensor;
  /** int32 class ids, [B, H, W] or [B, Z, Y, X]. */
  mask: tf.Tensor;
  /** float32 presence [B, K]. */
  classes: tf.Tensor2D;
  /** float32 one-hot scene [B, S] (all zeros for an unknown scene). */
  scene: tf.Tensor2D;
  ids: string[];
}

/** What the trainer needs from a batch stream. */
export interface BatchStream {
  /** Batches per epoch. */
  readonly length: number;
  next(): Promise<Batch>;
  state(): unknown;
  restore(s: unknown): void;
}

/** A serialisable resume point. */
export interface BatchSourceState {
  epoch: number;
  /** Index of the next batch within the epoch. */
  position: number;
  /** The seed every order and augmentation is derived from (checked on restore). */
  seed: number;
  split: SplitName;
}

export interface BatchSourceArgs {
  /** The opened dataset (reader + splits). */
  dataset: Dataset;
  /** Which split to stream. */
  split: SplitName;
  /** 'train' shuffles each epoch, crops at random and augments; 'eval' keeps the listed order and centre-crops. */
  mode: 'train' | 'eval';
  /** Seed of orders, crops and augmentation (train.seed). */
  seed: number;
  /** Samples per batch (default data.batchSize). */
  batchSize?: number;
  /**
   * A plain multiplier applied to images when the batch is assembled, instead of `task.normalize` (tests).
   * Samples, the cache and augmentation stay in 0..255 (2D) either way.
   */
  imageScale?: number;
  /** 3D evaluation: centre crop to the crop size (default), or the full volume (batch size 1 for mixed sizes). */
  evalCrop?: 'centre' | 'full';
  /** Where skip warnings go (default: one line on stderr). */
  warn?: (message: string) => void;
}

/** The spatial crop size in tensor order ([H, W] or [Z, Y, X]), or undefined for none. */
export function cropSize(task: TaskSpec, data: DataSpec): number[] | undefined {
  const c = data.crop ?? (task.dims === 3 ? task.size : undefined);
  if (!c) return undefined;
  return task.dims === 3 ? [c[2]!, c[1]!, c[0]!] : [c[0]!, c[1]!];
}

/**
 * Crop (or zero-pad) a sample to `size`: a uniform random start per axis with `rng`, the centre without.
 */
export function cropSample(s: Sample, size: readonly number[], rng?: Rng): Sample {
  const dims = s.shape.slice(0, -1);
  const c = s.shape[s.shape.length - 1]!;
  if (dims.every((d, i) => d === size[i])) return s;
  const start = dims.map((d, i) => {
    const room = d - size[i]!;
    if (room <= 0) return Math.floor(room / 2);
    return rng ? rng.int(room + 1) : Math.floor(room / 2);
  });
  const image = cropBox(s.image, dims, c, start, size);
  const mask = cropBox(s.mask, dims, 1, start, size);
  return { ...s, image, mask, shape: [...size, c] };
}

/** A bounded least-recently-used map; `capacity` 0 disables it. */
export class LruCache<V> {
  private readonly map = new Map<string, V>();
  constructor(readonly capacity: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, v: V): void {
    if (this.capacity <= 0) return;
    this.map.delete(key);
    this.map.set(key, v);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }
  get size(): number {
    return this.map.size;
  }
}

/** Mix integers into a seed (a splitmix-style hash, so nearby epochs/batches get unrelated streams). */
function mix(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = new Rng(h).nextUint32();
  }
  return h;
}

interface HostBatch {
  images: Float32Array[];
  masks: Int32Array[];
  classes: Float32Array[];
  scenes: number[];
  ids: string[];
  shape: number[];
}

export class BatchSource implements BatchStream {
  readonly items: readonly SampleDescriptor[];
  readonly batchSize: number;
  readonly mode: 'train' | 'eval';
  readonly seed: number;
  readonly split: SplitName;
  private readonly dataset: Dataset;
  private readonly task: TaskSpec;
  private readonly data: DataSpec;
  private readonly augmenter: Augmenter;
  private readonly crop?: number[];
  private readonly imageScale?: number;
  private readonly normalize: Exclude<InputNormalization, 'auto'>;
  private readonly warn: (m: string) => void;
  private readonly cache: LruCache<Sample>;
  /** Decodes in flight, so two prefetched batches never decode the same sample twice at once. */
  private readonly inflight = new Map<string, Promise<Sample>>();
  /** Files already reported as corrupt (skip mode): warned once, never decoded again. */
  private readonly bad = new Set<string>();
  private readonly pending = new Map<string, Promise<HostBatch>>();
  private epoch = 0;
  private position = 0;
  private orderCache?: { epoch: number; order: number[] };
  /** Number of reader decodes so far (what the cache saves). */
  decodes = 0;

  constructor(args: BatchSourceArgs) {
    this.dataset = args.dataset;
    this.task = args.dataset.task;
    this.data = args.dataset.data;
    this.split = args.split;
    this.items = args.dataset.splits[args.split];
    this.mode = args.mode;
    this.seed = args.seed >>> 0;
    this.batchSize = args.batchSize ?? this.data.batchSize;
    if (this.items.length === 0) {
      throw dataError('no-samples', `the ${args.split} split of ${this.data.root} is empty (check data.splits)`, this.data.root);
    }
    if (this.mode === 'train' && this.items.length < this.batchSize) {
      // Full batches are assembled across the epoch boundary only through repetition; say so instead.
      throw dataError('no-samples', `the ${args.split} split has ${this.items.length} samples, fewer than batch_size ${this.batchSize}`, this.data.root);
    }
    this.augmenter = new Augmenter({ spec: this.data.augment, dims: this.task.dims });
    const size = cropSize(this.task, this.data);
    const full = this.mode === 'eval' && args.evalCrop === 'full';
    if (size && !full) this.crop = size;
    this.imageScale = args.imageScale;
    this.normalize = inputNormalization(this.task);
    this.warn = args.warn ?? ((m) => process.stderr.write(`warning: ${m}\n`));
    this.cache = new LruCache<Sample>(this.data.cache.samples);
  }

  /** Batches per epoch: train drops the incomplete tail (every batch full); eval keeps it. */
  get length(): number {
    return this.mode === 'train' ? Math.floor(this.items.length / this.batchSize) : Math.ceil(this.items.length / this.batchSize);
  }

  state(): BatchSourceState {
    return { epoch: this.epoch, position: this.position, seed: this.seed, split: this.split };
  }

  restore(s: unknown): void {
    const st = s as Partial<BatchSourceState>;
    if (typeof st?.epoch !== 'number' || typeof st.position !== 'number' || st.seed !== this.seed) {
      throw new Error(`cannot resume the data stream: the saved state ${JSON.stringify(s)} does not belong to this source (seed ${this.seed})`);
    }
    this.epoch = st.epoch;
    this.position = st.position;
    // Prefetched batches of the old position are still valid by determinism; they stay keyed by (epoch, batch).
  }

  async next(): Promise<Batch> {
    const epoch = this.epoch;
    const b = this.position;
    this.position++;
    if (this.position >= this.length) {
      this.position = 0;
      this.epoch++;
    }
    const current = this.hostBatch(epoch, b);
    // Queue the following batches before waiting, so their file reads overlap this one's decode.
    this.prefetch();
    const host = await current;
    this.pending.delete(`${epoch}:${b}`);
    return this.toTensors(host);
  }

  /** Start decoding the next `cache.prefetch` batches (from the current position) in the background. */
  private prefetch(): void {
    let e = this.epoch;
    let b = this.position;
    for (let i = 0; i < this.data.cache.prefetch; i++) {
      this.hostBatch(e, b).catch(() => {
        // The error resurfaces when this batch is actually requested.
      });
      if (++b >= this.length) {
        b = 0;
        e++;
      }
    }
    // Forget prefetched batches that a restore() made unreachable, so memory stays bounded.
    for (const key of this.pending.keys()) {
      const [pe, pb] = key.split(':').map(Number) as [number, number];
      if (pe < this.epoch || (pe === this.epoch && pb < this.position) || pe > e + 1) this.pending.delete(key);
    }
  }

  /** The sample order of an epoch: a seeded shuffle in train mode, the listed order in eval mode. */
  order(epoch: number): number[] {
    if (this.orderCache?.epoch === epoch) return this.orderCache.order;
    const order = this.items.map((_, i) => i);
    if (this.mode === 'train') new Rng(mix(this.seed, epoch)).shuffle(order);
    this.orderCache = { epoch, order };
    return order;
  }

  private hostBatch(epoch: number, b: number): Promise<HostBatch> {
    const key = `${epoch}:${b}`;
    let p = this.pending.get(key);
    if (!p) {
      p = this.assemble(epoch, b);
      this.pending.set(key, p);
    }
    return p;
  }

  private async assemble(epoch: number, b: number): Promise<HostBatch> {
    const order = this.order(epoch);
    const n = order.length;
    const start = b * this.batchSize;
    const count = Math.min(this.batchSize, n - start);
    // Decode the batch's samples concurrently; a corrupt one is replaced by the next good one in the epoch order.
    const loaded = await Promise.all(Array.from({ length: count }, (_, i) => this.loadGood(order, start + i)));
    const rng = new Rng(mix(this.seed, epoch, b, 1));
    const out: HostBatch = { images: [], masks: [], classes: [], scenes: [], ids: [], shape: [] };
    for (const sample of loaded) {
      let s = sample;
      if (this.crop) s = cropSample(s, this.crop, this.mode === 'train' ? rng : undefined);
      if (this.mode === 'train') s = this.augmenter.apply(s, rng).sample;
      if (out.shape.length && out.shape.join() !== s.shape.join()) {
        const dims = s.shape.length === 4 ? 3 : 2;
        throw dataError('size-mismatch', `${s.id}: size ${sizeText(s.shape, { dims, channels: true })} differs from ${sizeText(out.shape, { dims, channels: true })} in the same batch (${sizeAxes({ dims, channels: true })}; set data.crop or use batch size 1)`);
      }
      out.shape = s.shape;
      out.images.push(s.image);
      out.masks.push(s.mask);
      out.classes.push(s.classes);
      out.scenes.push(s.scene);
      out.ids.push(s.id);
    }
    return out;
  }

  private async loadGood(order: number[], pos: number): Promise<Sample> {
    const n = order.length;
    for (let k = 0; k < n; k++) {
      const d = this.items[order[(pos + k) % n]!]!;
      if (this.bad.has(d.id)) continue;
      try {
        return await this.load(d);
      } catch (e) {
        if (!(e instanceof TdcError && e.code) || this.data.onCorrupt === 'stop') throw e;
        if (!this.bad.has(d.id)) {
          this.bad.add(d.id);
          this.warn(`skipping ${e.file ?? d.id}: ${e.message.replace(`${e.file}: `, '')}`);
        }
      }
    }
    throw dataError('no-samples', `every sample of the ${this.split} split failed to load`);
  }

  private load(d: SampleDescriptor): Promise<Sample> {
    const hit = this.cache.get(d.id);
    if (hit) return Promise.resolve(hit);
    let p = this.inflight.get(d.id);
    if (!p) {
      this.decodes++;
      p = this.dataset.load(d).then(
        (s) => {
          this.inflight.delete(d.id);
          this.cache.set(d.id, s);
          return s;
        },
        (e: unknown) => {
          this.inflight.delete(d.id);
          throw e;
        },
      );
      this.inflight.set(d.id, p);
    }
    return p;
  }

  private toTensors(h: HostBatch): Batch {
    const B = h.images.length;
    const per = h.images[0]!.length;
    const image = new Float32Array(B * per);
    h.images.forEach((im, i) => {
      if (this.imageScale === undefined) normalizeInto(im, this.task.channels, this.normalize, this.task.dims, image, i * per);
      else if (this.imageScale === 1) image.set(im, i * per);
      else for (let j = 0; j < per; j++) image[i * per + j] = im[j]! * this.imageScale;
    });
    const perMask = h.masks[0]!.length;
    const mask = new Int32Array(B * perMask);
    h.masks.forEach((m, i) => mask.set(m, i * perMask));
    const K = this.task.classes.length;
    const S = this.task.scenes.length;
    const classes = new Float32Array(B * K);
    h.classes.forEach((c, i) => classes.set(c, i * K));
    const scene = new Float32Array(B * S);
    h.scenes.forEach((s, i) => {
      if (s >= 0 && s < S) scene[i * S + s] = 1;
    });
    return {
      image: tf.tensor(image, [B, ...h.shape], 'float32'),
      mask: tf.tensor(mask, [B, ...h.shape.slice(0, -1)], 'int32'),
      classes: tf.tensor2d(classes, [B, K], 'float32'),
      scene: tf.tensor2d(scene, [B, S], 'float32'),
      ids: h.ids,
    };
  }

  /** Cache occupancy and decode count, for the memory benchmark and tests. */
  cacheInfo(): { size: number; capacity: number; decodes: number } {
    return { size: this.cache.size, capacity: this.cache.capacity, decodes: this.decodes };
  }
}

export function batchSource(args: BatchSourceArgs): BatchSource {
  return new BatchSource(args);
}
