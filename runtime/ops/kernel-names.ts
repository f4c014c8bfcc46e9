/**
 * Names of the kernels tdc adds to tfjs, and their contracts, in one place: the ops and layers that run them, the
 * native kernels that implement them and their fallbacks all import these.
 */

/**
 * A one-pass relu-gradient kernel, dy · (y > 0) with inputs { dy, x } (x: the relu's input or output, same
 * result). The 'native' backend registers it; on a backend without it the gradient is tfjs's mul(dy, step(·)).
 */
export const RELU_GRAD_KERNEL = 'TdcReluGrad';

/**
 * Stride-1 dilated conv with explicit zero pads, channels-last, 2D or 3D, then an optional bias and activation:
 * inputs { x, filter, bias? }, attrs { rates: number[], pads: [before, after][] (one entry per spatial axis),
 * activation?: 'linear' | 'relu' }; output length per axis in + before + after − (k − 1)·rate
 * (runtime/ops/atrous.ts).
 */
export const ATROUS_CONV_KERNEL = 'TdcAtrousConv';
/** Its gradient w.r.t. x: inputs { dy, filter }, attrs { inputShape, rates, pads }. */
export const ATROUS_BACKPROP_INPUT_KERNEL = 'TdcAtrousBackpropInput';
/**
 * Its gradient w.r.t. the filter: inputs { x, dy }, attrs { filterShape, rates, pads }. 'native' registers all three;
 * 'wasm' registers this one alone, for 2D (the atrous op's 2D forward-conv path calls it for dW).
 */
export const ATROUS_BACKPROP_FILTER_KERNEL = 'TdcAtrousBackpropFilter';

/**
 * The filter of a convolution's input gradient taken as a forward convolution (runtime/ops/flip-filter.ts): inputs
 * { x } float32 [...k, ci, co], output [...k, co, ci] with every spatial axis reversed. 'wasm' registers it (one loop
 * over the heap in place); elsewhere flip-filter.ts runs the same loop on the values read out.
 */
export const FLIP_SWAP_FILTER_KERNEL = 'TdcFlipSwapFilter';

/**
 * One-call training batch norm, inputs { x, gamma, beta }, attrs { epsilon }, outputs [y, mean, variance, invstd]
 * (statistics over every axis but the last; variance biased; invstd = 1/√(variance + epsilon)). The 'native'
 * backend registers it; elsewhere the batch-norm layer runs tfjs's moments → sub → mul → add.
 */
export const BATCH_NORM_TRAIN_KERNEL = 'TdcBatchNormTrain';
/** Its gradient: inputs { dy, x, mean, invstd, gamma }, outputs [dx, dgamma, dbeta]. */
export const BATCH_NORM_GRAD_KERNEL = 'TdcBatchNormGrad';
/**
 * Batch norm with given statistics (inference, frozen layers) in one pass: inputs { x, mean, scale, beta }, output
 * (x − mean)·scale + beta per channel (the last axis), in float32 and in that order, as the sub → mul → add it
 * replaces (scale = gamma·rsqrt(variance + epsilon), computed by the caller).
 */
export const BATCH_NORM_APPLY_KERNEL = 'TdcBatchNormApply';

/**
 * A convolution's filter and bias gradients in one call: inputs { x, dy }, attrs those of Conv2DBackpropFilter
 * (2D: strides, pad, dataFormat, dimRoundingMode, filterShape) or Conv3DBackpropFilterV2 (3D), outputs [dW, db]
 * with db = Σ dy over every axis but the last (runtime/ops/conv-bias-act.ts).
 */
export const CONV_BACKPROP_FILTER_BIAS_KERNEL = 'TdcConvBackpropFilterBias';

/**
 * A stride-1, undilated 3D convolution with bias and activation in one call (tfjs has FusedConv2D but no 3D
 * counterpart): inputs { x, filter, bias? }, attrs { pad: 'same' | 'valid', activation: 'linear' | 'relu' }, NDHWC.
 */
export const CONV3D_BIAS_ACT_KERNEL = 'TdcConv3DBiasAct';
