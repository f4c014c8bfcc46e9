/**
 * Overlapping sliding-window inference over a channels-last volume (or image) larger than the network's fixed
 * input: the tiling, the per-window weight map, and the weighted average of the windows' logits.
 *
 * Tiling, per axis of size D with window W: when D ≤ W one window, centred, zero-padded (the way the loader
 * centre-crops/pads a small evaluation sample); otherwise n = ceil((D − W) / step) + 1 windows with
 * step = max(1, floor(W·(1 − overlap))), spread evenly from 0 to D − W (so the last window is clamped to the
 * border instead of running past it, and the actual stride is ≤ the nominal step). Every voxel is covered.
 *
 * Weighting: 'gaussian' (default, as nnU-Net) weighs a window's voxels by a separable Gaussian centred in the
 * window, σ = sigmaScale·W per axis (default 1/8), normalised to a maximum of 1, because logits near a window's
 * border see less context than those at its centre; 'uniform' gives every voxel weight 1 (a plain mean of the
 * overlapping windows). The result at each voxel is Σ wᵢ·logitsᵢ / Σ wᵢ over the windows covering it.
 */
import { cropBox } from '../data/arrays.js';

export type WindowWeighting = 'gaussian' | 'uniform';

export interface SlidingWindowArgs {
  /** The window (network input) size per spatial axis, in tensor order ([H, W] or [Z, Y, X]). */
  window: number[];
  /** Fraction of a window shared with its neighbour, per axis or one for all, in [0, 1) (default 0.5). */
  overlap?: number | number[];
  /** How voxels of a window are weighted in the average (default 'gaussian'). */
  weighting?: WindowWeighting;
  /** Gaussian σ as a fraction of the window size per axis (default 1/8). */
  sigmaScale?: number;
}

/** Runs the network on one window: `patch` is [...window, channels]; returns [...window, outChannels] logits. */
export type WindowPredictor = (patch: Float32Array, index: number) => Promise<Float32Array> | Float32Array;

export interface SlidingWindowRunOptions {
  /** Called after each window with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

export class SlidingWindow {
  readonly window: number[];
  readonly overlap: number[];
  readonly weighting: WindowWeighting;
  readonly sigmaScale: number;
  private weightMap?: Float32Array;

  constructor(args: SlidingWindowArgs) {
    this.window = [...args.window];
    if (this.window.length === 0 || this.window.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new Error(`sliding window: window sizes must be positive integers, got [${this.window.join(', ')}]`);
    }
    const o = args.overlap ?? 0.5;
    this.overlap = Array.isArray(o) ? [...o] : this.window.map(() => o);
    if (this.overlap.length !== this.window.length || this.overlap.some((v) => !(v >= 0 && v < 1))) {
      throw new Error(`sliding window: overlap must be in [0, 1) for each of the ${this.window.length} axes`);
    }
    this.weighting = args.weighting ?? 'gaussian';
    this.sigmaScale = args.sigmaScale ?? 1 / 8;
    if (!(this.sigmaScale > 0)) throw new Error('sliding window: sigmaScale must be positive');
  }

  /** Window start positions along one axis of size `size` (negative = centred padding of a short axis). */
  starts(size: number, axis: number): number[] {
    const w = this.window[axis]!;
    if (size <= w) return [Math.floor((size - w) / 2)];
    const step = Math.max(1, Math.floor(w * (1 - this.overlap[axis]!)));
    const n = Math.ceil((size - w) / step) + 1;
    const span = size - w;
    // Evenly spread, first at 0 and last at size − w: the actual stride is span / (n − 1) ≤ step.
    return Array.from({ length: n }, (_, i) => Math.round((i * span) / (n - 1)));
  }

  /** Every window's start vector over a volume of spatial shape `shape` (first axis slowest). */
  tiles(shape: readonly number[]): number[][] {
    if (shape.length !== this.window.length) {
      throw new Error(`sliding window: a ${shape.length}-axis volume for a ${this.window.length}-axis window`);
    }
    let out: number[][] = [[]];
    shape.forEach((d, a) => {
      const s = this.starts(d, a);
      out = out.flatMap((prefix) => s.map((v) => [...prefix, v]));
    });
    return out;
  }

