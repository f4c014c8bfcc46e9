/** The task-task context ensemble (paper III-B): one cascade of dilated convs per pair of tasks over the latent map. */
import * as tf from '@tensorflow/tfjs';
import { SeedSequence } from './init.js';
import { channelsOf, convUnit, spatialRank, type BlockInitArgs } from './units.js';

export type ContextCombine = 'sum' | 'concat' | 'cascade';

export interface ContextEnsembleArgs extends BlockInitArgs {
  /** Task pairs, one branch each, e.g. [['seg','class'], ['seg','scene'], ['class','scene']]; they name the layers. */
  pairs: [string, string][];
  /** The cascade's dilation rates in order (paper: 63, 31, 15, 3, 1); in 3D they dilate y and x only. */
  dilations: number[];
  /** Channels of every conv in the module (default: the input's channels, which needs no projection). */
  filters?: number;
  /** 'sum': feature + Σ branches; 'concat': concat of branches → 1×1 conv + ReLU; 'cascade': branches in series. */
  combine: ContextCombine;
}

/**
 * Each branch is a D-LinkNet centre: 3×3 (3D: [1,3,3]) atrous convs with the rates in order, each + bias + ReLU,
 * and the branch output is its input plus every step's output, so every receptive field from 3 up to Σ rates
 * reaches the heads. The spatial size is kept.
 *
 * Layer names: context_proj (a linear 1×1 conv, only when the input width ≠ filters), context_{a}_{b}_{i} (step i
 * of pair a-b, from 0),
 * context_{a}_{b}_sum, then context_sum | context_concat + context_fuse.
 */
export function contextEnsemble(x: tf.SymbolicTensor, args: ContextEnsembleArgs): tf.SymbolicTensor {
  const dims = spatialRank(x, 'contextEnsemble');
  if (args.pairs.length === 0) throw new Error('contextEnsemble: at least one task pair is needed');
  if (args.dilations.length === 0 || args.dilations.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`contextEnsemble: dilations must be positive integers, got [${args.dilations}]`);
  }
  const seeds = new SeedSequence(args.seed ?? 0);
  const init = args.kernelInitializer ?? 'glorotUniform';
  const inChannels = channelsOf(x, 'contextEnsemble');
  const filters = args.filters ?? inChannels;
  const one = Array<number>(dims).fill(1);
  const feature =
    inChannels === filters
      ? x
      : convUnit(x, { name: 'context_proj', filters, kernelSize: one, norm: 'none', relu: false, seed: seeds.next(), kernelInitializer: init });

  const kernel = dims === 2 ? [3, 3] : [1, 3, 3];
  const branch = (input: tf.SymbolicTensor, pair: [string, string]): tf.SymbolicTensor => {
    const base = `context_${pair[0]}_${pair[1]}`;
    const terms = [input];
    let y = input;
    args.dilations.forEach((rate, i) => {
      y = convUnit(y, {
        name: `${base}_${i}`,
        filters,
        kernelSize: kernel,
        rates: dims === 2 ? [rate, rate] : [1, rate, rate],
        norm: 'none',
        seed: seeds.next(),
        kernelInitializer: init,
      });
      terms.push(y);
    });
    return tf.layers.add({ name: `${base}_sum` }).apply(terms) as tf.SymbolicTensor;
  };

  switch (args.combine) {
    case 'sum': {
      const outs = args.pairs.map((p) => branch(feature, p));
      return tf.layers.add({ name: 'context_sum' }).apply([feature, ...outs]) as tf.SymbolicTensor;
    }
    case 'concat': {
      const outs = args.pairs.map((p) => branch(feature, p));
      const cat =
        outs.length === 1 ? outs[0]! : (tf.layers.concatenate({ name: 'context_concat', axis: -1 }).apply(outs) as tf.SymbolicTensor);
      return convUnit(cat, { name: 'context_fuse', filters, kernelSize: one, norm: 'none', seed: seeds.next(), kernelInitializer: init });
    }
    case 'cascade': {
      let y = feature;
      for (const p of args.pairs) y = branch(y, p);
      return y;
    }
  }
}
