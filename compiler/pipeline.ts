/** The compiler front half: load → resolve → semantic checks → model IR → shape checks on the IR, stopping at the first stage with errors. */
import type { Spec } from '../spec/types.js';
import { hasErrors, type Diagnostic } from '../spec/diagnostics.js';
import { loadSpec, type ComposedDoc, type SpecHost } from './frontend.js';
import { lowerModel, type ModelIR } from '../spec/ir/index.js';
import { resolve } from './resolve.js';
import { checkSemantics, checkShapes, type SemanticOptions } from './semantic.js';

export interface CompileResult {
  doc?: ComposedDoc;
  spec?: Spec;
  ir?: ModelIR;
  diagnostics: Diagnostic[];
}

/**
 * Runs every front-end stage. Each stage reports all of its diagnostics; a stage with errors stops the chain
 * (later stages would only report consequences). Warnings never stop it. `opts.exists` enables file checks.
 */
export function compile(entry: string, host: SpecHost, overrides: string[] = [], opts: SemanticOptions = {}): CompileResult {
  const loaded = loadSpec(entry, host, overrides);
  const doc = loaded.value;
  if (!doc || hasErrors(loaded.diagnostics)) return doc ? { doc, diagnostics: loaded.diagnostics } : { diagnostics: loaded.diagnostics };
  const rest = compileDoc(doc, opts);
  return { ...rest, diagnostics: [...loaded.diagnostics, ...rest.diagnostics] };
}

/**
 * The stages after loading (resolve → semantic checks → IR) on an already loaded, schema-valid document, for
 * callers that ran the front end themselves. Returns only these stages' diagnostics.
 */
export function compileDoc(doc: ComposedDoc, opts: SemanticOptions = {}): CompileResult {
  const diagnostics: Diagnostic[] = [];
  const resolved = resolve(doc);
  diagnostics.push(...resolved.diagnostics);
  const spec = resolved.value;
  if (!spec || hasErrors(resolved.diagnostics)) return { doc, diagnostics };

  const semantic = checkSemantics(spec, doc, opts);
  diagnostics.push(...semantic);
  if (hasErrors(semantic)) return { doc, spec, diagnostics };

  const lowered = lowerModel(spec);
  diagnostics.push(...lowered.diagnostics);
  if (hasErrors(lowered.diagnostics)) return { doc, spec, diagnostics };
  diagnostics.push(...checkShapes(spec, lowered.value, doc));
  return { doc, spec, ir: lowered.value, diagnostics };
}
