/**
 * A stride-1, undilated 2D or 3D convolution + bias + activation (linear or relu) as one op with its own gradient,
 * for training. tfjs's `tf.fused.conv2d` runs unfused whenever gradients are recorded (conv, then add, then relu:
 * three passes over the output and two more arrays per unit), and its gradient takes the relu's derivative in two
 * passes (mul(dy, step(y))) and the bias gradient in a third (sum). Here:
 * - forward: FusedConv2D (2D: one oneDNN primitive with bias and relu post-ops on 'native', XNNPACK's fused conv on
 *   wasm) or CONV3D_BIAS_ACT_KERNEL (3D, where the backend has it; else conv3d, add, relu as kernels), saving x, the
 *   filter and, for relu, the output (what conv + relu save unfused);
 * - backward: the relu derivative in one pass from the output (lean-grads.ts), dx by the backprop-input kernel only
 *   when the backward pass asks for it (not for the network's input image; lazy-grad.ts), and dW with db in one
 *   call (CONV_BACKPROP_FILTER_BIAS_KERNEL, oneDNN's backward-weights computing the bias gradient as it reads dy)
 *   where the backend has it, else the backprop-filter kernel and a sum.
 */
import * as tf from '@tensorflow/tfjs';
import { CONV3D_BIAS_ACT_KERNEL, CONV_BACKPROP_FILTER_BIAS_KERNEL } from './kernel-names.js';
import { lazyCustomGrad, type LazyGradBody, type LazyGradFunc } from './lazy-grad.js';
import { biasGrad, reluGradFromOutput } from './lean-grads.js';
import { backendHasKernels } from './registered.js';

export type ConvActivation = 'linear' | 'relu';

const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap);

/** The forward value, as one kernel where the backend has it. */
function forward(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | undefined, activation: ConvActivation, padding: 'same' | 'valid'): tf.Tensor {
  const inputs: tf.NamedTensorMap = b ? { x, filter: w, bias: b } : { x, filter: w };
  if (x.rank === 4) {
    return run('FusedConv2D', inputs, { strides: 1, pad: padding, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined, activation, leakyreluAlpha: 0 }) as tf.Tensor;
  }
  if (x.dtype === 'float32' && backendHasKernels(CONV3D_BIAS_ACT_KERNEL)) return run(CONV3D_BIAS_ACT_KERNEL, inputs, { pad: padding, activation }) as tf.Tensor;
  const c = run('Conv3D', { x, filter: w }, { strides: 1, pad: padding, dataFormat: 'NDHWC', dilations: 1 }) as tf.Tensor;
  const cb = b ? tf.add(c, b) : c;
  return activation === 'relu' ? tf.relu(cb) : cb;
}

/** y = act(conv(x, filter, stride 1, padding) + bias), channels-last, filter [...k, cin, cout]. */
export function convBiasAct<T extends tf.Tensor4D | tf.Tensor5D>(x: T, filter: T, bias: tf.Tensor1D | undefined, activation: ConvActivation, padding: 'same' | 'valid'): T {
  const twoD = x.rank === 4;
  const conv = twoD ? { strides: 1, pad: padding, dataFormat: 'NHWC', dimRoundingMode: undefined } : { strides: 1, pad: padding, dataFormat: 'NDHWC' };
  const body: LazyGradBody = ([xi, w, b], save) => {
    const y = forward(xi!, w!, b, activation, padding);
    save(activation === 'relu' ? [xi!, w!, y] : [xi!, w!]);
    const grads: LazyGradFunc = (d, saved) => {
      const [xs, ws, ys] = saved as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
      const g = activation === 'relu' ? reluGradFromOutput(d, ys!) : d;
      // Each gradient only when asked (dx not for the network's input image); dW and db together where one kernel
      // gives both (then both are computed here: the layer's kernel and bias train together).
      const dx = () => run(twoD ? 'Conv2DBackpropInput' : 'Conv3DBackpropInputV2', { dy: g, filter: ws }, { ...conv, inputShape: xs.shape }) as tf.Tensor;
      const filterAttrs = { ...conv, filterShape: ws.shape };
      const filterKernel = twoD ? 'Conv2DBackpropFilter' : 'Conv3DBackpropFilterV2';
      if (!b) return [dx, () => run(filterKernel, { x: xs, dy: g }, filterAttrs) as tf.Tensor];
      if (g.dtype === 'float32' && backendHasKernels(CONV_BACKPROP_FILTER_BIAS_KERNEL)) {
        const [dw, db] = run(CONV_BACKPROP_FILTER_BIAS_KERNEL, { x: xs, dy: g }, filterAttrs) as tf.Tensor[];
        return [dx, () => dw!, () => db!];
      }
      return [dx, () => run(filterKernel, { x: xs, dy: g }, filterAttrs) as tf.Tensor, () => biasGrad(g)];
    };
    return { value: y, grads };
  };
  return (bias ? lazyCustomGrad(body, x, filter, bias) : lazyCustomGrad(body, x, filter)) as T;
}
