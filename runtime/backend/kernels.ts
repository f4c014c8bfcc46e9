/**
 * Training kernels that the shipped tfjs backends lack or get wrong, registered per backend by
 * `registerTrainingKernels`. Each is composed from the backend's own forward kernels (called directly on
 * TensorInfos, so nothing touches the engine or the gradient tape), which is what makes them fast on wasm.
 *
 *   wasm  Conv2DBackpropFilter  absent as shipped: training any conv net throws. Stride 1 from 128 input
 *                               channels: one XNNPACK matrix product per filter tap (`filterGradByTaps`);
 *                               otherwise one forward conv of x transposed to [cin, H, W, B] with dy transposed
 *                               to [oH, oW, B, cout] as the filter, dilations = the strides (`filterGradByConv`).
 *   wasm  TdcAtrousBackpropFilter  the 2D atrous conv's dW (runtime/ops/atrous.ts), `filterGradByTaps`.
 *   wasm  MaxPoolGrad, Sum      shipped but single-threaded and slow for the train step's shapes (the pool's
 *                               gradient recomputes each window's maximum per input; a bias gradient's sum
 *                               transposes the map first): one JS pass over the wasm heap each (Sum only over
 *                               every axis but the last, else the stock kernel).
 *   wasm  Conv2DBackpropInput   shipped but slow (measured 90 ms vs 15 ms for this one on 1×32×40×128 with a
 *                               3×3×128×128 filter; 95 vs 42 ms at stride 2): replaced by a forward conv of dy
 *                               (zero-inserted when strided) with the flipped, in/out-swapped filter.
 *   wasm  Slice, PadV2, Concat, Identity  copies inside wasm memory (runtime/backend/wasm-heap-copy.ts).
 *   wasm  TdcFlipSwapFilter     the input gradient's flipped filter, one loop on the heap in place.
 * Register after the backend package is imported (selectBackend does): importing it later re-registers its
 * stock kernels over these.
 *   wasm  UnsortedSegmentSum    absent (tf.gather's gradient needs it): a one-hot matrix product.
 *   wasm  Conv3D, Conv3DBackpropInputV2, Conv3DBackpropFilterV2
 *                               shipped as plain loops (~0.25 GFLOP/s: a 3×3×3×32×32 conv on 8×36×36 took
 *                               2.4 s forward): replaced by one 2D kernel per depth tap with (batch, depth)
 *                               folded into the batch, ~70 ms for the same conv.
 *   cpu   Conv2DBackpropFilter  the same composition on the cpu backend's Conv2D: forward + dW of a 3×3×64×64
 *                               conv on 16×20 went from 2.2 s to 0.09 s. (The cpu's stock Conv2DBackpropInput
 *                               is kept: the composed one was faster on small channel counts, slower at 512;
 *                               composing Conv3D from Conv2D does not pay on cpu, whose conv loops are alike.)
 *   cpu   ResizeBilinearGrad    shipped kernel returns shape [B, W, H, C] on non-square maps and ignores
 *                               halfPixelCenters: replaced by a direct scatter of dy onto the four source taps.
 * MaxPool3DGrad, AvgPoolGrad, AvgPool3DGrad, ResizeBilinearGrad, SpaceToBatchND/BatchToSpaceND,
 * Reverse, Transpose, PadV2 and Slice exist on wasm 4.22 (checked by training a small conv → atrous conv →
 * maxpool → resize → dense network, a tf.layers model with batch norm and bilinear upsampling, and a conv3d
 * one, on wasm). Still absent on wasm and not used by tdc's networks: the DepthwiseConv2dNative gradients.
 * wasm's stock ResizeBilinearGrad also ignores halfPixelCenters (tdc never sets it).
 */
import * as tf from '@tensorflow/tfjs';
import { flipSwapValues } from '../ops/flip-filter.js';
import { ATROUS_BACKPROP_FILTER_KERNEL, FLIP_SWAP_FILTER_KERNEL } from '../ops/kernel-names.js';
import { readCount, tapReads } from '../ops/tap-regions.js';
import { makeConcatWasm, makeIdentityWasm, makePadV2Wasm, makeSliceWasm, overStock, type WasmHeap } from './wasm-heap-copy.js';

type TensorInfo = tf.TensorInfo;
type KernelBackend = tf.KernelBackend;
type Pad2D = [[number, number], [number, number], [number, number], [number, number]];

/** Runs another kernel of the same backend directly on TensorInfos. */
function runKernel(
  backendName: string,
  backend: KernelBackend,
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
): TensorInfo {
  const k = tf.getKernel(name, backendName);
  if (!k) throw new Error(`backend '${backendName}' has no kernel ${name}`);
  return k.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as TensorInfo;
}

