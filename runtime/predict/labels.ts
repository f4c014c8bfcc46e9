/**
 * From logits to what a user keeps: argmax class ids, class ids mapped back to the dataset's label values
 * (BraTS 0/1/2/4), head probabilities by name, and the palette of predicted PNG masks.
 */
import type { ClassSpec, DataFormat } from '../../spec/types.js';
import { classPalette, type Rgb } from '../io/palette.js';

/** The label values a format's masks use by default, by class index (see the readers). */
export const DEFAULT_LABEL_VALUES: Partial<Record<DataFormat, readonly number[]>> = {
  brats18: [0, 1, 2, 4],
  refuge18: [255, 128, 0],
};

/**
 * The label value written for each class: the first of its `values` (the most specific one — nested classes
 * list their own value first), else the format's default for its index, else the index itself.
 */
export function classLabelValues(classes: readonly ClassSpec[], format?: DataFormat): number[] {
  const defaults = (format && DEFAULT_LABEL_VALUES[format]) || [];
  return classes.map((c, i) => c.values?.[0] ?? defaults[i] ?? i);
}

/** Class ids → label values as uint8 (what a NIfTI label map stores); a value outside 0..255 is an error. */
export function mapToLabelValues(classIds: ArrayLike<number>, values: readonly number[]): Uint8Array {
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`class ${i} has label value ${v}, which does not fit a uint8 label map`);
  });
  const out = new Uint8Array(classIds.length);
  for (let i = 0; i < classIds.length; i++) {
    const c = classIds[i]!;
    const v = values[c];
    if (v === undefined) throw new Error(`class id ${c} at index ${i} has no label value (${values.length} classes)`);
    out[i] = v;
  }
  return out;
}

/** Argmax over the last axis of channels-last logits with `k` channels (the first maximum wins ties, as tf.argMax). */
export function argmaxLast(logits: ArrayLike<number>, k: number): Int32Array {
  const n = logits.length / k;
  if (!Number.isInteger(n)) throw new Error(`argmax: ${logits.length} values are not a multiple of ${k} channels`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = logits[i * k]!;
    for (let c = 1; c < k; c++) {
      const v = logits[i * k + c]!;
      if (v > bv) {
        bv = v;
        best = c;
      }
    }
    out[i] = best;
  }
  return out;
}

export function sigmoid(logits: ArrayLike<number>): number[] {
  return Array.from(logits, (x) => 1 / (1 + Math.exp(-x)));
}

/** Softmax in float64, shifted by the maximum so large logits cannot overflow. */
export function softmax(logits: ArrayLike<number>): number[] {
  const a = Array.from(logits);
  const m = Math.max(...a);
  const e = a.map((x) => Math.exp(x - m));
  const s = e.reduce((p, q) => p + q, 0);
  return e.map((x) => x / s);
}

/** The palette of predicted masks: spec colours, a default palette for classes without one. */
export function maskPalette(classes: readonly ClassSpec[]): Rgb[] {
  return classPalette(classes);
}

/** The class ids present in a label map, ascending. */
export function presentClasses(classIds: ArrayLike<number>, k: number): number[] {
  const seen = new Uint8Array(k);
  for (let i = 0; i < classIds.length; i++) seen[classIds[i]!] = 1;
  const out: number[] = [];
  seen.forEach((v, c) => v && out.push(c));
  return out;
}
