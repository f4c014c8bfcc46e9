/**
 * The emit stage: the resolved spec and its model IR → the generated files (model.ts, trainer.ts, data.ts, main.ts,
 * spec.lock.json), through one Handlebars template per file. Pure: returns file contents, writes nothing.
 */
import { readFileSync } from 'node:fs';
import Handlebars from 'handlebars';
import type { Spec } from '../../spec/types.js';
import type { Result } from '../../spec/diagnostics.js';
import type { ModelIR } from '../../spec/ir/index.js';
import { dataHash } from './canonical.js';
import { registerHelpers } from './helpers.js';
import { buildTorchView } from './torch.js';
import { buildView, type EmitMeta } from './view.js';

export { specHash, canonicalJson, dataHash } from './canonical.js';
export type { EmitMeta } from './view.js';

export interface GeneratedFile {
  /** Path relative to the output folder. */
  path: string;
  contents: string;
}

/** Output files in emit order, each with its template. */
export const OUTPUTS = ['model.ts', 'trainer.ts', 'data.ts', 'main.ts', 'spec.lock.json'] as const;

/**
 * What `--target torch` adds: the PyTorch project (templates/torch/). The TypeScript files stay beside it, so
 * `tdc eval`, `predict`, `export` and `report` read a torch build and its runs like any other build.
 */
export const TORCH_OUTPUTS = ['model.py', 'losses.py', 'checkpoint.py', 'data.py', 'train.py'] as const;

export type Target = 'tfjs' | 'torch';
export const TARGETS: readonly Target[] = ['tfjs', 'torch'];

/** Where `tdc pack` writes, and the generated train.py looks, by default: relative to the spec's folder. */
export function defaultPackDir(specName: string): string {
  return `.tdc/pack/${specName}`;
}

let compiled: Map<string, Handlebars.TemplateDelegate> | undefined;

function templates(): Map<string, Handlebars.TemplateDelegate> {
  if (compiled) return compiled;
  const hb = Handlebars.create();
  registerHelpers(hb);
  // Templates ship beside this module (copied to dist/ by scripts/copy-assets.mjs); they are the module's own
  // assets, not user input.
  const read = (name: string) => readFileSync(new URL(`./templates/${name}`, import.meta.url), 'utf8');
  hb.registerPartial('header', read('header.hbs'));
  const options = { strict: true, noEscape: true, knownHelpersOnly: true, knownHelpers: { literal: true, json: true, str: true } };
  compiled = new Map(OUTPUTS.map((f) => [f, hb.compile(read(`${f}.hbs`), options)]));
  // Python files get their own header partial ('#' comments); a separate instance keeps the partial names apart.
  const py = Handlebars.create();
  registerHelpers(py);
  py.registerPartial('header', read('torch/header.py.hbs'));
  for (const f of TORCH_OUTPUTS) compiled.set(f, py.compile(read(`torch/${f}.hbs`), options));
  return compiled;
}

function render(path: string, view: unknown): GeneratedFile {
  const text = templates().get(path)!(view);
  // One trailing newline, no trailing spaces: stable bytes whatever the template's last line.
  return { path, contents: text.replace(/[ \t]+$/gm, '').replace(/\n*$/, '\n') };
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
