/**
 * Ops whose gradients keep less memory than tfjs's own, for training 3D networks on one CPU machine.
 *
 * A train step's memory is mostly the tensors the gradient tape saves in the forward pass. Per conv → bias →
 * batch norm → ReLU unit, tfjs saves four full-size maps: the conv output (its `Add` gradient saves both inputs,
 * though it only needs their shapes), the batch-norm input, the ReLU input and the ReLU output (the next conv's
 * input). Two suffice: `biasAdd` saves nothing, and the ReLU gradient is taken from the ReLU's output (which the
 * next layer saves anyway) instead of its input, since relu'(x) = step(x) = step(relu(x)). For the BRATS network
 * at 144×144×19 that halves what a train step holds.
 */
import * as tf from '@tensorflow/tfjs';
import { RELU_GRAD_KERNEL } from './kernel-names.js';
import { backendHasKernels } from './registered.js';

/** x + b for a per-channel bias b (broadcast over all but the last axis), saving nothing for its gradient. */
export function biasAdd<T extends tf.Tensor>(x: T, b: tf.Tensor1D | tf.Tensor): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, bias] = args as [tf.Tensor, tf.Tensor];
    return {
      value: tf.add(input, bias),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        const d = Array.isArray(dy) ? dy[0]! : dy;
        return [d.clone(), biasGrad(d)];
      },
    };
  });
  return op(x, b) as T;
}

/** The gradient of a per-channel bias given the output's gradient dy: dy summed over every axis but the last. */
export function biasGrad(dy: tf.Tensor): tf.Tensor {
  return tf.sum(dy, Array.from({ length: dy.rank - 1 }, (_, i) => i));
}

/** dy · relu'(x) from the relu's output y (step(y) = step(x)): one pass where the backend has RELU_GRAD_KERNEL. */
export function reluGradFromOutput(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return y.dtype === 'float32' && backendHasKernels(RELU_GRAD_KERNEL)
    ? (tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x: y }, {}) as tf.Tensor)
    : tf.mul(dy, tf.cast(tf.step(y), 'float32'));
}

let registered = false;

/**
 * Replaces tfjs's `Relu` gradient (which saves the input) by one that saves the output; the values are the same
 * (tfjs takes step(0) = 0, and relu(x) > 0 exactly when x > 0). Idempotent; the runtime calls it on import.
 */
export function registerLeanGradients(): void {
  if (registered) return;
  registered = true;
  const grad: tf.GradConfig = {
    kernelName: 'Relu',
    outputsToSave: [true],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const d = Array.isArray(dy) ? dy[0]! : dy;
      const [y] = saved as [tf.Tensor];
      return { x: () => reluGradFromOutput(d, y) };
    },
  };
  // tfjs warns (in debug mode) when a gradient is overridden: this override is deliberate.
  const warn = console.warn;
  console.warn = () => {};
  try {
    tf.registerGradient(grad);
  } finally {
    console.warn = warn;
  }
}

registerLeanGradients();
