/**
 * `tdc build` + `tdc train` through the real CLI (the built bin/tdc.js, as a user runs it): a run killed with
 * SIGKILL mid-stage resumes to the same end, a changed spec is refused, a missing build is one clear line.
 * Needs `npm run build` first (the `npm test` script does it).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTdc } from './helpers/run-tdc.js';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'tdc.js');
const work = mkdtempSync(join(tmpdir(), 'tdc-train-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The quickstart spec, shrunk: few steps, few samples, data in the temp folder, frequent checkpoints. */
function tinySpec(dir: string, steps: [number, number, number]): string {
  let text = readFileSync(join(ROOT, 'examples', 'quickstart.yaml'), 'utf8');
  text = text.replaceAll('../.tdc/data/quickstart', join(dir, 'data'));
  text = text.replace(/synthesize: \{ n: \d+/, 'synthesize: { n: 12');
  text = text.replace(/train: \{[^}]*\}/, 'train: { seed: 3, validate_every: 0, checkpoint_every: 2, log_every: 1 }');
  let i = 0;
  text = text.replace(/steps: \d+ \}/g, () => `steps: ${steps[i++]} }`);
  const file = join(dir, 'tiny.yaml');
  writeFileSync(file, text);
  return file;
}

function tdc(args: string[], cwd: string) {
  return runTdc(args, cwd, { TDC_BACKEND: 'cpu' });
}

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);

interface LogLine {
  kind?: string;
  stage?: string;
  step?: number;
}

function stepRecords(runDir: string): LogLine[] {
  return readFileSync(join(runDir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as LogLine)
    .filter((r) => r.kind === 'step');
}

describe('tdc train through the CLI', () => {
  it('a missing build is one clear line, exit 2', async () => {
    const r = await tdc(['train'], work);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toMatch(/^tdc: no build yet in this folder; run tdc build/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it("SIGKILL mid-stage, then --resume, ends like an uninterrupted run", { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(work, 'kill-'));
    const spec = tinySpec(dir, [8, 4, 4]);
    const b = await tdc(['build', spec, '-o', join(dir, 'build')], dir);
    expect(b.code, b.err).toBe(0);

    // Reference: the same build trained without interruption in another run folder.
    const ref = await tdc(['train', 'build', '--run-dir', join(dir, 'ref')], dir);
    expect(ref.code, ref.err).toBe(0);

    // Kill the run hard once it has logged step 5 of the first stage (a checkpoint exists from step 4).
    const child = spawn(process.execPath, [BIN, 'train', 'build'], { cwd: dir, env: { ...process.env, TDC_BACKEND: 'cpu' } });
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/\[seg\+class 5\/8\]/.test(out)) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    expect(child.signalCode).toBe('SIGKILL');
    const runDir = join(dir, 'build', 'run');
    // The checkpoint on disk is whole: its state parses and names a step the run had reached.
    const { state } = JSON.parse(readFileSync(join(runDir, "checkpoints", "last", "state.json"), "utf8")) as { state: { stageIndex: number; step: number } };
    expect(state.stageIndex).toBe(0);
    expect(state.step).toBeGreaterThanOrEqual(2);
    expect(existsSync(join(runDir, 'summary.json'))).toBe(false);

    const resumed = await tdc(['train', 'build', '--resume'], dir);
    expect(resumed.code, resumed.err).toBe(0);
    noStack(resumed.err);
    const a = stepRecords(join(dir, 'ref'));
    const bRecs = stepRecords(runDir);
    expect(bRecs.map((r) => `${r.stage}:${r.step}`)).toEqual(a.map((r) => `${r.stage}:${r.step}`));
    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as { stages: { steps: number }[] };
    expect(summary.stages.map((s) => s.steps)).toEqual([8, 4, 4]);
  });

  it('a spec changed since the build is refused with a hint, no stack trace', async () => {
    const dir = mkdtempSync(join(work, 'hash-'));
    const spec = tinySpec(dir, [1, 1, 1]);
    expect((await tdc(['build', spec, '-o', join(dir, 'build')], dir)).code).toBe(0);
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('w1: 0.5', 'w1: 0.7'));
    const r = await tdc(['train', 'build'], dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/changed since the build .*run tdc build/);
    noStack(r.err);
  });
});
