/**
 * Public API of the runtime's ops that tfjs lacks: trainable dilated (atrous) convolutions and resizes with
 * correct gradients (2D bilinear, 3D trilinear).
 *
 * Signatures:
 *   atrousConv2d(x: tf.Tensor4D, filter: tf.Tensor4D, rates: [number, number], padding: 'same' | 'valid', bias?, activation?): tf.Tensor4D
 *   atrousConv3d(x: tf.Tensor5D, filter: tf.Tensor5D, rates: [number, number, number], padding: 'same' | 'valid', bias?, activation?): tf.Tensor5D
 *   (bias: tf.Tensor1D of cout; activation 'linear' (default) | 'relu', applied after the bias — in the native kernel)
 *   resizeBilinear2d(x: tf.Tensor4D, size: [number, number], alignCorners?: boolean): tf.Tensor4D
 *   resizeTrilinear3d(x: tf.Tensor5D, size: [number, number, number], alignCorners?: boolean): tf.Tensor5D
 *   resizeNearestNd(x: tf.Tensor, size: number[]): tf.Tensor  // 2D or 3D, floor(i·in/out) on each axis
 *   interpolationMatrix(inLen: number, outLen: number, alignCorners: boolean): Float32Array  // [outLen, inLen]
 *   biasAdd(x, b): x + per-channel b, saving nothing for its gradient; registerLeanGradients(): a ReLU gradient
 *   that saves the output, not the input (registered on import)
 *   convBiasAct(x, filter, bias | undefined, 'linear' | 'relu', padding): a stride-1 2D / 3D conv + bias + activation as
 *   one op, forward on the backend's fused kernel, gradient with dW and db in one kernel where the backend has it
 * Layouts are NHWC / NDHWC, stride 1, filters [kh, kw, cin, cout] / [kd, kh, kw, cin, cout].
 */
export { atrousConv2d, atrousConv3d } from './atrous.js';
export type { AtrousConvArgs, AtrousPadding } from './atrous.js';
export { interpolationMatrix, nearestMatrix, resizeBilinear2d, resizeNearestNd, resizeTrilinear3d } from './resize.js';
export { biasAdd, registerLeanGradients } from './lean-grads.js';
export { convBiasAct } from './conv-bias-act.js';
export type { ConvActivation } from './conv-bias-act.js';
