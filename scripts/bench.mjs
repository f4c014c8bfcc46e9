#!/usr/bin/env node
// `npm run bench`: forward and train-step speed of each example network on the selected tfjs backend, against
// PyTorch on the same architecture (read from `tdc explain --json`) and the machine's fp32 matmul peak.
//
//   npm run bench [-- --quick] [--only robot18,brats18] [--backend native|wasm|cpu] [--threads N]
//                 [--steps N] [--warmup N] [--no-torch] [--no-memory] [--json out.json]
//
// Needs the build (`npm run build`, done by `npm ci`). Each network is measured in its own child process, so the
// peak RSS reported is that network's alone. Times are the median of `--steps` steps after `--warmup` steps; a
// train step is one forward + backward of the full multi-task loss (seg CE + (1 − IoU), class and scene BCE,
// sync BCE, weights 1) and one SGD update, at batch 2. GFLOP/s counts the compiler IR's forward FLOPs
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
// Spec overrides for a network's train step only (`--train-set path=value`, as `tdc --set`); none by default: every
// network trains at its spec's size. (Before the trainer's own backward pass freed gradients as it went, a
// BRATS18 step at 144×144×19 needed more than 24 GB and ran here at 72×72×19.)
const TRAIN_SETS = {};

function parseArgs(argv) {
  const o = { quick: false, only: null, backend: undefined, threads: undefined, steps: undefined, warmup: undefined, torch: true, memory: true, json: null, worker: null, trainSet: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = next().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--backend') o.backend = next();
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
      console.log('usage: npm run bench [-- --quick] [--only spec,…] [--backend name] [--threads N] [--steps N] [--warmup N] [--no-torch] [--no-memory] [--json file]');
      process.exit(0);
    } else fail(`unknown option ${a} (see --help)`);
  }
  if (o.only) for (const s of o.only) if (!SPECS.includes(s)) fail(`unknown spec '${s}' for --only: use ${SPECS.join(', ')}`);
  o.steps ??= o.quick ? 1 : 3;
  o.warmup ??= 1;
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
  const { buildNetwork, networkArgsFromSpec } = await import(dist('runtime/layers/index.js'));
  const { segLoss, bceLoss, syncLoss } = await import(dist('runtime/losses/index.js'));
  const { variableGradsLowMemory } = await import(dist('runtime/train/grads.js'));

  const info = await selectBackend({ ...(o.backend ? { prefer: o.backend } : {}), ...(o.threads ? { threads: o.threads } : {}) });
  const backend = formatBackendInfo(info).replace(/^backend: /, '');

  /** The spec (with `sets` applied) compiled, its network built at batch 2, and random inputs and targets. */
  const setup = (sets) => {
    const res = compile(path.join(root, 'examples', `${specName}.yaml`), createNodeHost(), sets);
    if (!res.spec || !res.ir) throw new Error(`${specName}.yaml${sets.length ? ` (${sets.join(' ')})` : ''} does not compile`);
    const flops = explainJson(res.spec, res.ir).totals.flops;
    const { model } = buildNetwork(networkArgsFromSpec(res.spec, { batchSize: BATCH }));
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
    return { flops, model, inShape, x, labels, cls, scene, dispose };
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
  {
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
  {
    const n = setup(o.trainSet);
    const opt = tf.train.sgd(0.001);
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
        opt.applyGradients(grads);
        return value;
      });
      const v = loss.dataSync()[0];
      loss.dispose();
      if (!Number.isFinite(v)) throw new Error(`${specName}: the loss is ${v}`);
    };
    const trainMs = time(trainStep, o.steps, o.warmup) / BATCH;
    process.stdout.write(`${JSON.stringify({ phase: 'train', trainInput: n.inShape, trainFlops: n.flops, trainMs, rssMB: rss() })}\n`);
    n.dispose();
  }
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

