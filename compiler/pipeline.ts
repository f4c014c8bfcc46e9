/** The compiler front half: load → resolve → semantic checks → model IR, stopping at the first stage with errors. */
import type { Spec } from '../spec/types.js';
import { hasErrors, type Diagnostic } from './diagnostics.js';
import { loadSpec, type ComposedDoc, type SpecHost } from './frontend.js';
import { lowerModel, type ModelIR } from './ir/index.js';
import { resolve } from './resolve.js';
import { checkSemantics, type SemanticOptions } from './semantic.js';

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
  const diagnostics = [...loaded.diagnostics];
  const doc = loaded.value;
  if (!doc || hasErrors(diagnostics)) return doc ? { doc, diagnostics } : { diagnostics };

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
  return { doc, spec, ir: lowered.value, diagnostics };
}
