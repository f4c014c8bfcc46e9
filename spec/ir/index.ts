/** The model IR: a plain, serializable description of the network's blocks, and the lowering that builds it. */
export type {
  ActivationLayer,
  AddLayer,
  AsppBlock,
  BatchNormLayer,
  Block,
  BlockKind,
  BroadcastLayer,
  Composite,
  ConcatLayer,
  ContextBranch,
  ConvLayer,
  DenseHead,
  DenseLayer,
  DropoutLayer,
  GlobalAvgPoolLayer,
  InputLayer,
  Layer,
  MaxPoolLayer,
  ModelIR,
  Part,
  ReceptiveField,
  ResBlock,
  SegHead,
  UnetUpBlock,
  UpsampleLayer,
  ZeroPadLayer,
} from './types.js';
export { PARTS } from './types.js';
export { lowerModel, inputShape, canonicalize, log2Exact } from './lower.js';
export type { NetworkSpec } from './lower.js';
export { realizedNames } from './names.js';
export type { RealizedNames } from './names.js';
export { encoderChannels, encoderStride, VGG16_CONVS, VGG16_WIDTHS } from './encoder.js';
