/** Semantic checks: problems a schema cannot see, found on the resolved spec and placed on the written nodes. */
import type { Expr, LossTermSpec, Spec } from '../spec/types.js';
import type { Code, Diagnostic, Severity } from '../spec/diagnostics.js';
import { nameOffset } from './expr/eval.js';
import { spanInString } from './expr/span.js';
import { didYouMean } from './suggest.js';
import { encoderStride } from '../spec/ir/encoder.js';
import { log2Exact } from '../spec/ir/lower.js';
import { PARTS, type Block, type ModelIR } from '../spec/ir/types.js';
import type { ComposedDoc, Path } from './parse/index.js';

export interface SemanticOptions {
  /**
   * Whether a file named in the spec exists: `rel` as written, `fromFile` the spec file it was written in (its
   * folder is the base). Without it, file checks are skipped (the stage itself does no I/O).
   */
  exists?: (rel: string, fromFile: string) => boolean;
}

/** Collects diagnostics placed on written nodes. */
class Report {
  readonly out: Diagnostic[] = [];
  constructor(private readonly doc: ComposedDoc) {}

  add(code: Code, severity: Severity, path: Path, message: string, hint?: string): void {
    const d: Diagnostic = { code, severity, message };
    const span = this.doc.spans.get(path);
    if (span) d.span = span;
    if (hint) d.hint = hint;
    this.out.push(d);
  }

  /** A diagnostic on a name inside a stage's loss string. */
  inLoss(code: Code, stage: number, text: string, name: string | undefined, message: string, hint?: string): void {
    const path = ['stages', stage, 'loss'];
    const at = this.doc.spans.get(path);
    const d: Diagnostic = { code, severity: 'error', message };
    if (at) {
      const o = name === undefined ? 0 : nameOffset(text, name);
      const e = name === undefined ? text.length : o + name.length;
      d.span = spanInString(at, this.doc.spans.source(at.file), o, e);
    }
    if (hint) d.hint = hint;
    this.out.push(d);
  }
}

function duplicates(names: readonly string[]): { index: number; first: number }[] {
  const seen = new Map<string, number>();
  const out: { index: number; first: number }[] = [];
  names.forEach((n, i) => {
    const f = seen.get(n);
    if (f === undefined) seen.set(n, i);
    else out.push({ index: i, first: f });
  });
  return out;
}

/** The loss-term heads a term feeds: seg terms the seg head; bce/softmax their head; sync both seg and class. */
function termHeads(t: LossTermSpec): ('seg' | 'class' | 'scene')[] {
  switch (t.type) {
    case 'seg':
      return ['seg'];
    case 'bce':
      return [t.head];
    case 'softmax_ce':
      return ['scene'];
    case 'sync':
      return ['seg', 'class'];
  }
}

/**
 * Degree of an expression in the loss terms: 0 = constant, 1 = linear. Products of terms and terms in a
 * denominator are reported through `bad` (with the offending sub-expression's first term name).
 */
function degree(e: Expr, isTerm: (n: string) => boolean, bad: (why: string, name: string) => void): number {
  switch (e.kind) {
    case 'num':
      return 0;
    case 'ref':
      return isTerm(e.name) ? 1 : 0;
    case 'neg':
      return degree(e.operand, isTerm, bad);
    case 'bin': {
      const l = degree(e.left, isTerm, bad);
      const r = degree(e.right, isTerm, bad);
      const firstTerm = (x: Expr): string => {
        if (x.kind === 'ref') return x.name;
        if (x.kind === 'neg') return firstTerm(x.operand);
        if (x.kind === 'bin') {
          const a = firstTerm(x.left);
          return a && isTerm(a) ? a : firstTerm(x.right);
        }
        return '';
      };
      if (e.op === '*' && l > 0 && r > 0) {
        bad(`multiplies loss terms ('${firstTerm(e.left)}' * '${firstTerm(e.right)}')`, firstTerm(e.right));
        return 1;
      }
      if (e.op === '/' && r > 0) {
        bad(`divides by a loss term ('${firstTerm(e.right)}')`, firstTerm(e.right));
        return 1;
      }
      return e.op === '*' ? l + r : Math.max(l, r);
    }
  }
}

