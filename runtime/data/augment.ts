/**
 * Seeded data augmentation: flips applied identically to image and mask (2D: horizontal/vertical; 3D: x, y, z),
 * and for 2D images a per-channel RGB shift, a brightness factor and a contrast factor, as in the paper's setup.
 */
import type { AugmentSpec } from '../../spec/types.js';
import type { Rng } from '../rng.js';
import type { Sample } from './types.js';

export interface AugmentArgs {
  /** The spec's augmentation settings (probabilities, ranges). */
  spec: AugmentSpec;
  /** 2 for images, 3 for volumes; colour operations only apply in 2D. */
  dims: 2 | 3;
  /** Upper bound of 2D intensities after colour operations (255 for 8-bit images); values are clamped to [0, max]. */
  maxValue?: number;
}

/** What one call drew, so a test (or a log) can see exactly which transforms ran. */
export interface AugmentDraw {
  /** Flipped spatial axes, in `shape` order (2D: 0 = y, 1 = x; 3D: 0 = z, 1 = y, 2 = x). */
  flips: number[];
  /** Per-channel additive shift (2D only, else empty). */
  shift: number[];
  brightness: number;
  contrast: number;
}

export class Augmenter {
  readonly spec: AugmentSpec;
  readonly dims: 2 | 3;
  readonly maxValue: number;

  constructor(args: AugmentArgs) {
    this.spec = args.spec;
    this.dims = args.dims;
    this.maxValue = args.maxValue ?? 255;
  }

  /**
   * Draw one set of transforms. Every random number is drawn whether or not it is used, so the RNG advances by
   * the same amount per sample whatever the probabilities: turning one option off does not reshuffle the rest.
   */
  draw(rng: Rng, channels: number): AugmentDraw {
    const s = this.spec;
    const flips: number[] = [];
    const probs = this.dims === 2 ? [s.vflip, s.hflip] : [s.zflip, s.vflip, s.hflip];
    probs.forEach((p, axis) => {
      if (rng.next() < p) flips.push(axis);
    });
    const shift: number[] = [];
    for (let k = 0; k < channels; k++) {
      const u = rng.uniform(-s.rgbShift, s.rgbShift);
      if (this.dims === 2) shift.push(u);
    }
    const brightness = rng.uniform(s.brightness[0], s.brightness[1]);
    const contrast = rng.uniform(s.contrast[0], s.contrast[1]);
    return this.dims === 2 ? { flips, shift, brightness, contrast } : { flips, shift, brightness: 1, contrast: 1 };
  }

  /** Augment a sample (a new sample; the input, possibly cached, is never modified). */
  apply(sample: Sample, rng: Rng): { sample: Sample; draw: AugmentDraw } {
    const c = sample.shape[sample.shape.length - 1]!;
    const dims = sample.shape.slice(0, -1);
    const draw = this.draw(rng, c);
    let image = sample.image;
    let mask = sample.mask;
    for (const axis of draw.flips) {
      image = flipAxis(image, dims, c, axis);
      mask = flipAxis(mask, dims, 1, axis);
    }
    if (this.dims === 2) image = colorJitter(image, c, draw, this.maxValue);
    return { sample: { ...sample, image, mask }, draw };
  }
}

export function augmenter(args: AugmentArgs): Augmenter {
  return new Augmenter(args);
}

/** Reverse one spatial axis of a channels-last array with spatial shape `dims` and `c` channels. */
export function flipAxis<T extends Float32Array | Int32Array>(src: T, dims: readonly number[], c: number, axis: number): T {
  const out = src.slice() as T;
  const n = dims[axis]!;
  // inner = values per step along `axis` (all later axes and channels); outer = blocks before it.
  let inner = c;
  for (let a = axis + 1; a < dims.length; a++) inner *= dims[a]!;
  let outer = 1;
  for (let a = 0; a < axis; a++) outer *= dims[a]!;
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let i = 0; i < n; i++) {
      out.set(src.subarray(base + i * inner, base + (i + 1) * inner), base + (n - 1 - i) * inner);
    }
  }
  return out;
}

/**
 * shift → brightness → contrast → clamp. Contrast scales around the image's mean intensity (over all pixels
 * and channels), so it changes spread without moving the mean, as the common albumentations-style jitter does.
 */
function colorJitter(src: Float32Array, c: number, d: AugmentDraw, maxValue: number): Float32Array {
  const identity = d.shift.every((v) => v === 0) && d.brightness === 1 && d.contrast === 1;
  if (identity) return src;
  const out = new Float32Array(src.length);
  let sum = 0;
  for (let i = 0; i < src.length; i++) {
    const v = (src[i]! + d.shift[i % c]!) * d.brightness;
    out[i] = v;
    sum += v;
  }
  const mean = sum / src.length;
  for (let i = 0; i < out.length; i++) {
    const v = (out[i]! - mean) * d.contrast + mean;
    out[i] = v < 0 ? 0 : v > maxValue ? maxValue : v;
  }
  return out;
}
