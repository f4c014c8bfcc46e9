// Backend selection (forced cpu / wasm, unavailable and unknown backends) and the training kernels tdc registers,
// each checked against the cpu backend's stock kernels (or, for the cpu's own replaced kernel, against wasm's
// stock one and the float64 interpolation matrices).
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { formatBackendInfo, nativeAvailable, registerTrainingKernels, selectBackend } from '../runtime/backend/index.js';
import { wasmPathStats } from '../runtime/backend/kernels.js';
import { heapCopyModuleBytes, heapCopyStats } from '../runtime/backend/wasm-heap-copy.js';
import { WASM_MAX_THREADS } from '../runtime/backend/wasm-threads.js';
import { interpolationMatrix } from '../runtime/ops/index.js';
import { relError, seededValues } from './helpers/reference-conv.js';

const savedEnv = process.env.TDC_BACKEND;
// The cpu backend's shipped conv gradients, captured before tdc replaces them: the independent reference.
const STOCK_CPU = ['Conv2DBackpropFilter'].map((n) => ({ ...tf.getKernel(n, 'cpu')! }));

/** Runs `f` on cpu with its shipped conv-gradient kernels, then puts tdc's back. */
async function onStockCpu(f: () => tf.Tensor[]) {
  const ours = STOCK_CPU.map((k) => ({ ...tf.getKernel(k.kernelName, 'cpu')! }));
  const swapIn = (ks: tf.KernelConfig[]) =>
    ks.forEach((k) => {
      tf.unregisterKernel(k.kernelName, 'cpu');
      tf.registerKernel(k);
    });
  swapIn(STOCK_CPU);
  try {
    return await on('cpu', f);
  } finally {
    swapIn(ours);
  }
}
afterAll(() => {
  if (savedEnv === undefined) delete process.env.TDC_BACKEND;
  else process.env.TDC_BACKEND = savedEnv;
});

function values(n: number, seed: number): Float32Array {
  return Float32Array.from(seededValues(n, seed));
}

/** Runs `f` on the named backend and returns its outputs as plain arrays. */
async function on(backend: string, f: () => tf.Tensor[]): Promise<{ shape: number[]; data: Float32Array }[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const res = outs.map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
  tf.dispose(outs);
  return res;
}

