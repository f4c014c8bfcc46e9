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
 * `train` nor a `val` list), round(fraction · groups) of the remaining groups (at least one when fraction > 0 and two or more groups
 * remain) are drawn for validation with `seed`. A named group that does not exist is an error: a typo in a
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
    let rest = groups.filter((g) => !of.has(g));
    if (!splits.val && splits.valFraction !== undefined && splits.valFraction > 0 && rest.length >= 2) {
      const nVal = Math.min(rest.length - 1, Math.max(1, Math.round(splits.valFraction * rest.length)));
      rest = new Rng(seed).shuffle([...rest]);
      for (let i = 0; i < rest.length; i++) of.set(rest[i]!, i < nVal ? 'val' : 'train');
    } else {
      for (const g of rest) of.set(g, 'train');
    }
  }
  const out: Record<SplitName, SampleDescriptor[]> = { train: [], val: [], test: [] };
  for (const s of samples) {
    const split = of.get(s.group);
    if (split) out[split].push(s);
  }
  return out;
}

function preview(items: string[]): string {
  return items.length <= 8 ? items.join(', ') : `${items.slice(0, 8).join(', ')}, … (${items.length} in all)`;
}