function refs(e: Expr, out: string[] = []): string[] {
  if (e.kind === 'ref') out.push(e.name);
  else if (e.kind === 'neg') refs(e.operand, out);
  else if (e.kind === 'bin') {
    refs(e.left, out);
    refs(e.right, out);
  }
  return out;
}

/** Sizes near `n` (below and above) divisible by `k`. */
function nearestMultiples(n: number, k: number): number[] {
  const lo = Math.floor(n / k) * k;
  return [lo, lo + k].filter((x) => x > 0);
}

function checkTask(spec: Spec, r: Report): void {
  const t = spec.task;
  for (const { index, first } of duplicates(t.classes.map((c) => c.name)))
    r.add('TDC0501', 'error', ['task', 'classes', index], `class '${t.classes[index]!.name}' is defined twice (label ids ${first} and ${index})`, 'class names must be unique: they name the labels in metrics and reports');
  for (const { index, first } of duplicates(t.scenes))
    r.add('TDC0502', 'error', ['task', 'scenes', index], `scene '${t.scenes[index]}' is listed twice (scene ids ${first} and ${index})`, 'scene names must be unique');
  if (t.classes.length < 2)
    r.add('TDC0503', 'error', ['task', 'classes'], `segmentation needs at least 2 classes, got ${t.classes.length}`, 'list the background class and at least one foreground class');
  checkSharedMaskValues(t, r);
  if (t.scenes.length < 1) r.add('TDC0504', 'error', ['task', 'scenes'], 'no scene labels: the scene head has nothing to predict', 'list at least one scene');
  const classNames = new Set(t.classes.map((c) => c.name));
  for (const [region, members] of Object.entries(t.regions))
    members.forEach((m, j) => {
      if (!classNames.has(m))
        r.add('TDC0509', 'error', ['task', 'regions', region, j], `region '${region}' names '${m}', which is not a class`, didYouMean(m, classNames) ?? `classes: ${[...classNames].join(', ')}`);
    });
  if (t.size.length !== t.dims)
    r.add('TDC0517', 'error', ['task', 'size'], `task.size has ${t.size.length} numbers, but a ${t.dims}D task needs ${t.dims}`, t.dims === 3 ? 'write [x, y, z], e.g. [144, 144, 19]' : 'write [height, width]');
  const norm = t.normalize ?? 'auto';
  if (t.dims === 3 && norm !== 'auto' && norm !== 'zscore')
    r.add('TDC0524', 'error', ['task', 'normalize'], `normalize: ${norm} on a 3D task; volumes are z-scored per modality over brain voxels by the reader`, 'write normalize: zscore (or leave it out)');
  if (t.dims === 2 && (norm === 'imagenet' || norm === 'imagenet-caffe') && t.channels !== 3)
    r.add('TDC0524', 'error', ['task', 'normalize'], `normalize: ${norm} needs 3 (RGB) input channels, the task has ${t.channels}`, 'use unit or zscore for grey images');
  if (t.dims === 3 && t.modalities && t.modalities.length !== t.channels)
    r.add('TDC0513', 'error', ['task', 'channels'], `channels is ${t.channels}, but ${t.modalities.length} modalities are listed (${t.modalities.join(', ')})`, `set channels: ${t.modalities.length}`);
}

