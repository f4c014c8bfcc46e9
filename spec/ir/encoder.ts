/** Facts about an encoder that several stages need before the full IR exists: its stride and output width. */
import type { EncoderSpec } from '../types.js';

/** VGG16's stage widths before the width multiplier (Simonyan & Zisserman, configuration D). */
export const VGG16_WIDTHS = [64, 128, 256, 512, 512] as const;
/** Conv layers per VGG16 stage. */
export const VGG16_CONVS = [2, 2, 3, 3, 3] as const;

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
/** A bottleneck block's output is 4× its inner width (ResNet50). */
export const BOTTLENECK_EXPANSION = 4;

/** Channels of the encoder's last feature map. */
export function encoderChannels(enc: EncoderSpec): number {
  switch (enc.type) {
    case 'vgg16':
      return Math.round(VGG16_WIDTHS[Math.max(1, Math.min(5, enc.stages)) - 1]! * enc.width);
    case 'aniso3d':
      return enc.filters * 2 ** enc.downsample;
    case 'convstack':
      return enc.filters[enc.filters.length - 1] ?? 0;
    case 'wnet':
      return enc.filters;
    case 'resnet34':
      return RESNET_WIDTHS[3];
    case 'resnet50':
      return RESNET_WIDTHS[3] * BOTTLENECK_EXPANSION;
  }
}
