/**
 * Slice, PadV2, Concat and Identity on the wasm backend as copies inside wasm memory, by a tiny wasm module of our
 * own (two functions: a strided 2-D `memory.copy` loop and `memory.fill`) instantiated on the backend's own memory.
 *
 * Why: the stock wasm Slice runs in JS and first copies its whole input out of the heap (`readSync`, a fresh
 * ArrayBuffer) before copying the slice back in row by row with `TypedArray.set`. On the threaded build the heap is
 * a SharedArrayBuffer, which V8 copies with relaxed atomics: measured on 512 rows of 9 KB at 4-byte-aligned offsets,
 * 0.81 ms by `TypedArray.set` against 0.14 ms by `memory.copy` (one contiguous 4.6 MB copy: 0.18 against 0.12 ms).
 * On a [512, 2312] float32 input, a [512, 2242] column window (one filter tap of refuge18's per-tap filter
 * gradient): stock 4.1 ms on the 1-thread build and 5.3 ms on the 2-thread one; the same rows by `TypedArray.set` on
 * heap views 0.25 / 1.35 ms; by `memory.copy` here 0.2–0.27 ms on either. The stock PadV2 is XNNPACK's constant pad,
 * which on the threaded build wakes the thread pool for a copy (0.33 → 0.48 ms on the same shape with 2 threads;
 * here 0.21–0.26 ms). Concat and Identity copy with `TypedArray.set` on heap views: the same slow copy when shared.
 *
 * The memory: the single-threaded build exports it (`Module.asm.memory`); the threaded build imports a shared one
 * it never exposes, which the Worker shim notes as the build posts it to its workers (wasm-threads.ts). The module
 * is checked against the heap the backend's own views use; without a memory (or for strings) the stock kernels run.
 * Copies are exact: the results equal the cpu backend's bit for bit (a −0 pad constant pads +0, as there).
 */
import * as tf from '@tensorflow/tfjs';
import { threadedWasmMemory } from './wasm-threads.js';

type TensorInfo = tf.TensorInfo;

/** The wasm backend's own buffers: outputs it allocates and views of its heap (what the JS kernels on it use). */
export interface WasmHeap {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** The parts of the wasm backend these kernels use: its heap, and where each tensor lies in the module's memory. */
interface WasmBackendParts extends WasmHeap {
  wasm: { HEAPU8: Uint8Array; asm?: { memory?: unknown } };
  dataIdMap: { get(dataId: unknown): { memoryOffset: number } };
}

/** Copies within the wasm heap (byte addresses and lengths). */
export interface HeapCopier {
  /** `rows` copies of `len` bytes, the destination and source advancing by their strides after each. */
  copy2d(dst: number, src: number, rows: number, len: number, dstStride: number, srcStride: number): void;
  /** `len` bytes at `dst` set to the byte `value`. */
  fill(dst: number, value: number, len: number): void;
}

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [s.length, ...Array.from(s, (ch) => ch.charCodeAt(0))];

/**
 * The module's binary: imports memory e.m (shared, up to 4 GiB, for the threaded build; else any), exports
 * copy2d(dst, src, rows, len, dstStride, srcStride) and fill(dst, value, len).
 */
export function heapCopyModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  const I32 = 0x7f;
  const types = [2, 0x60, 6, I32, I32, I32, I32, I32, I32, 0, 0x60, 3, I32, I32, I32, 0];
  const limits = shared ? [0x03, 0, ...uleb(65536)] : [0x00, 0];
  const imports = [1, ...name('e'), ...name('m'), 0x02, ...limits];
  const funcs = [2, 0, 1];
  const exports = [2, ...name('copy2d'), 0x00, 0, ...name('fill'), 0x00, 1];
  // prettier-ignore
  const copy2d = [
    0, // no locals
    0x02, 0x40, 0x20, 2, 0x45, 0x0d, 0, //           block; br_if (rows == 0)
    0x03, 0x40, //                                    loop
    0x20, 0, 0x20, 1, 0x20, 3, 0xfc, 0x0a, 0, 0, //     memory.copy(dst, src, len)
    0x20, 0, 0x20, 4, 0x6a, 0x21, 0, //                 dst += dstStride
    0x20, 1, 0x20, 5, 0x6a, 0x21, 1, //                 src += srcStride
    0x20, 2, 0x41, 1, 0x6b, 0x22, 2, 0x0d, 0, //        br_if (--rows != 0) loop
    0x0b, 0x0b, 0x0b,
  ];
  const fill = [0, 0x20, 0, 0x20, 1, 0x20, 2, 0xfc, 0x0b, 0, 0x0b]; // memory.fill(dst, value, len)
  const code = [2, ...uleb(copy2d.length), ...copy2d, ...uleb(fill.length), ...fill];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

const copiers = new WeakMap<object, HeapCopier>();

/**
 * The copier on this wasm backend's memory, or null where that memory cannot be had (the stock kernels then run).
 * Once made it stays valid: its module is bound to the backend's memory object, which growth keeps.
 */
export function heapCopier(backend: unknown): HeapCopier | null {
  const module = (backend as WasmBackendParts).wasm;
  if (!module?.HEAPU8) return null;
  let c = copiers.get(module) ?? null;
  if (!c) {
    c = makeCopier(module);
    if (c) copiers.set(module, c);
  }
  return c;
}

function makeCopier(module: WasmBackendParts['wasm']): HeapCopier | null {
  const exported = module.asm?.memory;
  const memory = exported instanceof WebAssembly.Memory ? exported : threadedWasmMemory();
  // The memory whose buffer the backend's own heap views are on (a stale one from another instance never is).
  if (!memory || memory.buffer !== module.HEAPU8.buffer) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(heapCopyModuleBytes(shared)), { e: { m: memory } });
    return instance.exports as unknown as HeapCopier;
  } catch {
    return null;
  }
}

