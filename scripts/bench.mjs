#!/usr/bin/env node
// `npm run bench`: forward and train-step speed of each example network on tdc's backends side by side (by default
// native, where its addon is built, and wasm on every core, plus wasm on one thread for its thread speed-up), each
// against PyTorch on the same architecture (read from `tdc explain --json`) and the machine's fp32 matmul peak.
//
//   npm run bench [-- --quick] [--only robot18,brats18] [--backends native,wasm,wasm:1] [--threads N]
//                 [--steps N] [--wasm-steps N] [--wasm-specs quickstart,robot18,refuge18|all] [--warmup N]
//                 [--repeat N] [--no-torch] [--no-memory] [--json out.json]
//
// wasm is measured on the 2D networks only unless `--wasm-specs all` (its BRATS18 train step takes minutes; a full
// run stays under ~10 minutes on an idle 2-core machine).
// `npm run bench -- --profile robot18 [--backends native]` prints each kernel's share of one train step instead.
// `npm run bench -- --startup [--only …]` prints only `tdc check`, `tdc build` and `tdc build --target torch` wall
// times (median of five; the budget is 300 ms each) with Node's own start-up beside them, in seconds.
//
// `--backends` lists backend[:threads] entries (threads default: --threads, else every core); `wasm:1` is measured
// on the train step only, for the speed-up of wasm's threads. `--repeat 3` runs every measurement three times and
// ends with the median of each ratio (a shared or busy machine moves single runs by tens of percent).
//
// Needs the build (`npm run build`, done by `npm ci`). Each network is measured in its own child process, so the
// peak RSS reported is that network's alone. Times are the median of `--steps` steps (wasm: `--wasm-steps`, default
// 1: its steps take seconds) after `--warmup` steps; a
// train step is one forward + backward of the full multi-task loss (seg CE + (1 − IoU), class and scene BCE,
// sync BCE, weights 1) and one update by the spec's optimizer at lr 0.001 (tdc's Sgd / Adam as `tdc train` runs
// them; PyTorch: the same torch.optim rule), at batch 2. GFLOP/s counts the compiler IR's forward FLOPs
// (`explainJson(...).totals.flops`, 2 per multiply-add) and 3× that for a train step (forward, dx, dW).
// Then (unless --quick or --no-memory) memory over a long run: scripts/bench-memory.mjs, the quickstart trained
// for 1,000 steps through `tdc train`'s path, RSS / heap / live tensors after step 100 and step 1,000.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(path.join(root, 'dist', p)).href;
const SPECS = ['quickstart', 'robot18', 'refuge18', 'brats18'];
const BATCH = 2;
/** The train step's learning rate (scripts/bench-torch.py's too). */
const LR = 0.001;
// Spec overrides for a network's train step only (`--train-set path=value`, as `tdc --set`); none by default: every
// network trains at its spec's size. (Before the trainer's own backward pass freed gradients as it went, a
// BRATS18 step at 144×144×19 needed more than 24 GB and ran here at 72×72×19.)
const TRAIN_SETS = {};

