/** Resolution: maps the composed, schema-valid written form of a spec onto the typed `Spec` contract. */
import type {
  InputNormalization,
  ClassSpec,
  ContextSpec,
  DataSpec,
  EncoderSpec,
  Expr,
  LossTermSpec,
  ScheduleSpec,
  Spec,
  StageSpec,
  TaskName,
  TaskSpec,
} from '../spec/types.js';
import type { Code, Diagnostic, Result } from '../spec/diagnostics.js';
import type { ComposedDoc, Path } from './parse/index.js';
import { evaluate, evaluateNamespace, type EvalProblem } from './expr/eval.js';
import { exprNames, parseExpr } from './expr/parser.js';
import { spanInString } from './expr/span.js';
import { encoderChannels } from '../spec/ir/encoder.js';


type Obj = Record<string, unknown>;

const PROBLEM_CODE: Record<EvalProblem['kind'], Code> = {
  syntax: 'TDC0401',
  unknown: 'TDC0402',
  div0: 'TDC0403',
  cycle: 'TDC0404',
};

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads written values by path and turns numbers-or-expressions into numbers, collecting diagnostics. */
class Reader {
  readonly diagnostics: Diagnostic[] = [];
  private env = new Map<string, number>();
  private known: string[] = [];
  /** Names whose own definition failed (already reported): expressions using them are skipped silently. */
  private failed = new Set<string>();

  constructor(private readonly doc: ComposedDoc) {}

  get(path: Path): unknown {
    let v: unknown = this.doc.data;
    for (const k of path) {
      if (Array.isArray(v) && typeof k === 'number') v = v[k];
      else if (isObj(v) && typeof k === 'string') v = v[k];
      else return undefined;
    }
    return v;
  }

  obj(path: Path): Obj {
    const v = this.get(path);
    return isObj(v) ? v : {};
  }

  /**
   * The value at `path`, which validation guarantees: the schema requires it or gives it a default (the schema
   * is the one place defaults live). A missing value is a bug in the schema, not in the spec.
   */
  private present(path: Path): unknown {
    const v = this.get(path);
    if (v === undefined) throw new Error(`internal: ${path.join('.')} has no value after validation (the schema needs a default for it)`);
    return v;
  }

  /** Whether the spec (after defaults) has a value at `path`: for the optional keys that have no default. */
  has(path: Path): boolean {
    return this.get(path) !== undefined;
  }

  str<T extends string = string>(path: Path): T {
    return String(this.present(path)) as T;
  }

  bool(path: Path): boolean {
    return this.present(path) === true;
  }

  private problem(path: Path, text: string, p: EvalProblem): void {
    const at = this.doc.spans.get(path);
    const d: Diagnostic = {
      code: PROBLEM_CODE[p.kind],
      severity: 'error',
      message: p.message,
    };
    if (at) d.span = spanInString(at, this.doc.spans.source(at.file), p.offset, Math.min(p.endOffset, text.length));
    if (p.hint) d.hint = p.hint;
    this.diagnostics.push(d);
  }

  /** Evaluates vars and weights together (they may refer to each other); returns the two maps. */
  namespace(): { vars: Record<string, number>; weights: Record<string, number> } {
    const entries: { name: string; value: number | string; group: 'vars' | 'weights' }[] = [];
    // By name, so a spec with many thousands of vars is checked in linear time.
    const byName = new Map<string, (typeof entries)[number]>();
    for (const group of ['vars', 'weights'] as const) {
      for (const [name, value] of Object.entries(this.obj([group]))) {
        if (typeof value !== 'number' && typeof value !== 'string') continue;
        if (byName.has(name)) {
          const d: Diagnostic = {
            code: 'TDC0406',
            severity: 'error',
            message: `'${name}' is defined both in vars and in weights`,
            hint: 'rename one of them',
          };
          const at = this.doc.spans.key([group, name]);
          if (at) d.span = at;
          this.diagnostics.push(d);
          continue;
        }
        const e = { name, value, group };
        entries.push(e);
        byName.set(name, e);
      }
    }
    const r = evaluateNamespace(entries);
    for (const { entry, problem } of r.problems) {
      const e = byName.get(entry)!;
      this.problem([e.group, entry], String(e.value), problem);
    }
    this.env = r.values;
    this.known = entries.map((e) => e.name);
    this.failed = new Set(this.known.filter((n) => !r.values.has(n)));
    const out = { vars: {} as Record<string, number>, weights: {} as Record<string, number> };
    for (const e of entries) {
      const v = r.values.get(e.name);
      if (v !== undefined) out[e.group][e.name] = v;
    }
    return out;
  }

