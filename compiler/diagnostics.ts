/**
 * One diagnostic shape for every compiler stage, and the closed list of diagnostic codes.
 * Stages never throw for user errors: they return `{ value, diagnostics }` (see `Result`).
 */
import type { Span } from '../spec/types.js';

export type Severity = 'error' | 'warning' | 'info';

/**
 * Every code tdc can print, each with one sentence. Ranges:
 * TDC01xx YAML syntax · TDC02xx schema · TDC03xx composition (extends, --set) ·
 * TDC04xx expressions · TDC05xx semantic checks · TDC06xx dataset checks · TDC09xx usage / CLI.
 * Keep this object the single place codes are defined; docs and tests read it.
 */
export const CODES = {
  // Filled in by each stage's owner; see the ranges above.
} as const satisfies Record<string, string>;

export type Code = keyof typeof CODES;

export interface Diagnostic {
  code: Code;
  severity: Severity;
  message: string;
  /** Where the problem is; absent only for problems that have no place in a file (e.g. a missing file). */
  span?: Span;
  /** A suggestion the user can act on ("did you mean 'dilations'?"). */
  hint?: string;
}

export interface Result<T> {
  value: T;
  diagnostics: Diagnostic[];
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}