/** Frees intermediate results (reference-counted by the backend, so reshape aliases are safe). */
function free(backend: KernelBackend, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

interface Conv2DGradAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | Pad2D;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfoOf(
  kernel: string,
  xShape: number[],
  filterShape: number[],
  attrs: Conv2DGradAttrs,
): tf.backend_util.Conv2DInfo {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${kernel}: only NHWC is supported, got ${attrs.dataFormat}`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad as 'valid',
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** dW[kh, kw, ci, co] = Σ x[b, i·s + kh − top, j·s + kw − left, ci] · dy[b, i, j, co] (see `filterGradByConv`, `filterGradByTaps`). */
export function makeConv2DBackpropFilter(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropFilter',
    backendName,
    kernelFunc: ({ inputs, backend: kb, attrs }) => {
      const backend = kb as KernelBackend;
      const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
      const a = attrs as unknown as Conv2DGradAttrs & { filterShape: [number, number, number, number] };
      const info = convInfoOf('Conv2DBackpropFilter', x.shape, a.filterShape, a);
      const { top, bottom, left, right } = info.padInfo;
      const pads: Array<[number, number]> = [
        [top, bottom],
        [left, right],
      ];
      if (info.strideHeight === 1 && info.strideWidth === 1 && useFilterGradByTaps(backendName, x.shape, a.filterShape)) {
        return filterGradByTaps(new Calls(backendName, backend), x, dy, a.filterShape, [1, 1], pads);
      }
      return filterGradByConv(backendName, backend, x, dy, a.filterShape, [info.strideHeight, info.strideWidth], pads);
    },
  };
}

/**
 * dW as one forward conv of x transposed to [cin, H, W, B] with dy transposed to [oH, oW, B, cout] as the filter,
 * dilations = the conv's strides, and the result [cin, kh, kw, cout] transposed back. The reduction runs over the
 * "filter" taps with B input channels each, so it is slow where the map is small and the channels many.
 */
export function filterGradByConv(
  backendName: string,
  backend: KernelBackend,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: [number, number, number, number],
  strides: [number, number],
  pads: Array<[number, number]>,
): TensorInfo {
  const [kh, kw, cin, cout] = filterShape;
  const xT = runKernel(backendName, backend, 'Transpose', { x }, { perm: [3, 1, 2, 0] });
  const dyT = runKernel(backendName, backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const pad: Pad2D = [[0, 0], pads[0]!, pads[1]!, [0, 0]];
  let dwT = runKernel(backendName, backend, 'Conv2D', { x: xT, filter: dyT }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: strides });
  free(backend, xT, dyT);
  // Padding that 'same' adds but no tap reads makes the result longer than the kernel: keep the first kh × kw.
  if (dwT.shape[1] !== kh || dwT.shape[2] !== kw) {
    const cropped = runKernel(backendName, backend, 'Slice', { x: dwT }, { begin: [0, 0, 0, 0], size: [cin, kh, kw, cout] });
    free(backend, dwT);
    dwT = cropped;
  }
  const dw = runKernel(backendName, backend, 'Transpose', { x: dwT }, { perm: [1, 2, 0, 3] });
  free(backend, dwT);
  return dw;
}

/** Calls of this module's wasm paths so far: `filterGradByTaps` by layout, MaxPoolGrad, Sum, the in-heap filter flip (tests assert that each ran). */
export const wasmPathStats = { filterGradShifted: 0, filterGradRegions: 0, maxPoolGrad: 0, sum: 0, flipSwapInHeap: 0 };

/**
 * Whether `filterGradByTaps` is the faster dW on this backend: on wasm (XNNPACK, measured at 1 and 2 threads) from
 * 256 input channels up, where the conv formulation's B-channel reduction over a small map is slowest (refuge18:
 * 3×3×512×512 on 2×32×32, 0.80 → 0.59 s; on 2×16×16, 0.20 → 0.13 s); below that the conv formulation is as fast or
 * faster (2×256×256×64: 0.84 vs 1.1 s). Not on cpu, whose matrix product is a plain loop.
 */
function useFilterGradByTaps(backendName: string, xShape: number[], filterShape: number[]): boolean {
  return backendName === 'wasm' && filterShape[2]! >= FILTER_GRAD_BY_TAPS_MIN_CIN && xShape.length === 4;
}
const FILTER_GRAD_BY_TAPS_MIN_CIN = 128;

/**
 * dW of a stride-1 2D conv with dilations `rates` and zero pads `pads` ([before, after] per spatial axis), one
 * matrix product per filter tap, dW[a, b] = X_ab · D with X_ab [cin, n] the inputs tap (a, b) reads and D [n, cout]
 * the matching dy, each product on XNNPACK's threads. Two layouts, whichever multiplies fewer values:
 * - shifted: x zero-padded to [B, Hp, Wp] and transposed to [cin, B·Hp·Wp], dy zero-padded to the same grid and
 *   viewed as [B·Hp·Wp, cout]; tap (a, b) is then the column window starting at a·rh·Wp + b·rw (one row copy per
 *   channel), and every product has the same right operand, which XNNPACK packs once (its operator is cached on
 *   dy's buffer). The padded grid's extra positions multiply zeros (a 3×3 'same' conv on 64×64: 6 %).
 * - regions: each tap only over the outputs whose input lies inside x, dy sliced to match, and zeros for a tap that
 *   reads only padding; for rates large against the map (rate 15 on 16×16: a corner tap reads one row and one
 *   column of x, the shifted grid would be 46×46).
 */
export function filterGradByTaps(
  c: Calls,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: number[],
  rates: [number, number],
  pads: Array<[number, number]>,
): TensorInfo {
  const [B, H, W, cin] = x.shape as [number, number, number, number];
  const [, oh, ow, cout] = dy.shape as [number, number, number, number];
  const [kh, kw] = filterShape as [number, number];
  const rows = tapReads(kh, rates[0], pads[0]![0], H, oh);
  const cols = tapReads(kw, rates[1], pads[1]![0], W, ow);
  const hp = oh + (kh - 1) * rates[0];
  const wp = ow + (kw - 1) * rates[1];
  // Regions slice dy and pack it per tap: counted 1.3× per value.
  const byRegions = 1.3 * readCount(rows) * readCount(cols) < kh * kw * hp * wp;
  const taps: TensorInfo[] = [];
  wasmPathStats[byRegions ? 'filterGradRegions' : 'filterGradShifted']++;
  if (byRegions) {
    const xT = c.run('Transpose', { x }, { perm: [3, 0, 1, 2] });
    for (const [i, [r0, r1]] of rows.entries()) {
      for (const [j, [c0, c1]] of cols.entries()) {
        if (r1 <= r0 || c1 <= c0) {
          taps.push(c.run('Fill', {}, { shape: [1, cin, cout], value: 0, dtype: 'float32' }));
          continue;
        }
        const n = B * (r1 - r0) * (c1 - c0);
        const begin = [0, 0, r0 + i * rates[0] - pads[0]![0], c0 + j * rates[1] - pads[1]![0]];
        const s = c.run('Slice', { x: xT }, { begin, size: [cin, B, r1 - r0, c1 - c0] });
        const d = r1 - r0 === oh && c1 - c0 === ow ? dy : c.run('Slice', { x: dy }, { begin: [0, r0, c0, 0], size: [B, r1 - r0, c1 - c0, cout] });
        taps.push(c.run('BatchMatMul', { a: c.reshape(s, [1, cin, n]), b: c.reshape(d, [1, n, cout]) }, { transposeA: false, transposeB: false }));
      }
    }
  } else {
    const padded = pads.some(([before, after]) => before > 0 || after > 0);
    const xP = padded ? c.run('PadV2', { x }, { paddings: [[0, 0], pads[0], pads[1], [0, 0]], constantValue: 0 }) : x;
    const grid = B * hp * wp;
    const xT = c.run('Transpose', { x: c.reshape(xP, [grid, cin]) }, { perm: [1, 0] });
    const dyP = hp > oh || wp > ow ? c.run('PadV2', { x: dy }, { paddings: [[0, 0], [0, hp - oh], [0, wp - ow], [0, 0]], constantValue: 0 }) : dy;
    // Window length: up to the last real output (the windows of later taps must stay inside the grid).
    const n = grid - (kh - 1) * rates[0] * wp - (kw - 1) * rates[1];
    const d2 = c.reshape(dyP, [grid, cout]);
    const d = c.reshape(n === grid ? d2 : c.run('Slice', { x: d2 }, { begin: [0, 0], size: [n, cout] }), [1, n, cout]);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const s = n === grid ? xT : c.run('Slice', { x: xT }, { begin: [0, i * rates[0] * wp + j * rates[1]], size: [cin, n] });
        taps.push(c.run('BatchMatMul', { a: c.reshape(s, [1, cin, n]), b: d }, { transposeA: false, transposeB: false }));
      }
    }
  }
  const all = taps.length === 1 ? taps[0]! : c.run('Concat', taps, { axis: 0 });
  return c.finish(c.run('Reshape', { x: all }, { shape: filterShape }, true));
}

/**
 * The filter gradient of tdc's atrous conv (ATROUS_BACKPROP_FILTER_KERNEL: inputs { x, dy }, attrs { filterShape,
 * rates, pads }), 2D: `filterGradByTaps`, which takes the dilation and the pads as they are. The wasm backend
 * registers only this one of the three atrous kernels (runtime/ops/atrous.ts computes the forward and dx as
 * convs), so only for 2D: 3D atrous convs there take the transposed-conv formulation.
 */
export function makeAtrousBackpropFilter(backendName: string): tf.KernelConfig {
  return {
    kernelName: ATROUS_BACKPROP_FILTER_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
      const { filterShape, rates, pads } = attrs as unknown as { filterShape: number[]; rates: number[]; pads: Array<[number, number]> };
      if (x.shape.length !== 4) throw new Error(`${ATROUS_BACKPROP_FILTER_KERNEL} on ${backendName}: 2D only, got an input of rank ${x.shape.length}`);
      return filterGradByTaps(new Calls(backendName, backend as KernelBackend), x, dy, filterShape, rates as [number, number], pads);
    },
  };
}

/**
 * W[kh−1−i, kw−1−j, co, ci] from W[i, j, ci, co]: one loop over the values (float32), else the backend's Reverse
 * and Transpose kernels. On wasm the loop reads and writes the heap in place (`flipSwapInHeap`).
 */
function flipSwapFilter(backendName: string, backend: KernelBackend, filter: TensorInfo): TensorInfo {
  if (filter.dtype === 'float32') {
    if (backendName === 'wasm') return flipSwapInHeap(backend, filter);
    const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
    const values = flipSwapValues(backend.readSync(filter.dataId) as Float32Array, filter.shape);
    const shape = [kh, kw, co, ci];
    return { dataId: backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
  }
  const flipped = runKernel(backendName, backend, 'Reverse', { x: filter }, { dims: [0, 1] });
  const swapped = runKernel(backendName, backend, 'Transpose', { x: flipped }, { perm: [0, 1, 3, 2] });
  free(backend, flipped);
  return swapped;
}

/**
 * A float32 filter [...k, ci, co] flipped and swapped to [...k, co, ci] by `flipSwapValues` on the wasm heap in place:
 * reading it out (readSync) and writing the result in were two more copies (a 3×3×512×512 filter: ~23 → ~9 ms,
 * single-threaded; refuge18's train step flips 31 filters: 19 conv and 12 atrous input gradients).
 */
function flipSwapInHeap(backend: KernelBackend, filter: TensorInfo): TensorInfo {
  wasmPathStats.flipSwapInHeap++;
  const heap = backend as unknown as WasmHeap;
  const r = filter.shape.length;
  const out = heap.makeOutput([...filter.shape.slice(0, -2), filter.shape[r - 1]!, filter.shape[r - 2]!], 'float32');
  // Views taken after the allocation (which may grow the heap).
  flipSwapValues(heap.typedArrayFromHeap(filter) as Float32Array, filter.shape, heap.typedArrayFromHeap(out) as Float32Array);
  return out;
}

/** FLIP_SWAP_FILTER_KERNEL on wasm (runtime/ops/flip-filter.ts): `flipSwapInHeap`, float32 only. */
export function makeFlipSwapFilterWasm(): tf.KernelConfig {
  return {
    kernelName: FLIP_SWAP_FILTER_KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const { x } = inputs as { x: TensorInfo };
      if (x.dtype !== 'float32') throw new Error(`${FLIP_SWAP_FILTER_KERNEL} on wasm: float32 only, got ${x.dtype}`);
      return flipSwapInHeap(backend as KernelBackend, x);
    },
  };
}

/**
 * dx[p] = Σ_k dy_up[p + top − k] · W[k]ᵀ with dy_up the stride-zero-inserted dy: a stride-1 forward conv of
 * dy_up with the flipped, in/out-swapped filter; pads become crops where negative.
 */
export function makeConv2DBackpropInput(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropInput',
    backendName,
    kernelFunc: ({ inputs, backend: kb, attrs }) => {
      const backend = kb as KernelBackend;
      const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
      const a = attrs as unknown as Conv2DGradAttrs & { inputShape: [number, number, number, number] };
      const info = convInfoOf('Conv2DBackpropInput', a.inputShape, filter.shape, a);
      const [B, H, W] = a.inputShape;
      const [kh, kw] = filter.shape;
      const [, oh, ow, cout] = dy.shape;
      const sh = info.strideHeight;
      const sw = info.strideWidth;
      const owned: TensorInfo[] = [];
      let g = dy;
      if (sh > 1 || sw > 1) {
        const r6 = runKernel(backendName, backend, 'Reshape', { x: dy }, { shape: [B, oh, 1, ow, 1, cout] });
        const padded = runKernel(
          backendName,
          backend,
          'PadV2',
          { x: r6 },
          {
            paddings: [
              [0, 0],
              [0, 0],
              [0, sh - 1],
              [0, 0],
              [0, sw - 1],
              [0, 0],
            ],
            constantValue: 0,
          },
        );
        g = runKernel(backendName, backend, 'Reshape', { x: padded }, { shape: [B, oh * sh, ow * sw, cout] });
        owned.push(r6, padded, g);
      }
      const lh = oh * sh;
      const lw = ow * sw;
      // Output length = lh + before + after − kh + 1 must equal H.
      let beforeH = kh - 1 - info.padInfo.top;
      let afterH = H + kh - 1 - lh - beforeH;
      let beforeW = kw - 1 - info.padInfo.left;
      let afterW = W + kw - 1 - lw - beforeW;
      if (beforeH < 0 || afterH < 0 || beforeW < 0 || afterW < 0) {
        const cropTop = Math.max(0, -beforeH);
        const cropLeft = Math.max(0, -beforeW);
        const sizeH = lh - cropTop - Math.max(0, -afterH);
        const sizeW = lw - cropLeft - Math.max(0, -afterW);
        const c = runKernel(backendName, backend, 'Slice', { x: g }, { begin: [0, cropTop, cropLeft, 0], size: [B, sizeH, sizeW, cout] });
        owned.push(c);
        g = c;
        beforeH = Math.max(0, beforeH);
        afterH = Math.max(0, afterH);
        beforeW = Math.max(0, beforeW);
        afterW = Math.max(0, afterW);
      }
      const swapped = flipSwapFilter(backendName, backend, filter);
      const dx = runKernel(
        backendName,
        backend,
        'Conv2D',
        { x: g, filter: swapped },
        {
          strides: [1, 1],
          pad: [
            [0, 0],
            [beforeH, afterH],
            [beforeW, afterW],
            [0, 0],
          ],
          dataFormat: 'NHWC',
          dilations: [1, 1],
        },
      );
      free(backend, swapped, ...owned);
      return dx;
    },
  };
}

/**
 * Gradient of ResizeBilinear for the cpu backend: each dy element goes to its (up to) four source pixels with
 * the forward pass's weights (same coordinate rule as tfjs's ResizeBilinear, incl. halfPixelCenters).
 */
export function makeResizeBilinearGradCpu(): tf.KernelConfig {
  return {
    kernelName: 'ResizeBilinearGrad',
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend: kb, attrs }) => {
      const backend = kb as KernelBackend;
      const { images, dy } = inputs as { images: TensorInfo; dy: TensorInfo };
      const { alignCorners, halfPixelCenters } = attrs as unknown as { alignCorners: boolean; halfPixelCenters: boolean };
      const [B, H, W, C] = images.shape;
      const [, oh, ow] = dy.shape;
      const cpu = backend as unknown as {
        data: { get(id: tf.DataId): { values: Float32Array } };
        makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): TensorInfo;
      };
      const dyv = cpu.data.get(dy.dataId).values;
      const out = new Float32Array(B * H * W * C);
      const axis = (inLen: number, outLen: number) => {
        const scale = (alignCorners && outLen > 1 ? inLen - 1 : inLen) / (alignCorners && outLen > 1 ? outLen - 1 : outLen);
        const lo = new Int32Array(outLen);
        const hi = new Int32Array(outLen);
        const frac = new Float64Array(outLen);
        for (let o = 0; o < outLen; o++) {
          const src = halfPixelCenters ? scale * (o + 0.5) - 0.5 : scale * o;
          lo[o] = Math.max(0, Math.floor(src));
          hi[o] = Math.min(inLen - 1, Math.ceil(src));
          frac[o] = src - lo[o];
        }
        return { lo, hi, frac };
      };
      const ah = axis(H, oh);
      const aw = axis(W, ow);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < oh; i++) {
          const fy = ah.frac[i];
          const r0 = (b * H + ah.lo[i]) * W;
          const r1 = (b * H + ah.hi[i]) * W;
          for (let j = 0; j < ow; j++) {
            const fx = aw.frac[j];
            const w00 = (1 - fy) * (1 - fx);
            const w01 = (1 - fy) * fx;
            const w10 = fy * (1 - fx);
            const w11 = fy * fx;
            const p00 = (r0 + aw.lo[j]) * C;
            const p01 = (r0 + aw.hi[j]) * C;
            const p10 = (r1 + aw.lo[j]) * C;
            const p11 = (r1 + aw.hi[j]) * C;
            const d = ((b * oh + i) * ow + j) * C;
            for (let c = 0; c < C; c++) {
              const v = dyv[d + c];
              out[p00 + c] += w00 * v;
              out[p01 + c] += w01 * v;
              out[p10 + c] += w10 * v;
              out[p11 + c] += w11 * v;
            }
          }
        }
      }
      return cpu.makeTensorInfo([B, H, W, C], 'float32', out);
    },
  };
}

/**
 * out[s, …] = Σ_{i: ids[i] = s} x[i, …] (the gradient of gather), as a one-hot matrix product: OneHot(ids)ᵀ · x.
 * Ids outside [0, numSegments) get a zero one-hot row and are dropped, as TensorFlow does.
 */
export function makeUnsortedSegmentSum(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'UnsortedSegmentSum',
    backendName,
    kernelFunc: ({ inputs, backend: kb, attrs }) => {
      const backend = kb as KernelBackend;
      const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum on ${backendName}: only float32 is supported, got ${x.dtype}`);
      const n = segmentIds.shape.reduce((p, q) => p * q, 1);
      const rest = x.shape.slice(segmentIds.shape.length);
      const restSize = rest.reduce((p, q) => p * q, 1);
      const ids = runKernel(backendName, backend, 'Reshape', { x: segmentIds }, { shape: [n] });
      // wasm's OneHot writes int32 bits whatever dtype it is given: make it int32 and cast.
      const oneHotI = runKernel(backendName, backend, 'OneHot', { indices: ids }, { depth: numSegments, onValue: 1, offValue: 0, dtype: 'int32' });
      const oneHot = runKernel(backendName, backend, 'Cast', { x: oneHotI }, { dtype: 'float32' });
      const a = runKernel(backendName, backend, 'Reshape', { x: oneHot }, { shape: [1, n, numSegments] });
      const b = runKernel(backendName, backend, 'Reshape', { x }, { shape: [1, n, restSize] });
      const prod = runKernel(backendName, backend, 'BatchMatMul', { a, b }, { transposeA: true, transposeB: false });
      const out = runKernel(backendName, backend, 'Reshape', { x: prod }, { shape: [numSegments, ...rest] });
      free(backend, ids, oneHotI, oneHot, a, b, prod);
      return out;
    },
  };
}

