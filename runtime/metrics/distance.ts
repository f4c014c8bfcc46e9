/**
 * Exact distance transforms on N-D grids (row-major, last axis fastest): the Euclidean one with anisotropic
 * spacing (Felzenszwalb & Huttenlocher 2012, separable, linear time) and the chessboard / taxicab chamfer
 * transforms that scipy's `distance_transform_cdt` computes.
 */

/** Product of the dimensions. */
export function volumeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid grid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

/**
 * Squared Euclidean distance (in the units of `spacing`, e.g. mm²) from every voxel to the nearest voxel
 * where `feature` is nonzero; Infinity everywhere when there is no feature voxel. This is scipy's
 * `distance_transform_edt(~feature, sampling=spacing) ** 2`.
 *
 * Why separable: the squared distance is a sum over axes, so a 1-D lower-envelope-of-parabolas pass per axis
 * (FH's algorithm, with the parabola spacing scaled by the axis' voxel size) gives the exact result in
 * O(N·ndim), instead of comparing all pairs.
 */
export function edtSquared(feature: ArrayLike<number>, shape: readonly number[], spacing?: readonly number[]): Float64Array {
  const n = volumeSize(shape);
  if (feature.length !== n) throw new Error(`distance transform: ${feature.length} values for shape [${shape.join(', ')}]`);
  const sp = checkSpacing(shape, spacing);
  const f = new Float64Array(n);
  for (let i = 0; i < n; i++) f[i] = feature[i] !== 0 ? 0 : Infinity;
  const maxLen = Math.max(1, ...shape);
  const line = new Float64Array(maxLen);
  const out = new Float64Array(maxLen);
  const v = new Int32Array(maxLen);
  const z = new Float64Array(maxLen + 1);
  for (let axis = 0; axis < shape.length; axis++) {
    const len = shape[axis]!;
    if (len <= 1) continue;
    let stride = 1;
    for (let d = axis + 1; d < shape.length; d++) stride *= shape[d]!;
    const outer = n / (len * stride);
    const s = sp[axis]!;
    for (let o = 0; o < outer; o++) {
      for (let inner = 0; inner < stride; inner++) {
        const start = o * len * stride + inner;
        let any = false;
        for (let q = 0; q < len; q++) {
          const val = f[start + q * stride]!;
          line[q] = val;
          if (val !== Infinity) any = true;
        }
        if (!any) continue; // the whole line stays at Infinity
        envelope1d(line, len, s, out, v, z);
        for (let q = 0; q < len; q++) f[start + q * stride] = out[q]!;
      }
    }
  }
  return f;
}

/** Euclidean distance transform: sqrt of `edtSquared`. */
export function edt(feature: ArrayLike<number>, shape: readonly number[], spacing?: readonly number[]): Float64Array {
  const d = edtSquared(feature, shape, spacing);
  for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(d[i]!);
  return d;
}

/**
 * One FH pass: out[q] = min_p (s·(q − p))² + g[p] over the finite g[p]. Positions are p·s, so the
 * intersection of the parabolas rooted at p and q lies at ((g[q] + (qs)²) − (g[p] + (ps)²)) / (2s(q − p)).
 */
