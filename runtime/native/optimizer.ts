/**
 * Optimizer updates that the addon runs in place on the 'native' backend: one pass over a variable, its gradient and
 * its buffers, where runtime/train/optimizers.ts's tf ops take ~6 passes, each into a fresh array (REFUGE18 has
 * 47M weights: ~190 MB per pass). The optimizer calls these first and runs its ops when they
 * decline, and its ops are their reference: the results are the same float32 values, bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { wasReadOut } from './buffer-pool.js';
import { count, f32, type CpuLike } from './kernels.js';
import { loadNative } from './loader.js';

/** The name the in-place SGD step is counted under in nativeKernelStats(). */
export const SGD_UPDATE = 'TdcSgdUpdate';

/** The SGD hyper-parameters of one step (runtime/train/optimizers.ts's SgdConfig and the step's learning rate). */
export interface SgdStep {
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

/** One variable's part of an SGD step: the variable, its gradient, its momentum buffer (null without momentum). */
export interface SgdItem {
  w: tf.Variable;
  g: tf.Tensor;
  buf: tf.Variable | null;
}

type Backend = CpuLike & { refCount(id: tf.DataId): number };

/**
 * The Float32Array of a tensor whose storage nothing else shares (an in-place write is seen by this tensor
 * alone), or null. The cpu backend counts the tensors on each storage; a clone, a reshape, a tape's saved copy or
 * the initial value a variable was made from all share it. An array once read out (dataSync, data) may still be
 * held by whoever read it: the tf ops then give the variable a new one, which the next step updates in place.
 */
function owned(b: Backend, t: tf.Tensor): Float32Array | null {
  const v = f32(b, t);
  return v && v.length === t.size && b.refCount(t.dataId) === 1 && !wasReadOut(v) ? v : null;
}

/**
 * One SGD step (the momentum buffers present exactly when momentum > 0) in place, in one addon call for all items,
 * when the active backend is 'native'. Returns which items it updated: those whose variable and buffer own their
 * storage, appear once and are no item's gradient. The rest are left untouched, for the caller's tf ops.
 * (On the cpu backends a tensor made from a caller's Float32Array keeps that array as its storage, so a variable
 * made that way and then owning it updates the caller's array too; tdc's weight loaders copy.)
 */
export function sgdUpdateInPlace(items: SgdItem[], s: SgdStep): boolean[] {
  const done = items.map(() => false);
  if (tf.getBackend() !== 'native' || items.length === 0) return done;
  const addon = loadNative();
  if (!addon) return done;
  const b = tf.backend() as unknown as Backend;
  const writes = new Map<tf.DataId, number>();
  for (const it of items) for (const t of [it.w, it.buf]) if (t) writes.set(t.dataId, (writes.get(t.dataId) ?? 0) + 1);
  const reads = new Set(items.map((it) => it.g.dataId));
  const once = (t: tf.Tensor) => writes.get(t.dataId) === 1 && !reads.has(t.dataId);
  const ws: Float32Array[] = [];
  const gs: Float32Array[] = [];
  const bufs: Float32Array[] = [];
  items.forEach((it, i) => {
    const w = owned(b, it.w);
    const buf = it.buf ? owned(b, it.buf) : null;
    const g = f32(b, it.g);
    if (!w || !g || g.length !== w.length || !once(it.w) || (it.buf && (!buf || buf.length !== w.length || !once(it.buf)))) return;
    ws.push(w);
    gs.push(g);
    if (buf) bufs.push(buf);
    done[i] = true;
  });
  try {
    if (ws.length > 0) addon.sgdUpdate(ws, gs, s.momentum > 0 ? bufs : null, s.lr, s.momentum, s.weightDecay, s.nesterov ? 1 : 0);
  } catch (e) {
    // The addon checks everything before it writes: nothing was updated.
    done.fill(false);
    for (const _ of items) count(SGD_UPDATE, false, e instanceof Error ? e.message : String(e));
    return done;
  }
  for (const d of done) count(SGD_UPDATE, d);
  return done;
}