/** A mask value (or colour) written for two classes: each pixel gets one class id, so one of them would be lost. */
function checkSharedMaskValues(t: Spec['task'], r: Report): void {
  const owner = new Map<string, number>();
  t.classes.forEach((c, i) => {
    const keys = [...(c.values ?? []).map((v) => ({ key: `v${v}`, what: `mask value ${v}`, path: ['values', c.values!.indexOf(v)] })),
      ...(c.color ? [{ key: `c${c.color.join(',')}`, what: `colour (${c.color.join(', ')})`, path: ['color'] }] : [])];
    for (const k of keys) {
      const first = owner.get(k.key);
      if (first === undefined) owner.set(k.key, i);
      else if (first !== i)
        r.add('TDC0521', 'error', ['task', 'classes', i, ...k.path], `class '${c.name}' uses ${k.what}, which already belongs to class '${t.classes[first]!.name}'`, 'each value or colour in the masks maps to one class; a class that contains another (a disc around a cup) is a nesting option of the format (data.nested_disc), not a shared value');
    }
  });
}

/**
 * Each loss term's weight in a linear stage loss: f(term = 1, others 0) − f(all 0), evaluated with the spec's
 * weights and vars. Undefined when a name is unknown (reported elsewhere).
 */
function termCoefficients(e: Expr, terms: readonly string[], numbers: Record<string, number>): Map<string, number> | undefined {
  const at = (one: string | undefined): number => {
    const go = (x: Expr): number => {
      switch (x.kind) {
        case 'num':
          return x.value;
        case 'ref':
          return terms.includes(x.name) ? (x.name === one ? 1 : 0) : (numbers[x.name] ?? NaN);
        case 'neg':
          return -go(x.operand);
        case 'bin': {
          const [a, b] = [go(x.left), go(x.right)];
          return x.op === '+' ? a + b : x.op === '-' ? a - b : x.op === '*' ? a * b : a / b;
        }
      }
    };
    return go(e);
  };
  const base = at(undefined);
  if (!Number.isFinite(base)) return undefined;
  return new Map(terms.map((t) => [t, at(t) - base]));
}