  /**
   * A number that may be written as an expression. `int` demands a whole number, `min` a lower bound; both are
   * only checked here for expressions (the schema already checked literal numbers).
   */
  num(path: Path, opts: { int?: boolean; min?: number } = {}): number {
    // A value that cannot be evaluated is NaN: the diagnostic is reported and the spec is not returned.
    const fallback = NaN;
    const v = this.present(path);
    if (typeof v === 'number') return v;
    if (typeof v !== 'string') return fallback;
    const parsed = parseExpr(v);
    if (parsed.errors.length || !parsed.expr) {
      for (const e of parsed.errors) this.problem(path, v, { kind: 'syntax', ...e });
      return fallback;
    }
    if (exprNames(parsed.expr).some((n) => this.failed.has(n))) return fallback;
    const r = evaluate(parsed.expr, v, (n) => this.env.get(n), this.known);
    for (const p of r.problems) this.problem(path, v, p);
    if (r.value === undefined) return fallback;
    const bad =
      (opts.int && !Number.isInteger(r.value)) || (opts.min !== undefined && r.value < opts.min) || !Number.isFinite(r.value);
    if (bad) {
      const want = [opts.int ? 'a whole number' : 'a finite number', opts.min !== undefined ? `>= ${opts.min}` : '']
        .filter(Boolean)
        .join(' ');
      const d: Diagnostic = { code: 'TDC0405', severity: 'error', message: `'${v}' evaluates to ${r.value}, but ${path.join('.')} must be ${want}` };
      const at = this.doc.spans.get(path);
      if (at) d.span = at;
      this.diagnostics.push(d);
    }
    return r.value;
  }

  nums(path: Path, opts: { int?: boolean; min?: number } = {}): number[] {
    const v = this.get(path);
    return Array.isArray(v) ? v.map((_, i) => this.num([...path, i], opts)) : [];
  }

  strs(path: Path): string[] {
    const v = this.get(path);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  }

  /**
   * A stage's `from`. The schema defaults it to 'previous', which is right for every stage but the first: there
   * an unwritten `from` (no key in the source) means 'init', and only a written 'previous' is an error.
   */
  stageFrom(i: number): 'init' | 'previous' {
    const written = this.doc.spans.key(['stages', i, 'from']) !== undefined;
    const v = this.get(['stages', i, 'from']);
    if (i === 0 && !written) return 'init';
    return v === 'init' || v === 'previous' ? v : i === 0 ? 'init' : 'previous';
  }

  /** A stage loss: parsed to an Expr; syntax errors become diagnostics placed inside the string. */
  loss(path: Path): { expr: Expr; text: string } {
    const text = this.str(path);
    const parsed = parseExpr(text);
    for (const e of parsed.errors) this.problem(path, text, { kind: 'syntax', ...e });
    return { expr: parsed.expr ?? { kind: 'num', value: 0 }, text };
  }
}