interface Conv3DAttrs {
  strides: [number, number, number] | number;
  pad: 'valid' | 'same';
  dilations?: [number, number, number] | number;
}

/** A wasm kernel-call context: the backend plus a list of intermediates to free at the end. */
export class Calls {
  readonly owned: TensorInfo[] = [];
  constructor(
    readonly backendName: string,
    readonly backend: KernelBackend,
  ) {}
  run(name: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: Record<string, unknown>, keep = false): TensorInfo {
    const out = runKernel(this.backendName, this.backend, name, inputs as Record<string, TensorInfo>, attrs);
    if (!keep) this.owned.push(out);
    return out;
  }
  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }
  /** Depth slices start, start + step, … (count of them) of x viewed as [B, D, rest] (3D keeps wasm's fast slice). */
  depthSlices(x3: TensorInfo, start: number, step: number, count: number): TensorInfo {
    const [B, , rest] = x3.shape;
    if (step === 1) return this.run('Slice', { x: x3 }, { begin: [0, start, 0], size: [B, count, rest] });
    return this.run(
      'StridedSlice',
      { x: x3 },
      {
        begin: [0, start, 0],
        end: [B, start + (count - 1) * step + 1, rest],
        strides: [1, step, 1],
        beginMask: 0,
        endMask: 0,
        ellipsisMask: 0,
        newAxisMask: 0,
        shrinkAxisMask: 0,
      },
    );
  }
  /** Shifts x3 [B, L, rest] along axis 1 by `before` (negative = crop) and pads/crops the end to length `len`. */
  placeDepth(x3: TensorInfo, before: number, len: number): TensorInfo {
    const [B, L, rest] = x3.shape;
    let t = x3;
    const cropLo = Math.max(0, -before);
    const after = len - (L + before);
    const cropHi = Math.max(0, -after);
    if (cropLo > 0 || cropHi > 0) t = this.run('Slice', { x: t }, { begin: [0, cropLo, 0], size: [B, L - cropLo - cropHi, rest] });
    const padLo = Math.max(0, before);
    const padHi = Math.max(0, after);
    if (padLo > 0 || padHi > 0) {
      t = this.run('PadV2', { x: t }, { paddings: [[0, 0], [padLo, padHi], [0, 0]], constantValue: 0 });
    }
    return t;
  }
  add(acc: TensorInfo | null, t: TensorInfo): TensorInfo {
    return acc === null ? t : this.run('Add', { a: acc, b: t }, {});
  }
  /** Frees every intermediate except `result` (which may be one of them). */
  finish(result: TensorInfo): TensorInfo {
    for (const t of this.owned) if (t !== result) this.backend.disposeData(t.dataId);
    return result;
  }
}

