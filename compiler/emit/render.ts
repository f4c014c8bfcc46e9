/**
 * The emit stage's templates: one Handlebars template per output file, each instance with its own `header` partial.
 * `npm run build` precompiles them (scripts/build-templates.mjs) so that `tdc build` loads only Handlebars' runtime;
 * run from the TypeScript sources, or when a template changed after the precompile, they are compiled here instead.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type HandlebarsFull from 'handlebars';
import { vendored } from '../vendor.js';
import { registerHelpers } from './helpers.js';

type Env = typeof HandlebarsFull;
const require = createRequire(import.meta.url);
type Template = HandlebarsFull.TemplateDelegate;

/** TypeScript output files in emit order; each is rendered from `templates/<file>.hbs`. */
export const OUTPUTS = ['model.ts', 'trainer.ts', 'data.ts', 'main.ts', 'spec.lock.json'] as const;

/**
 * What `--target torch` adds: the PyTorch project (templates/torch/). The TypeScript files stay beside it, so
 * `tdc eval`, `predict`, `export` and `report` read a torch build and its runs like any other build.
 */
export const TORCH_OUTPUTS = ['model.py', 'losses.py', 'checkpoint.py', 'data.py', 'train.py'] as const;

/**
 * The Handlebars instances: each has its own `header` partial (TypeScript comments, Python '#' comments), so the
 * two sets keep the partial name apart. Paths are relative to templates/.
 */
export const TEMPLATE_SETS = [
  { header: 'header.hbs', outputs: OUTPUTS.map((f) => [f, `${f}.hbs`] as const) },
  { header: 'torch/header.py.hbs', outputs: TORCH_OUTPUTS.map((f) => [f, `torch/${f}.hbs`] as const) },
];

/**
 * Compile options of every template (and partial): they are baked into the precompiled code. Handlebars writes into
 * the options object it is given, so each compile gets a copy (`templateOptions()`).
 */
const TEMPLATE_OPTIONS = { strict: true, noEscape: true, knownHelpersOnly: true, knownHelpers: { literal: true, json: true, str: true } };

export function templateOptions(): typeof TEMPLATE_OPTIONS {
  return structuredClone(TEMPLATE_OPTIONS);
}

/** File name of the precompiled templates `npm run build` writes next to this module (scripts/build-templates.mjs). */
export const PRECOMPILED_TEMPLATES = 'templates.precompiled.cjs';

/** What the precompiled file holds: each template's Handlebars spec, under its path, with its source's hash. */
export interface PrecompiledTemplates {
  /** The Handlebars version that precompiled them (its runtime refuses specs of another compiler revision). */
  version: string;
  templates: Record<string, { hash: string; spec: object }>;
}

/**
 * sha256 of a template's source together with the compile options: the precompiled spec of a template is used only
 * when this matches the template file now beside the module.
 */
export function templateHash(source: string): string {
  return createHash('sha256').update(JSON.stringify(TEMPLATE_OPTIONS)).update('\0').update(source).digest('hex');
}

/** A template's source. Templates ship beside this module (copied to dist/ by scripts/copy-assets.mjs). */
export function templateSource(path: string): string {
  return readFileSync(new URL(`./templates/${path}`, import.meta.url), 'utf8');
}

let loaded: Map<string, Template> | undefined;
let precompiledSets = 0;

/**
 * Every output file's template, by output path. A set whose files all match their precompiled hashes runs on
 * Handlebars' runtime alone; any other set (no precompiled file, or a template edited since) is compiled here.
 */
export function templates(): Map<string, Template> {
  if (loaded) return loaded;
  const pre = loadPrecompiled();
  const result = new Map<string, Template>();
  for (const set of TEMPLATE_SETS) {
    const sources = new Map([set.header, ...set.outputs.map(([, path]) => path)].map((path) => [path, templateSource(path)]));
    const specs = pre && [...sources].every(([path, source]) => pre.templates[path]?.hash === templateHash(source)) ? pre.templates : undefined;
    // The compiler is loaded on demand: a build with current precompiled templates never loads it.
    // Handlebars' runtime is the compiler's subset (same API, no compile).
    const env = (specs ? vendored<Env>('handlebars/runtime') : (require('handlebars') as Env)).create();
    registerHelpers(env);
    const make = (path: string): Template =>
      specs ? env.template(specs[path]!.spec as Parameters<Env['template']>[0]) : env.compile(sources.get(path)!, templateOptions());
    // A source partial is compiled on first use with its template's options; a precompiled one was compiled with them.
    env.registerPartial('header', specs ? make(set.header) : sources.get(set.header)!);
    for (const [out, path] of set.outputs) result.set(out, make(path));
    if (specs) precompiledSets++;
  }
  loaded = result;
  return loaded;
}

/** Whether every template runs from its precompiled spec (true in a current `npm run build`; for the tests). */
export function templatesPrecompiled(): boolean {
  templates();
  return precompiledSets === TEMPLATE_SETS.length;
}

function loadPrecompiled(): PrecompiledTemplates | undefined {
  try {
    const pre = require(`./${PRECOMPILED_TEMPLATES}`) as PrecompiledTemplates;
    if (pre.version === vendored<Env>('handlebars/runtime').VERSION) return pre;
  } catch {
    // not built (running from the TypeScript sources): compile instead
  }
  return undefined;
}
