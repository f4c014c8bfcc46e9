/**
 * Runs through the real CLI (bin/tdc.js): a three-stage spec with sync, a frozen encoder, batch norm, dropout and
 * augmentation, interrupted with SIGINT and SIGKILL at the first, a middle and the last step of every stage and
 * resumed each time, ends with the uninterrupted run's log.jsonl and stage weights; a second `tdc train` on a
 * running one is refused naming its pid, and the killed runs' stale locks are taken over; a finished run is not
 * replaced; `tdc eval --stage`. Needs `npm run build` first (the `npm test` script does it).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runTdc } from './helpers/run-tdc.js';

const work = mkdtempSync(join(tmpdir(), 'tdc-train-runs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SPEC = `version: 1
name: runs
task:
  dims: 2
  size: [16, 20]
  channels: 3
  classes:
    - { name: background, color: [0, 0, 0] }
    - { name: shaft, color: [0, 255, 0] }
    - { name: kidney, color: [255, 55, 0] }
  scenes: [preparing, peeling, incising]
data:
  format: robot18
  root: data
  synthesize: { n: 10, seed: 7 }
  scenes: { from: file, file: data/scenes.csv }
  splits: { val_fraction: 0.2 }
  augment: { hflip: 0.5, brightness: [0.8, 1.2] }
  batch_size: 2
model:
  encoder: { type: convstack, filters: [4, 8], convs_per_stage: 1, kernel: 3, output_stride: 2, norm: batch }
  context: { pairs: [[seg, class], [class, scene]], dilations: [2, 1], filters: 8, combine: sum }
  decoder: { type: aspp, dilations: [1, 2], filters: 8, image_pooling: true }
  heads:
    seg: { upsample: bilinear }
    class: { hidden: 8, dropout: 0.5 }
    scene: { hidden: 8 }
losses:
  seg: { type: seg, ce: 1, iou: 1 }
  class: { type: bce, head: class }
  scene: { type: bce, head: scene }
  sync: { type: sync, presence: hard, direction: seg->class }
weights: { w1: 0.5, w2: 0.2, w3: 0.1 }
optimizer: { type: adam }
schedule: { type: constant, lr: 5e-3 }
train: { seed: 3, validate_every: 3, checkpoint_every: 2, log_every: 1 }
stages:
  - { name: seg+class, label: Base+Class, from: init, loss: "seg + w1*class", steps: 4 }
  - { name: sync, label: Base+Class+Sync, loss: "seg + w1*class + w3*sync", freeze: [encoder], steps: 4 }
  - { name: scene, label: Base+Class+Sync+Scene, loss: "seg + w1*class + w2*scene + w3*sync", steps: 4 }
`;

const ENV = { TDC_BACKEND: 'cpu' };
const tdc = (args: string[], cwd: string) => runTdc(args, cwd, ENV);

/** Starts `tdc train build` and, when `[<at>] total` is printed, calls `act` with the child; resolves on exit. */
function trainUntil(dir: string, args: string[], at: string, act: (pid: number, kill: (s: NodeJS.Signals) => void) => Promise<void>) {
  return new Promise<{ code: number | null; signal: string | null; out: string; err: string; acted: boolean }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'train', 'build', ...args], { cwd: dir, env: { ...process.env, ...ENV } });
    let out = '';
    let err = '';
    let acted = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!acted && out.includes(`[${at}] total`)) {
        acted = true;
        act(child.pid!, (s) => child.kill(s)).catch(reject);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err, acted }));
  });
}

/** log.jsonl without its wall-clock fields. */
function records(runDir: string): unknown[] {
  return readFileSync(join(runDir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { time: _t, elapsed: _e, imagesPerSec: _i, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return rest;
    });
}

describe('runs through the CLI', () => {
  it('interrupted (SIGINT, SIGKILL) at the first, a middle and the last step of every stage and resumed each time = uninterrupted', { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(work, 'chain-'));
    writeFileSync(join(dir, 'tiny.yaml'), SPEC);
    const b = await tdc(['build', 'tiny.yaml', '-o', 'build'], dir);
    expect(b.code, b.err).toBe(0);
    // The data is generated on the first run; the reference and the interrupted run then share it.
    const reference = tdc(['train', 'build', '--run-dir', 'ref'], dir).then((r) => (expect(r.code, r.err).toBe(0), r));

    const points: [string, NodeJS.Signals][] = [
      ['seg+class 1/4', 'SIGINT'],
      ['seg+class 3/4', 'SIGKILL'],
      ['seg+class 4/4', 'SIGKILL'],
      ['sync 1/4', 'SIGKILL'],
      ['sync 2/4', 'SIGINT'],
      ['sync 4/4', 'SIGINT'],
      ['scene 1/4', 'SIGKILL'],
      ['scene 3/4', 'SIGINT'],
      ['scene 4/4', 'SIGKILL'],
    ];
    await reference; // before the first interrupted run, so the two do not both generate the data
    for (const [i, [at, signal]] of points.entries()) {
      const r = await trainUntil(dir, i === 0 ? [] : ['--resume'], at, async (pid, kill) => {
        if (at === 'sync 2/4') {
          // While it holds the run folder, a second tdc train on it is refused naming the first's pid.
          kill('SIGSTOP');
          const second = await tdc(['train', 'build', '--resume'], dir);
          expect(second.code).toBe(1);
          expect(second.err.trim()).toMatch(new RegExp(`^tdc: \\S+ is in use by another tdc train \\(pid ${pid}, since [^)]+\\); wait for it to end`));
          kill('SIGCONT');
        }
        kill(signal);
      });
      expect(r.acted, `${at}: ${r.out}\n${r.err}`).toBe(true);
      if (signal === 'SIGKILL') expect(r.signal).toBe('SIGKILL');
      else expect(r.code, r.err).toBe(130);
    }
    // The last SIGKILL left a stale lock: the resume takes it over and finishes.
    const last = await tdc(['train', 'build', '--resume'], dir);
    expect(last.code, last.err).toBe(0);

    const runDir = join(dir, 'build', 'run');
    expect(records(runDir)).toEqual(records(join(dir, 'ref')));
    for (const name of ['seg+class', 'sync', 'scene']) {
      const w = (d: string) => readFileSync(join(d, 'checkpoints', 'stages', name, 'weights.bin'));
      expect(w(runDir).equals(w(join(dir, 'ref'))), name).toBe(true);
    }

    // A finished run is not replaced without --fresh.
    const again = await tdc(['train', 'build'], dir);
    expect(again.code).toBe(2);
    expect(again.err.trim()).toMatch(/^tdc: build\/run holds a finished run; to train again use tdc train --fresh \(the finished run is kept beside it as run-<timestamp>\)/);
    expect(records(runDir)).toEqual(records(join(dir, 'ref')));

    // Each stage's final weights can be scored; a wrong name lists the finished ones.
    const ev = await tdc(['eval', 'build', '--stage', 'sync', '--json'], dir);
    expect(ev.code, ev.err).toBe(0);
    expect((JSON.parse(ev.out) as { checkpoint: string }).checkpoint).toBe(join('build', 'run', 'checkpoints', 'stages', 'sync'));
    const wrong = await tdc(['eval', 'build', '--stage', 'snyc'], dir);
    expect(wrong.code).toBe(2);
    expect(wrong.err.trim()).toBe("tdc: the spec has no stage 'snyc'; finished stages: seg+class, sync, scene (the spec's stages: seg+class, sync, scene)");
  });
});
