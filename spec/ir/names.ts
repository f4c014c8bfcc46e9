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
 * `<stem>_conv<i>` becomes `<stem>_bn<i>` / `<stem>_relu<i>` (Keras's names in VGG-style stacks); any other conv
 * name `<n>` becomes `<n>_bn` / `<n>_relu`.
 */
export function realizedNames(l: Layer): RealizedNames {
  if ((l.kind !== 'conv' && l.kind !== 'atrous-conv') || l.norm === 'none') return { layer: l.name };
  const m = /^(.*)_conv(\d+)$/.exec(l.name);
  const [norm, activation] = m ? [`${m[1]}_bn${m[2]}`, `${m[1]}_relu${m[2]}`] : [`${l.name}_bn`, `${l.name}_relu`];
  return l.activation === 'relu' ? { layer: l.name, norm, activation } : { layer: l.name, norm };
}