function parseArgs(argv) {
  const o = { quick: false, only: null, backend: undefined, backends: null, threads: undefined, steps: undefined, wasmSteps: undefined, warmup: undefined, repeat: 1, phases: ['fwd', 'train'], torch: true, memory: true, json: null, worker: null, trainSet: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = next().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--backend') o.backend = next(); // the worker's backend; for the parent, --backends
    else if (a === '--backends') o.backends = next().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--wasm-steps') o.wasmSteps = positiveInt(a, next());
    else if (a === '--wasm-specs') o.wasmSpecs = next() === 'all' ? [...SPECS] : argv[i].split(',').map((x) => x.trim()).filter(Boolean);
    else if (a === '--repeat') o.repeat = positiveInt(a, next());
    else if (a === '--phases') o.phases = next().split(','); // internal: the worker's phases
    else if (a === '--profile') o.profile = next(); // a spec: time each kernel of one of its train steps
    else if (a === '--startup') o.startup = true; // check / build wall times only
    else if (a === '--threads') o.threads = positiveInt(a, next());
    else if (a === '--steps') o.steps = positiveInt(a, next());
    else if (a === '--warmup') o.warmup = nonNegativeInt(a, next());
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--no-memory') o.memory = false;
    else if (a === '--json') o.json = next();
    else if (a === '--worker') o.worker = next();
    else if (a === '--train-set') o.trainSet.push(next());
    else if (a === '--onednn-peak') o.onednnPeak = Number(next()); // internal: child mode of matmulPeak
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench [-- --startup] [--quick] [--only spec,…] [--backends native,wasm,wasm:1] [--threads N] [--steps N] [--wasm-steps N] [--wasm-specs spec,…|all] [--warmup N] [--repeat N] [--no-torch] [--no-memory] [--json file]');
      process.exit(0);
    } else fail(`unknown option ${a} (see --help)`);
  }
  if (o.only) for (const s of o.only) if (!SPECS.includes(s)) fail(`unknown spec '${s}' for --only: use ${SPECS.join(', ')}`);
  o.steps ??= o.quick ? 1 : 3;
  o.wasmSteps ??= 1;
  o.wasmSpecs ??= ['quickstart', 'robot18', 'refuge18'];
  o.warmup ??= 1;
  if (o.backend && !o.worker) o.backends ??= [o.backend];
  return o;
}

function positiveInt(name, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fail(`${name} must be a positive integer, got '${v}'`);
  return n;
}
function nonNegativeInt(name, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) fail(`${name} must be a non-negative integer, got '${v}'`);
  return n;
}