function conv3dInfo(xShape: number[], filterShape: number[], a: Conv3DAttrs) {
  return tf.backend_util.computeConv3DInfo(
    xShape as [number, number, number, number, number],
    filterShape as [number, number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
  );
}

/** The in-plane part of a Conv3D as the attrs of the 2D kernel each depth tap runs (explicit pads, NHWC). */
function planeAttrs(info: tf.backend_util.Conv3DInfo): { strides: [number, number]; pad: number[][]; dataFormat: 'NHWC' } {
  const { top, bottom, left, right } = info.padInfo;
  return { strides: [info.strideHeight, info.strideWidth], pad: [[0, 0], [top, bottom], [left, right], [0, 0]], dataFormat: 'NHWC' };
}

/** Depth tap t of a filter viewed as [kd, kh·kw·cin·cout] (`w2`), as a 2D filter [kh, kw, cin, cout]. */
function tapFilter(c: Calls, w2: TensorInfo, t: number, plane: [number, number, number, number]): TensorInfo {
  const n = plane[0] * plane[1] * plane[2] * plane[3];
  return c.reshape(c.run('Slice', { x: w2 }, { begin: [t, 0], size: [1, n] }), plane);
}

/** x as [B, D, H·W·cin], zero-padded along depth by the conv's front / back pads. */
function depthPadded(c: Calls, x: TensorInfo, info: tf.backend_util.Conv3DInfo): TensorInfo {
  const [B, D, H, W, cin] = x.shape as [number, number, number, number, number];
  const { front, back } = info.padInfo;
  const x3 = c.reshape(x, [B, D, H * W * cin]);
  return front > 0 || back > 0 ? c.placeDepth(x3, front, D + front + back) : x3;
}

/**
 * Conv3D as a sum over depth taps of 2D convs: out[:, od] = Σ_kd conv2d(x[:, od·sd + kd·dd − front], W[kd]),
 * each one Conv2D over all (batch, output depth) pairs folded into the batch. wasm's own Conv3D is a plain
 * loop (~0.25 GFLOP/s measured) while its Conv2D runs through XNNPACK (~20 GFLOP/s): ~90× faster here.
 */
export function makeConv3D(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv3D',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
      const a = attrs as unknown as Conv3DAttrs;
      const info = conv3dInfo(x.shape, filter.shape, a);
      const c = new Calls(backendName, backend as KernelBackend);
      const [B, , H, W, cin] = x.shape;
      const [kd, kh, kw, , cout] = filter.shape;
      const x3 = depthPadded(c, x, info);
      const w2 = c.reshape(filter, [kd, kh * kw * cin * cout]);
      let acc: TensorInfo | null = null;
      for (let t = 0; t < kd; t++) {
        const sl = c.depthSlices(x3, t * info.dilationDepth, info.strideDepth, info.outDepth);
        const x4 = c.reshape(sl, [B * info.outDepth, H, W, cin]);
        const wk = tapFilter(c, w2, t, [kh, kw, cin, cout]);
        const y = c.run('Conv2D', { x: x4, filter: wk }, { ...planeAttrs(info), dilations: [info.dilationHeight, info.dilationWidth] });
        acc = c.add(acc, y);
      }
      const out = c.run('Reshape', { x: acc! }, { shape: [B, info.outDepth, info.outHeight, info.outWidth, cout] }, true);
      return c.finish(out);
    },
  };
}

