/**
 * Tests describe small networks by the spec's model section plus sizes, and build them through the one path the
 * product uses: lowering to the model IR (spec/ir), then buildNetwork on that IR.
 */
import { buildNetwork, type BuildNetworkOptions, type Network } from '../../runtime/layers/index.js';
import { encoderChannels, lowerModel, type ModelIR } from '../../spec/ir/index.js';
import type { ClassSpec, ContextSpec, ModelSpec, Spec } from '../../spec/types.js';

export interface NetDesc extends BuildNetworkOptions {
  dims: 2 | 3;
  /** As in the spec: 2D [height, width]; 3D [x, y, z]. */
  size: number[];
  channels: number;
  numClasses: number;
  numScenes: number;
  encoder: ModelSpec['encoder'];
  /** filters defaults to the encoder's output width, as the spec's does. */
  context: Omit<ContextSpec, 'filters' | 'pairs'> & { filters?: number; pairs: [string, string][] };
  decoder: ModelSpec['decoder'];
  heads: ModelSpec['heads'];
}

/** The spec sections the lowering reads, for a description. */
export function netSpec(d: NetDesc): Pick<Spec, 'task' | 'model'> {
  const classes: ClassSpec[] = Array.from({ length: d.numClasses }, (_, i) => ({ name: `c${i}`, weight: 1 }));
  return {
    task: { dims: d.dims, size: d.size, channels: d.channels, classes, scenes: Array.from({ length: d.numScenes }, (_, i) => `s${i}`), regions: {} },
    model: {
      encoder: d.encoder,
      context: { ...d.context, pairs: d.context.pairs as ContextSpec['pairs'], filters: d.context.filters ?? encoderChannels(d.encoder) },
      decoder: d.decoder,
      heads: d.heads,
    },
  };
}

export function netIR(d: NetDesc): ModelIR {
  const r = lowerModel(netSpec(d));
  const errors = r.diagnostics.filter((x) => x.severity === 'error');
  if (errors.length) throw new Error(errors.map((e) => e.message).join('; '));
  return r.value;
}

/** Lowers the description and builds it (seed, initializer, batch size and name from the description). */
export function buildNet(d: NetDesc): Network<unknown> {
  return buildNetwork(netIR(d), { seed: d.seed, kernelInitializer: d.kernelInitializer, batchSize: d.batchSize, name: d.name });
}