describe('selectBackend', () => {
  it('forced cpu works and installs the cpu fixes', async () => {
    const info = await selectBackend({ prefer: 'cpu' });
    expect(info).toEqual({
      name: 'cpu',
      threads: 1,
      simd: false,
      kernelsRegistered: ['Conv2DBackpropFilter', 'ResizeBilinearGrad'],
    });
    expect(tf.getBackend()).toBe('cpu');
    expect(formatBackendInfo(info)).toBe('backend: cpu (1 thread)');
  });

  it('TDC_BACKEND forces a backend when no preference is given', async () => {
    process.env.TDC_BACKEND = 'cpu';
    expect((await selectBackend()).name).toBe('cpu');
    delete process.env.TDC_BACKEND;
  });

  it('a forced unavailable backend is a one-line error naming it and what is available', async () => {
    const err = await selectBackend({ prefer: 'tensorflow' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    // 'native' is listed only where its addon was built (oneDNN present at install).
    const available = nativeAvailable() ? 'native, wasm, cpu' : 'wasm, cpu';
    expect(err!.message).toMatch(new RegExp(`^backend 'tensorflow' is not available here .*; available: ${available}$`));
    expect(err!.message).not.toContain('\n');
  });

  it('an unknown backend name is a one-line error listing the known ones', async () => {
    await expect(selectBackend({ prefer: 'webgpu' })).rejects.toThrow(/^unknown backend 'webgpu'.*tensorflow, native, wasm, cpu$/);
  });

  it('without a preference, picks native where its addon was built, else wasm', async () => {
    delete process.env.TDC_BACKEND;
    const info = await selectBackend();
    expect(info.name).toBe(nativeAvailable() ? 'native' : 'wasm');
  });

  it('wasm (forced, or the default without the native addon): SIMD and the training kernels it lacks', async () => {
    const info = await selectBackend({ prefer: 'wasm' });
    expect(info.name).toBe('wasm');
    expect(info.simd).toBe(true);
    // By default as many threads as the machine has (the threaded build starts at most WASM_MAX_THREADS).
    expect(info.threads).toBe(Math.min(availableParallelism(), WASM_MAX_THREADS));
    expect(info.kernelsRegistered).toEqual([
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'TdcAtrousBackpropFilter',
      'MaxPoolGrad',
      'Sum',
      'Slice',
      'PadV2',
      'Concat',
      'Identity',
      'TdcFlipSwapFilter',
      'UnsortedSegmentSum',
      'Conv3D',
      'Conv3DBackpropInputV2',
      'Conv3DBackpropFilterV2',
    ]);
    expect(formatBackendInfo(info)).toBe(`backend: wasm (SIMD, ${info.threads} thread${info.threads === 1 ? '' : 's'})`);
    expect(tf.getBackend()).toBe('wasm');
    expect(registerTrainingKernels('tensorflow')).toEqual([]);
  });
});

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
const convCases: Array<{ x: [number, number, number, number]; k: [number, number, number, number]; stride: number | [number, number]; pad: Pad }> = [
  { x: [2, 9, 11, 3], k: [3, 3, 3, 4], stride: 1, pad: 'same' },
  { x: [2, 9, 11, 3], k: [3, 3, 3, 4], stride: 1, pad: 'valid' },
  { x: [1, 9, 12, 2], k: [3, 3, 2, 3], stride: 2, pad: 'same' },
  { x: [1, 10, 13, 2], k: [3, 3, 2, 3], stride: 2, pad: 'valid' },
  { x: [1, 11, 8, 2], k: [4, 2, 2, 3], stride: [2, 3], pad: 'same' },
  { x: [1, 12, 9, 2], k: [5, 3, 2, 2], stride: [3, 2], pad: 'valid' },
  { x: [2, 7, 10, 5], k: [1, 1, 5, 3], stride: 1, pad: 'same' },
  { x: [1, 8, 10, 4], k: [1, 1, 4, 2], stride: 2, pad: 'valid' },
  { x: [1, 8, 10, 2], k: [3, 3, 2, 2], stride: 1, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { x: [1, 9, 10, 2], k: [3, 3, 2, 2], stride: 2, pad: [[0, 0], [1, 0], [2, 2], [0, 0]] },
  { x: [1, 6, 7, 2], k: [7, 7, 2, 2], stride: 1, pad: 'same' },
];

describe("tdc's conv2d gradient kernels (wasm and cpu) match the cpu backend's shipped ones (1e-4 relative)", () => {
  for (const c of convCases) {
    it(`conv2d grads x=[${c.x}] k=[${c.k}] stride=${JSON.stringify(c.stride)} pad=${JSON.stringify(c.pad)}`, async () => {
      await selectBackend({ prefer: 'wasm' });
      const xv = values(c.x.reduce((a, b) => a * b, 1), 1);
      const wv = values(c.k.reduce((a, b) => a * b, 1), 2);
      const run = () => {
        const x = tf.tensor4d(xv, c.x);
        const w = tf.tensor4d(wv, c.k);
        const y = tf.conv2d(x, w, c.stride, c.pad);
        const R = tf.tensor(values(y.size, 3), y.shape);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), R)))([x, w]);
        return [y, gx, gw];
      };
      const flips = wasmPathStats.flipSwapInHeap;
      const wasm = await on('wasm', run);
      // dx as a forward conv with the flipped filter, flipped in place on the wasm heap.
      expect(wasmPathStats.flipSwapInHeap - flips).toBe(1);
      await selectBackend({ prefer: 'cpu' });
      const cpuOurs = await on('cpu', run);
      const stock = await onStockCpu(run);
      for (let i = 0; i < 3; i++) {
        expect(wasm[i].shape).toEqual(stock[i].shape);
        expect(cpuOurs[i].shape).toEqual(stock[i].shape);
        expect(relError(wasm[i].data, stock[i].data)).toBeLessThan(1e-4);
        expect(relError(cpuOurs[i].data, stock[i].data)).toBeLessThan(1e-4);
      }
    });
  }

  it('UnsortedSegmentSum (gather gradient) incl. repeated and out-of-range ids', async () => {
    await selectBackend({ prefer: 'wasm' });
    const xv = values(5 * 3 * 2, 4);
    const run = () => {
      const x = tf.tensor3d(xv, [5, 3, 2]);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, [4, 0, 0, 2, 4, 4]), tf.tensor(values(6 * 3 * 2, 5), [6, 3, 2]))))(x);
      const s = tf.unsortedSegmentSum(tf.tensor2d(values(4 * 3, 6), [4, 3]), tf.tensor1d([2, 0, 2, 7], 'int32'), 3);
      return [g, s];
    };
    const wasm = await on('wasm', run);
    const cpu = await on('cpu', run);
    for (let i = 0; i < 2; i++) {
      expect(wasm[i].shape).toEqual(cpu[i].shape);
      expect(relError(wasm[i].data, cpu[i].data)).toBeLessThan(1e-4);
    }
  });
});

