/**
 * Optimizer updates that the addon runs in place on the 'native' backend: one pass over a variable, its gradient and
 * its buffers, where runtime/train/optimizers.ts's tf ops take ~6 passes, each into a fresh array (on a REFUGE18
 * step, ~90 ms of Multiply and Add for 25M weights). The optimizer calls these first and runs its ops when they
 * decline, and its ops are their reference: the results are the same float32 values, bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
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

/**
 * The Float32Array of a tensor whose storage nothing else shares (an in-place write is seen by this tensor
 * alone), or null. The cpu backend counts the tensors on each storage; a clone, a reshape, a tape's saved copy or
 * the initial value a variable was made from all share it.
 */
function owned(b: CpuLike & { refCount(id: tf.DataId): number }, t: tf.Tensor): Float32Array | null {
  const v = f32(b, t);
  return v && v.length === t.size && b.refCount(t.dataId) === 1 ? v : null;
}

/**
 * w ← one SGD step with gradient g (and momentum buffer `buf`, present exactly when momentum > 0), in place, when
 * the active backend is 'native' and w and buf own their storage; returns false (nothing written) otherwise.
 */
export function sgdUpdateInPlace(w: tf.Variable, g: tf.Tensor, buf: tf.Variable | null, s: SgdStep): boolean {
  if (tf.getBackend() !== 'native') return false;
  const addon = loadNative();
  if (!addon) return false;
  const b = tf.backend() as unknown as CpuLike & { refCount(id: tf.DataId): number };
  const wv = owned(b, w);
  const bv = buf ? owned(b, buf) : null;
  const gv = f32(b, g);
  const ok = wv !== null && gv !== null && gv.length === wv.length && (buf === null || bv !== null) && g.dataId !== w.dataId && g.dataId !== buf?.dataId;
  if (!ok) {
    count(SGD_UPDATE, false);
    return false;
  }
  try {
    addon.sgdUpdate(wv, gv, bv, s.lr, s.momentum, s.weightDecay, s.nesterov ? 1 : 0);
  } catch (e) {
    count(SGD_UPDATE, false, e instanceof Error ? e.message : String(e));
    return false;
  }
  count(SGD_UPDATE, true);
  return true;
}
