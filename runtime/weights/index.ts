/** Public API of pretrained-weight loading (Keras .h5 via h5wasm, tfjs model.json). */
export { loadEncoderWeights } from './load.js';
export type { LoadEncoderWeightsOptions, LoadEncoderWeightsResult } from './load.js';