type V5 = [number, number, number, number, number];
const conv3dCases: Array<{ x: V5; k: V5; stride: [number, number, number]; pad: 'same' | 'valid'; dil?: [number, number, number] }> = [
  { x: [2, 5, 7, 9, 3], k: [3, 3, 3, 3, 4], stride: [1, 1, 1], pad: 'same' },
  { x: [1, 6, 7, 9, 2], k: [3, 3, 3, 2, 3], stride: [1, 1, 1], pad: 'valid' },
  { x: [1, 7, 9, 8, 2], k: [3, 3, 3, 2, 2], stride: [2, 2, 2], pad: 'same' },
  { x: [1, 8, 9, 11, 2], k: [2, 3, 3, 2, 2], stride: [2, 2, 3], pad: 'valid' },
  { x: [1, 4, 10, 12, 2], k: [1, 3, 3, 2, 3], stride: [1, 2, 2], pad: 'same' },
  { x: [2, 3, 5, 6, 4], k: [1, 1, 1, 4, 2], stride: [1, 1, 1], pad: 'same' },
  { x: [1, 5, 6, 7, 2], k: [4, 2, 3, 2, 2], stride: [1, 1, 1], pad: 'same' },
];

describe('wasm Conv3D and its gradients (tdc kernels) match the cpu backend (1e-4 relative)', () => {
  for (const c of conv3dCases) {
    it(`conv3d x=[${c.x}] k=[${c.k}] stride=[${c.stride}] ${c.pad}: value and both gradients`, async () => {
      await selectBackend({ prefer: 'wasm' });
      const xv = values(c.x.reduce((a, b) => a * b, 1), 15);
      const wv = values(c.k.reduce((a, b) => a * b, 1), 16);
      const run = () => {
        const x = tf.tensor5d(xv, c.x);
        const w = tf.tensor5d(wv, c.k);
        const y = tf.conv3d(x, w, c.stride, c.pad);
        const R = tf.tensor(values(y.size, 17), y.shape);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, c.stride, c.pad), R)))([x, w]);
        return [y, gx, gw];
      };
      const wasm = await on('wasm', run);
      const cpu = await on('cpu', run);
      for (let i = 0; i < 3; i++) {
        expect(wasm[i].shape).toEqual(cpu[i].shape);
        expect(relError(wasm[i].data, cpu[i].data)).toBeLessThan(1e-4);
      }
    });
  }

  for (const dil of [[1, 2, 2], [2, 3, 1]] as Array<[number, number, number]>) {
    it(`dilated conv3d forward, dilations=[${dil}], 'same' and 'valid'`, async () => {
      await selectBackend({ prefer: 'wasm' });
      const xs: V5 = [1, 7, 10, 9, 2];
      const ks: V5 = [3, 3, 3, 2, 3];
      const xv = values(xs.reduce((a, b) => a * b, 1), 18);
      const wv = values(ks.reduce((a, b) => a * b, 1), 19);
      const run = () => (['same', 'valid'] as const).map((p) => tf.conv3d(tf.tensor5d(xv, xs), tf.tensor5d(wv, ks), 1, p, 'NDHWC', dil));
      const wasm = await on('wasm', run);
      const cpu = await on('cpu', run);
      for (let i = 0; i < 2; i++) {
        expect(wasm[i].shape).toEqual(cpu[i].shape);
        expect(relError(wasm[i].data, cpu[i].data)).toBeLessThan(1e-4);
      }
    });
  }

  it('frees every intermediate buffer on wasm (the engine cannot see them, the backend can)', async () => {
    await selectBackend({ prefer: 'wasm' });
    const x = tf.tensor5d(values(2 * 5 * 6 * 7 * 2, 20), [2, 5, 6, 7, 2]);
    const w = tf.tensor5d(values(3 * 3 * 3 * 2 * 2, 21), [3, 3, 3, 2, 2]);
    const buffers = () => (tf.backend() as unknown as { dataIdMap: { numDataIds(): number } }).dataIdMap.numDataIds();
    const before = buffers();
    tf.tidy(() => {
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, [2, 2, 2], 'same')))([x, w]);
      const x4 = tf.reshape(x, [10, 6, 7, 2]);
      const w4 = tf.reshape(tf.slice(w, [0, 0, 0, 0, 0], [1, 3, 3, 2, 2]), [3, 3, 2, 2]);
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))([x4, w4]);
      tf.grad((a: tf.Tensor) => tf.sum(tf.gather(a, [1, 1, 0], 1)))(x4);
    });
    expect(buffers()).toBe(before);
    tf.dispose([x, w]);
  });
});

