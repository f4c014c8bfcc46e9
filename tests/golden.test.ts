/**
 * Golden files: the four example specs, built by the real `tdc build` path into tests/golden/<case>/expected,
 * must match what is checked in byte for byte. After an intended change to the generator, regenerate with
 * `npm run update-goldens` (UPDATE_GOLDEN=1 for this file) and review the diff.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { applyOutput } from '../compiler/cli/build-output.js';
import { planBuild } from '../compiler/cli/commands/build.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const GOLDEN_CASES = ['quickstart', 'robot18', 'brats18', 'refuge18'] as const;
const update = process.env.UPDATE_GOLDEN === '1';

describe.each(GOLDEN_CASES)('golden %s', (name) => {
  test(update ? 'regenerates the expected files' : 'the generated files equal tests/golden/' + name + '/expected', async () => {
    // The paths as a user at the repository root would type them, so headers and specDirFromOut are stable.
    const plan = await planBuild({ spec: `examples/${name}.yaml`, outDir: `tests/golden/${name}/expected`, cwd: repoRoot });
    expect(plan.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(plan.files?.map((f) => f.path)).toEqual(['model.ts', 'trainer.ts', 'data.ts', 'main.ts', 'spec.lock.json']);
    if (update) {
      applyOutput(plan.outDir, plan.files!, plan.changes!);
      return;
    }
    for (const f of plan.files!) {
      let expected: string;
      try {
        expected = readFileSync(join(plan.outDir, f.path), 'utf8');
      } catch {
        throw new Error(`tests/golden/${name}/expected/${f.path} is missing; run npm run update-goldens`);
      }
      expect(f.contents, `${name}/${f.path} drifted from its golden (npm run update-goldens after review)`).toBe(expected);
    }
    // No golden file that the build no longer produces.
    expect(plan.changes!.filter((c) => c.status !== 'unchanged')).toEqual([]);
  });
});

/**
 * The torch target adds the PyTorch project beside the same TypeScript files: its .py files are goldens in
 * tests/golden/<case>/torch (the TypeScript ones are the tfjs goldens above, byte for byte).
 */
describe.each(GOLDEN_CASES)('golden %s --target torch', (name) => {
  test(update ? 'regenerates the expected Python files' : 'the generated Python files equal tests/golden/' + name + '/torch', async () => {
    const plan = await planBuild({ spec: `examples/${name}.yaml`, outDir: `tests/golden/${name}/torch`, cwd: repoRoot, target: 'torch' });
    expect(plan.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const tfjs = await planBuild({ spec: `examples/${name}.yaml`, outDir: `tests/golden/${name}/torch`, cwd: repoRoot });
    const py = plan.files!.filter((f) => f.path.endsWith('.py'));
    expect(py.map((f) => f.path)).toEqual(['model.py', 'losses.py', 'checkpoint.py', 'data.py', 'train.py']);
    expect(plan.files!.filter((f) => !f.path.endsWith('.py'))).toEqual(tfjs.files);
    for (const f of py) {
      if (update) {
        mkdirSync(plan.outDir, { recursive: true });
        writeFileSync(join(plan.outDir, f.path), f.contents);
        continue;
      }
      let expected: string;
      try {
        expected = readFileSync(join(plan.outDir, f.path), 'utf8');
      } catch {
        throw new Error(`tests/golden/${name}/torch/${f.path} is missing; run npm run update-goldens`);
      }
      expect(f.contents, `${name}/${f.path} drifted from its golden (npm run update-goldens after review)`).toBe(expected);
    }
  });
});
