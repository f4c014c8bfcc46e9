// Gradients of a scalar loss with respect to variables, like `tf.variableGrads`, but with a backward pass that
// frees memory as it goes.
//
// tfjs's own backward pass (`backpropagateGradients` in tfjs-core's tape.ts, run inside one `tidy` by
// `Engine.gradients`) keeps every intermediate gradient and every tensor a kernel saved for its gradient until the
// whole pass ends, so tensor memory peaks at the last backward kernel with the gradient of every activation in the
// network alive at once. For the BRATS network at 144×144×19, batch 2, that is more than 24 GB. This pass walks
// the same tape (recorded by the engine, as `tf.variableGrads` does) and, once a node's input gradients are
// computed, disposes the gradients of its outputs and the tensors it saved, so peak memory is the forward
// activations plus a few gradients.
//
// During its forward pass it also keeps less: for the kernels whose registered gradient reads only the *shapes*
// of the inputs it saves (`Add`, `Sub`, `AddN`, `Concat`, `Reshape`, `Sum`, `Mean`, `PadV2`, `Slice` in
// tfjs-core 4.22; the test compares every gradient with `tf.variableGrads`), the tape records a shape-only stand-in
// instead of a clone of the tensor, so a chain of adds (tf.layers.add over three or more maps) or a bias add no
// longer holds its full-size inputs until the backward pass.
//
// It uses members of tfjs-core's Engine that are not part of the public API (`scopedRun`, `startTape`,
// `endTape`, `getTensorsForGradient`, `saveTensorsForBackwardMode`, `state.activeTape`, `state.gradientDepth`);
// `lowMemoryGradientsAvailable()` checks them and the trainer falls back to `tf.variableGrads` when a tfjs
// version lacks them. The walk mirrors tfjs-core 4.22's
// `getFilteredNodesXToY` / `backpropagateGradients` (Apache-2.0, Copyright 2017 Google LLC), with the freeing
// added.

import * as tf from '@tensorflow/tfjs';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: (tf.Tensor | ShapeOnly)[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T>(name: string, f: () => T): T;
  getTensorsForGradient(kernelName: string, inputs: unknown, outputs: tf.Tensor[]): (tf.Tensor | ShapeOnly)[];
  saveTensorsForBackwardMode(tensors: (tf.Tensor | ShapeOnly)[]): (tf.Tensor | ShapeOnly)[];
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
}

/** What the tape keeps of an input whose gradient needs only its shape. */
interface ShapeOnly {
  readonly shape: number[];
  readonly rank: number;
  readonly size: number;
  readonly dtype: tf.DataType;
  readonly shapeOnly: true;
  dispose(): void;
}

/** Kernels whose tfjs-core 4.22 gradient reads nothing but `.shape` / `.rank` of what it saved. */
const SHAPE_ONLY_GRADIENTS = new Set(['Add', 'Sub', 'AddN', 'Concat', 'Reshape', 'Sum', 'Mean', 'PadV2', 'Slice']);

function shapeOnly(t: tf.Tensor): ShapeOnly {
  return { shape: t.shape.slice(), rank: t.rank, size: t.size, dtype: t.dtype, shapeOnly: true, dispose() {} };
}

function isShapeOnly(t: unknown): t is ShapeOnly {
  return typeof t === 'object' && t !== null && (t as { shapeOnly?: unknown }).shapeOnly === true;
}

function engineInternals(): EngineInternals | null {
  const e = tf.engine() as unknown as Partial<EngineInternals>;
  if (typeof e.scopedRun !== 'function' || typeof e.startTape !== 'function' || typeof e.endTape !== 'function') return null;
  if (typeof e.getTensorsForGradient !== 'function' || typeof e.saveTensorsForBackwardMode !== 'function') return null;
  if (typeof e.tidy !== 'function' || e.state == null || typeof e.state.gradientDepth !== 'number') return null;
  return e as EngineInternals;
}

/** Runs `f` with the engine saving shape-only stand-ins for the kernels in SHAPE_ONLY_GRADIENTS. */
function withShapeOnlySaves<T>(engine: EngineInternals, f: () => T): T {
  const own = Object.prototype.hasOwnProperty;
  const hadGet = own.call(engine, 'getTensorsForGradient');
  const hadSave = own.call(engine, 'saveTensorsForBackwardMode');
  const get = engine.getTensorsForGradient;
  const save = engine.saveTensorsForBackwardMode;
  engine.getTensorsForGradient = function (kernelName, inputs, outputs) {
    const tensors = get.call(this, kernelName, inputs, outputs);
    return SHAPE_ONLY_GRADIENTS.has(kernelName) ? tensors.map((t) => shapeOnly(t as tf.Tensor)) : tensors;
  };
  engine.saveTensorsForBackwardMode = function (tensors) {
    if (!tensors.some(isShapeOnly)) return save.call(this, tensors);
    return tensors.map((t) => (isShapeOnly(t) ? t : save.call(this, [t])[0]!));
  };
  try {
    return f();
  } finally {
    if (hadGet) engine.getTensorsForGradient = get;
    else delete (engine as Partial<EngineInternals>).getTensorsForGradient;
    if (hadSave) engine.saveTensorsForBackwardMode = save;
    else delete (engine as Partial<EngineInternals>).saveTensorsForBackwardMode;
  }
}

/** Whether this tfjs exposes what the low-memory backward pass needs. */
export function lowMemoryGradientsAvailable(): boolean {
  return engineInternals() !== null;
}

