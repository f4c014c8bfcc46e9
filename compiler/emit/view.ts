/**
 * The view model: everything the templates print, precomputed and canonically ordered, so templates hold no
 * logic and the same spec always gives the same bytes.
 */
import type { ModelIR } from '../../spec/ir/index.js';
import type { LossTermSpec, Spec } from '../../spec/types.js';
import { untrainedHeads } from '../../spec/heads.js';
import { lossCode, termsUsed, type LossCodeNames } from './loss-code.js';

export interface EmitMeta {
  /** tdc's version (package.json). */
  version: string;
  /** The spec path as the user named it, with forward slashes (relative to the working directory). */
  specPath: string;
  /** The spec file's folder relative to the output folder (data paths are resolved against it at run time). */
  specDirFromOut: string;
  /** sha256 of the canonical resolved spec. */
  hash: string;
  /** The --set overrides the build used (recorded in the lock so `tdc train` can re-check the hash). */
  overrides?: string[];
}

/** A term's doc line, its arrow-function parameters (only those it reads: no unused parameters) and its body. */
function termCode(t: LossTermSpec, spec: Spec): { doc: string; params: string; code: string } {
  switch (t.type) {
    case 'seg': {
      const weights = t.classWeights ? `, classWeights: ${JSON.stringify(spec.task.classes.map((c) => c.weight))}` : '';
      return {
        doc: `segmentation: ${t.ce}·cross-entropy + ${t.iou}·(1 − soft IoU, ${t.iouReduction === 'batch' ? 'pooled over the batch' : 'per image'}), eq. (1)`,
        params: '(o, b)',
        code: `losses.segLoss(o.seg, b.mask, { ce: ${t.ce}, iou: ${t.iou}, iouReduction: '${t.iouReduction}'${weights} })`,
      };
    }
    case 'bce':
      return {
        doc: `${t.head}: multi-label binary cross-entropy, eq. (2)`,
        params: '(o, b)',
        code: `losses.bceLoss(o.${t.head}, b.${t.head === 'class' ? 'classes' : 'scene'})`,
      };
    case 'softmax_ce':
      return { doc: 'scene: softmax cross-entropy (one scene per sample)', params: '(o, b)', code: 'losses.softmaxCeLoss(o.scene, b.scene)' };
    case 'sync':
      return {
        doc: `sync: BCE between the classes present in the segmentation (${t.presence}) and the class head (${t.direction}), eq. (3)`,
        params: '(o)',
        code: `losses.syncLoss(o.seg, o.class, { presence: '${t.presence}', direction: '${t.direction}' })`,
      };
  }
}

/** Keys a reader looks for first (what a block is and reads), then its settings, then the derived facts. */
const LEAD_KEYS = ['name', 'kind', 'part', 'inputs'];
const TAIL_KEYS = ['outShape', 'rf', 'params', 'flops', 'layers', 'output'];

/** The IR with each object's keys in reading order (the IR itself is canonical: sorted keys). */
function readingOrder<T>(v: T): T {
  if (Array.isArray(v)) return v.map(readingOrder) as T;
  if (typeof v !== 'object' || v === null) return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  const rank = (k: string) => (LEAD_KEYS.includes(k) ? LEAD_KEYS.indexOf(k) - 100 : TAIL_KEYS.includes(k) ? 100 + TAIL_KEYS.indexOf(k) : 0);
  const ordered = [...keys].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(ordered.map((k) => [k, readingOrder(o[k])])) as T;
}

function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
}

export function buildView(spec: Spec, ir: ModelIR, meta: EmitMeta) {
  const { task, model } = spec;
  const names: LossCodeNames = {
    terms: new Set(spec.losses.map((l) => l.name)),
    weights: new Set(Object.keys(spec.weights)),
    vars: new Set(Object.keys(spec.vars)),
  };
  const is3d = task.dims === 3;
  const inputShape = ir.inputShape;
  const spatial = inputShape.slice(0, -1);
  const enc = model.encoder;
  const sceneTerm = spec.losses.find((l) => (l.type === 'bce' && l.head === 'scene') || l.type === 'softmax_ce');
  return {
    meta: { ...meta, shortHash: meta.hash.slice(0, 12) },
    name: spec.name,
    dims: task.dims,
    dimsText: is3d ? '3D' : '2D',
    // The doc comment's two lines describing the network, by its parts.
    networkText:
      model.context.pairs.length > 0
        ? [
            `${enc.type} encoder → task-task context ensemble`,
            `(dilations ${model.context.dilations.join(', ')}) → ${model.decoder.type === 'aspp' ? 'ASPP' : 'U-Net decoder'} + segmentation head, class head and scene head on the shared latent space.`,
          ]
        : [
            `${enc.type} encoder (no context ensemble) → ${model.decoder.type === 'aspp' ? 'ASPP' : 'U-Net decoder'} + segmentation head,`,
            `class head and scene head on the encoder's output.`,
          ],
    classNames: task.classes.map((c) => c.name),
    sceneNames: task.scenes,
    numClasses: task.classes.length,
    numScenes: task.scenes.length,
    sceneActivation: sceneTerm?.type === 'softmax_ce' ? 'softmax' : 'sigmoid, multi-label',
    sceneActivationName: sceneTerm?.type === 'softmax_ce' ? 'softmax' : 'sigmoid',
    untrainedHeads: untrainedHeads(spec.losses, spec.stages.map((s) => ({ terms: termsUsed(s.loss, names) }))),
    inputShape,
    inputShapeText: `[batch, ${inputShape.join(', ')}]`,
    inputAxesText: is3d ? 'z (slices), y, x, channels' : 'height, width, channels',
    segShapeText: `[batch, ${[...spatial, task.classes.length].join(', ')}]`,
    segTensor: is3d ? 'tf.Tensor5D' : 'tf.Tensor4D',
    pixelWord: is3d ? 'voxel' : 'pixel',
    network: readingOrder(ir),
    pretrained: enc.pretrained ?? null,
    weights: spec.weights,
    vars: spec.vars,
    termUnion: spec.losses.length ? spec.losses.map((l) => `'${l.name.replace(/'/g, "\\'")}'`).join(' | ') : 'never',
    terms: spec.losses.map((l) => ({ key: key(l.name), ...termCode(l, spec) })),
    stages: spec.stages.map((s) => ({
      name: s.name,
      label: s.label,
      steps: s.steps,
      from: s.from,
      freeze: s.freeze,
      terms: termsUsed(s.loss, names),
      lossText: s.lossText.replace(/\*\//g, '* /'),
      code: lossCode(s.loss, names),
      schedule: s.schedule ?? spec.schedule,
    })),
    optimizer: spec.optimizer,
    train: spec.train,
    regions: Object.fromEntries(
      Object.entries(task.regions).map(([r, cls]) => [r, cls.map((c) => task.classes.findIndex((k) => k.name === c))]),
    ),
    specDirText: meta.specDirFromOut,
    data: { specDir: meta.specDirFromOut, data: spec.data, task },
    lock: { tdc: meta.version, spec: meta.specPath, hash: meta.hash, overrides: meta.overrides ?? [], resolved: spec },
  };
}

export type View = ReturnType<typeof buildView>;