describe('cpu ResizeBilinearGrad replacement', () => {
  /**
   * The exact gradient of cpu's own forward resize: the forward is linear, so push the H·W unit images through it
   * (as one batch) to get its matrix M, and the gradient of sum(resize(x) ⊙ dy) is Mᵀ·dy, summed in float64.
   */
  function transposedForward(H: number, W: number, C: number, oh: number, ow: number, align: boolean, half: boolean, dy: Float32Array, B: number) {
    const eye = tf.tidy(() => tf.reshape(tf.eye(H * W), [H * W, H, W, 1]) as tf.Tensor4D);
    const m = tf.image.resizeBilinear(eye, [oh, ow], align, half);
    const mv = m.dataSync(); // [H·W, oh, ow]
    tf.dispose([eye, m]);
    const ref = new Float64Array(B * H * W * C);
    for (let b = 0; b < B; b++)
      for (let p = 0; p < H * W; p++)
        for (let q = 0; q < oh * ow; q++) {
          const wgt = mv[p * oh * ow + q];
          if (wgt === 0) continue;
          for (let c = 0; c < C; c++) ref[(b * H * W + p) * C + c] += wgt * dy[(b * oh * ow + q) * C + c];
        }
    return ref;
  }

  for (const align of [false, true]) {
    for (const half of [false, true]) {
      if (align && half) continue; // tfjs rejects alignCorners together with halfPixelCenters
      it(`8×10 → 32×40 and 9×6 → 4×13, alignCorners=${align}, halfPixelCenters=${half}: transpose of the cpu forward`, async () => {
        await selectBackend({ prefer: 'cpu' });
        const shapes = [
          [2, 8, 10, 3, 32, 40],
          [1, 9, 6, 2, 4, 13],
        ];
        const run = () =>
          shapes.map(([b, h, w, ch, oh, ow]) => {
            const x = tf.tensor4d(values(b * h * w * ch, 7), [b, h, w, ch]);
            const R = tf.tensor4d(values(b * oh * ow * ch, 8), [b, oh, ow, ch]);
            return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(a as tf.Tensor4D, [oh, ow], align, half), R)))(x);
          });
        const cpu = await on('cpu', run);
        shapes.forEach(([b, h, w, ch, oh, ow], i) => {
          expect(cpu[i].shape).toEqual([b, h, w, ch]);
          const ref = transposedForward(h, w, ch, oh, ow, align, half, values(b * oh * ow * ch, 8), b);
          expect(relError(cpu[i].data, ref)).toBeLessThan(1e-5);
        });
        if (!half) {
          // wasm's stock kernel agrees where it is right (it ignores halfPixelCenters, like cpu's stock one).
          await selectBackend({ prefer: 'wasm' });
          const wasm = await on('wasm', run);
          for (let i = 0; i < 2; i++) expect(relError(cpu[i].data, wasm[i].data)).toBeLessThan(1e-4);
          await selectBackend({ prefer: 'cpu' });
        }
      });
    }
  }

  it('equals Aₕᵀ · dy · A_w from the float64 interpolation matrices', async () => {
    await selectBackend({ prefer: 'cpu' });
    const [H, W, oh, ow] = [8, 10, 32, 40];
    const dy = seededValues(oh * ow, 9);
    const g = tf.tidy(() =>
      tf.grad((a: tf.Tensor) =>
        tf.sum(tf.mul(tf.image.resizeBilinear(a as tf.Tensor4D, [oh, ow]), tf.tensor4d(Float32Array.from(dy), [1, oh, ow, 1]))),
      )(tf.zeros([1, H, W, 1])),
    );
    const ah = interpolationMatrix(H, oh, false);
    const aw = interpolationMatrix(W, ow, false);
    const ref = new Float64Array(H * W);
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) ref[h * W + w] += ah[i * H + h] * aw[j * W + w] * dy[i * ow + j];
    expect(relError(g.dataSync(), ref)).toBeLessThan(1e-5);
  });
});

