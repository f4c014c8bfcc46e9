/**
 * Which outputs of a stride-1 dilated conv with zero pads each filter tap reads inside the input, per spatial axis:
 * the shared arithmetic of the per-tap formulations (runtime/ops/atrous.ts's forward and input gradient, the wasm
 * filter gradient in runtime/backend/kernels.ts), which multiply only those and skip the padding.
 */

/**
 * For each tap t < k of one axis (rate r, `before` zero pads, input length inLen, output length outLen): the output
 * range [lo, hi) whose input o + t·r − before lies in [0, inLen); empty (lo ≥ hi) for a tap that reads only padding.
 */
export function tapReads(k: number, r: number, before: number, inLen: number, outLen: number): Array<[number, number]> {
  return Array.from({ length: k }, (_, t) => [Math.max(0, before - t * r), Math.min(outLen, inLen + before - t * r)] as [number, number]);
}

/** Σ over taps of the output count each reads inside the input (the product over axes is the conv's real work). */
export function readCount(spans: Array<[number, number]>): number {
  return spans.reduce((s, [lo, hi]) => s + Math.max(0, hi - lo), 0);
}