/** dx of Conv3D (dilation 1): Σ_kd (2D input-gradient of dy with W[kd]) placed at depth od·sd + kd − front. */
export function makeConv3DBackpropInputV2(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv3DBackpropInputV2',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
      const a = attrs as unknown as Conv3DAttrs & { inputShape: [number, number, number, number, number] };
      const info = conv3dInfo(a.inputShape, filter.shape, a);
      const c = new Calls(backendName, backend as KernelBackend);
      const [B, D, H, W, cin] = a.inputShape;
      const [kd, kh, kw, , cout] = filter.shape;
      const { front } = info.padInfo;
      const oD = info.outDepth;
      const sd = info.strideDepth;
      const dy4 = c.reshape(dy, [B * oD, info.outHeight, info.outWidth, cout]);
      const w2 = c.reshape(filter, [kd, kh * kw * cin * cout]);
      const rest = H * W * cin;
      let acc: TensorInfo | null = null;
      for (let t = 0; t < kd; t++) {
        const wk = tapFilter(c, w2, t, [kh, kw, cin, cout]);
        const g = c.run('Conv2DBackpropInput', { dy: dy4, filter: wk }, { ...planeAttrs(info), inputShape: [B * oD, H, W, cin] });
        let g3 = c.reshape(g, [B, oD, rest]);
        if (sd > 1) {
          // Zero-insert along depth: output depth od lands on input depth od·sd (+ tap offset).
          const g4 = c.reshape(g3, [B, oD, 1, rest]);
          const up = c.run('PadV2', { x: g4 }, { paddings: [[0, 0], [0, 0], [0, sd - 1], [0, 0]], constantValue: 0 });
          g3 = c.reshape(up, [B, oD * sd, rest]);
        }
        acc = c.add(acc, c.placeDepth(g3, t - front, D));
      }
      const out = c.run('Reshape', { x: acc! }, { shape: [B, D, H, W, cin] }, true);
      return c.finish(out);
    },
  };
}