describe('runtime ops give the same values and gradients on wasm as on cpu', () => {
  it('atrousConv2d/3d, resizeBilinear2d, resizeTrilinear3d', async () => {
    const { atrousConv2d, atrousConv3d, resizeBilinear2d, resizeTrilinear3d } = await import('../runtime/ops/index.js');
    const run = () => {
      const x2 = tf.tensor4d(values(2 * 12 * 14 * 3, 11), [2, 12, 14, 3]);
      const w2 = tf.tensor4d(values(3 * 3 * 3 * 4, 12), [3, 3, 3, 4]);
      const x3 = tf.tensor5d(values(1 * 4 * 9 * 10 * 2, 13), [1, 4, 9, 10, 2]);
      const w3 = tf.tensor5d(values(3 * 3 * 3 * 2 * 2, 14), [3, 3, 3, 2, 2]);
      const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
        const y2 = resizeBilinear2d(atrousConv2d(a as tf.Tensor4D, b as tf.Tensor4D, [2, 3], 'same'), [24, 20]);
        const y3 = resizeTrilinear3d(atrousConv3d(c as tf.Tensor5D, d as tf.Tensor5D, [1, 2, 2], 'same'), [8, 18, 15]);
        return tf.add(tf.sum(tf.mul(y2, tf.sin(y2))), tf.sum(tf.mul(y3, tf.cos(y3))));
      };
      const loss = f(x2, w2, x3, w3);
      return [loss, ...tf.grads(f)([x2, w2, x3, w3])];
    };
    await selectBackend({ prefer: 'wasm' });
    const wasm = await on('wasm', run);
    const cpu = await onStockCpu(run);
    for (let i = 0; i < cpu.length; i++) {
      expect(wasm[i].shape).toEqual(cpu[i].shape);
      expect(relError(wasm[i].data, cpu[i].data)).toBeLessThan(1e-4);
    }
  });
});

describe('wasm filter gradient as one matrix product per tap (runtime/backend/kernels.ts), both layouts, equals cpu (1e-5 relative)', () => {
  /** Runs f on wasm and returns its outputs and how many times each layout of filterGradByTaps ran. */
  async function onWasmCounting(f: () => tf.Tensor[]) {
    await selectBackend({ prefer: 'wasm' });
    const before = { ...wasmPathStats };
    const out = await on('wasm', f);
    return { out, shifted: wasmPathStats.filterGradShifted - before.filterGradShifted, regions: wasmPathStats.filterGradRegions - before.filterGradRegions };
  }

  // From 128 input channels the wasm Conv2DBackpropFilter (stride 1) takes the per-tap products.
  const cases: Array<{ x: [number, number, number, number]; k: [number, number, number, number]; pad: Pad; layout: 'shifted' | 'regions' }> = [
    { x: [2, 24, 26, 128], k: [3, 3, 128, 3], pad: 'same', layout: 'shifted' },
    { x: [1, 6, 7, 128], k: [3, 3, 128, 2], pad: 'valid', layout: 'regions' },
    { x: [1, 5, 6, 128], k: [3, 2, 128, 2], pad: [[0, 0], [2, 1], [0, 3], [0, 0]], layout: 'regions' },
  ];
  for (const c of cases) {
    it(`Conv2DBackpropFilter x=[${c.x}] k=[${c.k}] pad=${JSON.stringify(c.pad)}: ${c.layout}`, async () => {
      const run = () => {
        const x = tf.tensor4d(values(c.x.reduce((a, b) => a * b, 1), 31), c.x);
        const y = tf.conv2d(x, tf.zeros(c.k) as tf.Tensor4D, 1, c.pad);
        const dy = tf.tensor(values(y.size, 32), y.shape);
        return [tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: c.pad, dataFormat: 'NHWC', filterShape: c.k }) as tf.Tensor];
      };
      const { out, shifted, regions } = await onWasmCounting(run);
      expect({ shifted, regions }).toEqual(c.layout === 'shifted' ? { shifted: 1, regions: 0 } : { shifted: 0, regions: 1 });
      await selectBackend({ prefer: 'cpu' });
      const stock = await onStockCpu(run);
      expect(out[0]!.shape).toEqual(c.k);
      expect(relError(out[0]!.data, stock[0]!.data)).toBeLessThan(1e-5);
    });
  }

  // The atrous conv's filter gradient (TdcAtrousBackpropFilter on wasm, the transposed-conv formulation on cpu,
  // itself checked against finite differences in tests/ops-atrous.test.ts), with its value and input gradient.
  const atrousCases: Array<{ x: [number, number, number, number]; k: [number, number, number, number]; rates: [number, number]; padding: 'same' | 'valid'; layout: 'shifted' | 'regions' }> = [
    { x: [1, 20, 20, 2], k: [3, 3, 2, 3], rates: [15, 15], padding: 'same', layout: 'regions' },
    { x: [2, 40, 48, 2], k: [3, 3, 2, 3], rates: [2, 2], padding: 'same', layout: 'shifted' },
    { x: [1, 11, 16, 2], k: [3, 3, 2, 2], rates: [2, 3], padding: 'valid', layout: 'regions' },
  ];
  for (const c of atrousCases) {
    it(`atrousConv2d x=[${c.x}] k=[${c.k}] rates=[${c.rates}] ${c.padding}: value and gradients, dW ${c.layout}`, async () => {
      const { atrousConv2d } = await import('../runtime/ops/index.js');
      const run = () => {
        const x = tf.tensor4d(values(c.x.reduce((a, b) => a * b, 1), 33), c.x);
        const w = tf.tensor4d(values(c.k.reduce((a, b) => a * b, 1), 34), c.k);
        const f = (a: tf.Tensor, b: tf.Tensor) => atrousConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.rates, c.padding);
        const y = f(x, w);
        const R = tf.tensor(values(y.size, 35), y.shape);
        return [y, ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), R)))([x, w])];
      };
      const { out, shifted, regions } = await onWasmCounting(run);
      expect({ shifted, regions }).toEqual(c.layout === 'shifted' ? { shifted: 1, regions: 0 } : { shifted: 0, regions: 1 });
      await selectBackend({ prefer: 'cpu' });
      const cpu = await on('cpu', run);
      for (let i = 0; i < 3; i++) {
        expect(out[i]!.shape).toEqual(cpu[i]!.shape);
        expect(relError(out[i]!.data, cpu[i]!.data)).toBeLessThan(1e-5);
      }
    });
  }
});

