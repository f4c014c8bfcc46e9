import { describe, expect, it } from 'vitest';
import { Augmenter, flipAxis, type Sample } from '../runtime/data/index.js';
import { Rng } from '../runtime/rng.js';
import { NO_AUGMENT } from './data-helpers.js';

/** A 2D sample whose image channel 0 encodes the mask, so alignment can be checked after any flip. */
function sample2d(h: number, w: number): Sample {
  const mask = Int32Array.from({ length: h * w }, (_, i) => (i * 7) % 5);
  const image = new Float32Array(h * w * 3);
  for (let i = 0; i < h * w; i++) {
    image[i * 3] = mask[i]! * 10;
    image[i * 3 + 1] = i;
    image[i * 3 + 2] = 100 + (i % 17);
  }
  return { id: 's', image, mask, shape: [h, w, 3], spacing: [1, 1], classes: new Float32Array(5), scene: 0 };
}

describe('flipAxis', () => {
  it('reverses exactly one axis (checked element by element in [Z, Y, X, C])', () => {
    const [Z, Y, X, C] = [3, 4, 5, 2];
    const src = Float32Array.from({ length: Z * Y * X * C }, (_, i) => i);
    for (let axis = 0; axis < 3; axis++) {
      const out = flipAxis(src, [Z, Y, X], C, axis);
      for (let z = 0; z < Z; z++)
        for (let y = 0; y < Y; y++)
          for (let x = 0; x < X; x++)
            for (let c = 0; c < C; c++) {
              const [sz, sy, sx] = [axis === 0 ? Z - 1 - z : z, axis === 1 ? Y - 1 - y : y, axis === 2 ? X - 1 - x : x];
              expect(out[((z * Y + y) * X + x) * C + c]).toBe(src[((sz * Y + sy) * X + sx) * C + c]);
            }
      expect(Array.from(flipAxis(out, [Z, Y, X], C, axis))).toEqual(Array.from(src));
    }
  });
});

describe('Augmenter', () => {
  it('flips image and mask together (they stay aligned) and flipping twice is identity', () => {
    const aug = new Augmenter({ spec: { ...NO_AUGMENT, hflip: 0.5, vflip: 0.5 }, dims: 2 });
    const s = sample2d(6, 7);
    const rng = new Rng(11);
    const seen = new Set<string>();
    for (let t = 0; t < 40; t++) {
      const { sample: a, draw } = aug.apply(s, rng);
      seen.add(draw.flips.join());
      for (let i = 0; i < 42; i++) expect(a.image[i * 3]).toBe(a.mask[i]! * 10);
      let back = a;
      for (const axis of draw.flips) {
        back = { ...back, image: flipAxis(back.image, [6, 7], 3, axis), mask: flipAxis(back.mask, [6, 7], 1, axis) };
      }
      expect(Array.from(back.image)).toEqual(Array.from(s.image));
      expect(Array.from(back.mask)).toEqual(Array.from(s.mask));
    }
    expect(seen).toEqual(new Set(['', '0', '1', '0,1']));
    expect(Array.from(s.mask)).toEqual(Array.from(sample2d(6, 7).mask)); // the input is never modified
  });

  it('flips on all three axes in 3D and leaves intensities alone', () => {
    const aug = new Augmenter({ spec: { ...NO_AUGMENT, hflip: 1, vflip: 1, zflip: 1, rgbShift: 50, brightness: [2, 2] }, dims: 3 });
    const [Z, Y, X] = [2, 3, 4];
    const image = Float32Array.from({ length: Z * Y * X }, (_, i) => i - 5);
    const mask = Int32Array.from({ length: Z * Y * X }, (_, i) => i);
    const { sample, draw } = aug.apply({ id: 'v', image, mask, shape: [Z, Y, X, 1], spacing: [1, 1, 1], classes: new Float32Array(1), scene: 0 }, new Rng(1));
    expect(draw.flips).toEqual([0, 1, 2]);
    // Flipping every axis reverses the flat order.
    expect(Array.from(sample.mask)).toEqual(Array.from(mask).reverse());
    expect(Array.from(sample.image)).toEqual(Array.from(image).reverse());
  });

  it('the same seed gives the same result; another seed a different one', () => {
    const spec = { hflip: 0.5, vflip: 0.5, zflip: 0, rgbShift: 20, brightness: [0.9, 1.1] as [number, number], contrast: [0.9, 1.1] as [number, number] };
    const aug = new Augmenter({ spec, dims: 2 });
    const s = sample2d(5, 5);
    const a = aug.apply(s, new Rng(7)).sample;
    const b = aug.apply(s, new Rng(7)).sample;
    const c = aug.apply(s, new Rng(8)).sample;
    expect(Array.from(a.image)).toEqual(Array.from(b.image));
    expect(Array.from(a.mask)).toEqual(Array.from(b.mask));
    expect(Array.from(a.image)).not.toEqual(Array.from(c.image));
  });

  it('colour jitter: per-channel shift in range, then brightness, then contrast about the mean, clamped', () => {
    const spec = { ...NO_AUGMENT, rgbShift: 20, brightness: [0.8, 1.2] as [number, number], contrast: [0.5, 1.5] as [number, number] };
    const aug = new Augmenter({ spec, dims: 2 });
    const s = sample2d(4, 4);
    for (let seed = 0; seed < 10; seed++) {
      const { sample, draw } = aug.apply(s, new Rng(seed));
      expect(draw.shift).toHaveLength(3);
      for (const v of draw.shift) expect(Math.abs(v)).toBeLessThanOrEqual(20);
      expect(draw.brightness).toBeGreaterThanOrEqual(0.8);
      expect(draw.brightness).toBeLessThan(1.2);
      // Plain float64 recomputation.
      const shifted = Array.from(s.image, (v, i) => (v + draw.shift[i % 3]!) * draw.brightness);
      const mean = shifted.reduce((a, b) => a + b, 0) / shifted.length;
      shifted.forEach((v, i) => {
        const want = Math.min(255, Math.max(0, (v - mean) * draw.contrast + mean));
        expect(sample.image[i]).toBeCloseTo(want, 3);
      });
      expect(Array.from(sample.mask)).toEqual(Array.from(s.mask));
    }
  });
});
