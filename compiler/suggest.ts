/** "Did you mean …?" suggestions for every stage (schema keys and values, expression names, parts): the closest allowed word by Damerau-Levenshtein distance. */

/** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function damerauLevenshtein(a: string, b: string): number {
  const n = a.length;
  const m = b.length;
  const d: number[][] = Array.from({ length: n + 1 }, (_, i) => Array.from({ length: m + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[n]![m]!;
}

/** Case, `_` and `-` differences never make a word unrecognisable (outputStride → output_stride). */
function normalize(s: string): string {
  return s.toLowerCase().replace(/[_-]/g, '');
}

/**
 * The allowed word closest to `word`, or undefined when nothing is close enough. "Close" scales with length
 * (a third of the word, at least 1) so that short keys do not attract random suggestions.
 */
export function closest(word: string, allowed: Iterable<string>): string | undefined {
  const w = normalize(word);
  let best: string | undefined;
  let bestD = Infinity;
  for (const candidate of allowed) {
    if (candidate === word) continue;
    const c = normalize(candidate);
    const dist = c === w ? 0 : damerauLevenshtein(w, c);
    if (dist < bestD) {
      bestD = dist;
      best = candidate;
    }
  }
  const limit = Math.max(1, Math.floor(Math.max(word.length, 2) / 3));
  return best !== undefined && bestD <= limit ? best : undefined;
}

/** "did you mean 'x'?" for the closest allowed word, or undefined when none is close. */
export function didYouMean(word: string, allowed: Iterable<string>): string | undefined {
  const c = closest(word, allowed);
  return c === undefined ? undefined : `did you mean '${c}'?`;
}