  /** The weight of each voxel of a window, row-major over `window` (maximum 1). */
  weights(): Float32Array {
    if (this.weightMap) return this.weightMap;
    const axes = this.window.map((w) => {
      const v = new Float64Array(w);
      if (this.weighting === 'uniform') return v.fill(1);
      const sigma = this.sigmaScale * w;
      const c = (w - 1) / 2;
      for (let i = 0; i < w; i++) v[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
      const max = Math.max(...v);
      for (let i = 0; i < w; i++) v[i] = v[i]! / max;
      return v;
    });
    const n = this.window.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    const idx = new Array<number>(this.window.length).fill(0);
    for (let i = 0; i < n; i++) {
      let w = 1;
      for (let a = 0; a < idx.length; a++) w *= axes[a]![idx[a]!]!;
      // Floor: a voxel only one far-corner window covers must still get a usable (non-zero) weight.
      out[i] = Math.max(w, 1e-6);
      for (let a = idx.length - 1; a >= 0; a--) {
        if (++idx[a]! < this.window[a]!) break;
        idx[a] = 0;
      }
    }
    this.weightMap = out;
    return out;
  }

  /**
   * Predicts a whole volume: `volume` is channels-last with spatial `shape` and `channels` channels; `predict`
   * maps each window to `outChannels` logits. Returns the weighted average logits, [...shape, outChannels].
   */
  async run(
    volume: Float32Array,
    shape: readonly number[],
    channels: number,
    outChannels: number,
    predict: WindowPredictor,
    opts: SlidingWindowRunOptions = {},
  ): Promise<Float32Array> {
    const nVox = shape.reduce((a, b) => a * b, 1);
    if (volume.length !== nVox * channels) {
      throw new Error(`sliding window: ${volume.length} values for shape [${shape.join(', ')}] × ${channels} channels`);
    }
    const tiles = this.tiles(shape);
    const weights = this.weights();
    const win = this.window;
    const winVox = weights.length;
    // Float32 sums: at most a few dozen windows with weights ≤ 1 meet at a voxel, far inside float32's range and
    // precision, and a whole BraTS volume (240×240×155 × K) then costs half the memory of float64.
    const acc = new Float32Array(nVox * outChannels);
    const norm = new Float32Array(nVox);
    const rank = shape.length;
    for (let t = 0; t < tiles.length; t++) {
      const start = tiles[t]!;
      const patch = cropBox(volume, shape, channels, start, win);
      const logits = await predict(patch, t);
      if (logits.length !== winVox * outChannels) {
        throw new Error(`sliding window: the window predictor returned ${logits.length} values, expected ${winVox * outChannels}`);
      }
      const idx = new Array<number>(rank).fill(0);
      for (let i = 0; i < winVox; i++) {
        let inside = true;
        let o = 0;
        for (let a = 0; a < rank; a++) {
          const p = start[a]! + idx[a]!;
          if (p < 0 || p >= shape[a]!) {
            inside = false;
            break;
          }
          o = o * shape[a]! + p;
        }
        if (inside) {
          const w = weights[i]!;
          norm[o] += w;
          const src = i * outChannels;
          const dst = o * outChannels;
          for (let k = 0; k < outChannels; k++) acc[dst + k] += w * logits[src + k]!;
        }
        for (let a = rank - 1; a >= 0; a--) {
          if (++idx[a]! < win[a]!) break;
          idx[a] = 0;
        }
      }
      opts.onProgress?.(t + 1, tiles.length);
    }
    // Normalise in place: the sums become the weighted mean.
    for (let o = 0; o < nVox; o++) {
      const inv = 1 / norm[o]!;
      for (let k = 0; k < outChannels; k++) acc[o * outChannels + k] = acc[o * outChannels + k]! * inv;
    }
    return acc;
  }
}

export function slidingWindow(args: SlidingWindowArgs): SlidingWindow {
  return new SlidingWindow(args);
}