function checkModel(spec: Spec, r: Report, opts: SemanticOptions, doc: ComposedDoc): void {
  const { task, model } = spec;
  const enc = model.encoder;
  const ep = ['model', 'encoder'];
  if (enc.type === 'vgg16' && task.dims === 3)
    r.add('TDC0517', 'error', [...ep, 'type'], 'vgg16 is a 2D encoder, but the task is 3D', 'use aniso3d or convstack for volumes');
  if (enc.type === 'wnet' && task.dims === 2)
    r.add('TDC0517', 'error', [...ep, 'type'], 'wnet is a 3D encoder, but the task is 2D', 'use vgg16, resnet34/50 or convstack for images');
  if (enc.type === 'aniso3d' && task.dims === 2)
    r.add('TDC0517', 'error', [...ep, 'type'], 'aniso3d is a 3D encoder, but the task is 2D', 'use vgg16 or convstack for images');
  if (model.heads.seg.upsample === 'trilinear' && task.dims === 2)
    r.add('TDC0517', 'error', ['model', 'heads', 'seg', 'upsample'], 'trilinear upsampling needs a 3D task', 'use bilinear (or nearest) for images');

  // Encoder stride: a power of two reachable by the stages that exist.
  if ((enc.type === 'resnet34' || enc.type === 'resnet50') && task.dims === 3)
    r.add('TDC0517', 'error', [...ep, 'type'], `${enc.type} is a 2D encoder, but the task is 3D`, 'use aniso3d or convstack for volumes');
  if (enc.type === 'vgg16' || enc.type === 'convstack') {
    const pools = log2Exact(enc.outputStride);
    const stages = enc.type === 'vgg16' ? enc.stages : enc.filters.length;
    if (pools === undefined)
      r.add('TDC0516', 'error', [...ep, 'output_stride'], `output_stride ${enc.outputStride} is not a power of two (each pool halves the size)`, 'use 1, 2, 4, 8, 16 or 32');
    else if (pools > stages)
      r.add('TDC0516', 'error', [...ep, 'output_stride'], `output_stride ${enc.outputStride} needs ${pools} pools, but the encoder has only ${stages} stages (one pool per stage)`, `use output_stride ${2 ** stages} or less`);
    if (enc.type === 'vgg16' && enc.stages > 5)
      r.add('TDC0516', 'error', [...ep, 'stages'], `vgg16 has 5 stages, not ${enc.stages}`, 'use stages: 1..5');
  }

  const stride = encoderStride(enc);
  // In-plane axes of task.size: 2D both, 3D x and y (z is never down-sampled).
  const axes = [0, 1];
  const axisName = (i: number): string => (task.dims === 3 ? ['x', 'y', 'z'][i]! : ['height', 'width'][i]!);
  const sizeText = task.size.join('×');
  for (const i of axes) {
    const n = task.size[i];
    if (n !== undefined && n % stride !== 0)
      r.add('TDC0511', 'error', ['task', 'size', i], `input size ${sizeText} is not divisible by the encoder's total stride ${stride} (${axisName(i)} ${n})`, `nearest valid ${axisName(i)}: ${nearestMultiples(n, stride).join(' or ')}`);
  }
  const minZ = enc.type === 'aniso3d' ? 3 : enc.type === 'convstack' ? enc.kernel : 1;
  if (task.dims === 3 && task.size[2] !== undefined && task.size[2] < minZ)
    r.add('TDC0511', 'error', ['task', 'size', 2], `input z size ${task.size[2]} is smaller than the inter-slice kernel (${minZ})`, `use at least ${minZ} slices`);

  const crop = spec.data.crop;
  if (crop) {
    if (crop.length !== task.size.length)
      r.add('TDC0512', 'error', ['data', 'crop'], `data.crop has ${crop.length} numbers, task.size has ${task.size.length}`, 'use the same axis order as task.size');
    else {
      crop.forEach((c, i) => {
        if (c > task.size[i]!)
          r.add('TDC0512', 'error', ['data', 'crop', i], `crop ${crop.join('×')} is larger than the input size ${sizeText} (${axisName(i)} ${c} > ${task.size[i]})`, 'a training crop is cut from the input; make it at most the input size');
        else if (axes.includes(i) && c % stride !== 0)
          r.add('TDC0512', 'error', ['data', 'crop', i], `crop ${crop.join('×')} is not divisible by the encoder's total stride ${stride} (${axisName(i)} ${c})`, `nearest valid ${axisName(i)}: ${nearestMultiples(c, stride).join(' or ')}`);
      });
      if (task.dims === 3 && crop[2]! < minZ)
        r.add('TDC0512', 'error', ['data', 'crop', 2], `crop z ${crop[2]} is smaller than the inter-slice kernel (${minZ})`, `use at least ${minZ} slices`);
    }
  }

  // Values the network never reads: say so rather than let a reader believe they matter.
  if (enc.type === 'aniso3d' && enc.dilations.length > enc.blocks && doc.spans.key([...ep, 'dilations']) !== undefined) {
    const unused = enc.dilations.slice(enc.blocks);
    r.add('TDC0525', 'warning', [...ep, 'dilations', enc.blocks], `aniso3d has ${enc.blocks} block${enc.blocks === 1 ? '' : 's'} per level, so only the first ${enc.blocks} of dilations [${enc.dilations.join(', ')}] are used; ${unused.join(', ')} ${unused.length === 1 ? 'is' : 'are'} ignored`, `drop ${unused.length === 1 ? 'it' : 'them'}, or use blocks: ${enc.dilations.length}`);
  }
  if (model.context.pairs.length > 0 && model.context.dilations.length === 0)
    r.add('TDC0202', 'error', ['model', 'context'], `model.context is missing the required key 'dilations': each of the ${model.context.pairs.length} task pairs is a cascade of dilated convs`, 'add dilations: e.g. [7, 3, 1], or pairs: [] for no context ensemble');
  if (model.context.pairs.length === 0) {
    for (const k of ['dilations', 'filters', 'combine'] as const) {
      if (doc.spans.key(['model', 'context', k]) !== undefined)
        r.add('TDC0525', 'warning', ['model', 'context', k], `context.${k} is ignored: context.pairs is empty, so there is no context ensemble (the heads read the encoder's output)`, `remove it, or list task pairs to build the ensemble`);
    }
  }

  // Context pairs: a pair relates two different tasks, each pair once.
  const seen = new Set<string>();
  model.context.pairs.forEach(([a, b], i) => {
    if (a === b) r.add('TDC0519', 'error', ['model', 'context', 'pairs', i], `context pair [${a}, ${b}] pairs a task with itself`, 'a branch models the context between two different tasks');
    const key = [a, b].sort().join('+');
    if (seen.has(key)) r.add('TDC0519', 'error', ['model', 'context', 'pairs', i], `context pair [${a}, ${b}] is listed twice`, 'remove the repeated pair');
    seen.add(key);
  });

  if (enc.pretrained !== undefined && opts.exists) {
    const at = doc.spans.get([...ep, 'pretrained']);
    if (!opts.exists(enc.pretrained, at?.file ?? doc.file))
      r.add('TDC0515', 'warning', [...ep, 'pretrained'], `pretrained weight file '${enc.pretrained}' not found: training would start the encoder from random weights`, 'download the file there, fix the path (relative to the spec file), or remove pretrained');
  }
}