describe('wasm MaxPoolGrad (JS over the wasm heap, runtime/backend/kernels.ts) equals cpu (1e-6 relative)', () => {
  const cases: Array<{ x: [number, number, number, number]; size: number; stride: number; pad: 'valid' | 'same' }> = [
    { x: [2, 8, 10, 3], size: 2, stride: 2, pad: 'valid' },
    { x: [1, 9, 7, 2], size: 2, stride: 2, pad: 'same' },
    { x: [1, 9, 11, 2], size: 3, stride: 2, pad: 'same' },
    { x: [2, 6, 6, 4], size: 3, stride: 1, pad: 'valid' },
  ];
  for (const c of cases) {
    it(`x=[${c.x}] ${c.size}×${c.size} / ${c.stride} ${c.pad}, after a relu (windows of tied zeros)`, async () => {
      const run = () => {
        const x = tf.relu(tf.tensor4d(values(c.x.reduce((a, b) => a * b, 1), 41), c.x));
        const f = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, c.size, c.stride, c.pad);
        const R = tf.tensor(values(f(x).size, 42), f(x).shape);
        return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), R)))(x)];
      };
      await selectBackend({ prefer: 'wasm' });
      const before = wasmPathStats.maxPoolGrad;
      const wasm = await on('wasm', run);
      expect(wasmPathStats.maxPoolGrad - before).toBe(1);
      await selectBackend({ prefer: 'cpu' });
      const cpu = await on('cpu', run);
      expect(wasm[0]!.shape).toEqual(c.x);
      // Where windows overlap, a dx sums several dy in another order than cpu's: float32 rounding apart.
      expect(relError(wasm[0]!.data, cpu[0]!.data)).toBeLessThan(1e-6);
    });
  }
});

