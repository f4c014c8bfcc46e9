/**
 * The view model of the torch target: the model IR written out as PyTorch, one Python construction per IR layer
 * kind (composites recursed), the loss terms and stage totals as Python expressions, and the training settings as
 * Python literals. Templates under templates/torch/ print these strings and hold no logic.
 */
import type { Expr, LossTermSpec, Spec } from '../../spec/types.js';
import type { Block, ConvLayer, Layer, ModelIR } from '../../spec/ir/index.js';
import { realizedNames } from '../../spec/ir/names.js';
import { inputNormalization } from '../../runtime/data/normalize.js';
import type { LossCodeNames } from './loss-code.js';
import { termsUsed } from './loss-code.js';
import type { EmitMeta } from './view.js';

/** One line of `Net.__init__` or `Net.forward` (comments included), already indented relative to the method. */
export interface PyLine {
  text: string;
}

/**
 * How a tdc checkpoint tensor maps onto a torch state-dict entry: 'conv' kernels OI… ↔ …IO, 'dense' [out, in] ↔
 * [in, out], 'channels' a per-channel tensor with unit spatial axes [C, 1, …] ↔ [1, …, C] (PReLU slopes).
 */
export interface WeightMap {
  torch: string;
  tdc: string;
  layout: 'conv' | 'dense' | 'channels' | 'plain';
}

/** A value as a Python literal: dicts with string keys, lists, True/False/None, floats as JSON prints them. */
export function pyLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'float("nan")';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(', ')}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`).join(', ')}}`;
}

const tuple = (xs: readonly number[]) => (xs.length === 1 ? `(${xs[0]},)` : `(${xs.join(', ')})`);
const PY_KEYWORDS = new Set(['class', 'lambda', 'def', 'in', 'is', 'not', 'and', 'or', 'pass', 'del', 'global']);
/** A layer name as a Python local variable: the input layer is `x` (forward's parameter), keywords get a '_'. */
const pyVar = (name: string) => (name === 'input' ? 'x' : PY_KEYWORDS.has(name) ? `${name}_` : name);

interface Ctx {
  dims: 2 | 3;
  /** outShape (channels-last) of every tensor name, composites included. */
  shapes: Map<string, number[]>;
  init: PyLine[];
  forward: PyLine[];
  weights: WeightMap[];
  /** torch module name → model part, for a stage's freeze list. */
  parts: [string, string][];
}

/**
 * Per spatial axis, the zeros a conv adds [before, after], as tfjs computes them: 'valid' none; 'same' enough for
 * ceil(n / stride) outputs, (k − 1)·d + 1 − n + (out − 1)·stride in total, the odd pixel after (TF's rule: with
 * stride > 1 or an even kernel the padding is asymmetric, which torch's `padding=` cannot express).
 */