function checkLossesAndStages(spec: Spec, r: Report): void {
  const terms = new Map(spec.losses.map((t) => [t.name, t]));
  const numbers = new Set([...Object.keys(spec.weights), ...Object.keys(spec.vars)]);
  const pairTasks = new Set(spec.model.context.pairs.flat());

  for (const t of spec.losses) {
    // A stage loss could not tell the term from the number: the names must differ.
    if (numbers.has(t.name))
      r.add('TDC0406', 'error', ['losses', t.name], `'${t.name}' names both a loss term and a ${t.name in spec.weights ? 'weight' : 'var'}`, 'rename one of them');
    if (t.type === 'sync') {
      const hasSeg = spec.losses.some((x) => x.type === 'seg');
      const hasClass = spec.losses.some((x) => x.type === 'bce' && x.head === 'class');
      if (!hasSeg || !hasClass) {
        const missing = [!hasSeg && "'seg' term", !hasClass && "'bce' term with head: class"].filter(Boolean).join(' and ');
        r.add('TDC0505', 'error', ['losses', t.name], `sync term '${t.name}' compares the classes present in the segmentation with the class head, but there is no ${missing}`, 'the class head covers the same classes as the segmentation; define both terms');
      }
    }
    if (t.type === 'softmax_ce' && spec.task.scenes.length < 2)
      r.add('TDC0504', 'error', ['losses', t.name], `softmax_ce term '${t.name}' needs at least 2 scenes, got ${spec.task.scenes.length}`, 'add scenes, or drop the scene loss');
  }

  for (const { index, first } of duplicates(spec.stages.map((s) => s.name)))
    r.add('TDC0522', 'error', ['stages', index, 'name'], `stage name '${spec.stages[index]!.name}' is used twice (stages ${first + 1} and ${index + 1})`, 'give each stage its own name: logs, checkpoints and --resume refer to stages by name');
  const used = new Set<string>();
  spec.stages.forEach((stage, i) => {
    const names = refs(stage.loss);
    const unknown = new Set<string>();
    for (const n of names) {
      if (terms.has(n)) used.add(n);
      else if (!numbers.has(n) && !unknown.has(n)) {
        unknown.add(n);
        r.inLoss('TDC0506', i, stage.lossText, n, `stage '${stage.name}': '${n}' is neither a loss term nor a weight`, didYouMean(n, [...terms.keys(), ...numbers]) ?? `loss terms: ${[...terms.keys()].join(', ')}; weights: ${[...numbers].join(', ') || '(none)'}`);
      }
    }
    if (unknown.size === 0 && !names.some((n) => terms.has(n)))
      r.inLoss('TDC0506', i, stage.lossText, undefined, `stage '${stage.name}': the loss uses no loss term`, `loss terms: ${[...terms.keys()].join(', ')}`);
    let linear = true;
    degree(stage.loss, (n) => terms.has(n), (why, name) => {
      linear = false;
      r.inLoss('TDC0507', i, stage.lossText, name, `stage '${stage.name}': the loss must be a weighted sum of loss terms, but it ${why}`, 'write it like seg + w1*class + w3*sync');
    });
    const usedTerms = [...new Set(names.filter((n) => terms.has(n)))];
    const coefs = linear && unknown.size === 0 ? termCoefficients(stage.loss, usedTerms, { ...spec.vars, ...spec.weights }) : undefined;
    for (const [term, w] of coefs ?? []) {
      if (w < 0)
        r.inLoss('TDC0523', i, stage.lossText, term, `stage '${stage.name}': loss term '${term}' has weight ${+w.toPrecision(6)}; a negative weight makes training maximise it`, 'loss weights are non-negative; check the sign of the weight and of the expression');
    }
    const heads = new Set(names.flatMap((n) => (terms.has(n) ? termHeads(terms.get(n)!).map((h) => [h, n] as const) : [])).map(([h, n]) => `${h}:${n}`));
    for (const hn of heads) {
      const [head, n] = hn.split(':') as ['seg' | 'class' | 'scene', string];
      if (head !== 'seg' && pairTasks.size > 0 && !pairTasks.has(head))
        r.inLoss('TDC0508', i, stage.lossText, n, `stage '${stage.name}' trains the ${head} head through '${n}', but no context pair includes '${head}', so the model has no ${head} branch`, `add a pair such as [seg, ${head}] to model.context.pairs`);
      if (head === 'scene' && spec.task.scenes.length === 1)
        r.add('TDC0504', 'warning', ['task', 'scenes'], `stage '${stage.name}' trains the scene head, but there is only one scene: it has nothing to learn`, 'add scenes, or drop the scene term');
    }
    if (i === 0 && stage.from === 'previous')
      r.add('TDC0510', 'error', ['stages', 0, 'from'], `the first stage '${stage.name}' has no previous stage to start from`, "use from: init (or remove 'from')");
    if (stage.steps < 1) r.add('TDC0516', 'error', ['stages', i, 'steps'], `stage '${stage.name}' has ${stage.steps} steps`, 'use at least 1 step');
    stage.freeze.forEach((part, j) => {
      if (!(PARTS as readonly string[]).includes(part))
        r.add('TDC0518', 'error', ['stages', i, 'freeze', j], `stage '${stage.name}' freezes '${part}', which is not a model part`, didYouMean(part, PARTS) ?? `parts: ${PARTS.join(', ')}`);
    });
    if (stage.schedule) checkSchedule(stage.schedule, ['stages', i, 'schedule'], r);
  });
  // After a misspelt name the "unused" term is usually the one meant: say it only when all names resolved.
  const misspelt = r.out.some((d) => d.code === 'TDC0506');
  for (const t of spec.losses)
    if (!misspelt && !used.has(t.name))
      r.add('TDC0520', 'warning', ['losses', t.name], `loss term '${t.name}' is not used by any stage`, 'add it to a stage loss, or remove it');
}

