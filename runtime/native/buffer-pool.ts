/**
 * Reuse of the native backend's large output buffers.
 *
 * The cpu backend (which 'native' is) frees a disposed tensor's Float32Array only when V8 collects it. A training
 * step allocates its size in maps several times over (refuge18 at batch 2: ~1 GB per step), so every kernel paid
 * for fresh pages (first-touch faults, zeroed by the kernel) and V8 ran a collection every few kernels on
 * "external memory pressure" (measured: 65 collections, ~110 ms of pauses per refuge18 step, plus its concurrent
 * marking competing with the OpenMP threads for the two cores). Here a kernel output's array goes back to a pool
 * when its tensor is disposed, and the next output of the same length takes it.
 *
 * An array is reused only when nothing else can still see it. So a pooled array is never reused (it is "pinned",
 * left to V8 as before) once
 *   - it was read out of the backend (readSync / read / bufferSync hand out the backing store itself, and
 *     `t.dataSync(); t.dispose()` then keeps using it), or
 *   - it was registered under a second tensor, or a view of it was (a kernel returning its input's values, or the
 *     cpu backend's Slice returning a subarray).
 * Only arrays this pool allocated are ever reused: a user's array given to tf.tensor() never is.
 *
 * While the pool is small (VIEW_FLOOR), a free array also serves a shorter output, through a view of its start (FIT).
 *
 * Up to FLOOR (1 GiB) the pool drops nothing: it keeps, for each length, as many arrays as were ever out at once,
 * which a step needs and which is more than the most out at once over all lengths. Above FLOOR it does not raise a
 * run's peak memory: its arrays, in use and free, take no more than 9/10 of the most that were in use at once (free
 * arrays of other lengths are dropped to make room, see `adopt` and SLACK), and a dropped array's pages go back to
 * the OS at once rather than at V8's next collection.
 *
 * `TDC_POOL_MB` caps the free arrays the pool keeps (no cap by default); `TDC_POOL_MB=0` turns reuse off.
 */
import type * as tf from '@tensorflow/tfjs';

/** Arrays from this many elements up are pooled (smaller ones are cheap to allocate and collect). */
const POOL_MIN = 1 << 16;
/**
 * Out + free arrays are kept 1/SLACK below their peak use: memory that is not the pool's (C++ work buffers, stock
 * kernels' outputs awaiting V8) comes on top of the pool at any moment, where without the pool it comes on top of what
 * is live then. brats18 at batch 2, peak RSS / train step (one process, train only): no pool 4480 MB / 11.4 s, no
 * slack 4702 MB / 7.8 s, 1/32 4586 MB / 8.6 s, 1/16 4453 MB / 9.0 s; in the bench's worker (forward, then train),
 * no pool 4478 MB, 1/16 4510 MB, 1/10 4457 MB / 8.9 s.
 */
const SLACK = 10;

/**
 * Up to this many bytes, out and free, the pool drops nothing. The peak rule (SLACK) alone holds the pool to the most
 * that was out at once, but a step needs, for each length, as many arrays as were out at once of that length, and
 * these peaks come at different moments: refuge18's train step at batch 2 has 343 MB out at most and 552 MB of
 * per-length peaks, so under the peak rule ~95 of its 208 pooled outputs were fresh arrays every step (~40k page
 * faults, ~160 MB), each freeing an array of another length that a later kernel then missed. Its train step with
 * FLOOR 1 GiB against the peak rule (4 steps, two runs each, idle): 895 / 957 against 1066 / 1093 ms per image, 24.1
 * → 20.9 s of CPU time, peak RSS 1145 → 1366 MB. A forward pass's peak is a few maps at its largest size (refuge18
 * at batch 2: 64 MB, its first two conv outputs), but it needs more arrays than that over the pass (the context
 * module's ten 1 MB maps alive at once): the same miss cycle made its first conv outputs fresh at every pass.
 * brats18 (4.2 GB out at most, 4.7 GB of per-length peaks) stays on the peak rule, where its peak RSS is bounded.
 */
const FLOOR = 2 ** 30;

/** While the pool's peak is under this many bytes (and under FLOOR) a free array also serves shorter outputs (FIT). */
const VIEW_FLOOR = 256 * 2 ** 20;

/**
 * A free array serves an output of down to 1/FIT its length (through a view of its start), so that a network whose maps
 * halve from block to block needs about as many arrays as it has maps alive at once, not one per size. Measured on
 * the refuge18 forward at batch 2 (52 pooled outputs a pass, 11 lengths; a fresh array costs its page faults, the
 * first conv took 17–21 ms with a fresh 32 MB output and 2.6 ms with a reused one), fresh arrays per pass after
 * warm-up: exact lengths and the peak rule 27 (~8,500 page faults a pass); a 256 MB floor alone 1 (138 MB free
 * between passes); that floor and FIT 2 none (91 MB free, 11 page faults a pass). Only while the pool's peak is under
 * VIEW_FLOOR: above it a large array lent to a shorter output is missing when its own length comes (brats18 at batch
 * 2, bench worker: peak RSS 4448 MB with exact lengths, 4869 MB with views at any size).
 */