function fail(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ------------------------------------------------------------------------------------------------ worker

/** Measures one spec in this process and prints one JSON line. */
async function worker(specName, o) {
  const tf = await import('@tensorflow/tfjs');
  const { selectBackend, formatBackendInfo } = await import(dist('runtime/backend/index.js'));
  const { compile } = await import(dist('compiler/pipeline.js'));
  const { createNodeHost } = await import(dist('compiler/cli/host.js'));
  const { explainJson } = await import(dist('compiler/explain.js'));
  const { buildNetwork } = await import(dist('runtime/layers/index.js'));
  const { segLoss, bceLoss, syncLoss } = await import(dist('runtime/losses/index.js'));
  const { variableGradsLowMemory } = await import(dist('runtime/train/grads.js'));
  const { optimizer } = await import(dist('runtime/train/optimizers.js'));

  const info = await selectBackend({ ...(o.backend ? { prefer: o.backend } : {}), ...(o.threads ? { threads: o.threads } : {}) });
  const backend = formatBackendInfo(info).replace(/^backend: /, '');

  /** The spec (with `sets` applied) compiled, its network built at batch 2, and random inputs and targets. */
  const setup = (sets) => {
    const res = compile(path.join(root, 'examples', `${specName}.yaml`), createNodeHost(), sets);
    if (!res.spec || !res.ir) throw new Error(`${specName}.yaml${sets.length ? ` (${sets.join(' ')})` : ''} does not compile`);
    const flops = explainJson(res.spec, res.ir).totals.flops;
    const { model } = buildNetwork(res.ir, { seed: res.spec.train.seed, batchSize: BATCH, name: res.spec.name });
    const inShape = model.inputs[0].shape.slice(1);
    const spatial = inShape.slice(0, -1);
    const K = res.spec.task.classes.length;
    const S = res.spec.task.scenes.length;
    const x = tf.randomUniform([BATCH, ...inShape], -1, 1, 'float32', 1);
    const labels = tf.randomUniform([BATCH, ...spatial], 0, K, 'int32', 2);
    const cls = tf.cast(tf.greater(tf.randomUniform([BATCH, K], 0, 1, 'float32', 3), 0.5), 'float32');
    const scene = tf.oneHot(tf.randomUniform([BATCH], 0, S, 'int32', 4), S).toFloat();
    const dispose = () => {
      tf.dispose([x, labels, cls, scene]);
      model.dispose();
    };
    return { flops, model, inShape, x, labels, cls, scene, optimizer: res.spec.optimizer, dispose };
  };
  const time = (f, n, warm) => {
    for (let i = 0; i < warm; i++) f();
    const ms = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      f();
      ms.push(performance.now() - t);
    }
    return median(ms);
  };
  const rss = () => (process.resourceUsage().maxRSS * 1024) / 2 ** 20;

  // Forward, in inference mode; one JSON line per phase, so a train phase that dies still leaves the forward's.
  if (o.phases.includes('fwd')) {
    const n = setup([]);
    const forward = () => {
      const outs = tf.tidy(() => n.model.apply(n.x, { training: false }));
      for (const t of outs) t.dataSync();
      tf.dispose(outs);
    };
    const fwdMs = time(forward, o.steps, o.warmup) / BATCH;
    process.stdout.write(`${JSON.stringify({ phase: 'fwd', spec: specName, input: n.inShape, backend, threads: info.threads, flops: n.flops, fwdMs, rssMB: rss() })}\n`);
    n.dispose();
  }
  if (o.phases.includes('train')) {
    const n = setup(o.trainSet);
    // The spec's optimizer as `tdc train` runs it (runtime/train/optimizers.ts); scripts/bench-torch.py runs the
    // same torch.optim rule at the same LR.
    const opt = optimizer(n.optimizer);
    let optMs = 0; // the last step's update, for --profile (in place on native: no kernels to time)
    const trainStep = () => {
      const loss = tf.tidy(() => {
        // The trainer's backward pass (frees each gradient once used), on the trainable variables.
        const vars = n.model.trainableWeights.map((w) => w.read());
        const { value, grads } = variableGradsLowMemory(() => {
          const [seg, c, z] = n.model.apply(n.x, { training: true });
          return tf.addN([
            segLoss(seg, n.labels, { ce: 1, iou: 1 }),
            bceLoss(c, n.cls),
            bceLoss(z, n.scene),
            syncLoss(seg, c, { presence: 'hard', direction: 'seg->class' }),
          ]);
        }, vars);
        const t = performance.now();
        opt.applyGradients(vars.map((v, i) => ({ key: String(i), variable: v, grad: grads[v.name] })), LR);
        optMs = performance.now() - t;
        return value;
      });
      const v = loss.dataSync()[0];
      loss.dispose();
      if (!Number.isFinite(v)) throw new Error(`${specName}: the loss is ${v}`);
    };
    if (o.profile) {
      trainStep();
      const table = profileKernels(tf, trainStep);
      console.log(`${specName} ${n.inShape.join('×')}, batch ${BATCH}, ${backend}: one train step's kernels (wall ms, calls)`);
      for (const [name, ms, calls] of table.slice(0, 25)) console.log(`  ${name.padEnd(28)} ${ms.toFixed(0).padStart(7)} ms ${String(calls).padStart(5)}`);
      console.log(`  the ${n.optimizer.type} update, all of it (kernels above included): ${optMs.toFixed(0)} ms`);
      opt.dispose();
      n.dispose();
      return;
    }
    const trainMs = time(trainStep, o.steps, o.warmup) / BATCH;
    process.stdout.write(`${JSON.stringify({ phase: 'train', spec: specName, backend, threads: info.threads, trainInput: n.inShape, trainFlops: n.flops, trainMs, rssMB: rss() })}\n`);
    opt.dispose();
    n.dispose();
  }
}

/**
 * Runs `f` once with every kernel of the active backend timed (wall ms, as the engine calls them: a kernel's time
 * includes the kernels it runs itself) and returns [name, ms, calls] sorted by time. For `--profile`.
 */
function profileKernels(tf, f) {
  const backend = tf.getBackend();
  const acc = new Map();
  const originals = tf.getKernelsForBackend(backend);
  const swap = (kernels) =>
    kernels.forEach((k) => {
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel(k);
    });
  swap(
    originals.map((k) => ({
      ...k,
      kernelFunc: (args) => {
        const t = performance.now();
        const out = k.kernelFunc(args);
        const e = acc.get(k.kernelName) ?? [0, 0];
        e[0] += performance.now() - t;
        e[1]++;
        acc.set(k.kernelName, e);
        return out;
      },
    })),
  );
  try {
    f();
  } finally {
    swap(originals);
  }
  return [...acc].map(([name, [ms, calls]]) => [name, ms, calls]).sort((a, b) => b[1] - a[1]);
}