function checkSchedule(s: Spec['schedule'], path: Path, r: Report): void {
  if (s.type === 'step') {
    if (s.every < 1) r.add('TDC0516', 'error', [...path, 'every'], `schedule every is ${s.every}`, 'the learning rate changes every N >= 1 steps');
    if (s.values.length === 0) r.add('TDC0516', 'error', [...path, 'values'], 'a step schedule needs at least one learning rate', 'e.g. values: [1e-4, 5e-5, 2e-5]');
  }
  if (s.type === 'cosine' && s.minLr > s.lr)
    r.add('TDC0516', 'error', [...path, 'min_lr'], `cosine min_lr ${s.minLr} is above lr ${s.lr}`, 'min_lr is the final, smaller rate');
}

/**
 * Every semantic problem of a resolved spec, errors and warnings, each placed on the written node that causes
 * it. Pure: file existence comes in through `opts.exists`.
 */
export function checkSemantics(spec: Spec, doc: ComposedDoc, opts: SemanticOptions = {}): Diagnostic[] {
  const r = new Report(doc);
  checkTask(spec, r);
  checkModel(spec, r, opts, doc);
  checkLossesAndStages(spec, r);
  checkSchedule(spec.schedule, ['schedule'], r);
  if (spec.data.batchSize < 1) r.add('TDC0516', 'error', ['data', 'batch_size'], `batch_size is ${spec.data.batchSize}`, 'use at least 1');
  return r.out;
}

