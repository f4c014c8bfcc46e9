/**
 * Writes the report's sample overlays: for a few validation samples, one PNG with image, ground truth and
 * prediction side by side (classes colour-blended over the image), plus samples.json with the class-presence
 * and scene outputs next to the true labels.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { encodePng } from '../io/index.js';
import type { BatchSource } from '../train/index.js';
import { classPalette, type Rgb } from '../io/palette.js';
import type { SamplesJson } from './run-data.js';

export interface SampleOverlayArgs {
  /** The trained model; outputs [segmentation logits, class logits, scene logits] (channels-last). */
  model: tf.LayersModel;
  /**
   * Validation batches: image [B, H, W, C] in 0..1 (2D) or z-scored [B, Z, Y, X, C] (3D), mask int32 class ids
   * [B, H, W] / [B, Z, Y, X] (a trailing axis of 1, or one-hot, is accepted too). Its position is restored
   * afterwards, so the caller's stream is not disturbed.
   */
  source: BatchSource;
  /** Classes in label order; `color` is used for overlays when given, else the default palette. */
  classes: readonly { name: string; color?: readonly number[] }[];
  /** Scene names in scene-head order. */
  scenes: readonly string[];
  /** The run folder; files go to `<runDir>/samples/`. */
  runDir: string;
  /** How many samples to draw (default 6; fewer when the source holds fewer). */
  count?: number;
  /** How scene logits become probabilities: 'sigmoid' for a BCE scene loss (the paper), 'softmax' for softmax CE. Default 'sigmoid'. */
  sceneActivation?: 'sigmoid' | 'softmax';
  /** Opacity of class colours over the image (default 0.5). */
  alpha?: number;
  /** The class left uncoloured so the image shows through (default 0; null colours every class). */
  backgroundClass?: number | null;
}

/** The options of `SampleOverlayArgs` with their defaults applied. */
interface OverlayOptions {
  count: number;
  sceneActivation: 'sigmoid' | 'softmax';
  alpha: number;
  backgroundClass: number | null;
}

/** Pixels between the three panels (white), so the panels read as separate pictures. */
export const PANEL_GAP = 4;

export class SampleOverlayWriter {
  private readonly args: SampleOverlayArgs;
  private readonly opts: OverlayOptions;
  private readonly palette: Rgb[];

  constructor(args: SampleOverlayArgs) {
    this.args = args;
    this.opts = {
      count: args.count ?? 6,
      sceneActivation: args.sceneActivation ?? 'sigmoid',
      alpha: args.alpha ?? 0.5,
      backgroundClass: args.backgroundClass === undefined ? 0 : args.backgroundClass,
    };
    if (!Number.isInteger(this.opts.count) || this.opts.count < 0) throw new Error(`sample overlays: count must be a non-negative integer, got ${this.opts.count}`);
    if (!(this.opts.alpha >= 0 && this.opts.alpha <= 1)) throw new Error(`sample overlays: alpha must be in [0, 1], got ${this.opts.alpha}`);
    this.palette = classPalette(args.classes);
  }

