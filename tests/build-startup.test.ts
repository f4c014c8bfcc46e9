/**
 * `tdc build` stays light: run as a plain Node process (the sources transpiled as `npm run build` would, no
 * type-check), it must build a spec without ever resolving '@tensorflow/*', which costs seconds to load.
 * A module hook makes any such import fail, so the test fails the moment a static import drags tfjs in.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, expect, test } from 'vitest';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
// Inside the repository so that packages resolve from its node_modules; git-ignored (tests/**/tmp/).
const out = join(repoRoot, 'tests', 'tmp', `build-startup-${process.pid}`);
afterAll(() => rmSync(out, { recursive: true, force: true }));

function tsFiles(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name));
}

test('tdc build (both targets), check and explain never import @tensorflow/*', async () => {
  await build({
    entryPoints: [...tsFiles('compiler'), ...tsFiles('runtime'), ...tsFiles('spec')],
    outdir: out,
    outbase: repoRoot,
    format: 'esm',
    platform: 'node',
    logLevel: 'silent',
  });
  cpSync(join(repoRoot, 'compiler/emit/templates'), join(out, 'compiler/emit/templates'), { recursive: true });
  mkdirSync(join(out, 'spec'), { recursive: true });
  cpSync(join(repoRoot, 'spec/tdc.schema.json'), join(out, 'spec/tdc.schema.json'));
  cpSync(join(repoRoot, 'spec/tdc-study.schema.json'), join(out, 'spec/tdc-study.schema.json'));
  const hooks = join(out, 'no-tfjs-hooks.mjs');
  writeFileSync(
    hooks,
    `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@tensorflow/')) throw new Error('tdc build imported ' + specifier);
  return next(specifier, context);
}
`,
  );
  const register = join(out, 'no-tfjs.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  // The hook itself must work: importing tfjs under it fails.
  expect(() => execFileSync(process.execPath, ['--import', register, '-e', "await import('@tensorflow/tfjs')", '--input-type=module'], { cwd: repoRoot, stdio: 'pipe' })).toThrow(
    /tdc build imported @tensorflow\/tfjs/,
  );
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', register, join(out, 'compiler/cli/main.js'), ...args], { cwd: repoRoot, encoding: 'utf8' });
  // --check first (writes nothing, so the working directory's .tdc/last-build.json is left alone): all missing.
  const checked = cli('build', 'examples/quickstart.yaml', '-o', join(out, 'q'), '--check', '--format', 'json');
  expect(checked.stderr).toBe('');
  expect(checked.status).toBe(1);
  expect(JSON.parse(checked.stdout)).toMatchObject({ current: false, diagnostics: [] });
  // robot18 (the largest spec, with warnings) also compiles and emits without tfjs.
  const robot = cli('build', 'examples/robot18.yaml', '-o', join(out, 'r'), '--check');
  expect(robot.stderr).toBe('');
  expect(robot.stdout).toContain('5 generated files are out of date');
  // --target torch renders the PyTorch project too, still without tfjs.
  const torch = cli('build', 'examples/refuge18.yaml', '--target', 'torch', '-o', join(out, 't'), '--check');
  expect(torch.stderr).toBe('');
  expect(torch.stdout).toContain('10 generated files are out of date');
  // The built CLI (dist/, with its precompiled validator and templates; `npm test` builds first) likewise.
  for (const args of [['check', 'examples/robot18.yaml'], ['build', 'examples/brats18.yaml', '--target', 'torch', '-o', join(out, 'd'), '--check']]) {
    const r = spawnSync(process.execPath, ['--import', register, join(repoRoot, 'bin/tdc.js'), ...args], { cwd: repoRoot, encoding: 'utf8' });
    expect(r.stderr, args.join(' ')).not.toMatch(/imported @tensorflow/);
    expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(args[0] === 'check' ? 0 : 1);
  }
  // tdc check and tdc explain lower the spec to the model IR (spec/ir), which needs no tfjs either.
  for (const cmd of ['check', 'explain']) {
    const r = cli(cmd, 'examples/brats18.yaml');
    expect(r.stderr, cmd).not.toMatch(/imported @tensorflow/);
    expect(r.status, `${cmd}: ${r.stderr}`).toBe(0);
  }
}, 60_000);
