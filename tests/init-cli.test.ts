/**
 * `tdc init`: the starter specs pass `tdc check` through the real CLI path, the file is never overwritten without
 * --force, and both starters build and train (a few steps, through the built bin/tdc.js as a user runs it; needs
 * `npm run build` first, as the `npm test` script does).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTdc } from './helpers/run-tdc.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../compiler/cli/main.js';
import { starterSpec } from '../compiler/cli/commands/init.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'tdc.js');
let work: string;
const savedCwd = process.cwd();

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tdc-init-'));
  process.chdir(work);
});
afterAll(() => {
  process.chdir(savedCwd);
  rmSync(work, { recursive: true, force: true });
});

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (s) => (out += s), err: (s) => (err += s), color: false });
  return { code, out, err };
}

describe('tdc init', () => {
  it('2D: writes <name>.yaml that tdc check accepts with no diagnostics', async () => {
    const r = await run('init', 'mynet');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe('wrote mynet.yaml (2D); next: tdc check mynet.yaml && tdc explain mynet.yaml && tdc build mynet.yaml\n');
    const text = readFileSync('mynet.yaml', 'utf8');
    const doc = parse(text) as { name: string; task: { dims: number }; model: { encoder: { type: string } }; data: { format: string } };
    expect(doc.name).toBe('mynet');
    expect(doc.task.dims).toBe(2);
    expect(doc.model.encoder.type).toBe('convstack');
    expect(doc.data.format).toBe('robot18');
    const c = await run('check', 'mynet.yaml');
    expect(c.code, c.out).toBe(0);
    expect(c.out).not.toMatch(/error|warning/);
  });

  it('3D: an aniso3d starter on BRATS-style data that tdc check accepts', async () => {
    const r = await run('init', 'vol', '--dims', '3', '-o', 'specs/vol.yaml');
    expect(r.code, r.err).toBe(0);
    const doc = parse(readFileSync('specs/vol.yaml', 'utf8')) as { task: { dims: number }; model: { encoder: { type: string } }; data: { format: string } };
    expect(doc.task.dims).toBe(3);
    expect(doc.model.encoder.type).toBe('aniso3d');
    expect(doc.data.format).toBe('brats18');
    const c = await run('check', 'specs/vol.yaml');
    expect(c.code, c.out).toBe(0);
    expect(c.out).not.toMatch(/error|warning/);
  });

  it('points yaml-language-server at this installation’s schema, relative to the new file', async () => {
    const first = readFileSync('specs/vol.yaml', 'utf8').split('\n')[0]!;
    const m = /^# yaml-language-server: \$schema=(.+)$/.exec(first);
    expect(m).not.toBeNull();
    expect(resolve(work, 'specs', m![1]!)).toBe(join(ROOT, 'spec', 'tdc.schema.json'));
  });

  it('refuses to overwrite an existing file (one line, exit 1) unless --force', async () => {
    writeFileSync('mine.yaml', 'keep me\n');
    const r = await run('init', 'mine');
    expect(r.code).toBe(1);
    expect(r.err).toBe('tdc: mine.yaml already exists; pass --force to overwrite it\n');
    expect(readFileSync('mine.yaml', 'utf8')).toBe('keep me\n');
    const f = await run('init', 'mine', '--force');
    expect(f.code).toBe(0);
    expect(readFileSync('mine.yaml', 'utf8')).toContain('name: mine');
  });

  it('rejects a name the spec would reject, and an unknown --dims, as usage errors', async () => {
    const r = await run('init', '9lives');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^tdc: '9lives' is not a valid spec name/);
    expect(existsSync('9lives.yaml')).toBe(false);
    const d = await run('init', 'x', '--dims', '4');
    expect(d.code).toBe(2);
    expect(existsSync('x.yaml')).toBe(false);
  });
});

describe('the starters train', () => {
  const tdc = (args: string[], cwd: string) => runTdc(args, cwd, { TDC_BACKEND: 'cpu' });

  // One step per stage (and few generated samples) keeps each run to ~10 s on a loaded CPU: the mechanics, not learning.
  for (const dims of [2, 3] as const) {
    it(`${dims}D: tdc build + tdc train (1 step per stage) ends with a best checkpoint and a summary`, async () => {
      const dir = join(work, `train${dims}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'spec.yaml'), starterSpec(`s${dims}`, dims));
      const shrink = ['--set', 'stages.0.steps=1', '--set', 'stages.1.steps=1', '--set', 'stages.2.steps=1'];
      const n = ['--set', `data.synthesize.n=${dims === 2 ? 8 : 4}`];
      const b = await tdc(['build', 'spec.yaml', '-o', 'build', ...shrink, ...n, '--set', 'train.validate_every=0'], dir);
      expect(b.code, b.err).toBe(0);
      const t = await tdc(['train', 'build'], dir);
      expect(t.code, t.err + t.out).toBe(0);
      expect(t.out).toMatch(/\[scene 1\/1\] total \d/);
      expect(existsSync(join(dir, 'build', 'run', 'best', 'state.json'))).toBe(true);
      expect(existsSync(join(dir, 'build', 'run', 'summary.md'))).toBe(true);
    });
  }

  it('3D: the starter network builds at its size, its outputs have the documented shapes, and it exports', async () => {
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    const { compile } = await import('../compiler/pipeline.js');
    const { createNodeHost } = await import('../compiler/cli/host.js');
    const { buildNetwork } = await import('../runtime/layers/index.js');
    const { exportTfjs } = await import('../runtime/export/index.js');
    const file = join(work, 's3.yaml');
    writeFileSync(file, starterSpec('s3', 3));
    const r = compile(file, createNodeHost());
    expect(r.spec, JSON.stringify(r.diagnostics)).toBeDefined();
    const { model } = buildNetwork(r.ir!, { seed: r.spec!.train.seed });
    const outs = model.predict(tf.zeros([1, 8, 32, 32, 4])) as import('@tensorflow/tfjs').Tensor[];
    expect(outs.map((t) => t.shape)).toEqual([[1, 8, 32, 32, 4], [1, 4], [1, 2]]);
    const result = await exportTfjs(model, { outDir: join(work, 's3-export') });
    expect(result.classes).toContain('Conv3D');
    tf.dispose(outs);
    model.dispose();
  });
});