// ------------------------------------------------------------------------------------------------ main

/** A python that can import torch (PATH's python3 first, then Debian's), or null. */
function torchPython() {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

/** fp32 sgemm GFLOP/s at 2048³: numpy (OpenBLAS) where a python has it, and the native addon's oneDNN sgemm. */
/** Child mode: the native addon's oneDNN sgemm GFLOP/s at 2048³ as one JSON line (nothing if the addon is absent). */
async function onednnPeak(threads) {
  const n = 2048;
  const { loadNative } = await import(dist('runtime/native/index.js'));
  const addon = loadNative();
  if (!addon) return;
  if (threads) addon.setThreads(threads);
  const a = new Float32Array(n * n).map(() => Math.random());
  const b = new Float32Array(n * n).map(() => Math.random());
  const c = new Float32Array(n * n);
  const p = Int32Array.from([1, 1, 1, n, n, n, 0, 0]);
  addon.batchMatMul(a, b, c, p);
  const t = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    addon.batchMatMul(a, b, c, p);
    t.push(performance.now() - s);
  }
  console.log(JSON.stringify({ what: `oneDNN sgemm (${addon.version()})`, gflops: (2 * n ** 3) / Math.min(...t) / 1e6 }));
}

async function matmulPeak(threads) {
  const out = [];
  const n = 2048;
  const pyCode = `
import time, numpy as np
n=${n}; a=np.random.rand(n,n).astype(np.float32); b=np.random.rand(n,n).astype(np.float32); a@b
t=[]
for _ in range(5):
    s=time.perf_counter(); a@b; t.append(time.perf_counter()-s)
print(2*n**3/min(t)/1e9)`;
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', pyCode], { encoding: 'utf8', env: { ...process.env, ...(threads ? { OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) } : {}) } });
    if (r.status === 0 && Number(r.stdout.trim()) > 0) {
      out.push({ what: `numpy ${py}`, gflops: Number(r.stdout.trim()) });
      break;
    }
  }
  // In a child process: a parent holding the 48 MB of matrices makes every later spawn (the check / build timings)
  // measurably slower.
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--onednn-peak', String(threads ?? 0)], { encoding: 'utf8' });
  const line = (r.stdout || '').trim().split('\n').filter(Boolean).slice(-1)[0];
  if (r.status === 0 && line) out.push(JSON.parse(line));
  return out;
}

/** Wall time of a `tdc` command (or, with `node: true`, of `node args`): one warm-up run (file cache), then the median of five. */
function wall(args, { node = false } = {}) {
  const once = () => {
    const t = performance.now();
    const r = spawnSync(process.execPath, node ? args : [path.join(root, 'bin', 'tdc.js'), ...args], { encoding: 'utf8' });
    return { ms: performance.now() - t, ok: r.status === 0, err: (r.stderr || r.stdout || '').trim().split('\n')[0] };
  };
  const first = once();
  if (!first.ok) return first;
  const runs = Array.from({ length: 5 }, once);
  return { ms: median(runs.map((r) => r.ms)), ok: runs.every((r) => r.ok), err: runs.find((r) => !r.ok)?.err ?? '' };
}

/**
 * Node's own start-up (`node -e 0`), part of every check / build time: a line to read those against. Node 20 reads
 * the NODE_EXTRA_CA_CERTS file at every start, before any of tdc's code runs.
 */
