/** Public API of model export: tdc networks as standard tfjs Layers artifacts (model.json + weights.bin). */
export { exportTfjs, toStandardModel, tfjsArtifacts, layerClassesOf, STANDARD_LAYER_CLASSES } from './tfjs-layers.js';
export type { ExportTfjsArgs, ExportResult } from './tfjs-layers.js';