const FIT = 2;

/**
 * The cap on the pool's free bytes: none by default (what it holds is bounded anyway, see `adopt`), else
 * TDC_POOL_MB megabytes (0: no reuse). A cap binds a network whose maps outgrow it: measured on brats18 at batch 2,
 * a 2 GB cap left ~3.6 s of page-fault system time per step, none left ~0.3 s, at the same peak RSS.
 */
function capBytes(): number {
  const mb = Number(process.env.TDC_POOL_MB);
  return process.env.TDC_POOL_MB && Number.isFinite(mb) && mb >= 0 ? mb * 2 ** 20 : Infinity;
}

/** Counters for tests and the bench. */
export interface BufferPoolStats {
  /** outputs served by a reused array */
  reused: number;
  /** outputs of a poolable size that were allocated (none of that length free) */
  allocated: number;
  /** arrays that went back to the pool */
  released: number;
  /** arrays pinned: read out, aliased or viewed, never reused */
  pinned: number;
  /** bytes of free arrays in the pool now */
  freeBytes: number;
}

class BufferPool {
  /** Free arrays by length; the Map's order is least recently taken first (the eviction order). */
  private readonly free = new Map<number, Float32Array[]>();
  /**
   * Buffers this pool allocated that may still be reused, each with the array it handed out last (the whole array,
   * or a view of its start): only that very array, registered once, keeps the buffer reusable.
   */
  private readonly owned = new WeakMap<ArrayBuffer, Float32Array>();
  /** Owned buffers registered under a live tensor (a second registration pins). */
  private readonly live = new WeakSet<ArrayBuffer>();
  /** Buffers of any origin handed out by readSync (in-place writes must leave them alone too). */
  private readonly readOut = new WeakSet<ArrayBuffer>();
  private freeBytes = 0;
  /** Bytes of owned arrays handed out and not back yet, and the most there ever were at once. */
  private outBytes = 0;
  private highWater = 0;
  private cap = capBytes();
  /** FLOOR (tests lower it to see the peak rule on small arrays). */
  floor = FLOOR;
  stats: Omit<BufferPoolStats, 'freeBytes'> = { reused: 0, allocated: 0, released: 0, pinned: 0 };
  /** Returns a dropped array's pages to the OS at once (the addon's adviseFree; V8 frees the rest at collection). */
  freePages: (a: Float32Array) => void = () => {};

  /**
   * A Float32Array of n elements with arbitrary contents, or null for a fresh (zeroed) one the caller allocates. A
   * free array of n elements serves it, else the shortest free one of up to FIT·n elements, through a view of its
   * first n (the whole array stays out until that view's tensor is deleted).
   */
  take(n: number): Float32Array | null {
    if (n < POOL_MIN || this.cap === 0) return null;
    let m = n;
    if (!this.free.get(n)?.length) {
      if (this.highWater > Math.min(this.floor, VIEW_FLOOR)) return null; // views only while small: see FIT
      m = Infinity;
      for (const [len, list] of this.free) if (len > n && len <= n * FIT && len < m && list.length) m = len;
      if (m === Infinity) return null;
    }
    const list = this.free.get(m)!;
    const a = list.pop()!;
    this.free.delete(m); // most recently taken: last to be evicted
    if (list.length) this.free.set(m, list);
    this.freeBytes -= a.byteLength;
    this.outBytes += a.byteLength;
    this.stats.reused++;
    const out = m === n ? a : a.subarray(0, n);
    this.owned.set(a.buffer as ArrayBuffer, out);
    return out;
  }

  /**
   * Marks a freshly allocated output array as the pool's (reusable once its tensor is disposed). Free arrays of
   * other lengths are then dropped until the pool's arrays, out and free, take no more than 1 − 1/SLACK of the most
   * that was ever out at once, or FLOOR (a step that needs its 5 largest maps at once costs those 5, whatever lengths
   * were freed before).
   */
  adopt(a: Float32Array): void {
    if (a.length < POOL_MIN || this.cap === 0) return;
    this.stats.allocated++;
    this.owned.set(a.buffer as ArrayBuffer, a);
    this.outBytes += a.byteLength;
    this.highWater = Math.max(this.highWater, this.outBytes);
    const limit = Math.max(this.highWater - this.highWater / SLACK, this.floor);
    for (const [n, list] of this.free) {
      if (this.outBytes + this.freeBytes <= limit) break;
      while (list.length && this.outBytes + this.freeBytes > limit) this.drop(list.pop()!);
      if (!list.length) this.free.delete(n);
    }
  }

  /** A free array left to V8. */
  private drop(a: Float32Array): void {
    this.owned.delete(a.buffer as ArrayBuffer);
    this.freeBytes -= a.byteLength;
    this.freePages(a);
  }