function envelope1d(g: Float64Array, len: number, s: number, out: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = -1;
  for (let q = 0; q < len; q++) {
    const gq = g[q]!;
    if (gq === Infinity) continue;
    const xq = q * s;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    let inter = 0;
    for (;;) {
      const p = v[k]!;
      const xp = p * s;
      inter = (gq + xq * xq - (g[p]! + xp * xp)) / (2 * (xq - xp));
      if (inter <= z[k]! && k > 0) k--;
      else break;
    }
    if (inter <= z[k]!) {
      // k === 0 and the new parabola dominates the first one everywhere
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    k++;
    v[k] = q;
    z[k] = inter;
    z[k + 1] = Infinity;
  }
  let j = 0;
  for (let q = 0; q < len; q++) {
    const xq = q * s;
    while (z[j + 1]! < xq) j++;
    const dx = xq - v[j]! * s;
    out[q] = dx * dx + g[v[j]!]!;
  }
}

/** Grid distance metrics of the chamfer transform. */
export type ChamferMetric = 'chessboard' | 'taxicab';

/**
 * Chessboard (L∞, 3^n−1 neighbours) or taxicab (L1, 2n face neighbours) distance in voxel steps to the
 * nearest nonzero `feature` voxel, by the two-pass raster chamfer scan (Rosenfeld & Pfaltz), which is exact
 * for these two metrics; Infinity when there is no feature voxel. Like scipy's `distance_transform_cdt`
 * (and hence MONAI), it ignores the voxel spacing.
 */
export function chamferDistance(feature: ArrayLike<number>, shape: readonly number[], metric: ChamferMetric): Float64Array {
  const n = volumeSize(shape);
  if (feature.length !== n) throw new Error(`distance transform: ${feature.length} values for shape [${shape.join(', ')}]`);
  const nd = shape.length;
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = feature[i] !== 0 ? 0 : Infinity;
  const strides = new Array<number>(nd);
  let st = 1;
  for (let a = nd - 1; a >= 0; a--) {
    strides[a] = st;
    st *= shape[a]!;
  }
  // Neighbour offsets split by the sign of their linear offset: earlier voxels for the forward scan.
  const offsets: number[][] = [];
  const total = 3 ** nd;
  for (let code = 0; code < total; code++) {
    const o: number[] = [];
    let c = code;
    let nonzero = 0;
    for (let a = 0; a < nd; a++) {
      o.push((c % 3) - 1);
      c = Math.floor(c / 3);
      if (o[a] !== 0) nonzero++;
    }
    if (nonzero === 0 || (metric === 'taxicab' && nonzero > 1)) continue;
    offsets.push(o);
  }
  const linear = (o: number[]) => o.reduce((acc, x, a) => acc + x * strides[a]!, 0);
  const back = offsets.filter((o) => linear(o) < 0);
  const fwd = offsets.filter((o) => linear(o) > 0);
  const coord = new Int32Array(nd);
  const scan = (order: number[][], start: number, step: number) => {
    const lin = order.map(linear);
    for (let a = 0; a < nd; a++) coord[a] = step > 0 ? 0 : shape[a]! - 1;
    for (let i = start, cnt = 0; cnt < n; cnt++, i += step) {
      if (d[i] !== 0) {
        let best = d[i]!;
        // Only voxels on the grid's faces need the per-neighbour bounds check.
        let onFace = false;
        for (let a = 0; a < nd; a++) if (coord[a] === 0 || coord[a] === shape[a]! - 1) onFace = true;
        for (let m = 0; m < order.length; m++) {
          let inside = true;
          if (onFace) {
            const o = order[m]!;
            for (let a = 0; a < nd; a++) {
              const c = coord[a]! + o[a]!;
              if (c < 0 || c >= shape[a]!) {
                inside = false;
                break;
              }
            }
          }
          if (inside) {
            const cand = d[i + lin[m]!]! + 1;
            if (cand < best) best = cand;
          }
        }
        d[i] = best;
      }
      // odometer increment (last axis fastest), in the scan direction
      for (let a = nd - 1; a >= 0; a--) {
        coord[a]! += step;
        if (coord[a]! >= 0 && coord[a]! < shape[a]!) break;
        coord[a] = step > 0 ? 0 : shape[a]! - 1;
      }
    }
  };
  if (n > 0) {
    scan(back, 0, 1);
    scan(fwd, n - 1, -1);
  }
  return d;
}

export function checkSpacing(shape: readonly number[], spacing?: readonly number[]): readonly number[] {
  if (spacing === undefined) return shape.map(() => 1);
  if (spacing.length !== shape.length) {
    throw new Error(`voxel spacing has ${spacing.length} values for a ${shape.length}-D grid`);
  }
  if (spacing.some((s) => !(s > 0) || !Number.isFinite(s))) {
    throw new Error(`voxel spacing must be positive, got [${spacing.join(', ')}]`);
  }
  return spacing;
}
