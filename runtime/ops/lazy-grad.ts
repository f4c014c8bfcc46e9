/**
 * `tf.customGrad` whose gradient computes each input's gradient only when the backward pass asks for it.
 *
 * tfjs's customGrad calls the whole gradFunc as soon as the node is reached and hands back the finished tensors,
 * so a gradient nobody reads is still computed: the first conv of a network computes the gradient of the input
 * image (a backprop-input conv over the full-resolution map, every train step). Both backward passes (tfjs's and
 * runtime/train/grads.ts) call the per-input gradient functions only for inputs on a path from a variable, so
 * returning those functions unevaluated skips the rest. Each function runs inside its own tidy: anything two of
 * them share (a relu derivative) belongs in `grads` before the functions, not cached inside one of them.
 *
 * It uses the engine's `runKernelFunc` (what tf.customGrad itself calls, so present wherever tf.customGrad works in
 * tfjs-core 4.x; not public API).
 */
import * as tf from '@tensorflow/tfjs';

/** The gradient of each input, one function per input in argument order, given dy and the saved tensors. */
export type LazyGradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => Array<() => tf.Tensor>;

export type LazyGradBody = (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; grads: LazyGradFunc };

interface KernelFuncEngine {
  runKernelFunc(params: {
    forwardFunc: (backend: unknown, save: tf.GradSaveFunc) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

const single = (dy: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(dy) ? dy[0]! : dy);

/** Applies `body` to `inputs` as one differentiable op whose input gradients are computed on demand. */
export function lazyCustomGrad(body: LazyGradBody, ...inputs: tf.Tensor[]): tf.Tensor {
  const engine = tf.engine() as unknown as Partial<KernelFuncEngine>;
  if (typeof engine.runKernelFunc !== 'function') {
    // tf.customGrad itself runs on runKernelFunc (tfjs-core 4.22), so a tfjs without it needs this file ported.
    throw new Error(`lazyCustomGrad: this tfjs (${tf.version_core}) has no engine runKernelFunc; runtime/ops/lazy-grad.ts needs porting`);
  }
  let grads: LazyGradFunc | undefined;
  const inputMap: Record<string, tf.Tensor> = {};
  inputs.forEach((t, i) => (inputMap[i] = t));
  return engine.runKernelFunc.call(engine, {
    forwardFunc: (_backend, save) => {
      const out = body(inputs, save);
      grads = out.grads;
      return out.value;
    },
    backwardsFunc: (dy, saved) => {
      const fns = grads!(single(dy), saved);
      if (fns.length !== inputs.length) throw new Error(`lazyCustomGrad: ${fns.length} gradient functions for ${inputs.length} inputs`);
      const map: Record<string, () => tf.Tensor> = {};
      fns.forEach((fn, i) => (map[i] = fn));
      return map;
    },
    inputs: inputMap,
  });
}
