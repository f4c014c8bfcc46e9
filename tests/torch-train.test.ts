/**
 * The generated PyTorch project trains like tdc and writes tdc's run format, on a tiny quickstart:
 *   - DDP: `torchrun --nproc_per_node=2` (gloo, CPU) at per-rank batch 1 ends three steps with the weights one
 *     process reaches at batch 2 (1e-5), on a spec without batch norm whose loss terms are per-image (the seg
 *     loss of eq. (1) with its default per-image soft IoU, class BCE: a batch-pooled IoU would change meaning per
 *     rank), and rank 0 alone writes the run folder;
 *   - the README's story, with the real `torchrun` script and the two flags Debian's 1.13 needs: build, pack,
 *     `torchrun … build/qt/train.py` with no arguments trains the three stages into build/qt/run, written once,
 *     and `tdc report build/qt/run` renders it;
 *   - `kill -9` of the torchrun job mid-stage, then `tdc train --target torch --resume`, reaches the stage
 *     lengths of an uninterrupted run, every step logged once; the checkpoint on disk was whole at the kill;
 *   - cross-loading: `tdc eval` on the torch-trained run scores what train.py's own validation scored, and a
 *     tdc-trained (tfjs) checkpoint loaded by train.py --eval scores what `tdc eval` scores on it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { findTorchPython } from '../compiler/cli/torch-python.js';
import { TORCHRUN_STREAMS } from '../compiler/cli/torch-train.js';
import { loadCheckpoint, recoverCheckpointDir, saveCheckpoint } from '../runtime/train/checkpoint.js';
import { RunLock } from '../runtime/train/run-dir.js';
import { runTdc } from './helpers/run-tdc.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const found = findTorchPython();
const python = 'python' in found ? found.python : null;
if (!python) console.log(`torch training tests skipped: ${'problem' in found ? found.problem : ''}`);
const work = mkdtempSync(join(tmpdir(), 'tdc-torch-train-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const pack = join(work, 'pack');

/** Per-image loss terms only (the seg loss's IoU per image, its default), no dropout, no batch norm (quickstart has none), a batch of 2. */
const BASE = [
  `data.root=${join(work, 'data')}`,
  `data.scenes={from: file, file: ${join(work, 'data', 'scenes.csv')}}`,
  'data.synthesize.n=8',
  'data.batch_size=2',
  'losses.seg.iou_reduction=per-image',
  // SGD: Adam's m / √v turns float round-off in near-zero gradients into full-size steps, which no tolerance survives.
  'optimizer.type=sgd',
  'optimizer.momentum=0.9',
  'optimizer.weight_decay=0.001',
  'model.heads.class.dropout=0',
  'model.heads.scene.dropout=0',
  'train.log_every=1',
  'train.validate_every=0',
];
const sets = (xs: string[]) => xs.flatMap((x) => ['--set', x]);

function run(exe: string, args: string[], opts: { detached?: boolean; cwd?: string } = {}) {
  const child = spawn(exe, args, { cwd: opts.cwd ?? work, detached: opts.detached, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.on('close', (code) => resolve({ code, out })));
  return { child, done };
}
const py = (args: string[]) => run(python!, args);
/** The `torchrun` script installed beside the python that has torch (Debian: /usr/bin/torchrun), run as a user runs it. */
const torchrunBin = python ? join(dirname(spawnSync(python, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim()), 'torchrun') : '';
function torchrun(n: number, args: string[], opts: { detached?: boolean; cwd?: string } = {}) {
  expect(existsSync(torchrunBin), `${python} has torch but no torchrun beside it (${torchrunBin})`).toBe(true);
  return run(torchrunBin, [...TORCHRUN_STREAMS, '--standalone', `--nproc_per_node=${n}`, ...args], opts);
}
interface ScoredSummary {
  status: string;
  stages: { name: string; steps: number; validation: unknown; scores?: { metrics: Record<string, number>; columns: { key: string; label: string }[] } }[];
}
interface EvalJson {
  protocol: { metrics: Record<string, number | string | null> };
}
/**
 * A summary row's protocol scores against `tdc eval --json`'s, which rounds to 1e-6 and writes NaN as null and ±∞
 * as a string (summary.json, plain JSON, has null for both).
 */
function expectSameScores(row: Record<string, number | null>, printed: Record<string, number | string | null>) {
  expect(Object.keys(row).sort()).toEqual(Object.keys(printed).sort());
  expect(Object.keys(row).length).toBeGreaterThan(0);
  for (const [k, v] of Object.entries(printed)) {
    if (typeof v === 'number') expect(row[k], k).toBeCloseTo(v, 5);
    else expect(row[k], k).toBeNull();
  }
}
const stepLines = (run: string) =>
  readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; stage: string; step: number; miou?: number; mdice?: number });

