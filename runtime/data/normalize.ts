/**
 * Input normalisation (`task.normalize`): how 2D intensities in 0..255 become the network's input, one function
 * for training batches, evaluation and `tdc predict`. 3D volumes are z-scored by their reader (per modality over
 * brain voxels) and pass through unchanged.
 */
import type { InputNormalization, TaskSpec } from '../../spec/types.js';

/** What `normalize: auto` means: `unit` for 2D, `zscore` for 3D (tdc's behaviour before the key existed). */
export function inputNormalization(task: Pick<TaskSpec, 'dims' | 'normalize'>): Exclude<InputNormalization, 'auto'> {
  const n = task.normalize ?? 'auto';
  if (n !== 'auto') return n;
  return task.dims === 3 ? 'zscore' : 'unit';
}

/** ImageNet channel statistics in RGB order: torchvision's mean/std on 0..1, and the Caffe means on 0..255. */
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
const CAFFE_MEAN_RGB = [123.68, 116.779, 103.939];

/**
 * Normalises one channels-last image (`channels` values per pixel, 0..255) into `out` at `offset`:
 * - unit: x / 255;
 * - imagenet: (x / 255 − mean) / std per RGB channel (torchvision / PyTorch pretrained weights);
 * - imagenet-caffe: RGB → BGR, then x − mean (0..255 scale): Keras `preprocess_input(mode='caffe')`, what the
 *   Keras VGG16 ImageNet weights were trained on;
 * - zscore: 2D per image and channel, (x − mean) / std over all pixels; 3D: unchanged (the reader z-scored it).
 * The ImageNet modes need three channels. `out` may be `image` itself.
 */
export function normalizeInto(
  image: ArrayLike<number>,
  channels: number,
  mode: Exclude<InputNormalization, 'auto'>,
  dims: 2 | 3,
  out: Float32Array,
  offset = 0,
): void {
  const n = image.length;
  const c = channels;
  if ((mode === 'imagenet' || mode === 'imagenet-caffe') && c !== 3) {
    throw new Error(`normalize: ${mode} needs 3 (RGB) channels, the task has ${c}`);
  }
  if (mode === 'unit') {
    for (let i = 0; i < n; i++) out[offset + i] = image[i]! / 255;
  } else if (mode === 'imagenet') {
    for (let i = 0; i < n; i++) {
      const k = i % 3;
      out[offset + i] = (image[i]! / 255 - IMAGENET_MEAN[k]!) / IMAGENET_STD[k]!;
    }
  } else if (mode === 'imagenet-caffe') {
    for (let p = 0; p < n; p += 3) {
      // Read the pixel first: `out` may be `image` itself (in-place normalisation).
      const [r, g, b] = [image[p]!, image[p + 1]!, image[p + 2]!];
      out[offset + p] = b - CAFFE_MEAN_RGB[2]!;
      out[offset + p + 1] = g - CAFFE_MEAN_RGB[1]!;
      out[offset + p + 2] = r - CAFFE_MEAN_RGB[0]!;
    }
  } else if (dims === 3) {
    for (let i = 0; i < n; i++) out[offset + i] = image[i]!;
  } else {
    const pixels = n / c;
    for (let k = 0; k < c; k++) {
      let s = 0;
      let s2 = 0;
      for (let p = 0; p < pixels; p++) {
        const v = image[p * c + k]!;
        s += v;
        s2 += v * v;
      }
      const mean = s / pixels;
      const std = Math.sqrt(Math.max(s2 / pixels - mean * mean, 0)) || 1;
      for (let p = 0; p < pixels; p++) out[offset + p * c + k] = (image[p * c + k]! - mean) / std;
    }
  }
}
