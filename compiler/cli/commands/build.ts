/** `tdc build spec.yaml`: compile a spec to its TypeScript model, trainer, data and entry files in a build folder. */
import { isAbsolute, join, normalize, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { hasErrors, type Diagnostic } from '../../../spec/diagnostics.js';
import { formatDiagnostics, type DiagnosticFormat } from '../../format.js';
import type { SpecHost } from '../../frontend.js';
import type { SpanIndex } from '../../parse/index.js';
import {
  applyOutput,
  planOutput,
  portableRelative,
  tdcVersion,
  writeLastBuild,
  type FileChange,
  type OutputFile,
} from '../build-output.js';
import { createNodeHost, EXIT, io, setExitCode } from '../host.js';
import { collect } from './check.js';

export interface BuildArgs {
  /** The spec file as the user named it: relative to `cwd`, or absolute. */
  spec: string;
  /** The output folder (relative to `cwd`, or absolute); default `build/<spec name>` under `cwd`. */
  outDir?: string;
  /** `--set path=value` overrides, applied in order. */
  overrides?: readonly string[];
  /** The directory relative paths start from and `.tdc/last-build.json` is written in; default the process's. */
  cwd?: string;
  /** 'tfjs' (default): the TypeScript project; 'torch': the same plus the PyTorch project (model.py, train.py, …). */
  target?: 'tfjs' | 'torch';
}

/** What building a spec would do, computed without writing anything. */
export interface BuildPlan {
  /** Every diagnostic of the compile (warnings included). */
  diagnostics: Diagnostic[];
  spans?: SpanIndex;
  /** The output folder as printed: as the user wrote `-o`, else `build/<name>`; '/' separators. */
  outDirText: string;
  /** The output folder, absolute. */
  outDir: string;
  /** The directory the build was planned from (absolute); `.tdc/last-build.json` goes under it. */
  cwd: string;
  /** The spec path relative to `cwd` with '/' separators (also in the generated headers). */
  specPath: string;
  /** Set when the spec compiled without errors. */
  name?: string;
  hash?: string;
  files?: OutputFile[];
  /** Each produced file against the folder's contents, then the stale generated files. */
  changes?: FileChange[];
}

/** A SpecHost reading relative paths from `cwd` while keeping them as written, so messages show the user's paths. */
function hostAt(cwd: string): SpecHost {
  const disk = createNodeHost();
  return { readFile: (p) => disk.readFile(isAbsolute(p) ? p : join(cwd, p)), resolve: (from, rel) => disk.resolve(from, rel) };
}

const slashes = (p: string) => p.split(/[\\/]/).join('/');

/**
 * Compiles the spec and emits its files, then compares them with the output folder. Pure apart from reading:
 * `tdc build` applies the plan, `tdc build --check` reports it, and the golden tests call it directly.
 */
export async function planBuild(args: BuildArgs): Promise<BuildPlan> {
  const cwd = resolve(args.cwd ?? process.cwd());
  // Loaded on use so that the module list in main.ts stays cheap for the other commands.
  const { compile } = await import('../../pipeline.js');
  const { emitProject, specHash } = await import('../../emit/index.js');
  const compiled = compile(args.spec, hostAt(cwd), [...(args.overrides ?? [])]);
  const specAbs = resolve(cwd, args.spec);
  const specPath = portableRelative(cwd, specAbs);
  const diagnostics = [...compiled.diagnostics];
  const spans = compiled.doc?.spans;
  const name = compiled.spec?.name;
  const outDirText = slashes(normalize(args.outDir ?? join('build', name ?? 'spec'))).replace(/\/$/, '');
  const outDir = resolve(cwd, outDirText);
  const plan: BuildPlan = { diagnostics, outDirText, outDir, cwd, specPath, ...(spans ? { spans } : {}) };
  if (hasErrors(diagnostics) || !compiled.spec || !compiled.ir) return plan;

  const hash = specHash(compiled.spec);
  const emitted = emitProject(compiled.spec, compiled.ir, {
    version: tdcVersion(),
    specPath,
    specDirFromOut: portableRelative(outDir, resolve(specAbs, '..')),
    hash,
    overrides: [...(args.overrides ?? [])],
  }, args.target ?? 'tfjs');
  diagnostics.push(...emitted.diagnostics);
  if (hasErrors(emitted.diagnostics) || !emitted.value) return plan;
  return { ...plan, name: compiled.spec.name, hash, files: emitted.value, changes: planOutput(outDir, emitted.value, outDirText) };
}

/** The folder's files that `--check` reports: everything that is not unchanged. */
export function outdated(plan: BuildPlan): FileChange[] {
  return (plan.changes ?? []).filter((c) => c.status !== 'unchanged');
}

const VERB: Record<FileChange['status'], string> = { new: 'wrote', changed: 'updated', unchanged: 'unchanged', stale: 'removed' };
const CHECK_WORD: Record<FileChange['status'], string> = {
  new: 'missing',
  changed: 'differs from what the spec now produces',
  unchanged: 'current',
  stale: 'stale (the spec no longer produces it)',
};

interface BuildOptions {
  out?: string;
  target: 'tfjs' | 'torch';
  set: string[];
  check?: boolean;
  format: DiagnosticFormat;
}

export function register(program: Command): void {
  program
    .command('build')
    .description('generate the TypeScript model, trainer, data binding and entry point of a spec')
    .argument('<spec>', 'the spec file (YAML)')
    .option('-o, --out <dir>', 'output folder (default: build/<spec name>)')
    .option('--set <path=value>', 'override a value, e.g. --set data.batch_size=4 (repeatable)', collect, [])
    .addOption(new Option('--target <target>', 'tfjs: TypeScript on tfjs; torch: also a PyTorch project (train.py) for GPUs and torchrun').choices(['tfjs', 'torch']).default('tfjs'))
    .option('--check', 'write nothing; exit 1 if a generated file is missing, differs or is stale')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'github']).default('text'))
    .action(async (spec: string, opts: BuildOptions) => {
      const plan = await planBuild({ spec, outDir: opts.out, overrides: opts.set, target: opts.target });
      report(plan, opts, spec);
    });
}