function convPads(inSpatial: readonly number[], l: ConvLayer): [number, number][] {
  return inSpatial.map((n, i) => {
    if (l.padding === 'valid') return [0, 0];
    const s = l.strides?.[i] ?? 1;
    const out = Math.ceil(n / s);
    const total = Math.max((out - 1) * s + (l.kernel[i]! - 1) * l.dilation[i]! + 1 - n, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  });
}

/** [before, after] per spatial axis as F.pad's argument (last axis first). */
const fPad = (pads: readonly [number, number][]) => tuple([...pads].reverse().flat());

/** Appends the Python of one IR layer (init and forward lines) to the context. */
function emitLayer(l: Layer, c: Ctx): void {
  const d = c.dims;
  const ins = l.inputs.map(pyVar);
  const out = pyVar(l.name);
  const inShape = l.inputs.length ? c.shapes.get(l.inputs[0]!)! : [];
  const cin = inShape.length ? inShape[inShape.length - 1]! : 0;
  const cout = l.outShape[l.outShape.length - 1]!;
  const add = (lines: PyLine[], text: string) => lines.push({ text });
  const batchNorm = (bn: string, part: string) => {
    add(c.init, `self.${bn} = BatchNorm(${cout})`);
    for (const [t, k] of [['weight', 'gamma'], ['bias', 'beta'], ['running_mean', 'moving_mean'], ['running_var', 'moving_variance']] as const) {
      c.weights.push({ torch: `${bn}.${t}`, tdc: `${bn}/${k}`, layout: 'plain' });
    }
    c.parts.push([bn, part]);
  };
  switch (l.kind) {
    case 'input':
      break;
    case 'conv':
    case 'atrous-conv': {
      const pads = convPads(inShape.slice(0, -1), l);
      const symmetric = pads.every(([a, b]) => a === b);
      const args = [`${cin}, ${l.filters}, ${tuple(l.kernel)}`];
      if (l.strides?.some((s) => s !== 1)) args.push(`stride=${tuple(l.strides)}`);
      if (symmetric && pads.some(([a]) => a > 0)) args.push(`padding=${tuple(pads.map(([a]) => a))}`);
      if (l.dilation.some((r) => r !== 1)) args.push(`dilation=${tuple(l.dilation)}`);
      if (!l.useBias) args.push('bias=False');
      add(c.init, `self.${l.name} = nn.Conv${d}d(${args.join(', ')})`);
      c.weights.push({ torch: `${l.name}.weight`, tdc: `${l.name}/kernel`, layout: 'conv' });
      if (l.useBias) c.weights.push({ torch: `${l.name}.bias`, tdc: `${l.name}/bias`, layout: 'plain' });
      c.parts.push([l.name, l.part]);
      // TF's 'same' puts the odd pixel after: explicit zeros where the two sides differ.
      let expr = `self.${l.name}(${symmetric ? ins[0] : `F.pad(${ins[0]}, ${fPad(pads)})`})`;
      if (l.norm === 'batch') {
        const bn = realizedNames(l).norm!;
        batchNorm(bn, l.part);
        expr = `self.${bn}(${expr})`;
      }
      add(c.forward, `${out} = ${l.activation === 'relu' ? `F.relu(${expr})` : expr}`);
      break;
    }
    case 'zero-pad':
      add(c.forward, `${out} = F.pad(${ins[0]}, ${fPad(l.pads)})`);
      break;
    case 'activation':
      if (l.activation === 'relu') add(c.forward, `${out} = F.relu(${ins[0]})`);
      else {
        add(c.init, `self.${l.name} = PReLU(${cout}, ${d})`);
        c.weights.push({ torch: `${l.name}.alpha`, tdc: `${l.name}/alpha`, layout: 'channels' });
        c.parts.push([l.name, l.part]);
        add(c.forward, `${out} = self.${l.name}(${ins[0]})`);
      }
      break;
    case 'batch-norm':
      batchNorm(l.name, l.part);
      add(c.forward, `${out} = self.${l.name}(${ins[0]})`);
      break;
    case 'maxpool':
      add(c.forward, `${out} = F.max_pool${d}d(${ins[0]}, ${tuple(l.pool)}, ${tuple(l.strides)})`);
      break;
    case 'add':
      add(c.forward, `${out} = ${ins.join(' + ')}`);
      break;
    case 'concat':
      add(c.forward, `${out} = torch.cat([${ins.join(', ')}], dim=1)`);
      break;
    case 'global-avg-pool':
      add(c.forward, `${out} = ${ins[0]}.mean(dim=${tuple(Array.from({ length: d }, (_, i) => i + 2))}, keepdim=${l.outShape.length > 1 ? 'True' : 'False'})`);
      break;
    case 'broadcast':
      add(c.forward, `${out} = ${ins[0]}.expand(-1, -1, *${ins[1]}.shape[2:])`);
      break;
    case 'dense':
      add(c.init, `self.${l.name} = nn.Linear(${cin}, ${l.units})`);
      c.weights.push({ torch: `${l.name}.weight`, tdc: `${l.name}/kernel`, layout: 'dense' }, { torch: `${l.name}.bias`, tdc: `${l.name}/bias`, layout: 'plain' });
      c.parts.push([l.name, l.part]);
      add(c.forward, `${out} = ${l.activation === 'relu' ? `F.relu(self.${l.name}(${ins[0]}))` : `self.${l.name}(${ins[0]})`}`);
      break;
    case 'dropout':
      add(c.init, `self.${l.name} = nn.Dropout(${l.rate})`);
      add(c.forward, `${out} = self.${l.name}(${ins[0]})`);
      break;
    case 'upsample': {
      const size = tuple(l.outShape.slice(0, -1));
      if (l.method === 'nearest') add(c.forward, `${out} = resize_nearest(${ins[0]}, ${size})`);
      else {
        const inSize = tuple(l.outShape.slice(0, -1).map((n, i) => n / l.factor[i]!));
        add(c.init, `self.${l.name} = LinearResize(${inSize}, ${size})`);
        add(c.forward, `${out} = self.${l.name}(${ins[0]})`);
      }
      break;
    }
    default: {
      // A layer kind added to the IR without a torch construction fails to compile here.
      const unhandled: never = l;
      throw new Error(`torch emitter: no construction for layer kind '${(unhandled as Layer).kind}'`);
    }
  }
  c.shapes.set(l.name, l.outShape);
}



function emitBlock(b: Block, c: Ctx): void {
  if (!('layers' in b)) return emitLayer(b, c);
  c.forward.push({ text: `# ${b.kind} ${b.name} (${b.part})` });
  for (const l of b.layers) emitLayer(l, c);
  c.forward.push({ text: `${pyVar(b.name)} = ${pyVar(b.output)}` });
  c.shapes.set(b.name, b.outShape);
}

/** The network of `ir` as the lines of `Net.__init__` and `Net.forward`, the weight map and the part of each module. */
export function torchNetwork(ir: ModelIR) {
  const c: Ctx = { dims: ir.dims, shapes: new Map(), init: [], forward: [], weights: [], parts: [] };
  for (const b of ir.blocks) emitBlock(b, c);
  return {
    init: c.init,
    forward: c.forward,
    weights: c.weights,
    parts: c.parts.map(([module, part]) => ({ module, part })),
    outputs: [ir.outputs.seg, ir.outputs.class, ir.outputs.scene].map(pyVar).join(', '),
  };
}

/** A stage's loss expression as Python over the term values `t` and the WEIGHTS / VARS dicts. */
export function pyLossExpr(e: Expr, names: LossCodeNames): string {
  switch (e.kind) {
    case 'num':
      return Number.isInteger(e.value) ? e.value.toFixed(1) : String(e.value);
    case 'ref':
      if (names.terms.has(e.name)) return `t[${JSON.stringify(e.name)}]`;
      return `${names.weights.has(e.name) ? 'WEIGHTS' : 'VARS'}[${JSON.stringify(e.name)}]`;
    case 'neg':
      return `-(${pyLossExpr(e.operand, names)})`;
    case 'bin':
      return `(${pyLossExpr(e.left, names)} ${e.op} ${pyLossExpr(e.right, names)})`;
  }
}

/** The model parts a term's gradient reaches besides the encoder and the context module. */
function termParts(t: LossTermSpec): string[] {
  switch (t.type) {
    case 'seg':
      return ['decoder', 'seg'];
    case 'bce':
      return [t.head];
    case 'softmax_ce':
      return ['scene'];
    case 'sync':
      return t.direction === 'both' ? ['decoder', 'seg', 'class'] : ['class'];
  }
}

/** A loss term as a call into losses.py: the spec's arguments fixed, outputs `o` and batch `b` as parameters. */
function termPy(t: LossTermSpec, spec: Spec): { doc: string; code: string } {
  switch (t.type) {
    case 'seg': {
      const weights = t.classWeights ? `, class_weights=${pyLiteral(spec.task.classes.map((c) => c.weight))}` : '';
      const perImage = t.iouReduction === 'batch' ? 'False' : 'True';
      return {
        doc: `segmentation: ${t.ce}·cross-entropy + ${t.iou}·(1 − soft IoU, ${t.iouReduction === 'batch' ? 'pooled over the batch' : 'per image'}), eq. (1)`,
        code: `seg_loss(o["seg"], b["mask"], ce=${t.ce}, iou=${t.iou}${weights}, per_image=${perImage})`,
      };
    }
    case 'bce':
      return { doc: `${t.head}: multi-label binary cross-entropy, eq. (2)`, code: `bce_loss(o["${t.head}"], b["${t.head === 'class' ? 'classes' : 'scene'}"])` };
    case 'softmax_ce':
      return { doc: 'scene: softmax cross-entropy (one scene per sample)', code: 'softmax_ce_loss(o["scene"], b["scene"])' };
    case 'sync':
      return {
        doc: `sync: BCE between the classes present in the segmentation (${t.presence}) and the class head (${t.direction}), eq. (3)`,
        code: `sync_loss(o["seg"], o["class"], presence="${t.presence}", direction="${t.direction}")`,
      };
  }
}

/** Everything the Python templates print. */
export function buildTorchView(spec: Spec, ir: ModelIR, meta: EmitMeta, extra: { packDir: string; dataHash: string }) {
  const names: LossCodeNames = {
    terms: new Set(spec.losses.map((l) => l.name)),
    weights: new Set(Object.keys(spec.weights)),
    vars: new Set(Object.keys(spec.vars)),
  };
  const net = torchNetwork(ir);
  const regions = Object.fromEntries(
    Object.entries(spec.task.regions).map(([r, cls]) => [r, cls.map((c) => spec.task.classes.findIndex((k) => k.name === c))]),
  );
  const sceneSoftmax = spec.losses.some((l) => l.type === 'softmax_ce');
  const allTerms: string[] = [];
  for (const s of spec.stages) for (const t of termsUsed(s.loss, names)) if (!allTerms.includes(t)) allTerms.push(t);
  const crop = spec.data.crop ?? (spec.task.dims === 3 ? spec.task.size : undefined);
  const cropTensor = crop ? (spec.task.dims === 3 ? [crop[2]!, crop[1]!, crop[0]!] : [crop[0]!, crop[1]!]) : null;
  return {
    meta: { ...meta, shortHash: meta.hash.slice(0, 12) },
    name: spec.name,
    dims: spec.task.dims,
    hasBatchNorm: net.weights.some((w) => w.tdc.endsWith('/gamma')) ? 'True' : 'False',
    bnMomentum: pyLiteral(spec.train.bnMomentum),
    net,
    inputShapeCF: pyLiteral([ir.inputShape[ir.inputShape.length - 1]!, ...ir.inputShape.slice(0, -1)]),
    classes: pyLiteral(spec.task.classes.map((c) => c.name)),
    scenes: pyLiteral(spec.task.scenes),
    regions: pyLiteral(regions),
    terms: spec.losses.map((l) => ({ key: JSON.stringify(l.name), ...termPy(l, spec) })),
    termParts: pyLiteral(Object.fromEntries(spec.losses.map((l) => [l.name, ['encoder', 'context', ...termParts(l)]]))),
    allTerms: pyLiteral(allTerms),
    weightsLit: pyLiteral(spec.weights),
    varsLit: pyLiteral(spec.vars),
    stages: spec.stages.map((s) => ({
      lit: pyLiteral({ name: s.name, label: s.label, steps: s.steps, from: s.from, freeze: s.freeze, terms: termsUsed(s.loss, names), schedule: s.schedule ?? spec.schedule }),
      lossText: s.lossText,
      code: pyLossExpr(s.loss, names),
    })),
    optimizer: pyLiteral(spec.optimizer),
    train: pyLiteral(spec.train),
    data: pyLiteral({
      batch_size: spec.data.batchSize,
      crop: cropTensor,
      augment: spec.data.augment,
      normalize: inputNormalization(spec.task),
      format: spec.data.format,
    }),
    sceneActivation: sceneSoftmax ? 'softmax' : 'sigmoid',
    packDir: JSON.stringify(extra.packDir),
    dataHash: JSON.stringify(extra.dataHash),
    specDir: JSON.stringify(meta.specDirFromOut),
  };
}

export type TorchView = ReturnType<typeof buildTorchView>;
