/** Facts about an encoder that several stages need before the full IR exists: its stride and output width. */
import type { EncoderSpec } from '../types.js';

/** VGG16's stage widths before the width multiplier (Simonyan & Zisserman, configuration D). */
export const VGG16_WIDTHS = [64, 128, 256, 512, 512] as const;
/** Conv layers per VGG16 stage. */
export const VGG16_CONVS = [2, 2, 3, 3, 3] as const;

/**
 * A published layer width under an encoder's `width` multiplier (vgg16, resnet34, resnet50): rounded to the
 * nearest integer, at least 1 channel. Width 1 keeps the published widths.
 */
export function scaledWidth(published: number, width: number): number {
  return Math.max(1, Math.round(published * width));
}

/** Total in-plane stride of the encoder (z is never down-sampled in 3D). */
export function encoderStride(enc: EncoderSpec): number {
  if (enc.type === 'wnet') return WNET_STRIDE;
  return enc.type === 'aniso3d' ? 2 ** enc.downsample : enc.outputStride;
}

/** WNet down-samples in-plane twice. */
export const WNET_STRIDE = 4;

/** ResNet stage plans (He et al. 2016, table 1): blocks per stage conv2..conv5 and their output widths. */
export const RESNET_BLOCKS = [3, 4, 6, 3] as const;
export const RESNET_WIDTHS = [64, 128, 256, 512] as const;
/** Channels of the ResNet stem (the 7×7/2 conv1) before the width multiplier. */
export const RESNET_STEM = 64;
/** A bottleneck block's output is 4× its inner width (ResNet50). */
export const BOTTLENECK_EXPANSION = 4;

/** Channels of the encoder's last feature map. */
export function encoderChannels(enc: EncoderSpec): number {
  switch (enc.type) {
    case 'vgg16':
      return scaledWidth(VGG16_WIDTHS[Math.max(1, Math.min(5, enc.stages)) - 1]!, enc.width);
    case 'aniso3d':
      return enc.filters * 2 ** enc.downsample;
    case 'convstack':
      return enc.filters[enc.filters.length - 1] ?? 0;
    case 'wnet':
      return enc.filters;
    case 'resnet34':
      return scaledWidth(RESNET_WIDTHS[3], enc.width);
    case 'resnet50':
      return scaledWidth(RESNET_WIDTHS[3], enc.width) * BOTTLENECK_EXPANSION;
  }
}