  private pin(buf: ArrayBuffer): void {
    if (this.owned.delete(buf)) {
      this.stats.pinned++;
      this.outBytes -= buf.byteLength;
    }
    this.live.delete(buf);
  }

  /** A tensor's values were registered (backend.write / move). */
  registered(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    const buf = values.buffer as ArrayBuffer;
    const handedOut = this.owned.get(buf);
    if (!handedOut) return;
    if (values !== handedOut || this.live.has(buf)) this.pin(buf);
    else this.live.add(buf);
  }

  /** A tensor's values were handed out of the backend. */
  exposed(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    this.pin(values.buffer as ArrayBuffer);
    this.readOut.add(values.buffer as ArrayBuffer);
  }

  /** Whether an array's memory was ever handed out of the backend (whoever holds it may still read it). */
  wasReadOut(a: Float32Array): boolean {
    return this.readOut.has(a.buffer as ArrayBuffer);
  }

  /** A tensor's data was deleted: its array may be reused. */
  deleted(values: unknown): void {
    if (!(values instanceof Float32Array)) return;
    const buf = values.buffer as ArrayBuffer;
    if (this.owned.get(buf) !== values || !this.live.has(buf)) return;
    this.live.delete(buf);
    this.putBack(values.byteLength === buf.byteLength ? values : new Float32Array(buf));
  }

  /** Takes back a whole array. */
  private putBack(values: Float32Array): void {
    this.owned.set(values.buffer as ArrayBuffer, values);
    this.outBytes -= values.byteLength;
    if (this.freeBytes + values.byteLength > this.cap) {
      this.owned.delete(values.buffer as ArrayBuffer); // over the cap: left to V8
      this.freePages(values);
      return;
    }
    let list = this.free.get(values.length);
    if (!list) this.free.set(values.length, (list = []));
    list.push(values);
    this.freeBytes += values.byteLength;
    this.stats.released++;
  }

  /** Drops every free array (V8 collects them). */
  clear(): void {
    for (const list of this.free.values()) {
      for (const a of list) {
        this.owned.delete(a.buffer as ArrayBuffer);
        this.freePages(a);
      }
    }
    this.free.clear();
    this.freeBytes = 0;
  }

  /** Sets the cap on free bytes (0: no reuse), dropping what the pool holds; null restores TDC_POOL_MB's. */
  setCap(bytes: number | null): void {
    this.clear();
    this.cap = bytes ?? capBytes();
  }

  snapshot(): BufferPoolStats {
    return { ...this.stats, freeBytes: this.freeBytes };
  }
}

export const bufferPool = new BufferPool();

/** The parts of the cpu backend the pool hooks. */
interface CpuData {
  data: { get(id: tf.DataId): { values?: unknown } | undefined; has(id: tf.DataId): boolean };
  write(values: unknown, shape: number[], dtype: tf.DataType): tf.DataId;
  move(dataId: tf.DataId, values: unknown, shape: number[], dtype: tf.DataType, refCount: number): void;
  readSync(dataId: tf.DataId): unknown;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/**
 * Hooks a cpu-backend instance so that the pool sees every registration, read-out and deletion of tensor data
 * (`read` and `bufferSync` go through `readSync`). Returns the backend.
 */
export function withBufferPool<B extends tf.KernelBackend>(backend: B): B {
  const b = backend as unknown as CpuData;
  const write = b.write.bind(b);
  const move = b.move.bind(b);
  const readSync = b.readSync.bind(b);
  const disposeData = b.disposeData.bind(b);
  b.write = (values, shape, dtype) => {
    bufferPool.registered(values);
    return write(values, shape, dtype);
  };
  b.move = (dataId, values, shape, dtype, refCount) => {
    bufferPool.registered(values);
    move(dataId, values, shape, dtype, refCount);
  };
  b.readSync = (dataId) => {
    bufferPool.exposed(b.data.get(dataId)?.values);
    return readSync(dataId);
  };
  b.disposeData = (dataId, force) => {
    const values = b.data.get(dataId)?.values;
    const done = disposeData(dataId, force);
    if (done && values !== undefined && !b.data.has(dataId)) bufferPool.deleted(values);
    return done;
  };
  return backend;
}

/** The pool's counters since start-up (tests assert that reuse really happened). */
export function bufferPoolStats(): BufferPoolStats {
  return bufferPool.snapshot();
}

/**
 * Whether a tensor's array was ever read out of the backend (dataSync, data, bufferSync): a kernel that writes into
 * its input in place (the native SGD step) must leave such an array alone, as the pool never reuses it.
 */
export function wasReadOut(a: Float32Array): boolean {
  return bufferPool.wasReadOut(a);
}

/** For tests: the bytes up to which the pool drops nothing (null: FLOOR). */
export function setBufferPoolFloor(bytes: number | null): void {
  bufferPool.floor = bytes ?? FLOOR;
}

/** For tests and measurements: the cap on the pool's free bytes (0 turns reuse off; null: TDC_POOL_MB's). */
export function setBufferPoolCap(bytes: number | null): void {
  bufferPool.setCap(bytes);
}
