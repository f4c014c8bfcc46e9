/** Which of the class and scene heads a spec's stages train: a fact of the spec, decided at build time. */
import type { LossTermSpec } from './types.js';

/**
 * The class and scene heads that no stage trains: a stage trains a head when its loss uses a term on it (bce
 * or softmax_ce on that head; sync on the class head, its gradient reaching only the class branch by default).
 * Such a head keeps its initial weights, so its accuracy and probabilities mean nothing and are not reported.
 */
export function untrainedHeads(losses: readonly LossTermSpec[], stages: readonly { terms: readonly string[] }[]): ('class' | 'scene')[] {
  const used = new Set(stages.flatMap((s) => s.terms));
  const trained = new Set<string>();
  for (const t of losses) {
    if (!used.has(t.name)) continue;
    if (t.type === 'bce') trained.add(t.head);
    else if (t.type === 'softmax_ce') trained.add('scene');
    else if (t.type === 'sync') trained.add('class');
  }
  return (['class', 'scene'] as const).filter((h) => !trained.has(h));
}