function resolveTask(r: Reader): TaskSpec {
  const dims = r.num(['task', 'dims']) === 3 ? 3 : 2;
  const classes: ClassSpec[] = [];
  const written = r.get(['task', 'classes']);
  (Array.isArray(written) ? written : []).forEach((c, i) => {
    if (typeof c === 'string') {
      classes.push({ name: c, weight: 1 });
      return;
    }
    if (!isObj(c)) return;
    const spec: ClassSpec = { name: String(c['name'] ?? ''), weight: r.num(['task', 'classes', i, 'weight']) };
    if (Array.isArray(c['values'])) spec.values = r.nums(['task', 'classes', i, 'values']);
    if (Array.isArray(c['color'])) spec.color = r.nums(['task', 'classes', i, 'color'], { int: true }) as [number, number, number];
    classes.push(spec);
  });
  const regions: Record<string, string[]> = {};
  for (const k of Object.keys(r.obj(['task', 'regions']))) regions[k] = r.strs(['task', 'regions', k]);
  const task: TaskSpec = {
    dims,
    size: r.nums(['task', 'size'], { int: true, min: 1 }),
    channels: r.num(['task', 'channels'], { int: true, min: 1 }),
    classes,
    scenes: r.strs(['task', 'scenes']),
    regions,
    normalize: r.str<InputNormalization>(['task', 'normalize']),
  };
  if (Array.isArray(r.get(['task', 'modalities']))) task.modalities = r.strs(['task', 'modalities']);
  return task;
}

function resolveData(r: Reader): DataSpec {
  const d = ['data'] as const;
  const p = (...k: (string | number)[]): Path => [...d, ...k];
  const range = (k: string): [number, number] => {
    const v = r.nums(p('augment', k));
    return v.length === 2 ? [v[0]!, v[1]!] : [1, 1];
  };
  const splits: DataSpec['splits'] = {};
  for (const k of ['train', 'val', 'test'] as const) if (Array.isArray(r.get(p('splits', k)))) splits[k] = r.strs(p('splits', k));
  if (r.get(p('splits', 'val_fraction')) !== undefined) splits.valFraction = r.num(p('splits', 'val_fraction'));
  const data: DataSpec = {
    format: r.str(p('format')),
    root: r.str(p('root')),
    splits,
    scenes:
      r.str(p('scenes', 'from')) === 'file'
        ? { from: 'file', file: r.str(p('scenes', 'file')) }
        : { from: 'folder' },
    nestedDisc: r.bool(p('nested_disc')),
    augment: {
      hflip: r.num(p('augment', 'hflip')),
      vflip: r.num(p('augment', 'vflip')),
      zflip: r.num(p('augment', 'zflip')),
      rgbShift: r.num(p('augment', 'rgb_shift')),
      brightness: range('brightness'),
      contrast: range('contrast'),
    },
    batchSize: r.num(p('batch_size'), { int: true, min: 1 }),
    cache: {
      samples: r.num(p('cache', 'samples'), { int: true, min: 0 }),
      prefetch: r.num(p('cache', 'prefetch'), { int: true, min: 0 }),
    },
    onCorrupt: r.str(p('on_corrupt')),
  };
  if (r.get(p('synthesize')) !== undefined)
    data.synthesize = { n: r.num(p('synthesize', 'n'), { int: true, min: 1 }), seed: r.num(p('synthesize', 'seed'), { int: true }) };
  if (typeof r.get(p('labels_file')) === 'string') data.labelsFile = r.str(p('labels_file'));
  if (Array.isArray(r.get(p('crop')))) data.crop = r.nums(p('crop'), { int: true, min: 1 });
  return data;
}