/** Calls of the kernels below that took the in-wasm copy (tests assert that it ran). */
export const heapCopyStats = { slice: 0, pad: 0, identity: 0, concat: 0 };

/**
 * Copies the box `size` at `srcBegin` of a tensor `srcShape` (at byte address src) to `dstBegin` of one `dstShape`
 * (at dst), `eb` bytes an element: trailing axes whole in both are merged into one contiguous run, the axis above
 * them is the rows of one `copy2d`, and the axes above that are looped over here.
 */
export function copyBox(
  c: HeapCopier,
  eb: number,
  dst: number,
  dstShape: number[],
  dstBegin: number[],
  src: number,
  srcShape: number[],
  srcBegin: number[],
  size: number[],
): void {
  if (size.some((n) => n === 0)) return;
  const ds = [...tf.util.computeStrides(dstShape), 1];
  const ss = [...tf.util.computeStrides(srcShape), 1];
  let d0 = dst;
  let s0 = src;
  for (let a = 0; a < size.length; a++) {
    d0 += dstBegin[a]! * ds[a]! * eb;
    s0 += srcBegin[a]! * ss[a]! * eb;
  }
  let a = size.length - 1;
  let run = eb;
  while (a >= 0 && size[a] === srcShape[a] && size[a] === dstShape[a]) run *= size[a--]!;
  if (a < 0) {
    c.copy2d(d0, s0, 1, run, 0, 0);
    return;
  }
  run *= size[a]!; // the innermost axis not whole in both: part of the run
  const rowAxis = a - 1;
  if (rowAxis < 0) {
    c.copy2d(d0, s0, 1, run, 0, 0);
    return;
  }
  const rows = size[rowAxis]!;
  const dRow = ds[rowAxis]! * eb;
  const sRow = ss[rowAxis]! * eb;
  // Odometer over the outer axes 0 … rowAxis − 1.
  const outer = size.slice(0, rowAxis);
  const idx = outer.map(() => 0);
  for (;;) {
    let d = d0;
    let s = s0;
    for (let k = 0; k < outer.length; k++) {
      d += idx[k]! * ds[k]! * eb;
      s += idx[k]! * ss[k]! * eb;
    }
    c.copy2d(d, s, rows, run, dRow, sRow);
    let k = outer.length - 1;
    while (k >= 0 && ++idx[k]! === outer[k]!) idx[k--] = 0;
    if (k < 0) return;
  }
}

/** The stock kernel a replacement falls back to, kept on the replacement so that registering twice finds it. */
const STOCK = Symbol('tdc stock kernel');
type WithStock = tf.KernelConfig & { [STOCK]?: tf.KernelConfig };

/**
 * A replacement of the wasm kernel `kernelName` that runs `fast` and, where it returns null, the stock kernel
 * (found once, kept across re-registrations).
 */
export function overStock(kernelName: string, fast: (args: Parameters<tf.KernelFunc>[0]) => TensorInfo | null): tf.KernelConfig {
  const current = tf.getKernel(kernelName, 'wasm') as WithStock | undefined;
  const stock = current?.[STOCK] ?? current;
  const config: WithStock = {
    kernelName,
    backendName: 'wasm',
    ...(stock?.setupFunc ? { setupFunc: stock.setupFunc } : {}),
    kernelFunc: (args) => {
      const out = fast(args);
      if (out) return out;
      if (!stock) throw new Error(`${kernelName} on wasm: the stock kernel is missing`);
      return stock.kernelFunc(args);
    },
  };
  if (stock) config[STOCK] = stock;
  return config;
}

