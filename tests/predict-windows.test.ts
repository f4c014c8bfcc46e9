/**
 * The sliding-window tiling and averaging of `tdc predict` (3D) and the label mapping, checked against
 * brute-force float64 re-computations written out here.
 */
import { describe, expect, it } from 'vitest';
import {
  SlidingWindow,
  argmaxLast,
  classLabelValues,
  mapToLabelValues,
  maskPalette,
  sigmoid,
  softmax,
} from '../runtime/predict/index.js';
import type { ClassSpec } from '../spec/types.js';

/** Deterministic pseudo-random floats (a small LCG), so failures reproduce. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function unravel(i: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    out[a] = i % shape[a]!;
    i = Math.floor(i / shape[a]!);
  }
  return out;
}

describe('SlidingWindow tiling', () => {
  it('places windows evenly from 0 to size − window, with the nominal step as an upper bound', () => {
    const sw = new SlidingWindow({ window: [4], overlap: 0.5 });
    expect(sw.starts(10, 0)).toEqual([0, 2, 4, 6]);
    // 11 − 4 = 7 does not divide by the step 2: five windows, spread 7/4 apart, the last clamped to the border.
    expect(sw.starts(11, 0)).toEqual([0, 2, 4, 5, 7]);
    expect(sw.starts(4, 0)).toEqual([0]);
    expect(new SlidingWindow({ window: [4], overlap: 0 }).starts(12, 0)).toEqual([0, 4, 8]);
    expect(new SlidingWindow({ window: [4], overlap: 0 }).starts(13, 0)).toEqual([0, 3, 6, 9]);
  });

  it('centres a single padded window on an axis shorter than the window', () => {
    const sw = new SlidingWindow({ window: [5, 8] });
    expect(sw.starts(3, 0)).toEqual([-1]);
    expect(sw.starts(4, 1)).toEqual([-2]);
    expect(sw.tiles([3, 4])).toEqual([[-1, -2]]);
  });

  it('covers every voxel, stays inside long axes, and strides by at most the step (random shapes)', () => {
    const rnd = lcg(7);
    for (let trial = 0; trial < 40; trial++) {
      const window = [1 + Math.floor(rnd() * 6), 1 + Math.floor(rnd() * 6), 1 + Math.floor(rnd() * 6)];
      const shape = window.map((w) => 1 + Math.floor(rnd() * 3 * w));
      const overlap = Math.floor(rnd() * 4) / 4; // 0, .25, .5, .75
      const sw = new SlidingWindow({ window, overlap });
      const tiles = sw.tiles(shape);
      const cover = new Int32Array(shape.reduce((a, b) => a * b, 1));
      for (const start of tiles) {
        for (let i = 0; i < cover.length; i++) {
          const p = unravel(i, shape);
          if (p.every((v, a) => v >= start[a]! && v < start[a]! + window[a]!)) cover[i]!++;
        }
      }
      expect(Math.min(...cover), `shape ${shape} window ${window} overlap ${overlap}`).toBeGreaterThan(0);
      shape.forEach((d, a) => {
        const s = sw.starts(d, a);
        if (d >= window[a]!) {
          expect(s[0]).toBe(0);
          expect(s[s.length - 1]).toBe(d - window[a]!);
          const step = Math.max(1, Math.floor(window[a]! * (1 - overlap)));
          for (let k = 1; k < s.length; k++) {
            expect(s[k]! - s[k - 1]!).toBeGreaterThan(0);
            expect(s[k]! - s[k - 1]!).toBeLessThanOrEqual(step);
          }
        }
      });
      expect(tiles.length).toBe(shape.reduce((n, d, a) => n * sw.starts(d, a).length, 1));
    }
  });

  it('rejects bad arguments with a clear message', () => {
    expect(() => new SlidingWindow({ window: [0, 4] })).toThrow(/positive integers/);
    expect(() => new SlidingWindow({ window: [4], overlap: 1 })).toThrow(/overlap/);
    expect(() => new SlidingWindow({ window: [4, 4] }).tiles([8])).toThrow(/1-axis volume for a 2-axis window/);
  });
});

describe('SlidingWindow weights and averaging', () => {
  it('Gaussian weights are the separable exp(−(i−c)²/2σ²), σ = W/8, with maximum 1', () => {
    const window = [5, 8];
    const w = new SlidingWindow({ window }).weights();
    const axis = (n: number) => {
      const g = Array.from({ length: n }, (_, k) => Math.exp(-((k - (n - 1) / 2) ** 2) / (2 * (n / 8) ** 2)));
      // Normalised per axis to a maximum of 1 (for an even size the peak falls between the two middle voxels).
      return g.map((v) => v / Math.max(...g));
    };
    const [a, b] = [axis(5), axis(8)];
    expect(a[2]).toBe(1);
    expect(b[0]).toBeCloseTo(Math.exp(-(3.5 ** 2) / 2) / Math.exp(-(0.5 ** 2) / 2), 12);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 8; j++) expect(w[i * 8 + j]).toBeCloseTo(Math.max(a[i]! * b[j]!, 1e-6), 6);
    expect(Math.max(...w)).toBeCloseTo(1, 7);
    expect(Array.from(new SlidingWindow({ window: [3, 2], weighting: 'uniform' }).weights())).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('an identity predictor gives back the input exactly (3D, windows overlapping and clamped)', async () => {
    const shape = [5, 9, 11];
    const c = 2;
    const rnd = lcg(3);
    const vol = Float32Array.from({ length: 5 * 9 * 11 * c }, () => rnd() * 10 - 5);
    for (const weighting of ['gaussian', 'uniform'] as const) {
      const sw = new SlidingWindow({ window: [3, 4, 6], overlap: 0.5, weighting });
      const out = await sw.run(vol, shape, c, c, (patch) => patch);
      for (let i = 0; i < vol.length; i++) expect(out[i]).toBeCloseTo(vol[i]!, 5);
    }
  });

  it('a volume smaller than the window: one padded window, cropped back', async () => {
    const shape = [2, 3];
    const vol = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const sw = new SlidingWindow({ window: [4, 4] });
    const seen: Float32Array[] = [];
    const out = await sw.run(vol, shape, 1, 1, (patch) => {
      seen.push(patch.slice());
      return patch;
    });
    expect(seen).toHaveLength(1);
    // Centred: starts [floor(−2/2), floor(−1/2)] = [−1, −1] → rows 1..2, columns 1..3 hold the data.
    expect(sw.tiles(shape)).toEqual([[-1, -1]]);
    expect(Array.from(seen[0]!)).toEqual([0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0]);
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('averages window logits with their weights: Σ wₜ·vₜ / Σ wₜ per voxel (float64 brute force)', async () => {
    const shape = [7, 10];
    const window = [4, 6];
    for (const weighting of ['gaussian', 'uniform'] as const) {
      const sw = new SlidingWindow({ window, overlap: 0.5, weighting });
      const tiles = sw.tiles(shape);
      const w = sw.weights();
      const k = 2;
      // Window t predicts the constant (t + 1) in channel 0 and (t + 1)² in channel 1.
      const out = await sw.run(new Float32Array(70), shape, 1, k, (_p, t) => {
        const o = new Float32Array(24 * k);
        for (let i = 0; i < 24; i++) {
          o[i * k] = t + 1;
          o[i * k + 1] = (t + 1) ** 2;
        }
        return o;
      });
      let progressCalls = 0;
      await sw.run(new Float32Array(70), shape, 1, 1, () => new Float32Array(24), { onProgress: (d, n) => (progressCalls++, expect(n).toBe(tiles.length), expect(d).toBe(progressCalls)) });
      expect(progressCalls).toBe(tiles.length);
      for (let y = 0; y < 7; y++) {
        for (let x = 0; x < 10; x++) {
          let num0 = 0;
          let num1 = 0;
          let den = 0;
          tiles.forEach(([sy, sx], t) => {
            const iy = y - sy!;
            const ix = x - sx!;
            if (iy < 0 || iy >= 4 || ix < 0 || ix >= 6) return;
            const wt = w[iy * 6 + ix]!;
            num0 += wt * (t + 1);
            num1 += wt * (t + 1) ** 2;
            den += wt;
          });
          expect(den).toBeGreaterThan(0);
          expect(out[(y * 10 + x) * k]).toBeCloseTo(num0 / den, 4);
          expect(out[(y * 10 + x) * k + 1]).toBeCloseTo(num1 / den, 3);
        }
      }
    }
  });

  it('refuses a predictor that returns the wrong number of values', async () => {
    const sw = new SlidingWindow({ window: [2, 2] });
    await expect(sw.run(new Float32Array(16), [4, 4], 1, 3, () => new Float32Array(4))).rejects.toThrow(/returned 4 values, expected 12/);
  });
});

describe('label mapping and head probabilities', () => {
  const cls = (name: string, extra: Partial<ClassSpec> = {}): ClassSpec => ({ name, weight: 1, ...extra });

  it('class ids map back to the dataset label values (BraTS 0/1/2/4)', () => {
    const brats = [cls('bg'), cls('ncr'), cls('ed'), cls('et')];
    expect(classLabelValues(brats, 'brats18')).toEqual([0, 1, 2, 4]);
    expect(classLabelValues([cls('bg', { values: [0] }), cls('a', { values: [7, 8] })], 'brats18')).toEqual([0, 7]);
    expect(classLabelValues([cls('a'), cls('b'), cls('c')], 'folders')).toEqual([0, 1, 2]);
    expect(Array.from(mapToLabelValues(Int32Array.from([0, 3, 1, 2, 3]), [0, 1, 2, 4]))).toEqual([0, 4, 1, 2, 4]);
    expect(() => mapToLabelValues([0, 5], [0, 1])).toThrow(/class id 5/);
    expect(() => mapToLabelValues([0], [0, 300])).toThrow(/300.*uint8/);
  });

  it('argmax over the last axis keeps the first maximum, as tf.argMax', () => {
    expect(Array.from(argmaxLast([1, 3, 2, 5, 5, 0, -1, -2, -3], 3))).toEqual([1, 0, 0]);
    expect(() => argmaxLast([1, 2, 3], 2)).toThrow(/multiple of 2/);
  });

  it('softmax and sigmoid match the textbook values and do not overflow', () => {
    const s = softmax([1, 2, 3]);
    const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
    const z = e[0]! + e[1]! + e[2]!;
    s.forEach((v, i) => expect(v).toBeCloseTo(e[i]! / z, 12));
    expect(softmax([1000, 1000])).toEqual([0.5, 0.5]);
    expect(sigmoid([0, Math.log(3)])[1]).toBeCloseTo(0.75, 12);
  });

  it('the mask palette takes spec colours and fills the rest', () => {
    const p = maskPalette([cls('bg'), cls('a', { color: [1, 2, 3] }), cls('b')]);
    expect(p[0]).toEqual([0, 0, 0]);
    expect(p[1]).toEqual([1, 2, 3]);
    expect(p[2]).not.toEqual([0, 0, 0]);
    expect(p[2]).toHaveLength(3);
  });
});