function resolveEncoder(r: Reader): EncoderSpec {
  const p = (k: string): Path => ['model', 'encoder', k];
  const norm = r.str<'none' | 'batch'>(p('norm'));
  const pretrained = typeof r.get(p('pretrained')) === 'string' ? { pretrained: r.str(p('pretrained')) } : {};
  switch (r.str(p('type'))) {
    case 'wnet':
      return {
        type: 'wnet',
        filters: r.num(p('filters'), { int: true, min: 1 }),
        blocks: r.num(p('blocks'), { int: true, min: 1 }),
        dilations: r.nums(p('dilations'), { int: true, min: 1 }),
        ...pretrained,
        norm: 'batch',
      };
    case 'resnet34':
    case 'resnet50':
      return {
        type: r.str<'resnet34' | 'resnet50'>(p('type')),
        width: r.num(p('width'), { min: 0 }),
        outputStride: r.num(p('output_stride'), { int: true, min: 1 }),
        bias: r.bool(p('bias')),
        ...pretrained,
        norm: 'batch',
      };
    case 'aniso3d':
      return {
        type: 'aniso3d',
        filters: r.num(p('filters'), { int: true, min: 1 }),
        blocks: r.num(p('blocks'), { int: true, min: 1 }),
        downsample: r.num(p('downsample'), { int: true, min: 0 }),
        dilations: r.nums(p('dilations'), { int: true, min: 1 }),
        ...pretrained,
        norm,
      };
    case 'convstack':
      return {
        type: 'convstack',
        filters: r.nums(p('filters'), { int: true, min: 1 }),
        convsPerStage: r.num(p('convs_per_stage'), { int: true, min: 1 }),
        kernel: r.num(p('kernel'), { int: true, min: 1 }),
        outputStride: r.num(p('output_stride'), { int: true, min: 1 }),
        ...pretrained,
        norm,
      };
    default:
      return {
        type: 'vgg16',
        stages: r.num(p('stages'), { int: true, min: 1 }),
        width: r.num(p('width'), { min: 0 }),
        outputStride: r.num(p('output_stride'), { int: true, min: 1 }),
        ...pretrained,
        norm,
      };
  }
}

function resolveSchedule(r: Reader, path: Path): ScheduleSpec {
  const p = (k: string): Path => [...path, k];
  switch (r.str(p('type'))) {
    case 'step':
      return { type: 'step', values: r.nums(p('values'), { min: 0 }), every: r.num(p('every'), { int: true }) };
    case 'cosine':
      return { type: 'cosine', lr: r.num(p('lr'), { min: 0 }), minLr: r.num(p('min_lr'), { min: 0 }) };
    default:
      return { type: 'constant', lr: r.num(p('lr'), { min: 0 }) };
  }
}

function resolveLosses(r: Reader): LossTermSpec[] {
  const out: LossTermSpec[] = [];
  for (const [name, t] of Object.entries(r.obj(['losses']))) {
    if (!isObj(t)) continue;
    const p = (k: string): Path => ['losses', name, k];
    switch (t['type']) {
      case 'seg':
        out.push({
          name,
          type: 'seg',
          ce: r.num(p('ce')),
          iou: r.num(p('iou')),
          classWeights: r.bool(p('class_weights')),
          iouReduction: r.str<'per-image' | 'batch'>(p('iou_reduction')),
        });
        break;
      case 'bce':
        out.push({ name, type: 'bce', head: r.str<'class' | 'scene'>(p('head')) });
        break;
      case 'softmax_ce':
        out.push({ name, type: 'softmax_ce', head: 'scene' });
        break;
      case 'sync':
        out.push({
          name,
          type: 'sync',
          presence: r.str<'hard' | 'soft'>(p('presence')),
          direction: r.str<'seg->class' | 'both'>(p('direction')),
        });
        break;
    }
  }
  return out;
}

function resolveStages(r: Reader): StageSpec[] {
  const written = r.get(['stages']);
  return (Array.isArray(written) ? written : []).map((s, i) => {
    const p = (...k: (string | number)[]): Path => ['stages', i, ...k];
    const name = r.str(p('name'));
    const { expr, text } = r.loss(p('loss'));
    const stage: StageSpec = {
      name,
      loss: expr,
      lossText: text,
      steps: r.num(p('steps'), { int: true, min: 1 }),
      from: r.stageFrom(i),
      freeze: r.strs(p('freeze')),
      label: r.has(p('label')) ? r.str(p('label')) : name,
    };
    if (isObj(s) && isObj(s['schedule'])) stage.schedule = resolveSchedule(r, p('schedule'));
    return stage;
  });
}

/**
 * Maps the written form (snake_case, defaults applied, numbers possibly expressions) onto `Spec`. Returns
 * undefined with diagnostics when any expression cannot be read or evaluated.
 */
