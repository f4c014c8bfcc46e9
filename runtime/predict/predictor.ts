/**
 * Runs a trained network on inputs of any size: a 2D image is resized to the network size (bilinear, as the
 * readers do), its logits are resized back to the original size and arg-maxed; a 3D volume goes through
 * overlapping sliding windows of the network size (see windows.ts). Head probabilities come with the map.
 */
import * as tf from '@tensorflow/tfjs';
import type { TaskSpec } from '../../spec/types.js';
import { resizeBilinear } from '../data/arrays.js';
import { inputNormalization, normalizeInto } from '../data/normalize.js';
import { argmaxLast, sigmoid, softmax } from './labels.js';
import { SlidingWindow, type SlidingWindowArgs } from './windows.js';

export interface PredictorArgs {
  /** The trained model; `predict` returns [seg logits, class logits, scene logits]. */
  model: tf.LayersModel;
  /** The task the model was built for (size, channels, classes, scenes). */
  task: TaskSpec;
  /** How scene logits become probabilities: 'softmax' for a softmax_ce scene loss, 'sigmoid' for bce. */
  sceneActivation: 'softmax' | 'sigmoid';
  /** 3D sliding-window settings (the window itself is the network size); default 50 % overlap, Gaussian. */
  window?: Omit<SlidingWindowArgs, 'window'>;
  /** 2D: a plain multiplier from 0..255 intensities to the network's input, instead of `task.normalize` (tests). */
  imageScale?: number;
}

/** One prediction: the class-id map at the input's size and the head probabilities. */
export interface Prediction {
  /** Class ids, row-major over `shape`. */
  classIds: Int32Array;
  /** 2D [H, W]; 3D [Z, Y, X]. */
  shape: number[];
  /** Class-presence probabilities (sigmoid), by class index. 3D: the maximum over windows. */
  classProbs: number[];
  /** Scene probabilities, by scene index. 3D: the mean over windows. */
  sceneProbs: number[];
  /** Number of network evaluations (windows). */
  windows: number;
}

export interface PredictVolumeOptions {
  onProgress?: (done: number, total: number) => void;
}

export class Predictor {
  readonly window?: SlidingWindow;

  constructor(readonly args: PredictorArgs) {
    const { task } = args;
    if (task.dims === 3) {
      const [x, y, z] = task.size as [number, number, number];
      this.window = new SlidingWindow({ ...(args.window ?? {}), window: [z, y, x] });
    }
  }

  /** The network's input size in tensor order ([H, W] or [Z, Y, X]). */
  get inputSize(): number[] {
    const s = this.args.task.size;
    return this.args.task.dims === 3 ? [s[2]!, s[1]!, s[0]!] : [s[0]!, s[1]!];
  }

  /**
   * A 2D image, channels-last [h, w, task.channels] in 0..255 (as `toChannels` gives): resized to the network
   * size, run, the logits resized back to h × w (bilinear, half-pixel centres), arg-maxed.
   */
  async predictImage(image: Float32Array, h: number, w: number): Promise<Prediction> {
    const { task, model } = this.args;
    if (task.dims !== 2) throw new Error('predictImage needs a 2D task');
    const c = task.channels;
    if (image.length !== h * w * c) throw new Error(`predictImage: ${image.length} values for ${h}×${w}×${c}`);
    const [nh, nw] = this.inputSize as [number, number];
    const resized = resizeBilinear(image, h, w, c, nh, nw);
    const scale = this.args.imageScale;
    if (scale === undefined) normalizeInto(resized, c, inputNormalization(task), 2, resized);
    else for (let i = 0; i < resized.length; i++) resized[i] = resized[i]! * scale;
    const [ids, cls, scene] = tf.tidy(() => {
      const out = model.predict(tf.tensor4d(resized, [1, nh, nw, c])) as tf.Tensor[];
      let seg = out[0] as tf.Tensor4D;
      if (nh !== h || nw !== w) seg = tf.image.resizeBilinear(seg, [h, w], false, true);
      return [tf.argMax(seg, -1).toInt(), out[1]!, out[2]!];
    });
    try {
      return {
        classIds: Int32Array.from(await ids.data()),
        shape: [h, w],
        classProbs: sigmoid(await cls.data()),
        sceneProbs: this.sceneProbs(await scene.data()),
        windows: 1,
      };
    } finally {
      tf.dispose([ids, cls, scene]);
    }
  }

  /**
   * A 3D volume, channels-last [Z, Y, X, task.channels], already normalised (z-scored): sliding windows of the
   * network size, logits averaged with the window weights, arg-maxed. Class probabilities are the maximum over
   * windows (a structure seen by any window is present), scene probabilities the mean over windows.
   */
  async predictVolume(volume: Float32Array, shape: readonly number[], opts: PredictVolumeOptions = {}): Promise<Prediction> {
    const { task, model } = this.args;
    if (task.dims !== 3 || !this.window) throw new Error('predictVolume needs a 3D task');
    const c = task.channels;
    const k = task.classes.length;
    const win = this.window.window;
    const classMax = new Array<number>(k).fill(0);
    const sceneSum = new Array<number>(task.scenes.length).fill(0);
    let windows = 0;
    const logits = await this.window.run(
      volume,
      shape,
      c,
      k,
      async (patch) => {
        const [seg, cls, scene] = tf.tidy(() => {
          const out = model.predict(tf.tensor(patch, [1, ...win, c])) as tf.Tensor[];
          return [out[0]!, out[1]!, out[2]!];
        });
        try {
          sigmoid(await cls.data()).forEach((p, i) => (classMax[i] = Math.max(classMax[i]!, p)));
          this.sceneProbs(await scene.data()).forEach((p, i) => (sceneSum[i] = sceneSum[i]! + p));
          windows++;
          return (await seg.data()) as Float32Array;
        } finally {
          tf.dispose([seg, cls, scene]);
        }
      },
      opts,
    );
    return {
      classIds: argmaxLast(logits, k),
      shape: [...shape],
      classProbs: classMax,
      sceneProbs: sceneSum.map((s) => s / Math.max(windows, 1)),
      windows,
    };
  }

  private sceneProbs(logits: ArrayLike<number>): number[] {
    return this.args.sceneActivation === 'softmax' ? softmax(logits) : sigmoid(logits);
  }
}

export function predictor(args: PredictorArgs): Predictor {
  return new Predictor(args);
}
