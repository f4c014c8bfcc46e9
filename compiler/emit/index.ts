/**
 * The emit stage: the resolved spec and its model IR → the generated files (model.ts, trainer.ts, data.ts, main.ts,
 * spec.lock.json), through one Handlebars template per file. Pure: returns file contents, writes nothing.
 */
import { readFileSync } from 'node:fs';
import Handlebars from 'handlebars';
import type { Spec } from '../../spec/types.js';
import type { Result } from '../../spec/diagnostics.js';
import type { ModelIR } from '../../spec/ir/index.js';
import { registerHelpers } from './helpers.js';
import { buildView, type EmitMeta } from './view.js';

export { specHash, canonicalJson } from './canonical.js';
export type { EmitMeta } from './view.js';

export interface GeneratedFile {
  /** Path relative to the output folder. */
  path: string;
  contents: string;
}

/** Output files in emit order, each with its template. */
export const OUTPUTS = ['model.ts', 'trainer.ts', 'data.ts', 'main.ts', 'spec.lock.json'] as const;

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
  return compiled;
}

/** The spec's files; the network comes from its model IR `ir` (the lowering of `spec`), the rest from the spec. */
export function emitProject(spec: Spec, ir: ModelIR, meta: EmitMeta): Result<GeneratedFile[]> {
  const view = buildView(spec, ir, meta);
  const files = OUTPUTS.map((path) => {
    const text = templates().get(path)!(view);
    // One trailing newline, no trailing spaces: stable bytes whatever the template's last line.
    return { path, contents: text.replace(/[ \t]+$/gm, '').replace(/\n*$/, '\n') };
  });
  return { value: files, diagnostics: [] };
}