describe.skipIf(!python)('generated PyTorch project: DDP, kill -9 + resume, cross-loading', () => {
  beforeAll(async () => {
    const b = await runTdc(['build', 'examples/quickstart.yaml', '--target', 'torch', '-o', join(work, 'ddp'), ...sets([...BASE, 'train.checkpoint_every=0'])], repoRoot);
    expect(b.code, b.err).toBe(0);
    const p = await runTdc(['pack', 'examples/quickstart.yaml', '-o', pack, ...sets(BASE)], repoRoot);
    expect(p.code, p.err + p.out).toBe(0);
  }, 60_000);

  test('what the user can fix is one line and a non-zero exit, no traceback', { timeout: 60_000 }, async () => {
    const script = join(work, 'ddp', 'train.py');
    const oneLine = (r: { status: number | null; stderr: string; stdout: string }, pattern: RegExp) => {
      expect(r.status, r.stderr).not.toBe(0);
      expect(r.stderr).not.toContain('Traceback');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    };
    const run = (args: string[], exe = python!) => spawnSync(exe, [script, ...args], { encoding: 'utf8', cwd: work });
    oneLine(run(['--pack', pack, '--device', 'cuda']), /--device cuda was asked but no CUDA device/);
    oneLine(run(['--pack', pack, '--preflight', '3']), /world size 3 does not divide the spec's batch size 2/);
    oneLine(run(['--pack', join(work, 'nowhere')]), /no tdc pack in .*nowhere; run tdc pack/);
    // A pack of the same dataset under another split seed: its data section differs from this build's.
    const other = join(work, 'pack-seed');
    const p = await runTdc(['pack', 'examples/quickstart.yaml', '-o', other, ...sets([...BASE, 'train.seed=5'])], repoRoot);
    expect(p.code, p.err).toBe(0);
    oneLine(run(['--pack', other]), /whose data section differs from this build's; run tdc pack/);
    // A python without torch (PATH's python3 here, when it has none).
    const bare = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
    if (bare.status !== 0 && !bare.error) oneLine(run(['--pack', pack], 'python3'), /torch is not installed for .*; install PyTorch 1\.13 or newer/);
  });

  test('torchrun at per-rank batch 1 ends three steps with the weights of one process at batch 2', { timeout: 120_000 }, async () => {
    const script = join(work, 'ddp', 'train.py');
    const [one, two] = await Promise.all([
      py([script, '--pack', pack, '--run-dir', join(work, 'one'), '--stop-after', '3', '--threads', '1']).done,
      torchrun(2, [script, '--pack', pack, '--run-dir', join(work, 'two'), '--stop-after', '3']).done,
    ]);
    expect(one.code, one.out).toBe(0);
    expect(two.code, two.out).toBe(0);
    const a = await loadCheckpoint(join(work, 'one', 'checkpoints', 'last'));
    const b = await loadCheckpoint(join(work, 'two', 'checkpoints', 'last'));
    expect((b.state as { step: number }).step).toBe(3);
    const theirs = new Map(b.weights.map((w) => [w.name, w.values]));
    let worst = 0;
    for (const w of a.weights) {
      const v = theirs.get(w.name)!;
      for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i]! - w.values[i]!) / Math.max(Math.abs(w.values[i]!), 1e-3));
    }
    expect(worst).toBeLessThan(1e-5);
    // Written once: three step records, not one per rank.
    expect(stepLines(join(work, 'two')).map((r) => r.step)).toEqual([1, 2, 3]);
    expect(readFileSync(join(work, 'two', 'log.csv'), 'utf8').trim().split('\n')).toHaveLength(4);
  });

  test('the README story with the real torchrun script: build, pack, torchrun train.py with no arguments, tdc report', { timeout: 120_000 }, async () => {
    // A copy of the spec in its own folder, so the default pack (<spec dir>/.tdc/pack/quickstart) lands there.
    const story = join(work, 'story');
    mkdirSync(story);
    copyFileSync(join(repoRoot, 'examples', 'quickstart.yaml'), join(story, 'quickstart.yaml'));
    const steps = ['stages.0.steps=3', 'stages.1.steps=2', 'stages.2.steps=2', 'train.checkpoint_every=0'];
    const b = await runTdc(['build', 'quickstart.yaml', '--target', 'torch', '-o', 'build/qt', ...sets([...BASE, ...steps])], story);
    expect(b.code, b.err).toBe(0);
    const p = await runTdc(['pack', 'quickstart.yaml', ...sets(BASE)], story);
    expect(p.code, p.err + p.out).toBe(0);
    const t = await torchrun(2, ['build/qt/train.py'], { cwd: story }).done;
    expect(t.code, t.out.slice(-3000)).toBe(0);
    // Rank 0's progress reached the console (stdout is not redirected), each stage's last step once.
    for (const line of ['seg+class 3/3', 'sync 2/2', 'scene 2/2']) expect(t.out.split(line)).toHaveLength(2);
    const run = join(story, 'build', 'qt', 'run');
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as { status: string; stages: { name: string; steps: number }[] };
    expect(summary.status).toBe('completed');
    expect(summary.stages.map((s) => [s.name, s.steps])).toEqual([['seg+class', 3], ['sync', 2], ['scene', 2]]);
    // Written once: one record per step, not one per rank.
    const recs = stepLines(run).filter((r) => r.kind === 'step');
    expect(recs.map((r) => `${r.stage}:${r.step}`)).toEqual(['seg+class:1', 'seg+class:2', 'seg+class:3', 'sync:1', 'sync:2', 'scene:1', 'scene:2']);
    // train.py alone writes pooled validation rows; `tdc report` scores each stage by the protocol first, as tdc train does.
    expect(summary.stages.some((s) => 'scores' in s)).toBe(false);
    // Seven steps leave every pixel background (all scores 0): stage sync's final weights are made to predict
    // class 1 everywhere, so that its row is non-zero and differs from the others' (the right weights are scored).
    const syncDir = join(run, 'checkpoints', 'stages', 'sync');
    const sync = await loadCheckpoint(syncDir);
    const bias = sync.weights.find((w) => w.name === 'seg_logits/bias')!;
    bias.values[1] = bias.values[1]! + 20;
    await saveCheckpoint(syncDir, sync);
    // While another process holds the run (a training), the report does not rewrite its summary.
    const held = RunLock.acquire(run);
    try {
      const busy = await runTdc(['report', 'build/qt/run'], story);
      expect(busy.code, busy.err).toBe(0);
      expect(busy.err).toMatch(/^note: the stages were not scored by the protocol: build\/qt\/run is in use by another tdc train \(pid \d+/);
      expect((JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as ScoredSummary).stages.some((s) => 'scores' in s)).toBe(false);
    } finally {
      held.releaseSync();
    }
    const r = await runTdc(['report', 'build/qt/run'], story);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('scoring 3 stages by the protocol…');
    expect(existsSync(join(run, 'report.html'))).toBe(true);
    const scored = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as ScoredSummary;
    expect(scored.status).toBe('completed');
    expect(scored.stages.map((s) => [s.name, s.steps])).toEqual([['seg+class', 3], ['sync', 2], ['scene', 2]]);
    expect(scored.stages.every((s) => s.validation !== null && s.scores !== undefined)).toBe(true);
    const md = readFileSync(join(run, 'summary.md'), 'utf8');
    for (const c of scored.stages[0]!.scores!.columns) expect(md).toContain(c.label);
    expect(md).not.toMatch(/\| mIoU \|/);
    // The rows are what `tdc eval --stage` prints for the same weights.
    const rowOf = (name: string) => scored.stages.find((s) => s.name === name)!.scores!.metrics;
    expect(rowOf('sync')['miou']).toBeGreaterThan(0);
    expect(rowOf('seg+class')['miou']).not.toBeCloseTo(rowOf('sync')['miou']!, 3);
    const ev = await runTdc(['eval', 'build/qt', '--stage', 'sync', '--json'], story);
    expect(ev.code, ev.err).toBe(0);
    expectSameScores(rowOf('sync'), (JSON.parse(ev.out) as EvalJson).protocol.metrics);
    // A second report reads the scores, it does not score again.
    const again = await runTdc(['report', 'build/qt/run'], story);
    expect(again.code, again.err).toBe(0);
    expect(again.err).not.toContain('scoring');
    expect(JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'))).toEqual(scored);
  });

  test('kill -9 mid-stage, then resume: the stage lengths of an uninterrupted run; the checkpoint was whole', { timeout: 120_000 }, async () => {
    const steps = ['stages.0.steps=8', 'stages.1.steps=2', 'stages.2.steps=2', 'train.checkpoint_every=2'];
    const b = await runTdc(['build', 'examples/quickstart.yaml', '--target', 'torch', '-o', join(work, 'kill'), ...sets([...BASE, ...steps])], repoRoot);
    expect(b.code, b.err).toBe(0);
    const run = join(work, 'kill', 'run');
    const job = torchrun(2, [join(work, 'kill', 'train.py'), '--pack', pack], { detached: true });
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      const lines = existsSync(join(run, 'log.jsonl')) ? readFileSync(join(run, 'log.jsonl'), 'utf8').split('\n').length - 1 : 0;
      if (lines >= 5) break;
    }
    process.kill(-job.child.pid!, 'SIGKILL');
    await job.done;
    await recoverCheckpointDir(join(run, 'checkpoints', 'last'));
    const saved = await loadCheckpoint(join(run, 'checkpoints', 'last'));
    const at = saved.state as { stageIndex: number; step: number };
    expect(at.stageIndex).toBe(0);
    expect(at.step).toBeGreaterThan(0);
    expect(at.step).toBeLessThan(8);
    const resumed = await runTdc(['train', join(work, 'kill'), '--target', 'torch', '--nproc', '2', '--pack', pack, '--resume'], work);
    expect(resumed.code, (resumed.out + resumed.err).slice(-3000)).toBe(0);
    expect(resumed.out).toContain(`$ ${python} -m torch.distributed.run --redirects 2 --tee 2 --standalone --nproc_per_node=2 kill/train.py --pack ${pack} --resume`);
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as { status: string; stages: { name: string; steps: number }[] };
    expect(summary.status).toBe('completed');
    expect(summary.stages.map((s) => [s.name, s.steps])).toEqual([['seg+class', 8], ['sync', 2], ['scene', 2]]);
    const recs = stepLines(run).filter((r) => r.kind === 'step');
    expect(recs.map((r) => `${r.stage}:${r.step}`)).toEqual([...Array.from({ length: 8 }, (_, i) => `seg+class:${i + 1}`), 'sync:1', 'sync:2', 'scene:1', 'scene:2']);
    expect(existsSync(join(run, 'report.html'))).toBe(true);

    // torch-trained → tdc: `tdc eval` of the final weights scores what train.py's last validation scored.
    const lastVal = stepLines(run).filter((r) => r.kind === 'val').at(-1)!;
    const ev = await runTdc(['eval', join(work, 'kill'), '--checkpoint', 'last', '--json'], work);
    expect(ev.code, ev.err).toBe(0);
    const scores = JSON.parse(ev.out) as { mean: { iou: number; dice: number } };
    expect(scores.mean.iou).toBeCloseTo(lastVal.miou!, 6);
    expect(scores.mean.dice).toBeCloseTo(lastVal.mdice!, 6);
    // Each stage's final weights are kept as tdc train keeps them, so tdc eval --stage reads a torch run too.
    expect(existsSync(join(run, 'checkpoints', 'stages', 'seg+class', 'state.json'))).toBe(true);
    const st = await runTdc(['eval', join(work, 'kill'), '--stage', 'scene', '--json'], work);
    expect(st.code, st.err).toBe(0);
    expect((JSON.parse(st.out) as { mean: { iou: number } }).mean.iou).toBeCloseTo(lastVal.miou!, 6);
    // tdc train --target torch scored each stage's final weights by the protocol into the summary, as tdc train does.
    for (const name of ['seg+class', 'sync', 'scene']) expect(resumed.out).toContain(`stage ${name}: scoring its final weights on the val split`);
    const rows = (JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as ScoredSummary).stages;
    expectSameScores(rows.find((s) => s.name === 'scene')!.scores!.metrics, (JSON.parse(st.out) as EvalJson).protocol.metrics);
  });

  test('a tdc-trained checkpoint scores the same in train.py --eval as in tdc eval', { timeout: 120_000 }, async () => {
    const steps = ['stages.0.steps=2', 'stages.1.steps=1', 'stages.2.steps=1', 'train.checkpoint_every=0'];
    const dir = join(work, 'tfjs');
    const b = await runTdc(['build', 'examples/quickstart.yaml', '--target', 'torch', '-o', dir, ...sets([...BASE, ...steps])], repoRoot);
    expect(b.code, b.err).toBe(0);
    const t = await runTdc(['train', dir], work);
    expect(t.code, t.out + t.err).toBe(0);
    const ev = await runTdc(['eval', dir, '--checkpoint', 'last', '--json'], work);
    expect(ev.code, ev.err).toBe(0);
    const tdcScores = JSON.parse(ev.out) as { mean: { iou: number; dice: number }; classAcc: number };
    const r = spawnSync(python!, [join(dir, 'train.py'), '--pack', pack, '--eval', join(dir, 'run', 'checkpoints', 'last')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const torchScores = JSON.parse(r.stdout) as { miou: number; mdice: number; extra: Record<string, number> };
    expect(torchScores.miou).toBeCloseTo(tdcScores.mean.iou, 6);
    expect(torchScores.mdice).toBeCloseTo(tdcScores.mean.dice, 6);
    expect(torchScores.extra.class_acc).toBeCloseTo(tdcScores.classAcc, 6);
  });
});