/**
 * Checks that need the network's shapes, read from its model IR (never recomputed here): a dilated conv whose
 * every off-centre tap falls outside its input map degenerates to a 1×1 conv. With 'same' padding a 3-tap
 * kernel at dilation d on an axis of n positions has both off-centre taps outside when d >= n.
 */
export function checkShapes(spec: Spec, ir: ModelIR, doc: ComposedDoc): Diagnostic[] {
  const r = new Report(doc);
  const { model, task } = spec;
  const shapes = new Map<string, number[]>();
  const flat: Block[] = [];
  const walk = (b: Block): void => {
    shapes.set(b.name, b.outShape);
    flat.push(b);
    if ('layers' in b) b.layers.forEach(walk);
  };
  ir.blocks.forEach(walk);
  /** The in-plane axes of a feature map (3D: y and x; z is never dilated). */
  const inPlane = (shape: number[]): number[] => shape.slice(task.dims === 3 ? 1 : 0, -1);
  const degenerate = (d: number, dims: number[]): boolean => d > 1 && dims.every((n) => d >= n);
  const latent = inPlane(shapes.get(ir.encoderOutput)!);
  // In task.size order (3D: x×y), as every size tdc prints.
  const sizeOrder = (map: number[]): string => (task.dims === 3 ? [...map].reverse() : map).join('×');
  const mapText = sizeOrder(latent);
  const where = `the ${mapText} feature map after the encoder (stride ${ir.stride})`;
  const hint = `use dilations below ${Math.max(...latent)}, or a larger input`;
  model.context.dilations.forEach((d, i) => {
    if (degenerate(d, latent))
      r.add('TDC0514', 'warning', ['model', 'context', 'dilations', i], `dilation ${d} on ${where}: every off-centre tap falls outside the map, so the 3×3 conv degenerates to a 1×1 conv`, hint);
  });
  const decoderDilations = model.decoder.type === 'aspp' ? model.decoder.dilations : [];
  decoderDilations.forEach((d, i) => {
    if (degenerate(d, latent))
      r.add('TDC0514', 'warning', ['model', 'decoder', 'dilations', i], `ASPP dilation ${d} on ${where}: every off-centre tap falls outside the map, so the 3×3 conv degenerates to a 1×1 conv`, hint);
  });
  const enc = model.encoder;
  if (enc.type === 'aniso3d') {
    // Each residual block's convs run at its level's map; a rate is reported once, at the first (largest) map
    // where it degenerates. Block b of a level uses dilations[b % length].
    const reported = new Set<number>();
    const blocks = flat.filter((b) => b.kind === 'res-block');
    blocks.forEach((b, k) => {
      const i = (k % enc.blocks) % enc.dilations.length;
      const d = enc.dilations[i]!;
      const map = inPlane(shapes.get(b.inputs[0]!)!);
      if (reported.has(i) || !degenerate(d, map)) return;
      reported.add(i);
      const m = sizeOrder(map);
      const level = Math.floor(k / enc.blocks);
      r.add('TDC0514', 'warning', ['model', 'encoder', 'dilations', i], `dilation ${d} on the ${m} feature map at encoder level ${level}: every off-centre tap falls outside the map, so the conv degenerates to a 1×1 conv`, `use dilations below ${Math.max(...map)}`);
    });
  }
  return r.out;
}
