/**
 * Plain typed-array geometry for samples: 2D resizing (bilinear for images, nearest for masks), crops with
 * zero padding, and presence vectors. Kept out of tfjs on purpose: readers run before any backend is chosen,
 * and the loader's prefetch should not allocate tensors off the training step.
 */

/**
 * Bilinear resize of a channels-last [h, w, c] image to [oh, ow, c] with half-pixel centres (the OpenCV/PIL
 * convention: output pixel i samples input position (i + 0.5)·h/oh − 0.5, clamped at the borders), so that
 * shrinking by an integer factor averages symmetrically instead of shifting the image by half a pixel.
 */
export function resizeBilinear(
  src: ArrayLike<number>,
  h: number,
  w: number,
  c: number,
  oh: number,
  ow: number,
): Float32Array {
  const out = new Float32Array(oh * ow * c);
  if (oh === h && ow === w) {
    for (let i = 0; i < out.length; i++) out[i] = src[i]!;
    return out;
  }
  const sy = h / oh;
  const sx = w / ow;
  for (let y = 0; y < oh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = fy - y0;
    for (let x = 0; x < ow; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = fx - x0;
      const o = (y * ow + x) * c;
      const a = (y0 * w + x0) * c;
      const b = (y0 * w + x1) * c;
      const d = (y1 * w + x0) * c;
      const e = (y1 * w + x1) * c;
      for (let k = 0; k < c; k++) {
        const top = src[a + k]! * (1 - wx) + src[b + k]! * wx;
        const bottom = src[d + k]! * (1 - wx) + src[e + k]! * wx;
        out[o + k] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return out;
}

/** Nearest-neighbour resize of an [h, w] label map (labels must never be blended). Same centres as above. */
export function resizeNearest(src: Int32Array, h: number, w: number, oh: number, ow: number): Int32Array {
  if (oh === h && ow === w) return src.slice();
  const out = new Int32Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    const iy = Math.min(Math.floor((y + 0.5) * (h / oh)), h - 1);
    for (let x = 0; x < ow; x++) {
      const ix = Math.min(Math.floor((x + 0.5) * (w / ow)), w - 1);
      out[y * ow + x] = src[iy * w + ix]!;
    }
  }
  return out;
}

/**
 * Copy the box starting at `start` (per spatial axis, may be negative or run past the end) of size `size` out of
 * a channels-last array with spatial shape `dims` and `c` channels; outside voxels are 0 (background), which is
 * how a crop larger than a small volume is padded.
 */
export function cropBox<T extends Float32Array | Int32Array>(
  src: T,
  dims: readonly number[],
  c: number,
  start: readonly number[],
  size: readonly number[],
): T {
  const n = size.reduce((a, b) => a * b, 1);
  const out = (src instanceof Float32Array ? new Float32Array(n * c) : new Int32Array(n * c)) as T;
  const rank = dims.length;
  // Row copies along the last spatial axis: the inner loop is a contiguous run of size[rank-1]·c values.
  const last = rank - 1;
  const outer = size.slice(0, last).reduce((a, b) => a * b, 1);
  const idx = new Array<number>(last).fill(0);
  for (let r = 0; r < outer; r++) {
    let inside = true;
    let srcRow = 0;
    for (let a = 0; a < last; a++) {
      const p = start[a]! + idx[a]!;
      if (p < 0 || p >= dims[a]!) inside = false;
      srcRow = srcRow * dims[a]! + p;
    }
    if (inside) {
      const o = r * size[last]! * c;
      for (let x = 0; x < size[last]!; x++) {
        const px = start[last]! + x;
        if (px < 0 || px >= dims[last]!) continue;
        const s = (srcRow * dims[last]! + px) * c;
        for (let k = 0; k < c; k++) out[o + x * c + k] = src[s + k]!;
      }
    }
    for (let a = last - 1; a >= 0; a--) {
      idx[a]!++;
      if (idx[a]! < size[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** Presence vector of a label map: 1 for every class id in 0..k-1 that occurs. */
export function presence(mask: Int32Array, k: number): Float32Array {
  const p = new Float32Array(k);
  let found = 0;
  for (let i = 0; i < mask.length && found < k; i++) {
    const v = mask[i]!;
    if (v >= 0 && v < k && p[v] === 0) {
      p[v] = 1;
      found++;
    }
  }
  return p;
}

/** Pixel/voxel count per class id in 0..k-1. */
export function classCounts(mask: Int32Array, k: number): Float64Array {
  const counts = new Float64Array(k);
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i]!;
    if (v >= 0 && v < k) counts[v]!++;
  }
  return counts;
}