  /** Draws the samples; returns the paths of the written PNGs (samples.json is written beside them). */
  async write(): Promise<string[]> {
    const { model, source, runDir } = this.args;
    const dir = path.join(runDir, 'samples');
    await fs.mkdir(dir, { recursive: true });
    const written: string[] = [];
    const entries: NonNullable<SamplesJson['samples']> = [];
    const usedNames = new Set<string>();
    const saved = source.state();
    try {
      for (let i = 0; i < source.length && entries.length < this.opts.count; i++) {
        const batch = await source.next();
        try {
          const rank = batch.image.rank;
          if (rank !== 4 && rank !== 5) throw new Error(`sample overlays: expected an image batch of rank 4 (2D) or 5 (3D), got shape [${batch.image.shape}]`);
          const [labels, clsProb, sceneProb] = tf.tidy(() => {
            const out = model.predict(batch.image) as tf.Tensor[];
            if (!Array.isArray(out) || out.length < 3) throw new Error('sample overlays: the model must have three outputs (segmentation, class, scene)');
            const scene = this.opts.sceneActivation === 'softmax' ? tf.softmax(out[2]!) : tf.sigmoid(out[2]!);
            return [tf.argMax(out[0]!, -1).toInt(), tf.sigmoid(out[1]!), scene] as const;
          });
          const truth = tf.tidy(() => {
            const m = batch.mask;
            // One-hot (or a trailing axis of 1) has the image's rank; ids have one axis less.
            if (m.rank === rank) return m.shape[rank - 1] === 1 ? m.squeeze([rank - 1]).toInt() : tf.argMax(m, -1).toInt();
            return m.toInt();
          });
          const [img, lab, tru, cp, ct, sp, st] = await Promise.all([
            batch.image.data(),
            labels.data(),
            truth.data(),
            clsProb.data(),
            batch.classes.data(),
            sceneProb.data(),
            batch.scene.data(),
          ]);
          const segShape = labels.shape.slice(1);
          const imgShape = batch.image.shape.slice(1, -1);
          tf.dispose([labels, clsProb, sceneProb, truth]);
          if (segShape.join() !== imgShape.join() || truth.shape.slice(1).join() !== imgShape.join()) {
            throw new Error(
              `sample overlays: segmentation [${segShape}] and mask [${truth.shape.slice(1)}] must have the image's spatial shape [${imgShape}]`,
            );
          }
          const B = batch.image.shape[0]!;
          const C = batch.image.shape[rank - 1]!;
          const K = cp.length / B;
          const S = sp.length / B;
          const voxels = imgShape.reduce((a, b) => a * b, 1);
          for (let b = 0; b < B && entries.length < this.opts.count; b++) {
            const image = img.subarray(b * voxels * C, (b + 1) * voxels * C) as Float32Array;
            const pr = lab.subarray(b * voxels, (b + 1) * voxels) as Int32Array;
            const gt = tru.subarray(b * voxels, (b + 1) * voxels) as Int32Array;
            const view = rank === 4 ? { height: imgShape[0]!, width: imgShape[1]!, image, gt, pr, channels: C, dims: 2 as const } : middleSlice(imgShape, C, image, gt, pr);
            const rgb = displayRgb(view.image, view.height * view.width, view.channels, view.dims);
            const png = overlayPanels({
              rgb,
              height: view.height,
              width: view.width,
              truth: view.gt,
              pred: view.pr,
              palette: this.palette,
              alpha: this.opts.alpha,
              backgroundClass: this.opts.backgroundClass,
            });
            const id = batch.ids[b] ?? `sample-${entries.length}`;
            const name = uniqueName(safeName(id), usedNames);
            const file = path.join(dir, `${name}.png`);
            await fs.writeFile(file, encodePng({ width: png.width, height: png.height, channels: 3, data: png.data }));
            written.push(file);
            entries.push({
              id,
              file: `samples/${name}.png`,
              classProbs: round(Array.from(cp.subarray(b * K, (b + 1) * K))),
              classTrue: Array.from(ct.subarray(b * K, (b + 1) * K)),
              sceneProbs: round(Array.from(sp.subarray(b * S, (b + 1) * S))),
              sceneTrue: Array.from(st.subarray(b * S, (b + 1) * S)),
            });
          }
        } finally {
          tf.dispose([batch.image, batch.mask, batch.classes, batch.scene]);
        }
      }
    } finally {
      source.restore(saved);
    }
    const json: SamplesJson = {
      backend: tf.getBackend(),
      classes: this.args.classes.map((c) => c.name),
      scenes: [...this.args.scenes],
      samples: entries,
    };
    await fs.writeFile(path.join(dir, 'samples.json'), `${JSON.stringify(json, null, 2)}\n`);
    return written;
  }
}

/** Writes `<runDir>/samples/<id>.png` for the first `count` validation samples and `samples.json`; returns the PNG paths. */
export async function writeSampleOverlays(args: SampleOverlayArgs): Promise<string[]> {
  return new SampleOverlayWriter(args).write();
}

