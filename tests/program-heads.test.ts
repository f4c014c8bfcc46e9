// Which heads a spec's stages train: the class and scene heads no stage's loss reaches are reported nowhere.
import { describe, expect, it } from 'vitest';
import { untrainedHeads } from '../spec/heads.js';
import type { LossTermSpec } from '../spec/types.js';

const losses: LossTermSpec[] = [
  { name: 'seg', type: 'seg', ce: 1, iou: 1 },
  { name: 'cls', type: 'bce', head: 'class' },
  { name: 'scn', type: 'bce', head: 'scene' },
  { name: 'sync', type: 'sync', presence: 'hard', direction: 'seg->class' },
] as LossTermSpec[];

describe('untrainedHeads', () => {
  it('a head is trained when some stage uses a term on it (sync trains the class head)', () => {
    expect(untrainedHeads(losses, [{ terms: ['seg', 'cls'] }, { terms: ['seg', 'cls', 'scn'] }])).toEqual([]);
    expect(untrainedHeads(losses, [{ terms: ['seg', 'cls'] }, { terms: ['seg', 'sync'] }])).toEqual(['scene']);
    expect(untrainedHeads(losses, [{ terms: ['seg', 'sync'] }])).toEqual(['scene']);
    expect(untrainedHeads(losses, [{ terms: ['seg'] }])).toEqual(['class', 'scene']);
    // A defined but unused scene term trains nothing.
    expect(untrainedHeads(losses, [{ terms: ['seg', 'cls'] }])).toEqual(['scene']);
    const softmax = [...losses.slice(0, 2), { name: 'scn', type: 'softmax_ce' }] as LossTermSpec[];
    expect(untrainedHeads(softmax, [{ terms: ['seg', 'scn'] }])).toEqual(['class']);
  });
});
