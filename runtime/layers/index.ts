/** Public API of the network layers and blocks (tfjs-layers custom layers + functional-graph builders). */
export { AtrousConv, atrousConv } from './atrous-conv.js';
export type { AtrousConvArgs, Activation, LayerArgs } from './atrous-conv.js';
export { BatchNorm, batchNorm } from './batch-norm.js';
export type { BatchNormArgs } from './batch-norm.js';
export { UpsampleTo, upsampleTo, GlobalAvgPool, globalAvgPool } from './upsample.js';
export type { UpsampleToArgs, UpsampleMode, GlobalAvgPoolArgs } from './upsample.js';
export { makeInitializer, SeedSequence } from './init.js';
export type { KernelInit } from './init.js';
export type { BlockInitArgs, Norm } from './units.js';
export { vgg16Encoder, aniso3dEncoder, convStackEncoder, VGG16_CONVS, VGG16_WIDTHS } from './encoders.js';
export type { Vgg16EncoderArgs, Aniso3dEncoderArgs, ConvStackEncoderArgs } from './encoders.js';
export { contextEnsemble } from './context.js';
export type { ContextEnsembleArgs, ContextCombine } from './context.js';
export { aspp, segHead, denseHead } from './decoder.js';
export type { AsppArgs, SegHeadArgs, DenseHeadArgs } from './decoder.js';
export { buildNetwork, networkArgsFromSpec, layerGroups, groupOf, inputShapeOf, LAYER_GROUP_PREFIXES } from './network.js';
export type { NetworkArgs, NetworkOutputs, EncoderArgs, LayerGroup } from './network.js';