const copyable = (dtype: tf.DataType): boolean => dtype === 'float32' || dtype === 'int32' || dtype === 'bool';

/** Slice on wasm as in-wasm copies (see the file header). */
export function makeSliceWasm(): tf.KernelConfig {
  return overStock('Slice', ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const c = heapCopier(backend);
    if (!c || !copyable(x.dtype)) return null;
    const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    const be = backend as unknown as WasmBackendParts;
    const out = be.makeOutput(s, x.dtype);
    heapCopyStats.slice++;
    const eb = tf.util.bytesPerElement(x.dtype);
    copyBox(c, eb, be.dataIdMap.get(out.dataId).memoryOffset, s, s.map(() => 0), be.dataIdMap.get(x.dataId).memoryOffset, x.shape, b, s);
    return out;
  });
}

/** PadV2 on wasm: the output filled with the constant, then x copied into it (see the file header). */
export function makePadV2Wasm(): tf.KernelConfig {
  return overStock('PadV2', ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const c = heapCopier(backend);
    if (!c || !copyable(x.dtype)) return null;
    const { paddings, constantValue } = attrs as unknown as { paddings: Array<[number, number]>; constantValue: number };
    if (paddings.some(([before, after]) => before < 0 || after < 0)) return null;
    const shape = x.shape.map((n, a) => paddings[a]![0] + n + paddings[a]![1]);
    const be = backend as unknown as WasmBackendParts;
    const out = be.makeOutput(shape, x.dtype);
    heapCopyStats.pad++;
    const eb = tf.util.bytesPerElement(x.dtype);
    const dst = be.dataIdMap.get(out.dataId).memoryOffset;
    const n = tf.util.sizeFromShape(shape);
    // Zero bytes are 0 in each of these dtypes; a −0 constant pads with +0 too, as the cpu backend does.
    if (constantValue === 0) c.fill(dst, 0, n * eb);
    else be.typedArrayFromHeap(out).fill(constantValue); // a view taken after the allocation (which may grow the heap)
    copyBox(c, eb, dst, shape, paddings.map((p) => p[0]), be.dataIdMap.get(x.dataId).memoryOffset, x.shape, x.shape.map(() => 0), x.shape);
    return out;
  });
}

/** Identity on wasm: one in-wasm copy (the stock kernel copies with `TypedArray.set` on the heap views). */
export function makeIdentityWasm(): tf.KernelConfig {
  return overStock('Identity', ({ inputs, backend }) => {
    const { x } = inputs as { x: TensorInfo };
    const c = heapCopier(backend);
    if (!c || !copyable(x.dtype)) return null;
    const be = backend as unknown as WasmBackendParts;
    const out = be.makeOutput([...x.shape], x.dtype);
    heapCopyStats.identity++;
    const len = tf.util.sizeFromShape(x.shape) * tf.util.bytesPerElement(x.dtype);
    if (len > 0) c.copy2d(be.dataIdMap.get(out.dataId).memoryOffset, be.dataIdMap.get(x.dataId).memoryOffset, 1, len, 0, 0);
    return out;
  });
}

/** Concat on wasm: each input copied into its place in the output in wasm (the stock kernel: `TypedArray.set` per row). */
export function makeConcatWasm(): tf.KernelConfig {
  return overStock('Concat', ({ inputs, backend, attrs }) => {
    const xs = inputs as unknown as TensorInfo[];
    const c = heapCopier(backend);
    if (!c || xs.length === 0 || xs.some((t) => !copyable(t.dtype) || t.dtype !== xs[0]!.dtype)) return null;
    const axis = tf.util.parseAxisParam((attrs as unknown as { axis: number | number[] }).axis, xs[0]!.shape)[0]!;
    const shapes = xs.map((t) => t.shape);
    tf.backend_util.assertParamsConsistent(shapes, axis);
    const shape = tf.backend_util.computeOutShape(shapes, axis);
    const be = backend as unknown as WasmBackendParts;
    const out = be.makeOutput(shape, xs[0]!.dtype);
    heapCopyStats.concat++;
    const eb = tf.util.bytesPerElement(xs[0]!.dtype);
    const dst = be.dataIdMap.get(out.dataId).memoryOffset;
    let at = 0;
    for (const t of xs) {
      const begin = shape.map((_, a) => (a === axis ? at : 0));
      copyBox(c, eb, dst, shape, begin, be.dataIdMap.get(t.dataId).memoryOffset, t.shape, t.shape.map(() => 0), t.shape);
      at += t.shape[axis]!;
    }
    return out;
  });
}