/** Applies the plan unless checking, prints what happened (or what is out of date), and sets the exit code. */
function report(plan: BuildPlan, opts: BuildOptions, specArg: string): void {
  const ok = !hasErrors(plan.diagnostics) && plan.files !== undefined && plan.changes !== undefined;
  if (ok && !opts.check) applyBuild(plan);
  const bad = outdated(plan);
  if (opts.format === 'json') io.out(jsonReport(plan, ok, opts.check === true));
  else {
    if (plan.diagnostics.length) io.out(formatDiagnostics(plan.diagnostics, plan.spans, { color: io.color, format: opts.format }));
    if (ok && opts.check) io.out(checkLines(plan, bad, opts, specArg));
    else if (ok) io.out(buildLines(plan));
  }
  if (!ok) setExitCode(plan.diagnostics.some((d) => d.code === 'TDC0901') ? EXIT.usage : EXIT.specErrors);
  else if (opts.check && bad.length) setExitCode(EXIT.specErrors);
}

/** One object: the diagnostics as `tdc check --format json` prints them, the folder, each file's status. */
function jsonReport(plan: BuildPlan, ok: boolean, check: boolean): string {
  const result = {
    diagnostics: JSON.parse(formatDiagnostics(plan.diagnostics, plan.spans, { color: false, format: 'json' })) as unknown,
    ...(ok ? { dir: plan.outDirText, hash: plan.hash, files: plan.changes } : {}),
    ...(ok && check ? { current: outdated(plan).length === 0 } : {}),
  };
  return JSON.stringify(result, null, 2) + '\n';
}

/** `wrote  build/x/model.ts` per file, then one summary line. */
function buildLines(plan: BuildPlan): string {
  const width = Math.max(...Object.values(VERB).map((v) => v.length));
  const lines = plan.changes!.map((c) => `${VERB[c.status].padEnd(width)}  ${plan.outDirText}/${c.path}`);
  const torch = plan.files!.some((f) => f.path === 'train.py');
  const next = torch ? `tdc pack ${plan.specPath}, then tdc train ${plan.outDirText} --target torch` : 'tdc train';
  lines.push(`built ${plan.name} (sha256:${plan.hash!.slice(0, 12)}) into ${plan.outDirText}; next: ${next}`);
  return lines.map((l) => `${l}\n`).join('');
}

/** Each out-of-date file (a GitHub annotation under --format github), then the command that fixes them. */
function checkLines(plan: BuildPlan, bad: readonly FileChange[], opts: BuildOptions, specArg: string): string {
  const lines = bad.map((c) => {
    const file = `${plan.outDirText}/${c.path}`;
    return opts.format === 'github' ? `::error file=${file},title=tdc build --check::${CHECK_WORD[c.status]}` : `${file}: ${CHECK_WORD[c.status]}`;
  });
  const again = ['tdc build', specArg, ...(opts.out ? ['-o', opts.out] : []), ...(opts.target === 'torch' ? ['--target torch'] : []), ...opts.set.map((s) => `--set ${s}`)].join(' ');
  const n = bad.length;
  lines.push(n ? `${n} generated file${n === 1 ? ' is' : 's are'} out of date; run ${again}` : `${plan.outDirText} is current (${plan.files!.length} files)`);
  return lines.map((l) => `${l}\n`).join('');
}

/** Writes a successful plan: the files (atomically), stale removals, and the `.tdc/last-build.json` record. */
export function applyBuild(plan: BuildPlan): void {
  if (!plan.files || !plan.changes) throw new Error(`the spec ${plan.specPath} did not compile; nothing to write`);
  applyOutput(plan.outDir, plan.files, plan.changes);
  writeLastBuild(plan.cwd, { dir: portableRelative(plan.cwd, plan.outDir), spec: plan.specPath });
}