/** dW of Conv3D (dilation 1): dW[kd] = 2D filter-gradient of (x depth slices od·sd + kd − front, dy). */
export function makeConv3DBackpropFilterV2(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv3DBackpropFilterV2',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
      const a = attrs as unknown as Conv3DAttrs & { filterShape: [number, number, number, number, number] };
      const info = conv3dInfo(x.shape, a.filterShape, a);
      const c = new Calls(backendName, backend as KernelBackend);
      const [B, , H, W, cin] = x.shape;
      const [kd, kh, kw, , cout] = a.filterShape;
      const x3 = depthPadded(c, x, info);
      const dy4 = c.reshape(dy, [B * info.outDepth, info.outHeight, info.outWidth, cout]);
      const parts: TensorInfo[] = [];
      for (let t = 0; t < kd; t++) {
        const sl = c.depthSlices(x3, t, info.strideDepth, info.outDepth);
        const x4 = c.reshape(sl, [B * info.outDepth, H, W, cin]);
        const dw = c.run('Conv2DBackpropFilter', { x: x4, dy: dy4 }, { ...planeAttrs(info), filterShape: [kh, kw, cin, cout] });
        parts.push(c.reshape(dw, [1, kh, kw, cin, cout]));
      }
      const out = kd === 1 ? c.run('Reshape', { x: parts[0] }, { shape: [1, kh, kw, cin, cout] }, true) : c.run('Concat', parts, { axis: 0 }, true);
      return c.finish(out);
    },
  };
}

