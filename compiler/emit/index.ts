/**
 * The emit stage: the resolved spec and its model IR → the generated files (model.ts, trainer.ts, data.ts, main.ts,
 * spec.lock.json), through one Handlebars template per file. Pure: returns file contents, writes nothing.
 */
import type { Spec } from '../../spec/types.js';
import type { Result } from '../../spec/diagnostics.js';
import type { ModelIR } from '../../spec/ir/index.js';
import { dataHash } from './canonical.js';
import { OUTPUTS, TORCH_OUTPUTS, templates } from './render.js';
import { buildTorchView } from './torch.js';
import { buildView, type EmitMeta } from './view.js';

export { specHash, canonicalJson, dataHash } from './canonical.js';
export type { EmitMeta } from './view.js';
export { OUTPUTS, TORCH_OUTPUTS } from './render.js';

export interface GeneratedFile {
  /** Path relative to the output folder. */
  path: string;
  contents: string;
}

export type Target = 'tfjs' | 'torch';
export const TARGETS: readonly Target[] = ['tfjs', 'torch'];

/** Where `tdc pack` writes, and the generated train.py looks, by default: relative to the spec's folder. */
export function defaultPackDir(specName: string): string {
  return `.tdc/pack/${specName}`;
}

function render(path: string, view: unknown): GeneratedFile {
  const text = templates().get(path)!(view);
  // One trailing newline, no trailing spaces: stable bytes whatever the template's last line. The lookbehind makes
  // each run of blanks one match attempt (`/[ \t]+$/gm` alone retries from every blank of every indentation).
  return { path, contents: text.replace(/(?<![ \t])[ \t]+$/gm, '').replace(/\n*$/, '\n') };
}

/**
 * The spec's files; the network comes from its model IR `ir` (the lowering of `spec`), the rest from the spec.
 * `target: 'torch'` adds the PyTorch project, written from the same IR.
 */
export function emitProject(spec: Spec, ir: ModelIR, meta: EmitMeta, target: 'tfjs' | 'torch' = 'tfjs'): Result<GeneratedFile[]> {
  const view = buildView(spec, ir, meta);
  const files = OUTPUTS.map((path) => render(path, view));
  if (target === 'torch') {
    const tv = buildTorchView(spec, ir, meta, { packDir: defaultPackDir(spec.name), dataHash: dataHash(spec) });
    files.push(...TORCH_OUTPUTS.map((path) => render(path, tv)));
  }
  return { value: files, diagnostics: [] };
}
