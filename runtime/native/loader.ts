/** Finds and loads the optional oneDNN addon (native/build/tdc_native.node); absent or broken means `null`, silently. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The functions the addon exports (native/tdc_native.cc). All arrays are written in place. */
export interface NativeAddon {
  /** y = conv(x, filter) (+ bias) (relu when `relu` is 1); params as `convParams` builds them. */
  convForward(x: Float32Array, filter: Float32Array, bias: Float32Array | null, y: Float32Array, params: Int32Array, relu: number): void;
  /** dx of a convolution from dy and the filter. */
  convBackwardData(dy: Float32Array, filter: Float32Array, dx: Float32Array, params: Int32Array): void;
  /**
   * dx of a stride-1 conv as the forward conv of dy with `filter` (the conv's own [...k, IC, OC]) flipped and in/out
   * swapped; params are that forward conv's (channels swapped, flipped pads).
   */
  convBackwardDataByForward(dy: Float32Array, filter: Float32Array, dx: Float32Array, params: Int32Array): void;
  /** dW of a convolution from x and dy, and with `db` the bias gradient Σ dy (same primitive). */
  convBackwardWeights(x: Float32Array, dy: Float32Array, dw: Float32Array, params: Int32Array, db: Float32Array | null): void;
  /** Row-major batched sgemm; params [batch, batchA, batchB, M, K, N, transA, transB], a batch of 1 broadcasts. */
  batchMatMul(a: Float32Array, b: Float32Array, c: Float32Array, params: Int32Array): void;
  /**
   * dst[dstOff + Σ i·dstStrides] = src[srcOff + Σ i·srcStrides] over the box `shape`; params
   * [rank, shape…, srcOff, srcStrides…, dstOff, dstStrides…] (strides may be negative).
   */
  stridedCopy(src: Float32Array, dst: Float32Array, params: Int32Array): void;
  /** dst[:] = value. */
  fill(dst: Float32Array, value: number): void;
  /**
   * out = a op b, op an id from `binaryOps` (TdcReluGrad: a where b > 0). The smaller side has out's size, size 1,
   * or broadcasts: cyclically (repeat 0, trailing-axes block) or element-wise over runs (repeat 1, leading-axes
   * block).
   */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, repeat: number): void;
  /**
   * out = a op b over the dense box `shape` with per-axis broadcasting: params [rank, shape[rank], aStrides[rank],
   * bStrides[rank]], a stride 0 along an axis that side broadcasts.
   */
  binaryStrided(op: number, a: Float32Array, b: Float32Array, out: Float32Array, params: Int32Array): void;
  /** The ids binary() takes, by the tfjs kernel each one runs (Add, Sub, Multiply, RealDiv, Maximum, Minimum, TdcReluGrad). */
  readonly binaryOps: Readonly<Record<string, number>>;
  /** The ids unary() takes, by the tfjs kernel each one runs (Relu, Step, Neg, Relu6, Exp). */
  readonly unaryOps: Readonly<Record<string, number>>;
  /** Advises a fresh array's 2 MB-aligned part onto transparent huge pages (fewer first-touch page faults). */
  adviseHuge(a: Float32Array): void;
  /** Returns the pages inside an array nothing reads again to the OS now (the buffer pool's dropped arrays). */
  adviseFree(a: Float32Array): void;
  /** out[o, i] = max_m x[o, m, i]; params [outer, mid, inner]. */
  reduceMax(x: Float32Array, out: Float32Array, params: Int32Array): void;
  /** out = op(x), op an id from `unaryOps` (Step: `alpha` for x ≤ 0). */
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  /** out[o, i] = scale · Σ_m x[o, m, i]; params [outer, mid, inner]. */
  reduceSum(x: Float32Array, out: Float32Array, params: Int32Array, scale: number): void;
  /**
   * NDHWC max pooling (2D: D = 1); params [B, D, H, W, C, od, oh, ow, fd, fh, fw, sd, sh, sw, padFront, padTop,
   * padLeft, lastWins].
   */
  maxPool(x: Float32Array, y: Float32Array, params: Int32Array): void;
  /**
   * NHWC bilinear resize, tfjs's cpu arithmetic: params [B, H, W, C, outH, outW, halfPixelCenters], source
   * coordinate ratio·i (or ratio·(i + ½) − ½) per axis.
   */
  resizeBilinear(x: Float32Array, y: Float32Array, params: Int32Array, rowRatio: number, colRatio: number): void;
  /**
   * One SGD step in place for every variable ws[k] (gradient gs[k], momentum buffer bufs[k]; bufs null exactly when
   * momentum is 0), torch.optim.SGD's rule with dampening 0 in float32 and the tf ops' order: d = g + w·weightDecay,
   * buf = buf·momentum + d, d = nesterov ? d + buf·momentum : buf, w = w − d·lr.
   */
  sgdUpdate(ws: Float32Array[], gs: Float32Array[], bufs: Float32Array[] | null, lr: number, momentum: number, weightDecay: number, nesterov: number): void;
  /** Gradient of maxPool (same params): dy routed to each window's first (lastWins: last) maximum. */
  maxPoolGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, params: Int32Array): void;
  /**
   * Training batch norm over x viewed as [M, C] (gamma, beta, mean, variance, invstd: [C]): writes the batch mean,
   * biased variance, invstd = 1/√(variance + eps) and y = (x − mean)·gamma·invstd + beta.
   */
  batchNormTrain(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, invstd: Float32Array, eps: number): void;
  /** Gradient of batchNormTrain given dy: dx ([M, C]), dgamma and dbeta ([C]). */
  batchNormGrad(dy: Float32Array, x: Float32Array, mean: Float32Array, invstd: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array): void;
  /** y = (x − mean)·scale + beta per channel (x, y [M, C]; the rest [C]), in float32 and in that order. */
  batchNormApply(x: Float32Array, mean: Float32Array, scale: Float32Array, beta: Float32Array, y: Float32Array): void;
  /**
   * Backward-weights calls since the addon loaded, by how dW was computed: oneDNN on nhwc activations, oneDNN on
   * activations reordered into its blocked layout, or one matrix product per filter tap (tdc_native.cc weightsPath).
   */
  weightsPaths(): { nhwc: number; blocked: number; taps: number };
  /** OpenMP threads the kernels use. */
  threads(): number;
  /** Sets the OpenMP thread count (≥ 1). */
  setThreads(n: number): void;
  /** e.g. "oneDNN 2.6.3". */
  version(): string;
}

let loaded: NativeAddon | null | undefined;
let why = '';

/** The package root: the nearest ancestor of this file holding native/build.mjs (works from source and dist/). */
function packageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'native', 'build.mjs'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * The addon, or null when it is disabled (TDC_NO_NATIVE=1), was not built (no oneDNN / compiler at install time) or
 * fails to load (e.g. libdnnl removed since). TDC_NATIVE_ADDON overrides the file's path. Loaded once.
 */
export function loadNative(): NativeAddon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.TDC_NO_NATIVE === '1') {
    why = 'disabled by TDC_NO_NATIVE=1';
    return loaded;
  }
  const root = packageRoot();
  const file = process.env.TDC_NATIVE_ADDON || (root ? path.join(root, 'native', 'build', 'tdc_native.node') : '');
  if (!file || !existsSync(file)) {
    why = 'not built (needs oneDNN at install time: apt-get install libdnnl-dev, then npm run build:native)';
    return loaded;
  }
  try {
    loaded = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (e) {
    why = `failed to load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
  return loaded;
}

/** Why `loadNative()` returned null ('' when it loaded). */
export function nativeUnavailableReason(): string {
  loadNative();
  return why;
}
