// Child-process body of tests/wasm-threads.test.ts: selects wasm (threads from TDC_THREADS), runs one training step
// of a small 2D + 3D network (convs, atrous convs, resize, max pool, dense, relu) on fixed values and prints, as one JSON
// line, the backend's thread count, the loss and every gradient. The wasm thread count is fixed per process,
// hence a child per count. With TDC_TEST_BREAK_WORKER=1 a non-configurable global Worker is defined first, which
// the threads shim cannot replace (the fallback path).
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../runtime/backend/index.js';
import { wasmPathStats } from '../../runtime/backend/kernels.js';
import { heapCopyStats } from '../../runtime/backend/wasm-heap-copy.js';
import { atrousConv2d, atrousConv3d, resizeBilinear2d } from '../../runtime/ops/index.js';

if (process.env.TDC_TEST_BREAK_WORKER === '1') {
  Object.defineProperty(globalThis, 'Worker', { value: class {}, configurable: false, writable: false });
}

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * 0.5;
  }
  return out;
}
const t = (shape: number[], seed: number) => tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape);

const info = await selectBackend({ prefer: 'wasm' });
const x2 = t([2, 24, 32, 8], 1) as tf.Tensor4D;
const x3 = t([1, 6, 12, 12, 4], 2) as tf.Tensor5D;
const vars = {
  w1: tf.variable(t([3, 3, 8, 16], 3)),
  b1: tf.variable(t([16], 4)),
  w2: tf.variable(t([3, 3, 16, 16], 5)),
  w3: tf.variable(t([1, 1, 16, 4], 6)),
  w4: tf.variable(t([1, 1, 16, 128], 10)),
  w5: tf.variable(t([3, 3, 128, 4], 11)),
  v1: tf.variable(t([3, 3, 3, 4, 8], 7)),
  v2: tf.variable(t([1, 3, 3, 8, 8], 8)),
  dense: tf.variable(t([16 + 8, 5], 9)),
};
const f = () => {
  const h = tf.relu(tf.add(tf.conv2d(x2, vars.w1 as tf.Tensor4D, 1, 'same'), vars.b1)) as tf.Tensor4D;
  const a = tf.relu(atrousConv2d(h, vars.w2 as tf.Tensor4D, [2, 2], 'same'));
  const seg = resizeBilinear2d(tf.conv2d(a, vars.w3 as tf.Tensor4D, 1, 'same'), [48, 64]);
  // 128 input channels: the filter gradient as per-tap matrix products (kernels.ts); a 2×2 max pool.
  const wide = tf.relu(tf.conv2d(a, vars.w4 as tf.Tensor4D, 1, 'same')) as tf.Tensor4D;
  const pooled2 = tf.maxPool(tf.conv2d(wide, vars.w5 as tf.Tensor4D, 1, 'same'), 2, 2, 'valid');
  const g = tf.relu(tf.conv3d(x3, vars.v1 as tf.Tensor5D, 1, 'same'));
  const g2 = tf.relu(atrousConv3d(g, vars.v2 as tf.Tensor5D, [1, 2, 2], 'same'));
  const pooled = tf.concat([tf.mean(a, [1, 2]), tf.tile(tf.mean(g2, [1, 2, 3]), [2, 1])], 1);
  const cls = tf.matMul(pooled, vars.dense);
  return tf.addN([tf.mean(tf.square(seg)), tf.mean(tf.square(cls)), tf.mean(tf.square(pooled2))]) as tf.Scalar;
};
const { value, grads } = tf.variableGrads(f);
const out = {
  threads: info.threads,
  loss: value.dataSync()[0],
  paths: wasmPathStats,
  copies: heapCopyStats,
  grads: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, Array.from(grads[v.name]!.dataSync())])),
};
process.stdout.write(`${JSON.stringify(out)}\n`);