export interface OverlayPanelsArgs {
  /** The image as 8-bit RGB, row-major, height × width × 3. */
  rgb: Uint8Array;
  height: number;
  width: number;
  /** Ground-truth class id per pixel. */
  truth: ArrayLike<number>;
  /** Predicted class id per pixel. */
  pred: ArrayLike<number>;
  palette: readonly Rgb[];
  /** Opacity of the class colour. */
  alpha: number;
  /** Class drawn without colour (null: none). */
  backgroundClass: number | null;
}

/** Image | ground truth over image | prediction over image, separated by white gaps; 8-bit RGB. */
export function overlayPanels(a: OverlayPanelsArgs): { width: number; height: number; data: Uint8Array } {
  const W = a.width;
  const H = a.height;
  const outW = 3 * W + 2 * PANEL_GAP;
  const data = new Uint8Array(outW * H * 3).fill(255);
  const panels: (ArrayLike<number> | null)[] = [null, a.truth, a.pred];
  panels.forEach((labels, p) => {
    const x0 = p * (W + PANEL_GAP);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        const o = (y * outW + x0 + x) * 3;
        const l = labels ? labels[i]! : -1;
        const colour = l >= 0 && l !== a.backgroundClass ? a.palette[l] : undefined;
        for (let c = 0; c < 3; c++) {
          const v = a.rgb[i * 3 + c]!;
          data[o + c] = colour ? Math.round((1 - a.alpha) * v + a.alpha * colour[c]!) : v;
        }
      }
    }
  });
  return { width: outW, height: H, data };
}

/**
 * The image as 8-bit RGB for display. 2D data in 0..1 is scaled by 255 (so brightness is kept); anything else
 * (3D z-scores, or 2D data normalised some other way) is stretched between its 1st and 99th percentile.
 * One channel is grey; 2D with three or more channels shows the first three as RGB; 3D shows channel 0 (the
 * first modality).
 */
export function displayRgb(image: ArrayLike<number>, pixels: number, channels: number, dims: 2 | 3): Uint8Array {
  const rgbInput = dims === 2 && channels >= 3;
  const take = rgbInput ? 3 : 1;
  const values = new Float64Array(pixels * take);
  for (let i = 0; i < pixels; i++) for (let c = 0; c < take; c++) values[i * take + c] = image[i * channels + c]!;
  let lo = 0;
  let hi = 1;
  let inUnit = dims === 2;
  if (inUnit) for (const v of values) if (!(v >= -1e-3 && v <= 1 + 1e-3)) inUnit = false;
  if (!inUnit) {
    const sorted = Float64Array.from(values.filter(Number.isFinite)).sort();
    lo = sorted.length ? sorted[Math.floor(0.01 * (sorted.length - 1))]! : 0;
    hi = sorted.length ? sorted[Math.ceil(0.99 * (sorted.length - 1))]! : 1;
    if (!(hi > lo)) hi = lo + 1;
  }
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < 3; c++) {
      const v = values[i * take + (rgbInput ? c : 0)]!;
      const t = Number.isFinite(v) ? (v - lo) / (hi - lo) : 0;
      out[i * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, t)));
    }
  }
  return out;
}

/** The middle z slice of a 3D sample (image channel 0 is chosen later by displayRgb). */
function middleSlice(shape: number[], C: number, image: Float32Array, gt: Int32Array, pr: Int32Array) {
  const [Z, Y, X] = shape as [number, number, number];
  const z = Math.floor(Z / 2);
  const plane = Y * X;
  return {
    height: Y,
    width: X,
    channels: C,
    dims: 3 as const,
    image: image.subarray(z * plane * C, (z + 1) * plane * C),
    gt: gt.subarray(z * plane, (z + 1) * plane),
    pr: pr.subarray(z * plane, (z + 1) * plane),
  };
}

/** A file name from a sample id (ids may hold folder separators, e.g. `seq_2/frame013`). */
function safeName(id: string): string {
  const s = id.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return s.slice(0, 120) || 'sample';
}

function uniqueName(base: string, used: Set<string>): string {
  let name = base;
  for (let k = 2; used.has(name); k++) name = `${base}-${k}`;
  used.add(name);
  return name;
}

function round(values: number[]): number[] {
  return values.map((v) => Math.round(v * 1e6) / 1e6);
}
