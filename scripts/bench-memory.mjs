#!/usr/bin/env node
// Memory over a long run (a benchmark, not a test): the quickstart network trained through the real `tdc train`
// path (generated code, trainer, data streaming) for 1,000 steps in one stage; prints RSS, JS heap and live tfjs
// tensors after step 100 and step 1,000 (after a forced GC) and their ratio. A leak of one small tensor per step
// shows up as a growing tensor count; a leak in native or wasm memory as growing RSS.
//
//   npm run build && node --expose-gc scripts/bench-memory.mjs [--steps 1000] [--backend native|wasm|cpu]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(path.join(root, 'dist', p)).href;
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const steps = Number(arg('steps', '1000'));
if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc (memory is sampled after a forced collection)');
  process.exit(2);
}

const { planBuild, applyBuild } = await import(dist('compiler/cli/commands/build.js'));
const { loadProgram } = await import(dist('compiler/cli/build-loader.js'));
const { trainProgram } = await import(dist('runtime/program.js'));
const { selectBackend, formatBackendInfo } = await import(dist('runtime/backend/index.js'));
const tf = await import(dist('runtime/index.js')).then(() => import('@tensorflow/tfjs'));

const work = mkdtempSync(path.join(os.tmpdir(), 'tdc-bench-memory-'));
try {
  const spec = path.join(root, 'examples', 'quickstart.yaml');
  const overrides = [
    `stages=[{ name: long, label: Long, from: init, loss: "seg + w1*class + w2*scene + w3*sync", steps: ${steps} }]`,
    'train.validate_every=0',
    'train.checkpoint_every=0',
    `data.root=${path.join(work, 'data')}`,
    `data.scenes={ from: file, file: ${path.join(work, 'data', 'scenes.csv')} }`,
  ];
  const buildDir = path.join(work, 'build');
  const plan = await planBuild({ spec, outDir: buildDir, overrides, cwd: work });
  if (!plan.hash) throw new Error(`build failed: ${plan.diagnostics.map((d) => d.message).join('; ')}`);
  applyBuild(plan);
  const info = await selectBackend(arg('backend') ? { prefer: arg('backend') } : {});
  console.log(formatBackendInfo(info));
  const program = await loadProgram(buildDir);
  const samples = {};
  const sample = (step) => {
    globalThis.gc();
    const m = process.memoryUsage();
    samples[step] = { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20, tensors: tf.memory().numTensors };
  };
  const t0 = Date.now();
  await trainProgram(program, {
    buildDir,
    runDir: path.join(buildDir, 'run'),
    lockJson: readFileSync(path.join(buildDir, 'spec.lock.json'), 'utf8'),
    samples: 0,
    output: { stream: { write: () => true }, isTTY: false },
    note: () => {},
    shouldStop: ({ step }) => {
      if (step === 100 || step === steps) sample(step);
      return false;
    },
  });
  const a = samples[100];
  const b = samples[steps];
  const pct = (x, y) => `${(((y - x) / x) * 100).toFixed(1)} %`;
  console.log(`${steps} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log('after step   RSS MB   heap MB   tfjs tensors');
  for (const [s, v] of [[100, a], [steps, b]]) {
    console.log(`${String(s).padStart(10)} ${v.rss.toFixed(0).padStart(8)} ${v.heap.toFixed(0).padStart(9)} ${String(v.tensors).padStart(14)}`);
  }
  console.log(`change 100 → ${steps}: RSS ${pct(a.rss, b.rss)}, heap ${pct(a.heap, b.heap)}, tensors ${b.tensors - a.tensors}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