const carriesGradient = (t: tf.Tensor): boolean => t.dtype === 'float32' || t.dtype === 'complex64';

/**
 * The tape nodes on a path from one of `xs` to `y`, in tape order, with inputs not depending on `xs` pruned.
 * Unlike tfjs, a path ends at an integer or boolean tensor (argMax, a comparison): no gradient flows through one
 * (tfjs runs the gradients behind it and gets zeros: for the sync loss's hard presence, max → oneHot over the whole
 * segmentation map, an Equal and a broadcast Multiply of the map's size per step). PyTorch draws the same line.
 */
function nodesFromXsToY(tape: readonly TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodeFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      nodeFromX.add(node.id);
      for (const o of node.outputs) if (carriesGradient(o)) fromX.add(o.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodeToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      nodeToY.add(node.id);
      for (const t of Object.values(node.inputs)) if (carriesGradient(t)) toY.add(t.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodeFromX.has(node.id) || !nodeToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

/**
 * `tf.variableGrads(f, vars)` with a backward pass that frees each gradient and saved tensor once it is no longer
 * needed. Returns the loss (kept) and one gradient per variable that the loss depends on, by variable name.
 */
export function variableGradsLowMemory(f: () => tf.Scalar, vars: readonly tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const engine = engineInternals();
  if (!engine || engine.state.gradientDepth !== 0) return tf.variableGrads(f, [...vars]);
  const xs = vars.filter((v) => v.trainable);
  if (xs.length === 0) throw new Error(`variableGrads: none of the ${vars.length} variables is trainable`);
  let y: tf.Tensor;
  try {
    y = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => withShapeOnlySaves(engine, () => engine.tidy('forward', f)),
    );
  } catch (e) {
    // A failed forward pass (a bad batch, a loss that throws) leaves nothing saved behind.
    for (const node of engine.state.activeTape ?? []) for (const t of node.saved ?? []) t.dispose();
    engine.state.activeTape = null;
    throw e;
  }
  const tape = engine.state.activeTape ?? [];
  try {
    if (!(y instanceof tf.Tensor)) throw new Error('variableGrads: the loss function must return a tensor');
    if (y.rank !== 0) throw new Error(`variableGrads: the loss function must return a scalar, but it returned a rank-${y.rank} tensor`);
    const filtered = nodesFromXsToY(tape, xs, y);
    const grads = engine.tidy('backward', () => backprop(filtered, xs, y));
    const named: tf.NamedTensorMap = {};
    xs.forEach((x, i) => {
      const g = grads[i];
      if (g) named[x.name] = g;
    });
    if (Object.keys(named).length === 0) {
      throw new Error('variableGrads: no variable is connected to the loss; make sure the operations that use the variables run inside the loss function');
    }
    return { value: y as tf.Scalar, grads: named };
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    engine.state.activeTape = null;
  }
}

function backprop(filtered: readonly TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): (tf.Tensor | undefined)[] {
  const keepIds = new Set<number>(xs.map((x) => x.id));
  const grad = new Map<number, tf.Tensor>();
  grad.set(y.id, tf.onesLike(y));
  for (let i = filtered.length - 1; i >= 0; i--) {
    const node = filtered[i]!;
    const dys = node.outputs.map((o) => grad.get(o.id) ?? null);
    if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    // Gradient functions may compute eagerly before returning their closures (a custom gradient's gradFunc, the
    // zeros for an unused output, Concat's split): one tidy per node frees those temporaries here, not at the end.
    const gradient = node.gradient;
    const dxs = tf.tidy(() => {
      const fns = gradient(dys);
      const out: Record<string, tf.Tensor> = {};
      for (const name of Object.keys(node.inputs)) {
        const fn = fns[name];
        if (!fn) throw new Error(`Cannot backprop through input ${name} of ${node.kernelName}. Available gradients: ${Object.keys(fns)}.`);
        out[name] = tf.tidy(fn);
      }
      return out;
    });
    const produced = new Set<tf.Tensor>();
    for (const [name, x] of Object.entries(node.inputs)) {
      const dx = dxs[name]!;
      if (dx.dtype !== 'float32') {
        throw new Error(`Error in gradient for op ${node.kernelName}: the gradient of input ${name} must be float32, but is ${dx.dtype}`);
      }
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(`Error in gradient for op ${node.kernelName}: the gradient of input '${name}' has shape [${dx.shape}], but the input has shape [${x.shape}]`);
      }
      const current = grad.get(x.id);
      if (current == null) {
        grad.set(x.id, dx);
        produced.add(dx);
      } else {
        const sum = tf.add(current, dx);
        grad.set(x.id, sum);
        produced.add(sum);
        if (current !== dx) current.dispose();
        if (!produced.has(dx) && dx !== sum) dx.dispose();
      }
    }
    // This node's outputs are produced by nothing earlier on the tape, so their gradients are final and used.
    // (A custom-gradient op may return one of its inputs as its output; that id's entry is the input's gradient.)
    const inputIds = new Set(Object.values(node.inputs).map((t) => t.id));
    for (const o of node.outputs) {
      const dy = grad.get(o.id);
      if (dy == null || keepIds.has(o.id) || inputIds.has(o.id)) continue;
      grad.delete(o.id);
      if (!produced.has(dy) && ![...grad.values()].includes(dy)) dy.dispose();
    }
    for (const t of node.saved ?? []) {
      if (isShapeOnly(t) || (!produced.has(t) && !xs.includes(t))) t.dispose();
    }
  }
  return xs.map((x) => grad.get(x.id));
}
