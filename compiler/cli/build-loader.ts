/**
 * Finds and loads a generated build for `tdc train`, `tdc eval`, `tdc predict`: resolves the build folder
 * (argument or the last `tdc build`), checks that the spec did not change since, and bundles the generated
 * TypeScript with esbuild so that it runs against this tdc's runtime and tfjs (the same module instances the CLI uses).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Program } from '../../runtime/program.js';
import { TdcError } from '../../runtime/errors.js';

export interface LastBuild {
  dir: string;
  spec: string;
}

/** `.tdc/last-build.json` in the working directory, written by `tdc build`. */
export function readLastBuild(cwd = process.cwd()): LastBuild | undefined {
  const file = join(cwd, '.tdc', 'last-build.json');
  if (!existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as LastBuild;
    return typeof v.dir === 'string' ? { dir: resolve(cwd, v.dir), spec: v.spec } : undefined;
  } catch {
    return undefined;
  }
}

/** The build folder named on the command line, or the last build's. */
export function resolveBuildDir(arg: string | undefined, cwd = process.cwd()): string {
  if (arg) {
    const dir = resolve(cwd, arg);
    if (!existsSync(join(dir, 'spec.lock.json'))) {
      if (/\.ya?ml$/i.test(arg)) throw new TdcError(`'${arg}' is a spec, not a build folder; run tdc build ${arg} first`, { usage: true });
      throw new TdcError(`no tdc build in '${arg}' (spec.lock.json missing); run tdc build <spec.yaml> first`, { usage: true });
    }
    return dir;
  }
  const last = readLastBuild(cwd);
  if (!last) throw new TdcError('no build yet in this folder; run tdc build <spec.yaml> first', { usage: true });
  if (!existsSync(join(last.dir, 'spec.lock.json'))) {
    throw new TdcError(`the last build (${relative(cwd, last.dir) || '.'}) is gone; run tdc build ${last.spec} again`, { usage: true });
  }
  return last.dir;
}

export interface SpecLock {
  tdc: string;
  spec: string;
  hash: string;
  overrides?: string[];
  resolved: unknown;
}

export function readLock(buildDir: string): { lock: SpecLock; json: string } {
  const json = readFileSync(join(buildDir, 'spec.lock.json'), 'utf8');
  try {
    return { lock: JSON.parse(json) as SpecLock, json };
  } catch {
    throw new TdcError(`${join(buildDir, 'spec.lock.json')} is not valid JSON; run tdc build again`);
  }
}

/**
 * Re-compiles the spec the build came from and compares hashes. Returns a warning line when the spec cannot be
 * found (the build still runs); throws when it changed.
 */
export async function checkSpecUnchanged(buildDir: string, lock: SpecLock, specDir: string): Promise<string | undefined> {
  const specPath = resolve(buildDir, specDir, basename(lock.spec));
  if (!existsSync(specPath)) return `note: the spec ${lock.spec} is not at ${specPath}; cannot check that the build is current`;
  const { compile } = await import('../pipeline.js');
  const { createNodeHost } = await import('./host.js');
  const { specHash } = await import('../emit/canonical.js');
  const r = compile(specPath, createNodeHost(), lock.overrides ?? []);
  const rel = relative(process.cwd(), specPath) || specPath;
  if (!r.spec) throw new TdcError(`the spec ${rel} has errors since the build; run tdc check ${rel}`);
  const now = specHash(r.spec);
  if (now !== lock.hash) {
    throw new TdcError(
      `the spec ${rel} changed since the build (sha256 ${now.slice(0, 12)} ≠ ${lock.hash.slice(0, 12)}); run tdc build ${rel}`,
    );
  }
  return undefined;
}

/** The runtime entry this CLI runs against: dist/runtime/index.js next to dist/compiler/cli/. */
function runtimeEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of ['../../runtime/index.js', '../../runtime/index.ts']) {
    const p = resolve(here, candidate);
    if (existsSync(p)) return p;
  }
  throw new TdcError('the tdc runtime is not built; run npm run build in the tdc folder');
}

/**
 * Bundles `<build>/main.ts` (and the files it imports) into `<build>/.tdc/main.mjs`, with `tdc/runtime` and every
 * package import pointing at absolute paths of this tdc installation, then imports it.
 */
export async function loadProgram(buildDir: string): Promise<Program<unknown, string>> {
  const entry = join(buildDir, 'main.ts');
  if (!existsSync(entry)) throw new TdcError(`${entry} is missing; run tdc build again`);
  const esbuild = await import('esbuild');
  const outDir = join(buildDir, '.tdc');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, 'main.mjs');
  const runtime = runtimeEntry();
  try {
    await esbuild.build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'silent',
      plugins: [
        {
          name: 'tdc-runtime',
          setup(b) {
            b.onResolve({ filter: /^tdc\/runtime$|^tdc$/ }, () => ({ path: pathToFileURL(runtime).href, external: true }));
            // Packages resolve from tdc's own node_modules, whatever folder the build is in.
            b.onResolve({ filter: /^[@a-z]/ }, (args) => ({ path: import.meta.resolve(args.path), external: true }));
          },
        },
      ],
    });
  } catch (e) {
    const first = (e as { errors?: { text: string; location?: { file: string; line: number } }[] }).errors?.[0];
    const where = first?.location ? ` (${first.location.file}:${first.location.line})` : '';
    throw new TdcError(`the generated code in ${buildDir} does not compile${where}: ${first?.text ?? String(e)}; run tdc build again`);
  }
  const mod = (await import(`${pathToFileURL(outfile).href}?t=${Date.now()}`)) as { program?: Program<unknown, string> };
  if (!mod.program) throw new TdcError(`${entry} does not export a program; run tdc build again`);
  return mod.program;
}
