/** The spec front end: parse → compose (extends, --set) → validate with defaults, as one pure function. */
import { hasErrors, type Result } from '../spec/diagnostics.js';
import { composeSpec, type SpecHost } from './compose.js';
import type { ComposedDoc, SpanIndex } from './parse/index.js';
import { validateSpec } from './validate/index.js';

export type { SpecHost } from './compose.js';
export type { ComposedDoc, Path, SpanIndex } from './parse/index.js';

/**
 * Loads a spec for the later stages. On success `value.data` is the written form (snake_case keys, numbers
 * possibly still expression strings) with every schema default filled in. The value is undefined when the spec
 * has errors; diagnostics then hold all of them (YAML and composition problems, then schema problems).
 */
export function loadSpec(entry: string, host: SpecHost, overrides: readonly string[] = []): Result<ComposedDoc | undefined> {
  const { value, diagnostics } = loadSpecDetailed(entry, host, overrides);
  return { value, diagnostics };
}

/** `loadSpec`, plus the spans of whatever was read even when there are errors (for printing them). */
export function loadSpecDetailed(
  entry: string,
  host: SpecHost,
  overrides: readonly string[] = [],
): Result<ComposedDoc | undefined> & { spans?: SpanIndex } {
  const composed = composeSpec(entry, host, overrides);
  const doc = composed.value;
  if (!doc) return { ...composed, spans: composed.spans };
  // Without its parent a child spec lacks most sections; schema errors about them would bury the real one.
  if (composed.diagnostics.some((d) => d.code === 'TDC0301' || d.code === 'TDC0302')) {
    return { value: undefined, diagnostics: composed.diagnostics, spans: doc.spans };
  }
  const validated = validateSpec(doc);
  const diagnostics = [...composed.diagnostics, ...validated.diagnostics];
  if (hasErrors(diagnostics) || validated.value === undefined) return { value: undefined, diagnostics, spans: doc.spans };
  return { value: { ...doc, data: validated.value }, diagnostics, spans: doc.spans };
}
