/**
 * The names a layer of the IR is realised under. A conv with batch norm is three layers in a framework (conv,
 * norm, activation); their names follow one rule, so pretrained weights, checkpoints and frozen parts find them.
 */
import type { Layer } from './types.js';

export interface RealizedNames {
  /** The layer itself (a conv's kernel and bias). */
  layer: string;
  /** The batch norm after a conv with norm 'batch'. */
  norm?: string;
  /** The separate activation after that batch norm (without a norm the activation is part of the conv). */
  activation?: string;
}

/**
 * Keras's names: `<stem>_conv<i>` becomes `<stem>_bn<i>` / `<stem>_relu<i>` (VGG-style stacks), `<stem><digit>_conv`
 * becomes `<stem><digit>_bn` / `_relu` (ResNet: conv1_conv → conv1_bn, conv2_block1_1_conv → conv2_block1_1_bn);
 * any other conv name `<n>` becomes `<n>_bn` / `<n>_relu`.
 */
export function realizedNames(l: Layer): RealizedNames {
  if ((l.kind !== 'conv' && l.kind !== 'atrous-conv') || l.norm === 'none') return { layer: l.name };
  const m = /^(.*)_conv(\d+)$/.exec(l.name);
  const k = /^(.*\d)_conv$/.exec(l.name);
  const [norm, activation] = m
    ? [`${m[1]}_bn${m[2]}`, `${m[1]}_relu${m[2]}`]
    : k
      ? [`${k[1]}_bn`, `${k[1]}_relu`]
      : [`${l.name}_bn`, `${l.name}_relu`];
  return l.activation === 'relu' ? { layer: l.name, norm, activation } : { layer: l.name, norm };
}
