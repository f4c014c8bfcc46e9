/** Canonical JSON (sorted keys, fixed number form) and the spec hash: the same spec always gives the same bytes. */
import { createHash } from 'node:crypto';

/** Recursively sorts object keys so serialisation is independent of insertion order. */
export function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalize);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as object).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonicalize(v);
    }
    return out;
  }
  return value;
}

export function canonicalJson(value: unknown, indent = 2): string {
  return JSON.stringify(canonicalize(value), null, indent);
}

/** sha256 of the canonical JSON of the resolved spec: comments and key order in the YAML do not change it. */
export function specHash(resolvedSpec: unknown): string {
  return createHash('sha256').update(canonicalJson(resolvedSpec, 0)).digest('hex');
}

/**
 * sha256 of what a packed dataset depends on (the data and task sections, and the seed that draws the val split):
 * `tdc pack` records it and the generated train.py refuses a pack whose hash differs from its spec's.
 */
export function dataHash(spec: { data: unknown; task: unknown; train: { seed: number } }): string {
  return specHash({ data: spec.data, task: spec.task, seed: spec.train.seed });
}
