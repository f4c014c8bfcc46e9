#!/usr/bin/env node
// Memory over a long run (a benchmark, not a test): the quickstart network trained through the real `tdc train`
// path (generated code, trainer, data streaming) for 1,000 steps in one stage; samples RSS, JS heap and live tfjs
// tensors every 50 steps from step 100 (after a forced GC) and compares the median of the samples around step 100
// (100–300) with that around the end (the last 200 steps): single samples of RSS move by a few percent from one
// step to the next with the allocator's state (measured over 2,000 steps: 236–243 MB with no trend). A leak of one
// small tensor per step shows up as a growing tensor count; a leak in native or wasm memory as growing RSS.
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
      if (step >= 100 && step % 50 === 0) sample(step);
      else if (step === steps) sample(step);
      return false;
    },
  });
  const at = Object.keys(samples).map(Number).sort((x, y) => x - y);
  const median = (xs) => {
    const v = [...xs].sort((x, y) => x - y);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const window = (from, to) => {
    const ks = at.filter((k) => k >= from && k <= to);
    return { rss: median(ks.map((k) => samples[k].rss)), heap: median(ks.map((k) => samples[k].heap)), tensors: Math.max(...ks.map((k) => samples[k].tensors)) };
  };
  const early = window(100, Math.min(300, steps));
  const late = window(Math.max(100, steps - 200), steps);
  const pct = (x, y) => `${(((y - x) / x) * 100).toFixed(1)} %`;
  console.log(`${steps} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log('after step   RSS MB   heap MB   tfjs tensors');
  const shown = [100, 250, 500, 750, steps].filter((k, i, all) => samples[k] && all.indexOf(k) === i);
  for (const s of shown) {
    const v = samples[s];
    console.log(`${String(s).padStart(10)} ${v.rss.toFixed(0).padStart(8)} ${v.heap.toFixed(0).padStart(9)} ${String(v.tensors).padStart(14)}`);
  }
  const rss = at.map((k) => samples[k].rss);
  console.log(`RSS over ${at.length} samples: ${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MB`);
  console.log(
    `change, median of steps 100–${Math.min(300, steps)} → median of the last 200: RSS ${pct(early.rss, late.rss)}, heap ${pct(early.heap, late.heap)}, tensors ${late.tensors - samples[at[0]].tensors}`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