describe('wasm Sum over every axis but the last (JS over the wasm heap) equals cpu; other sums keep the stock kernel', () => {
  it('bias-gradient sums (rank 4 and 2, keepDims) take the JS pass, others the stock kernel, all equal cpu (1e-5 relative)', async () => {
    const run = () => {
      const x4 = tf.tensor4d(values(2 * 9 * 11 * 5, 51), [2, 9, 11, 5]);
      const x2 = tf.tensor2d(values(37 * 3, 52), [37, 3]);
      return [tf.sum(x4, [0, 1, 2]), tf.sum(x4, [2, 0, 1], true), tf.sum(x2, 0), tf.sum(x4, [1, 2]), tf.sum(x4), tf.sum(tf.cast(x4, 'int32'), [0, 1, 2])];
    };
    await selectBackend({ prefer: 'wasm' });
    const before = wasmPathStats.sum;
    const wasm = await on('wasm', run);
    expect(wasmPathStats.sum - before).toBe(3);
    await selectBackend({ prefer: 'cpu' });
    const cpu = await on('cpu', run);
    for (let i = 0; i < cpu.length; i++) {
      expect(wasm[i]!.shape).toEqual(cpu[i]!.shape);
      expect(relError(wasm[i]!.data, cpu[i]!.data)).toBeLessThan(1e-5);
    }
  });
});

describe('wasm Slice, PadV2, Concat and Identity as copies inside wasm memory (runtime/backend/wasm-heap-copy.ts) equal cpu bit for bit', () => {
  it('the copy module is valid wasm, for the shared (threaded) and the plain memory', () => {
    expect(WebAssembly.validate(heapCopyModuleBytes(true))).toBe(true);
    expect(WebAssembly.validate(heapCopyModuleBytes(false))).toBe(true);
  });

  it('slices of rank 1–5 (float32, int32, bool, empty), pads (zero, −0 as +0, other constants, int32), concats and a clone take the copy path', async () => {
    const t = (shape: number[], seed: number) => tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape);
    const run = () => {
      const x4 = t([2, 9, 11, 5], 61);
      const x5 = t([2, 3, 4, 5, 6], 62);
      return [
        tf.slice(t([37], 63), 5, 20),
        tf.slice(t([7, 13], 64), [2, 3], [4, -1]),
        tf.slice(t([4, 5, 6], 65), [1, 0, 0], [2, 5, 6]),
        tf.slice(x4, [1, 2, 3, 1], [1, 5, 6, 3]),
        tf.slice(x4, [0, 3, 0, 0], [2, 4, 11, 5]),
        tf.slice(x5, [0, 1, 1, 2, 0], [2, 2, 3, 3, 6]),
        tf.slice(tf.cast(tf.mul(x4, 100), 'int32'), [0, 1, 2, 0], [2, 7, 3, 4]),
        tf.slice(tf.greater(x4, 0), [1, 0, 5, 2], [1, 9, 6, 3]),
        tf.slice(x4, [0, 0, 0, 0], [2, 0, 11, 5]),
        tf.pad(x4, [[0, 0], [1, 2], [0, 3], [0, 0]]),
        tf.pad(t([7, 13], 66), [[2, 1], [3, 0]], 2.5),
        tf.pad(x5, [[0, 1], [1, 0], [0, 0], [2, 2], [1, 0]], -0),
        tf.pad(tf.cast(tf.mul(x4, 100), 'int32'), [[1, 0], [0, 0], [2, 1], [0, 0]], 7),
        tf.concat([x4, t([2, 9, 3, 5], 67), t([2, 9, 1, 5], 68)], 2),
        tf.concat([t([3, 4], 69), t([5, 4], 70)], 0),
        tf.concat([tf.cast(tf.mul(x5, 9), 'int32'), tf.cast(tf.mul(x5, 7), 'int32')], 4),
        tf.clone(x5),
      ];
    };
    await selectBackend({ prefer: 'wasm' });
    const before = { ...heapCopyStats };
    const wasm = await on('wasm', run);
    // Every slice, pad, concat and clone above (the casts and comparisons copy nothing).
    const ran = Object.fromEntries(Object.entries(heapCopyStats).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
    expect(ran).toEqual({ slice: 9, pad: 4, concat: 3, identity: 1 });
    await selectBackend({ prefer: 'cpu' });
    const cpu = await on('cpu', run);
    for (let i = 0; i < cpu.length; i++) {
      expect(wasm[i]!.shape, `output ${i}`).toEqual(cpu[i]!.shape);
      expect(Array.from(wasm[i]!.data), `output ${i}`).toEqual(Array.from(cpu[i]!.data)); // Object.is per value: −0 counts
    }
    expect(Object.is(wasm[11]!.data[0], 0)).toBe(true); // a −0 constant pads with +0, as on cpu
  });
});