/**
 * MaxPoolGrad (2D, NHWC) in one pass in JS over the wasm heap: each dy goes to the first maximum of its window in
 * row-major order (`>` from −∞, as tfjs's cpu kernel; after a relu, windows of equal zeros are common), added where
 * windows overlap; padding taps never win. The stock wasm kernel recomputes a window's maximum for every input in it (622 ms
 * for the 4 pools of a 17.8 s refuge18 step at 2 threads, single-threaded).
 */
export function makeMaxPoolGradWasm(): tf.KernelConfig {
  return {
    kernelName: 'MaxPoolGrad',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
      const a = attrs as unknown as { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
      if (input.dtype !== 'float32') throw new Error(`MaxPoolGrad on wasm: only float32 is supported, got ${input.dtype}`);
      wasmPathStats.maxPoolGrad++;
      const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
      const heap = backend as unknown as WasmHeap;
      const out = heap.makeOutput([...input.shape], 'float32');
      // Views taken after the allocation (which may grow the heap).
      const dx = heap.typedArrayFromHeap(out);
      const x = heap.typedArrayFromHeap(input);
      const g = heap.typedArrayFromHeap(dy);
      dx.fill(0);
      const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: oh, outWidth: ow } = info;
      const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
      const { top, left } = info.padInfo;
      const best = new Int32Array(C);
      const bestV = new Float32Array(C);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < oh; i++) {
          const r0 = Math.max(0, i * sh - top);
          const r1 = Math.min(H, i * sh - top + fh);
          for (let j = 0; j < ow; j++) {
            const c0 = Math.max(0, j * sw - left);
            const c1 = Math.min(W, j * sw - left + fw);
            best.fill(-1);
            bestV.fill(-Infinity);
            for (let r = r0; r < r1; r++) {
              for (let q = c0; q < c1; q++) {
                const base = ((b * H + r) * W + q) * C;
                for (let c = 0; c < C; c++) {
                  const v = x[base + c]!;
                  if (v > bestV[c]!) {
                    bestV[c] = v;
                    best[c] = base + c;
                  }
                }
              }
            }
            const d = ((b * oh + i) * ow + j) * C;
            for (let c = 0; c < C; c++) if (best[c]! >= 0) dx[best[c]!] += g[d + c]!;
          }
        }
      }
      return out;
    },
  };
}