export function resolve(doc: ComposedDoc): Result<Spec | undefined> {
  const r = new Reader(doc);
  const { vars, weights } = r.namespace();
  const task = resolveTask(r);
  const encoder = resolveEncoder(r);
  const pairs = (Array.isArray(r.get(['model', 'context', 'pairs'])) ? (r.get(['model', 'context', 'pairs']) as unknown[]) : [])
    .filter((x): x is [TaskName, TaskName] => Array.isArray(x) && x.length === 2)
    .map((x) => [x[0], x[1]] as [TaskName, TaskName]);
  const context: ContextSpec = {
    pairs,
    // Absent only when pairs is empty (the schema requires it otherwise): there is no cascade to dilate.
    dilations: r.nums(['model', 'context', 'dilations'], { int: true, min: 1 }),
    filters:
      // The schema's default is the encoder's output width, which only the lowering's encoder facts know.
      !r.has(['model', 'context', 'filters'])
        ? encoderChannels(encoder)
        : r.num(['model', 'context', 'filters'], { int: true, min: 1 }),
    combine: r.str<ContextSpec['combine']>(['model', 'context', 'combine']),
  };
  const head = (h: 'class' | 'scene') => ({
    hidden: r.num(['model', 'heads', h, 'hidden'], { int: true, min: 1 }),
    dropout: r.num(['model', 'heads', h, 'dropout'], { min: 0 }),
  });
  const o = (k: string): Path => ['optimizer', k];
  const t = (k: string): Path => ['train', k];
  const spec: Spec = {
    version: 1,
    name: r.str(['name']),
    task,
    data: resolveData(r),
    model: {
      encoder,
      context,
      decoder:
        r.str(['model', 'decoder', 'type']) === 'unet'
          ? { type: 'unet', convs: r.num(['model', 'decoder', 'convs'], { int: true, min: 1 }) }
          : {
              type: 'aspp',
              dilations: r.nums(['model', 'decoder', 'dilations'], { int: true, min: 1 }),
              filters: r.num(['model', 'decoder', 'filters'], { int: true, min: 1 }),
              imagePooling: r.bool(['model', 'decoder', 'image_pooling']),
            },
      heads: {
        seg: {
          // The schema's default depends on dims (bilinear in 2D, trilinear in 3D), which a JSON-schema default cannot say.
          upsample: r.has(['model', 'heads', 'seg', 'upsample'])
            ? r.str<'bilinear' | 'trilinear' | 'nearest'>(['model', 'heads', 'seg', 'upsample'])
            : task.dims === 3
              ? 'trilinear'
              : 'bilinear',
        },
        class: head('class'),
        scene: head('scene'),
      },
    },
    losses: resolveLosses(r),
    weights,
    vars,
    optimizer: {
      type: r.str<'sgd' | 'adam'>(o('type')),
      momentum: r.num(o('momentum'), { min: 0 }),
      weightDecay: r.num(o('weight_decay'), { min: 0 }),
      beta1: r.num(o('beta1'), { min: 0 }),
      beta2: r.num(o('beta2'), { min: 0 }),
      epsilon: r.num(o('epsilon'), { min: 0 }),
    },
    schedule: resolveSchedule(r, ['schedule']),
    train: {
      seed: r.num(t('seed'), { int: true }),
      validateEvery: r.num(t('validate_every'), { int: true, min: 0 }),
      checkpointEvery: r.num(t('checkpoint_every'), { int: true, min: 0 }),
      logEvery: r.num(t('log_every'), { int: true, min: 1 }),
      bestMetric: r.str<'miou' | 'mdice'>(t('best_metric')),
      bnMomentum: r.num(t('bn_momentum')),
    },
    stages: resolveStages(r),
  };
  if (typeof r.get(['description']) === 'string') spec.description = r.str(['description']);
  const failed = r.diagnostics.some((d) => d.severity === 'error');
  return { value: failed ? undefined : spec, diagnostics: r.diagnostics };
}
