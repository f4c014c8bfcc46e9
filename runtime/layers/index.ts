/** Public API of the network layers (tfjs-layers custom layers) and of buildNetwork, which wires them as a model IR says. */
export { AtrousConv, atrousConv } from './atrous-conv.js';
export type { AtrousConvArgs, Activation, LayerArgs } from './atrous-conv.js';
export { BatchNorm, batchNorm } from './batch-norm.js';
export type { BatchNormArgs } from './batch-norm.js';
export { UpsampleTo, upsampleTo, GlobalAvgPool, globalAvgPool } from './upsample.js';
export type { UpsampleToArgs, UpsampleMode, GlobalAvgPoolArgs } from './upsample.js';
export { makeInitializer, SeedSequence } from './init.js';
export type { KernelInit } from './init.js';
export { buildNetwork, layerGroups, layerParts } from './network.js';
export type { BuildNetworkOptions, Network, NetworkOutputs } from './network.js';