/**
 * Sum over every axis but the last (a bias gradient: dy summed per channel) of a float32 tensor on wasm, in one JS
 * pass over the wasm heap with float64 accumulators (as tfjs's cpu kernel); the stock kernel first transposes the
 * reduced axes innermost, a second full pass (~110 ms for a 2×256×256×64 map, single-threaded). Other sums run the
 * stock kernel.
 */
export function makeSumWasm(): tf.KernelConfig {
  return overStock('Sum', (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const r = x.shape.length;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const leading = r >= 2 && axes.length === r - 1 && axes.every((a, i) => a === i);
    if (!leading || x.dtype !== 'float32') return null;
    wasmPathStats.sum++;
    const C = x.shape[r - 1]!;
    const heap = args.backend as unknown as WasmHeap;
    const out = heap.makeOutput(keepDims ? [...x.shape.slice(0, -1).map(() => 1), C] : [C], 'float32');
    const v = heap.typedArrayFromHeap(x);
    const acc = new Float64Array(C);
    for (let p = 0; p < v.length; p += C) for (let c = 0; c < C; c++) acc[c] += v[p + c]!;
    heap.typedArrayFromHeap(out).set(acc);
    return out;
  });
}

/** Kernels this module provides for a backend (the ones `registerTrainingKernels` installs). */
export function trainingKernelsFor(backendName: string): tf.KernelConfig[] {
  switch (backendName) {
    case 'wasm':
      return [
        makeConv2DBackpropFilter('wasm'),
        makeConv2DBackpropInput('wasm'),
        makeAtrousBackpropFilter('wasm'),
        makeMaxPoolGradWasm(),
        makeSumWasm(),
        makeSliceWasm(),
        makePadV2Wasm(),
        makeConcatWasm(),
        makeIdentityWasm(),
        makeFlipSwapFilterWasm(),
        makeUnsortedSegmentSum('wasm'),
        makeConv3D('wasm'),
        makeConv3DBackpropInputV2('wasm'),
        makeConv3DBackpropFilterV2('wasm'),
      ];
    case 'cpu':
      return [makeConv2DBackpropFilter('cpu'), makeResizeBilinearGradCpu()];
    default:
      return [];
  }
}

/**
 * Registers (replacing any shipped version) the training kernels `backendName` lacks or gets wrong; returns
 * their names. Idempotent; backends not listed (e.g. tensorflow) need none.
 */
export function registerTrainingKernels(backendName: string): string[] {
  const names: string[] = [];
  for (const k of trainingKernelsFor(backendName)) {
    if (tf.getKernel(k.kernelName, k.backendName)) tf.unregisterKernel(k.kernelName, k.backendName);
    tf.registerKernel(k);
    names.push(k.kernelName);
  }
  return names;
}