function nodeStartLine() {
  const w = wall(['-e', '0'], { node: true });
  const certs = process.env.NODE_EXTRA_CA_CERTS ? ' (NODE_EXTRA_CA_CERTS is set: Node reads it at every start)' : '';
  return `node start-up (node -e 0, median of five): ${fmt(w.ms)} ms${certs}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

/** `--startup`: check, build and build --target torch wall time of each spec, nothing else (seconds, not minutes). */
function startupBench(specs) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tdc-bench-'));
  try {
    console.log(nodeStartLine());
    console.log('| spec | check ms | build ms | build --target torch ms |');
    console.log('|---|---|---|---|');
    for (const s of specs) {
      const file = path.join(root, 'examples', `${s}.yaml`);
      const cells = [['check', file], ['build', file, '--out', path.join(tmp, s)], ['build', file, '--target', 'torch', '--out', path.join(tmp, `${s}-torch`)]].map((args) => {
        const w = wall(args);
        if (!w.ok) console.log(`${s}: tdc ${args[0]} failed: ${w.err}`);
        return w.ok ? fmt(w.ms) : '–';
      });
      console.log(`| ${s} | ${cells.join(' | ')} |`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const fmt = (v, d = 0) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : v.toFixed(d));

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.worker) return worker(o.worker, o);
  if (o.profile) return worker(o.profile, { ...o, phases: ['train'], backend: o.backends?.[0] });
  if (o.onednnPeak !== undefined) return onednnPeak(o.onednnPeak);
  if (!existsSync(path.join(root, 'dist', 'compiler', 'pipeline.js'))) fail('the build is missing: run `npm run build` first');

  const specs = o.only ?? SPECS;
  if (o.startup) return startupBench(specs);
  const started = performance.now();
  console.log(`tdc bench — ${os.cpus().length} logical cores (${os.cpus()[0]?.model ?? 'cpu'}), node ${process.version}, batch ${BATCH}, median of ${o.steps} after ${o.warmup} warm-up`);
  const peaks = await matmulPeak(o.threads ?? os.availableParallelism());
  for (const p of peaks) console.log(`fp32 matmul peak (2048³): ${p.gflops.toFixed(0)} GFLOP/s — ${p.what}`);
  const peak = Math.max(0, ...peaks.map((p) => p.gflops));
  const py = o.torch ? torchPython() : null;
  if (o.torch && !py) console.log('PyTorch: not found (python3 -c "import torch" failed): no reference column');

  const configs = backendConfigs(o);
  console.log(`backends: ${configs.map((c) => c.label).join(', ')}${o.repeat > 1 ? `; ${o.repeat} runs` : ''}`);
  console.log(nodeStartLine());
  const runs = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tdc-bench-'));
  try {
    const timing = {}; // check / build, once per spec (first run)
    for (let run = 0; run < o.repeat; run++) {
      if (o.repeat > 1) console.log(`\nrun ${run + 1} of ${o.repeat}`);
      const rows = [];
      const torchCache = new Map();
      for (const s of specs) {
        const file = path.join(root, 'examples', `${s}.yaml`);
        if (run === 0) timing[s] = { check: wall(['check', file]), build: wall(['build', file, '--out', path.join(tmp, `build-${s}`)]) };
        const { check, build } = timing[s];
        if (run === 0 && !check.ok) console.log(`${s}: tdc check failed: ${check.err}`);
        if (run === 0 && !build.ok) console.log(`${s}: tdc build failed: ${build.err}`);
        for (const c of configs) {
          if (c.backend === 'wasm' && !o.wasmSpecs.includes(s)) continue;
          const r = measure(s, c, o);
          if (!r) continue;
          r.checkMs = check.ok ? check.ms : NaN;
          r.buildMs = build.ok ? build.ms : NaN;
          if (py && c.phases.length === 2) {
            const key = `${s}:${r.threads}`;
            if (!torchCache.has(key)) torchCache.set(key, torchReference(py, s, file, r.threads, o, tmp));
            r.torch = torchCache.get(key) ?? undefined;
          }
          rows.push(r);
          printRow(r, peak, rows.length === 1);
        }
        const speedup = wasmSpeedup(rows.filter((r) => r.spec === s));
        if (speedup) console.log(`  ${s}: wasm train step on ${speedup.threads} threads is ${speedup.x.toFixed(2)}× its 1-thread speed`);
      }
      runs.push(rows);
    }
    if (o.repeat > 1) printMedians(runs, configs, specs, peak);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Memory over a long run: the quickstart through the real `tdc train` path for 1,000 steps (scripts/bench-memory.mjs,
  // in its own process with --expose-gc), on the same backend. Skipped by --quick and --no-memory.
  let memory = null;
  if (o.memory && !o.quick) {
    const margs = ['--expose-gc', path.join(root, 'scripts', 'bench-memory.mjs'), '--steps', '1000'];
    margs.push('--backend', configs[0].backend);
    const m = spawnSync(process.execPath, margs, { encoding: 'utf8', env: { ...process.env, ...(o.threads ? { OMP_NUM_THREADS: String(o.threads) } : {}) } });
    const lines = (m.stdout || '').trim().split('\n').filter((l) => /^\s*\d+ steps in|after step|^\s+\d+\s|^change|^RSS over/.test(l));
    console.log('\nmemory, quickstart trained for 1,000 steps (tdc train path, after a forced GC):');
    if (m.status === 0) for (const l of lines) console.log(`  ${l}`);
    else console.log(`  failed: ${(m.stderr || '').trim().split('\n').slice(-1)[0]}`);
    memory = m.status === 0 ? lines : null;
  }
  // One row per spec and thread count: medians over the runs (`--repeat`) of the reference's and the generated
  // project's train step, and of their ratio within each run (the two are measured back to back in one run).
  const groups = new Map();
  const counted = new Set(); // one PyTorch measurement serves every backend row of its run
  for (const r of runs.flat()) {
    if (!r.torch || !Number.isFinite(r.torch.generatedTrainMs) || counted.has(r.torch)) continue;
    counted.add(r.torch);
    const key = `${r.spec}:${r.threads}`;
    if (!groups.has(key)) groups.set(key, { spec: r.spec, threads: r.threads, ref: [], gen: [] });
    groups.get(key).ref.push(r.torch.trainMs);
    groups.get(key).gen.push(r.torch.generatedTrainMs);
  }
  if (groups.size) {
    console.log(`\ngenerated PyTorch project (tdc build --target torch) vs the hand-built reference (scripts/bench-torch.py), train step${o.repeat > 1 ? `, medians over ${o.repeat} runs` : ''}:`);
    console.log('| spec | threads | reference ms/img | generated ms/img | generated / reference |');
    console.log('|---|---|---|---|---|');
    for (const g of groups.values()) {
      const ratios = g.gen.map((x, i) => (100 * x) / g.ref[i]);
      const spread = ratios.length > 1 ? ` (${fmt(Math.min(...ratios))}–${fmt(Math.max(...ratios))})` : '';
      console.log(`| ${g.spec} | ${g.threads} | ${fmt(median(g.ref))} | ${fmt(median(g.gen))} | ${fmt(median(ratios))}${spread} % |`);
    }
  }
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ peaks, runs, memory }, null, 2));
}

/** The backends to measure: --backends entries, else native (where its addon is built), wasm, and wasm:1. */
function backendConfigs(o) {
  const nativeBuilt = existsSync(path.join(root, 'native', 'build', 'tdc_native.node')) && process.env.TDC_NO_NATIVE !== '1';
  const list = o.backends ?? [...(nativeBuilt ? ['native'] : []), 'wasm', ...((o.threads ?? os.availableParallelism()) > 1 ? ['wasm:1'] : [])];
  return list.map((entry) => {
    const [backend, t] = entry.split(':');
    if (!['native', 'wasm', 'cpu', 'tensorflow'].includes(backend)) fail(`unknown backend '${backend}' in --backends`);
    const threads = t === undefined ? o.threads : positiveInt(`--backends ${entry}`, t);
    // One thread of a backend that also runs threaded is there for the speed-up only: its train step is enough.
    const speedupOnly = threads === 1 && list.some((e) => e.split(':')[0] === backend && e !== entry);
    return { backend, threads, label: entry, phases: speedupOnly ? ['train'] : ['fwd', 'train'], steps: backend === 'wasm' ? o.wasmSteps : o.steps };
  });
}

/** One spec on one backend config, in a child process: the merged fwd / train JSON lines, or null. */
function measure(s, c, o) {
  const args = [fileURLToPath(import.meta.url), '--worker', s, '--steps', String(c.steps), '--warmup', String(o.warmup), '--backend', c.backend, '--phases', c.phases.join(',')];
  for (const t of TRAIN_SETS[s] ?? []) args.push('--train-set', t);
  if (c.threads) args.push('--threads', String(c.threads));
  const w = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const lines = w.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const fwd = lines.find((l) => l.phase === 'fwd');
  const train = lines.find((l) => l.phase === 'train');
  const notice = (w.stderr || '').split('\n').find((l) => l.startsWith('wasm: '));
  if (notice) console.log(`${s} (${c.label}): ${notice}`);
  if (w.status !== 0 || (c.phases.includes('fwd') && !fwd) || !train) {
    const why = w.signal === 'SIGKILL' || w.status === 137 ? 'killed (out of memory?)' : ((w.stderr || '').trim().split('\n').filter(Boolean).slice(-1)[0] ?? `exit ${w.status}`);
    console.log(`${s} (${c.label}): ${fwd || !c.phases.includes('fwd') ? 'train step' : 'forward'} failed: ${why}`);
    if (!fwd && !train) return null;
  }
  const base = fwd ?? { spec: s, input: train.trainInput, backend: train.backend, threads: train.threads, flops: train.trainFlops, fwdMs: NaN, rssMB: 0 };
  return { ...base, ...(train ?? { trainMs: NaN, trainFlops: NaN, trainInput: base.input }), label: c.label, rssMB: Math.max(base.rssMB, train?.rssMB ?? 0) };
}

/** PyTorch's forward and train step on spec `s` with `threads` threads (same sizes as tdc's phases), or null. */
function torchReference(py, s, file, threads, o, tmp) {
  const run = (sets, phase, generated) => {
    const explainFile = path.join(tmp, `${s}.${phase}.explain.json`);
    const eargs = [path.join(root, 'bin', 'tdc.js'), 'explain', '--json', file, ...sets.flatMap((x) => ['--set', x])];
    try {
      writeFileSync(explainFile, execFileSync(process.execPath, eargs, { maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'ignore'] }));
    } catch {
      console.log(`${s}: tdc explain --json ${sets.join(' ')} failed: no PyTorch ${phase} reference`);
      return null;
    }
    const targs = [path.join(root, 'scripts', 'bench-torch.py'), explainFile, '--batch', String(BATCH), '--lr', String(LR), '--steps', String(o.steps), '--warmup', String(o.warmup), '--only', phase];
    // PyTorch sizes its pool to the physical cores (1 here); give it the threads tdc's backend uses.
    targs.push('--threads', String(threads));
    if (generated) targs.push('--generated', generated);
    const t = spawnSync(py, targs, { encoding: 'utf8', maxBuffer: 1 << 26 });
    const tl = t.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (t.status === 0 && tl) return JSON.parse(tl);
    console.log(`${s}: PyTorch reference (${phase}) failed: ${(t.stderr || '').trim().split('\n').slice(-1)[0]}`);
    return null;
  };
  const fwd = run([], 'fwd');
  const train = run(TRAIN_SETS[s] ?? [], 'train');
  // The generated PyTorch project (tdc build --target torch) of the same network, same harness and sizes.
  const genDir = path.join(tmp, `torch-${s}`);
  const sets = TRAIN_SETS[s] ?? [];
  const gen = spawnSync(process.execPath, [path.join(root, 'bin', 'tdc.js'), 'build', file, '--target', 'torch', '--out', genDir, ...sets.flatMap((x) => ['--set', x])], { encoding: 'utf8' });
  if (gen.status !== 0) console.log(`${s}: tdc build --target torch failed: ${(gen.stderr || gen.stdout).trim().split('\n')[0]}`);
  const generated = gen.status === 0 ? run(sets, 'train', genDir) : null;
  return fwd || train ? { fwdMs: fwd?.fwdMs ?? NaN, trainMs: train?.trainMs ?? NaN, generatedTrainMs: generated?.trainMs ?? NaN } : null;
}

/** wasm's train-step speed on its threads over its speed on one thread, for one spec's rows (null without both). */
function wasmSpeedup(rows) {
  const one = rows.find((r) => r.backend.startsWith('wasm') && r.threads === 1);
  const many = rows.find((r) => r.backend.startsWith('wasm') && r.threads > 1);
  return one && many && Number.isFinite(one.trainMs) && Number.isFinite(many.trainMs) ? { threads: many.threads, x: one.trainMs / many.trainMs } : null;
}

/** After --repeat N: each ratio's median over the runs (and its range). */
function printMedians(runs, configs, specs, peak) {
  const stat = (xs) => {
    const v = xs.filter(Number.isFinite);
    return v.length ? `${fmt(median(v))} (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})` : '–';
  };
  console.log(`\nmedians over ${runs.length} runs (min–max):`);
  console.log('| spec | backend | fwd % of PyTorch | train % of PyTorch | fwd % of peak | wasm threads speed-up |');
  console.log('|---|---|---|---|---|---|');
  for (const s of specs) {
    for (const c of configs) {
      const rs = runs.map((rows) => rows.find((r) => r.spec === s && r.label === c.label)).filter(Boolean);
      if (!rs.length || c.phases.length < 2) continue;
      const fwd = stat(rs.map((r) => (r.torch ? (100 * r.torch.fwdMs) / r.fwdMs : NaN)));
      const train = stat(rs.map((r) => (r.torch ? (100 * r.torch.trainMs) / r.trainMs : NaN)));
      const pk = peak ? stat(rs.map((r) => (100 * ((r.flops / r.fwdMs) * 1e-6)) / peak)) : '–';
      const sp = c.backend === 'wasm' ? runs.map((rows) => wasmSpeedup(rows.filter((r) => r.spec === s))?.x ?? NaN) : [];
      const spCell = sp.some(Number.isFinite) ? `${median(sp.filter(Number.isFinite)).toFixed(2)}×` : '–';
      console.log(`| ${s} | ${c.label} | ${fwd} % | ${train} % | ${pk} % | ${spCell} |`);
    }
  }
}

function printRow(r, peak, header) {
  const gfFwd = (r.flops / r.fwdMs) * 1e-6;
  const gfTrain = ((3 * r.trainFlops) / r.trainMs) * 1e-6;
  if (header) {
    console.log(
      '| spec | backend | input | GFLOP/img | fwd ms/img | train ms/img (input) | fwd GFLOP/s | train GFLOP/s | % peak (fwd) | peak RSS MB | torch fwd | torch train | fwd ratio | train ratio | check ms | build ms |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  }
  const t = r.torch;
  const cells = [
    r.spec,
    r.backend,
    r.input.join('×'),
    fmt(r.flops / 1e9, r.flops < 1e10 ? 2 : 1),
    fmt(r.fwdMs),
    r.trainInput.join('×') === r.input.join('×') ? fmt(r.trainMs) : `${fmt(r.trainMs)} (${r.trainInput.join('×')})`,
    fmt(gfFwd, 1),
    fmt(gfTrain, 1),
    peak ? `${fmt((100 * gfFwd) / peak)} %` : '–',
    fmt(r.rssMB),
    t ? fmt(t.fwdMs) : '–',
    t ? fmt(t.trainMs) : '–',
    // tdc / PyTorch throughput = PyTorch time / tdc time: 1.0 = as fast as PyTorch.
    t ? `${fmt((100 * t.fwdMs) / r.fwdMs)} %` : '–',
    t ? `${fmt((100 * t.trainMs) / r.trainMs)} %` : '–',
    fmt(r.checkMs),
    fmt(r.buildMs),
  ];
  console.log(`| ${cells.join(' | ')} |`);
}

main().catch((e) => {
  console.error(`bench: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
  process.exit(1);
});