/** Wall time of a `tdc` command: one warm-up run (file cache), then the median of five. */
function wall(args) {
  const once = () => {
    const t = performance.now();
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'tdc.js'), ...args], { encoding: 'utf8' });
    return { ms: performance.now() - t, ok: r.status === 0, err: (r.stderr || r.stdout || '').trim().split('\n')[0] };
  };
  const first = once();
  if (!first.ok) return first;
  const runs = Array.from({ length: 5 }, once);
  return { ms: median(runs.map((r) => r.ms)), ok: runs.every((r) => r.ok), err: runs.find((r) => !r.ok)?.err ?? '' };
}

const fmt = (v, d = 0) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : v.toFixed(d));

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.worker) return worker(o.worker, o);
  if (o.onednnPeak !== undefined) return onednnPeak(o.onednnPeak);
  if (!existsSync(path.join(root, 'dist', 'compiler', 'pipeline.js'))) fail('the build is missing: run `npm run build` first');

  const specs = o.only ?? SPECS;
  const started = performance.now();
  console.log(`tdc bench — ${os.cpus().length} logical cores (${os.cpus()[0]?.model ?? 'cpu'}), node ${process.version}, batch ${BATCH}, median of ${o.steps} after ${o.warmup} warm-up`);
  const peaks = await matmulPeak(o.threads);
  for (const p of peaks) console.log(`fp32 matmul peak (2048³): ${p.gflops.toFixed(0)} GFLOP/s — ${p.what}`);
  const peak = Math.max(0, ...peaks.map((p) => p.gflops));
  const py = o.torch ? torchPython() : null;
  if (o.torch && !py) console.log('PyTorch: not found (python3 -c "import torch" failed): no reference column');

  const rows = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tdc-bench-'));
  try {
    for (const s of specs) {
      const file = path.join(root, 'examples', `${s}.yaml`);
      const check = wall(['check', file]);
      const build = wall(['build', file, '--out', path.join(tmp, `build-${s}`)]);
      const workerArgs = [fileURLToPath(import.meta.url), '--worker', s, '--steps', String(o.steps), '--warmup', String(o.warmup)];
      const trainSets = TRAIN_SETS[s] ?? [];
      for (const t of trainSets) workerArgs.push('--train-set', t);
      if (o.backend) workerArgs.push('--backend', o.backend);
      if (o.threads) workerArgs.push('--threads', String(o.threads));
      const w = spawnSync(process.execPath, workerArgs, { encoding: 'utf8', maxBuffer: 1 << 26 });
      const lines = w.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const fwd = lines.find((l) => l.phase === 'fwd');
      const train = lines.find((l) => l.phase === 'train');
      if (w.status !== 0 || !fwd || !train) {
        const why = w.signal === 'SIGKILL' || w.status === 137 ? 'killed (out of memory?)' : ((w.stderr || '').trim().split('\n').filter(Boolean).slice(-1)[0] ?? `exit ${w.status}`);
        console.log(`${s}: ${fwd ? 'train step' : 'forward'} failed: ${why}`);
        if (!fwd) continue;
      }
      const r = { ...fwd, ...(train ?? { trainMs: NaN, trainFlops: NaN, trainInput: fwd.input }), rssMB: Math.max(fwd.rssMB, train?.rssMB ?? 0) };
      r.checkMs = check.ok ? check.ms : NaN;
      r.buildMs = build.ok ? build.ms : NaN;
      if (!check.ok) console.log(`${s}: tdc check failed: ${check.err}`);
      if (!build.ok) console.log(`${s}: tdc build failed: ${build.err}`);
      if (py) {
        // The same sizes as tdc's phases: explain output with the same overrides.
        const runTorch = (sets, phase, generated) => {
          const explainFile = path.join(tmp, `${s}.${phase}.explain.json`);
          const eargs = [path.join(root, 'bin', 'tdc.js'), 'explain', '--json', file, ...sets.flatMap((x) => ['--set', x])];
          try {
            writeFileSync(explainFile, execFileSync(process.execPath, eargs, { maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'ignore'] }));
          } catch {
            console.log(`${s}: tdc explain --json ${sets.join(' ')} failed: no PyTorch ${phase} reference`);
            return null;
          }
          const targs = [path.join(root, 'scripts', 'bench-torch.py'), explainFile, '--batch', String(BATCH), '--steps', String(o.steps), '--warmup', String(o.warmup), '--only', phase];
          // PyTorch sizes its pool to the physical cores (1 here); give it the threads tdc's backend uses.
          targs.push('--threads', String(o.threads ?? r.threads ?? os.availableParallelism()));
          if (generated) targs.push('--generated', generated);
          const t = spawnSync(py, targs, { encoding: 'utf8', maxBuffer: 1 << 26 });
          const tl = t.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
          if (t.status === 0 && tl) return JSON.parse(tl);
          console.log(`${s}: PyTorch reference (${phase}) failed: ${(t.stderr || '').trim().split('\n').slice(-1)[0]}`);
          return null;
        };
        const tfw = runTorch([], 'fwd');
        const tt = runTorch(trainSets, 'train');
        if (tfw || tt) r.torch = { fwdMs: tfw?.fwdMs ?? NaN, trainMs: tt?.trainMs ?? NaN };
        // The generated PyTorch project (tdc build --target torch) of the same network, same harness and sizes.
        const genDir = path.join(tmp, `torch-${s}`);
        const gen = spawnSync(process.execPath, [path.join(root, 'bin', 'tdc.js'), 'build', file, '--target', 'torch', '--out', genDir, ...trainSets.flatMap((x) => ['--set', x])], { encoding: 'utf8' });
        const tg = gen.status === 0 ? runTorch(trainSets, 'train', genDir) : null;
        if (gen.status !== 0) console.log(`${s}: tdc build --target torch failed: ${(gen.stderr || gen.stdout).trim().split('\n')[0]}`);
        if (tg) r.torchGenerated = { trainMs: tg.trainMs };
      }
      rows.push(r);
      printRow(r, peak, rows.length === 1);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Memory over a long run: the quickstart through the real `tdc train` path for 1,000 steps (scripts/bench-memory.mjs,
  // in its own process with --expose-gc), on the same backend. Skipped by --quick and --no-memory.
  let memory = null;
  if (o.memory && !o.quick) {
    const margs = ['--expose-gc', path.join(root, 'scripts', 'bench-memory.mjs'), '--steps', '1000'];
    if (o.backend) margs.push('--backend', o.backend);
    const m = spawnSync(process.execPath, margs, { encoding: 'utf8', env: { ...process.env, ...(o.threads ? { OMP_NUM_THREADS: String(o.threads) } : {}) } });
    const lines = (m.stdout || '').trim().split('\n').filter((l) => /^\s*\d+ steps in|after step|^\s+\d+\s|^change|^RSS over/.test(l));
    console.log('\nmemory, quickstart trained for 1,000 steps (tdc train path, after a forced GC):');
    if (m.status === 0) for (const l of lines) console.log(`  ${l}`);
    else console.log(`  failed: ${(m.stderr || '').trim().split('\n').slice(-1)[0]}`);
    memory = m.status === 0 ? lines : null;
  }
  const gen = rows.filter((r) => r.torchGenerated && r.torch);
  if (gen.length) {
    console.log('\ngenerated PyTorch project (tdc build --target torch) vs the hand-built reference (scripts/bench-torch.py), train step:');
    console.log('| spec | reference ms/img | generated ms/img | generated / reference |');
    console.log('|---|---|---|---|');
    for (const r of gen) console.log(`| ${r.spec} | ${fmt(r.torch.trainMs)} | ${fmt(r.torchGenerated.trainMs)} | ${fmt((100 * r.torchGenerated.trainMs) / r.torch.trainMs)} % |`);
  }
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ peaks, rows, memory }, null, 2));
}

function printRow(r, peak, header) {
  const gfFwd = (r.flops / r.fwdMs) * 1e-6;
  const gfTrain = ((3 * r.trainFlops) / r.trainMs) * 1e-6;
  if (header) {
    console.log(`backend: ${r.backend}`);
    console.log(
      '| spec | input | GFLOP/img | fwd ms/img | train ms/img (input) | fwd GFLOP/s | train GFLOP/s | % peak (fwd) | peak RSS MB | torch fwd | torch train | fwd ratio | train ratio | check ms | build ms |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  }
  const t = r.torch;
  const cells = [
    r.spec,
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
