/**
 * Assigns samples to train/val/test from the spec's `splits`: explicit lists of groups (sequences, subjects,
 * file stems), or a seeded validation fraction over groups so that frames of one sequence never straddle splits.
 */
import type { DataSpec } from '../../spec/types.js';
import { Rng } from '../rng.js';
import { type SampleDescriptor, dataError } from './types.js';

export type SplitName = 'train' | 'val' | 'test';

/**
 * Rules, in order: groups named in `test` go to test, in `val` to val; when `train` is given only its groups
 * train (others are left out), otherwise every remaining group trains. With `valFraction` (and neither a
 * `train` nor a `val` list), about fraction · groups of the remaining groups are drawn for validation with
 * `seed`, stratified by scene (see drawValidation). A named group that does not exist is an error: a typo in a
 * split list must not silently shrink a split.
 */
export function splitSamples(
  samples: readonly SampleDescriptor[],
  splits: DataSpec['splits'],
  seed: number,
): Record<SplitName, SampleDescriptor[]> {
  const groups = [...new Set(samples.map((s) => s.group))].sort();
  const known = new Set(groups);
  for (const name of ['train', 'val', 'test'] as const) {
    for (const g of splits[name] ?? []) {
      if (!known.has(g)) {
        throw dataError(
          'unknown-split',
          `splits.${name} names '${g}', which is not in the dataset (groups: ${preview(groups)})`,
        );
      }
    }
  }
  const of = new Map<string, SplitName | undefined>();
  for (const g of splits.test ?? []) of.set(g, 'test');
  for (const g of splits.val ?? []) if (!of.has(g)) of.set(g, 'val');
  if (splits.train) {
    for (const g of splits.train) if (!of.has(g)) of.set(g, 'train');
  } else {
    const rest = groups.filter((g) => !of.has(g));
    for (const g of rest) of.set(g, 'train');
    if (!splits.val && splits.valFraction !== undefined && splits.valFraction > 0 && rest.length >= 2) {
      for (const g of drawValidation(rest, sceneOfGroups(samples), splits.valFraction, seed)) of.set(g, 'val');
    }
  }
  const out: Record<SplitName, SampleDescriptor[]> = { train: [], val: [], test: [] };
  for (const s of samples) {
    const split = of.get(s.group);
    if (split) out[split].push(s);
  }
  return out;
}

/** Each group's scene: the one most of its samples have (ties: the lower index; -1 when none has a scene). */
function sceneOfGroups(samples: readonly SampleDescriptor[]): Map<string, number> {
  const counts = new Map<string, Map<number, number>>();
  for (const s of samples) {
    const c = counts.get(s.group) ?? new Map<number, number>();
    c.set(s.scene, (c.get(s.scene) ?? 0) + 1);
    counts.set(s.group, c);
  }
  const out = new Map<string, number>();
  for (const [g, c] of counts) {
    const known = [...c].filter(([scene]) => scene >= 0).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    out.set(g, known[0]?.[0] ?? -1);
  }
  return out;
}

/**
 * The validation groups of a `valFraction` split, stratified by scene: within each scene's groups (shuffled
 * with the seed, scenes in index order) round(fraction · n) go to validation, at least one wherever a scene has
 * two or more groups and never all of them, so no such scene is missing from validation. When no scene has two
 * groups (each is its own stratum), one seeded draw over all groups keeps at least one for validation.
 */
function drawValidation(groups: readonly string[], sceneOf: Map<string, number>, fraction: number, seed: number): string[] {
  const rng = new Rng(seed);
  const strata = new Map<number, string[]>();
  for (const g of groups) {
    const s = sceneOf.get(g) ?? -1;
    strata.set(s, [...(strata.get(s) ?? []), g]);
  }
  const take = (list: string[]): string[] => {
    const n = Math.min(list.length - 1, Math.max(1, Math.round(fraction * list.length)));
    return rng.shuffle([...list]).slice(0, n);
  };
  const val = [...strata.keys()]
    .sort((a, b) => a - b)
    .flatMap((s) => (strata.get(s)!.length >= 2 ? take(strata.get(s)!) : []));
  return val.length > 0 ? val : take([...groups]);
}

function preview(items: string[]): string {
  return items.length <= 8 ? items.join(', ') : `${items.slice(0, 8).join(', ')}, … (${items.length} in all)`;
}
