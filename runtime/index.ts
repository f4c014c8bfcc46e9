/**
 * The tdc runtime, as generated code and users import it (`tdc/runtime`): the facade the generated files are
 * written against at the top level, and each part of the library as a namespace.
 */
export * from './program.js';
export * as ops from './ops/index.js';
export * as layers from './layers/index.js';
export * as losses from './losses/index.js';
export * as metrics from './metrics/index.js';
export * as data from './data/index.js';
export * as io from './io/index.js';
export * as training from './train/index.js';
export * as backend from './backend/index.js';
export * as weights from './weights/index.js';
export * as predict from './predict/index.js';
export * as evaluate from './evaluate/index.js';
export * as report from './report/index.js';
export * as exporting from './export/index.js';
export { Rng } from './rng.js';
export { TdcError, type TdcErrorOptions } from './errors.js';
