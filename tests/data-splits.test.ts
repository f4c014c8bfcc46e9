import { describe, expect, it } from 'vitest';
import { splitSamples, StatsAccumulator, type Sample, type SampleDescriptor } from '../runtime/data/index.js';
import { TdcError } from '../runtime/errors.js';

const samples: SampleDescriptor[] = ['a', 'b', 'c', 'd', 'e'].flatMap((g) =>
  [0, 1].map((i) => ({ id: `${g}/${i}`, group: g, files: {}, scene: 0 })),
);
const groups = (list: SampleDescriptor[]): string[] => [...new Set(list.map((s) => s.group))];

describe('splitSamples', () => {
  it('explicit lists; unlisted groups train unless train is given', () => {
    const s = splitSamples(samples, { val: ['b'], test: ['e'] }, 0);
    expect(groups(s.train)).toEqual(['a', 'c', 'd']);
    expect(groups(s.val)).toEqual(['b']);
    expect(groups(s.test)).toEqual(['e']);
    const only = splitSamples(samples, { train: ['a'], val: ['b'] }, 0);
    expect(groups(only.train)).toEqual(['a']);
    expect(only.test).toEqual([]);
  });

  it('valFraction draws whole groups with the seed: deterministic, seed-dependent, never all groups', () => {
    const a = splitSamples(samples, { valFraction: 0.4 }, 7);
    const b = splitSamples(samples, { valFraction: 0.4 }, 7);
    expect(a).toEqual(b);
    expect(groups(a.val)).toHaveLength(2);
    expect(a.train.length + a.val.length).toBe(10);
    const vals = new Set(Array.from({ length: 12 }, (_, seed) => groups(splitSamples(samples, { valFraction: 0.4 }, seed).val).sort().join()));
    expect(vals.size).toBeGreaterThan(1);
    expect(groups(splitSamples(samples, { valFraction: 0.99 }, 1).train)).toHaveLength(1);
  });

  it('a split naming an unknown group is an error naming it', () => {
    expect(() => splitSamples(samples, { val: ['zz'] }, 0)).toThrow(TdcError);
    expect(() => splitSamples(samples, { val: ['zz'] }, 0)).toThrow(/splits\.val names 'zz'/);
  });
});

describe('StatsAccumulator', () => {
  it('pixel frequencies, presence, scenes and median-frequency class weights (checked by hand)', () => {
    const mk = (mask: number[], scene: number): Sample => {
      const m = Int32Array.from(mask);
      const classes = new Float32Array(3);
      for (const v of mask) classes[v] = 1;
      return { id: 'x', image: new Float32Array(mask.length), mask: m, shape: [1, mask.length, 1], spacing: [1, 1], classes, scene };
    };
    const acc = new StatsAccumulator(3, 2);
    acc.add(mk([0, 0, 0, 1], 0)); // class 1: 1 of 4 pixels
    acc.add(mk([0, 2, 2, 2], 1)); // class 2: 3 of 4
    acc.add(mk([0, 0, 0, 0], -1));
    const s = acc.result();
    expect(s.pixels).toEqual([8, 1, 3]);
    expect(s.frequency).toEqual([8 / 12, 1 / 12, 3 / 12]);
    expect(s.present).toEqual([3, 1, 1]);
    expect(s.scenes).toEqual([1, 1]);
    expect(s.unknownScene).toBe(1);
    // f = [8/12, 1/4, 3/4]; median 8/12 → weights median / f.
    const f = [8 / 12, 1 / 4, 3 / 4];
    s.classWeights.forEach((w, k) => expect(w).toBeCloseTo(8 / 12 / f[k]!, 12));
  });
});

describe('splitSamples: valFraction stratifies by scene', () => {
  it('every scene with two or more groups is in validation, for every seed', () => {
    // 3 scenes with 6, 2 and 2 groups (frames of a group share its scene), and one single-group scene.
    const scenes = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 3];
    const list: SampleDescriptor[] = scenes.flatMap((scene, g) => [0, 1].map((i) => ({ id: `g${g}/${i}`, group: `g${g}`, files: {}, scene })));
    for (let seed = 0; seed < 20; seed++) {
      const s = splitSamples(list, { valFraction: 0.2 }, seed);
      const valScenes = new Set(s.val.map((x) => x.scene));
      expect([...valScenes].sort()).toEqual([0, 1, 2]);
      // The single-group scene keeps training; a scene never goes to validation whole.
      for (const scene of [0, 1, 2, 3]) expect(s.train.some((x) => x.scene === scene)).toBe(true);
      expect(groups(s.val)).toHaveLength(3);
    }
  });

  it('a group takes the scene most of its frames have', () => {
    const list: SampleDescriptor[] = [
      ...['a', 'b'].flatMap((g) => [0, 0, 1].map((scene, i) => ({ id: `${g}/${i}`, group: g, files: {}, scene }))),
      ...['c', 'd'].flatMap((g) => [1, 1, 0].map((scene, i) => ({ id: `${g}/${i}`, group: g, files: {}, scene }))),
    ];
    for (let seed = 0; seed < 10; seed++) {
      const v = groups(splitSamples(list, { valFraction: 0.25 }, seed).val);
      expect(v).toHaveLength(2);
      expect(v.filter((g) => g === 'a' || g === 'b')).toHaveLength(1);
    }
  });
});
