// task.normalize: each mode against values computed by hand.
import { describe, expect, it } from 'vitest';
import { inputNormalization, normalizeInto } from '../runtime/data/normalize.js';

describe('normalizeInto', () => {
  const px = [10, 20, 30, 250, 128, 0]; // two RGB pixels, 0..255
  it('unit, imagenet (torchvision) and imagenet-caffe (Keras: BGR minus the mean) by hand', () => {
    const out = new Float32Array(6);
    normalizeInto(px, 3, 'unit', 2, out);
    expect(Array.from(out)).toEqual(px.map((v) => Math.fround(v / 255)));
    normalizeInto(px, 3, 'imagenet', 2, out);
    expect(out[0]).toBeCloseTo((10 / 255 - 0.485) / 0.229, 5);
    expect(out[4]).toBeCloseTo((128 / 255 - 0.456) / 0.224, 5);
    normalizeInto(px, 3, 'imagenet-caffe', 2, out);
    expect(Array.from(out)).toEqual([30 - 103.939, 20 - 116.779, 10 - 123.68, 0 - 103.939, 128 - 116.779, 250 - 123.68].map(Math.fround));
    // In place gives the same (the BGR swap reads the pixel before writing it).
    const inPlace = Float32Array.from(px);
    normalizeInto(inPlace, 3, 'imagenet-caffe', 2, inPlace);
    expect(Array.from(inPlace)).toEqual(Array.from(out));
  });
  it('zscore: per image and channel in 2D; unchanged in 3D; auto by dims', () => {
    const out = new Float32Array(6);
    normalizeInto(px, 3, 'zscore', 2, out);
    // Channel 0: 10 and 250 → mean 130, std 120 → -1, 1.
    expect(out[0]).toBeCloseTo(-1, 6);
    expect(out[3]).toBeCloseTo(1, 6);
    normalizeInto(px, 3, 'zscore', 3, out);
    expect(Array.from(out)).toEqual(px);
    expect(inputNormalization({ dims: 2 })).toBe('unit');
    expect(inputNormalization({ dims: 3, normalize: 'auto' })).toBe('zscore');
    expect(() => normalizeInto([1, 2], 2, 'imagenet', 2, new Float32Array(2))).toThrow(/needs 3 \(RGB\) channels/);
  });
});
