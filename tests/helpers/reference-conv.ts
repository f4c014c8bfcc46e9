/**
 * Plain-JS float64 reference convolution (N spatial axes, channels-last, stride 1, dilation, TensorFlow
 * 'same'/'valid' padding) and central finite differences, independent of tfjs, for checking runtime ops.
 */

/** A dense channels-last array in float64: shape [B, ...spatial, C]. */
export interface NdArray {
  shape: number[];
  data: Float64Array;
}

export function ndArray(shape: number[], data?: ArrayLike<number>): NdArray {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(size);
  if (data) {
    if (data.length !== size) throw new Error(`ndArray: ${data.length} values for shape [${shape.join(', ')}]`);
    for (let i = 0; i < size; i++) out[i] = data[i];
  }
  return { shape: [...shape], data: out };
}

/** Row-major strides of a shape. */
export function stridesOf(shape: number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/**
 * y = conv(x, w) with x [B, ...S, Cin], w [...K, Cin, Cout], per-axis dilation `rates`, stride 1.
 * 'same': total pad (k−1)·r per axis, floor before and ceil after (TensorFlow's rule); 'valid': no pad.
 */
export function referenceConv(x: NdArray, w: NdArray, rates: number[], padding: 'same' | 'valid'): NdArray {
  const nsp = rates.length;
  const B = x.shape[0];
  const S = x.shape.slice(1, 1 + nsp);
  const cin = x.shape[nsp + 1];
  const K = w.shape.slice(0, nsp);
  const cout = w.shape[nsp + 1];
  if (w.shape[nsp] !== cin) throw new Error('referenceConv: channel mismatch');
  const padBefore = K.map((k, a) => (padding === 'same' ? Math.floor(((k - 1) * rates[a]) / 2) : 0));
  const O = S.map((s, a) => (padding === 'same' ? s : s - (K[a] - 1) * rates[a]));
  const y = ndArray([B, ...O, cout]);
  const xs = stridesOf(x.shape);
  const ws = stridesOf(w.shape);
  const ys = stridesOf(y.shape);
  const oIdx = new Array<number>(nsp).fill(0);
  const kIdx = new Array<number>(nsp).fill(0);
  const outCount = O.reduce((a, b) => a * b, 1);
  const tapCount = K.reduce((a, b) => a * b, 1);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < outCount; o++) {
      let rem = o;
      for (let a = nsp - 1; a >= 0; a--) {
        oIdx[a] = rem % O[a];
        rem = Math.floor(rem / O[a]);
      }
      let yBase = b * ys[0];
      for (let a = 0; a < nsp; a++) yBase += oIdx[a] * ys[a + 1];
      for (let t = 0; t < tapCount; t++) {
        let r2 = t;
        for (let a = nsp - 1; a >= 0; a--) {
          kIdx[a] = r2 % K[a];
          r2 = Math.floor(r2 / K[a]);
        }
        let inside = true;
        let xBase = b * xs[0];
        let wBase = 0;
        for (let a = 0; a < nsp; a++) {
          const p = oIdx[a] + kIdx[a] * rates[a] - padBefore[a];
          if (p < 0 || p >= S[a]) {
            inside = false;
            break;
          }
          xBase += p * xs[a + 1];
          wBase += kIdx[a] * ws[a];
        }
        if (!inside) continue;
        for (let ci = 0; ci < cin; ci++) {
          const xv = x.data[xBase + ci];
          const wRow = wBase + ci * ws[nsp];
          for (let co = 0; co < cout; co++) y.data[yBase + co] += xv * w.data[wRow + co];
        }
      }
    }
  }
  return y;
}

/** Σ a ⊙ b in float64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`dot: lengths ${a.length} and ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Central finite differences of a scalar function of `at`, in float64: (f(x+h) − f(x−h)) / 2h per element. */
export function centralDiff(f: (v: Float64Array) => number, at: ArrayLike<number>, h = 1e-4): Float64Array {
  const v = Float64Array.from(at);
  const g = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const keep = v[i];
    v[i] = keep + h;
    const fp = f(v);
    v[i] = keep - h;
    const fm = f(v);
    v[i] = keep;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** max |a − b| / max(max |b|, tiny): one relative error for a whole gradient. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relError: lengths ${a.length} and ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}

/** Deterministic values in [−1, 1) (mulberry32), so test inputs do not depend on tfjs's RNG. */
export function seededValues(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}
