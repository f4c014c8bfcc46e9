/**
 * A stride-1, undilated 2D convolution + bias + activation (linear or relu) as one op with its own gradient, for
 * training. tfjs's `tf.fused.conv2d` runs unfused whenever gradients are recorded (conv, then add, then relu: three
 * passes over the output and two more arrays per unit), and its gradient takes the relu's derivative in two passes
 * (mul(dy, step(y))) and the bias gradient in a third (sum). Here:
 * - forward: the backend's FusedConv2D kernel (one oneDNN primitive with bias and relu post-ops on 'native',
 *   XNNPACK's fused conv on wasm), saving x, the filter and the output (what conv + relu save unfused);
 * - backward: the relu derivative in one pass from the output (lean-grads.ts), dx by Conv2DBackpropInput, and dW
 *   with db in one call (CONV_BACKPROP_FILTER_BIAS_KERNEL, oneDNN's backward-weights computing the bias gradient
 *   as it reads dy) where the backend has it, else Conv2DBackpropFilter and a sum.
 */
import * as tf from '@tensorflow/tfjs';
import { CONV_BACKPROP_FILTER_BIAS_KERNEL } from './kernel-names.js';
import { reluGradFromOutput } from './lean-grads.js';
import { backendHasKernels } from './registered.js';

export type ConvActivation = 'linear' | 'relu';

/** y = act(conv2d(x, filter, stride 1, padding) + bias), NHWC, filter [kh, kw, cin, cout]. */
export function conv2dBiasAct(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D | undefined,
  activation: ConvActivation,
  padding: 'same' | 'valid',
): tf.Tensor4D {
  const conv = { strides: 1, pad: padding, dataFormat: 'NHWC', dimRoundingMode: undefined } as const;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xi, w, b] = args.slice(0, -1) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D | undefined];
    const inputs: tf.NamedTensorMap = b ? { x: xi, filter: w, bias: b } : { x: xi, filter: w };
    const y = tf.engine().runKernel('FusedConv2D', inputs, { ...conv, dilations: 1, activation, leakyreluAlpha: 0 } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    save([xi, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        const d = Array.isArray(dy) ? dy[0]! : dy;
        const g = activation === 'relu' ? reluGradFromOutput(d, ys) : d;
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy: g, filter: ws }, { ...conv, inputShape: xs.shape } as unknown as tf.NamedAttrMap) as tf.Tensor;
        const filterAttrs = { ...conv, filterShape: ws.shape } as unknown as tf.NamedAttrMap;
        if (!b) return [dx, tf.engine().runKernel('Conv2DBackpropFilter', { x: xs, dy: g }, filterAttrs) as tf.Tensor];
        if (g.dtype === 'float32' && backendHasKernels(CONV_BACKPROP_FILTER_BIAS_KERNEL)) {
          const [dw, db] = tf.engine().runKernel(CONV_BACKPROP_FILTER_BIAS_KERNEL, { x: xs, dy: g }, filterAttrs) as tf.Tensor[];
          return [dx, dw!, db!];
        }
        return [dx, tf.engine().runKernel('Conv2DBackpropFilter', { x: xs, dy: g }, filterAttrs) as tf.Tensor, tf.sum(g, [0, 1, 2])];
      },
    };
  });
  return (bias ? op(x, filter, bias) : op(x, filter)) as tf.Tensor4D;
}
