/**
 * `tdc study study.yaml`: trains every variant of a study with every seed and prints the paper's table form
 * (rows = variants or the stages of a variant, columns = the dataset's protocol metrics, mean ± std over seeds).
 * Every run's spec is compiled before any training starts; a run finished earlier with the same spec is not
 * trained again, an interrupted one resumes from its last checkpoint. Writes <out>/study.md, study.json and
 * study.html; each run lives in <out>/<variant>/seed-<n>/{build,run}.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { hasErrors, type Diagnostic } from '../../../spec/diagnostics.js';
import { formatDiagnostics, type DiagnosticFormat } from '../../format.js';
import { parseStudy, studyRuns, variantSlug, type StudyRun } from '../../study.js';
import type { SpanIndex } from '../../parse/index.js';
import { EXIT, io, setExitCode } from '../host.js';
import { applyOutput } from '../build-output.js';
import { loadProgram, readLock } from '../build-loader.js';
import { TdcError } from '../../../runtime/errors.js';
import { collect } from './check.js';
import { planBuild, type BuildPlan } from './build.js';

interface StudyOptions {
  set: string[];
  out?: string;
  check?: boolean;
  backend?: string;
  format: DiagnosticFormat;
}

export function register(program: Command): void {
  program
    .command('study')
    .description("train a study's variants × seeds and print the paper's table (mean ± std over seeds); resumable")
    .argument('<study>', 'the study file (YAML), e.g. examples/studies/robot18-table1.yaml')
    .option('--set <path=value>', 'override a value in every variant, e.g. --set vars.stage_steps=20 (repeatable)', collect, [])
    .option('-o, --out <dir>', 'output folder (default: studies/<study name>)')
    .option('--check', 'check the study and every variant spec; train nothing')
    .option('--backend <name>', 'force a tfjs backend: tensorflow, native, wasm or cpu (also TDC_BACKEND)')
    .addOption(new Option('--format <format>', 'diagnostics format').choices(['text', 'json', 'github']).default('text'))
    .action(async (file: string, opts: StudyOptions) => {
      setExitCode(await study(file, opts));
    });
}

/** A path as shown: relative to the working folder when inside it, else absolute. */
const rel = (p: string) => {
  const r = relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
};

/** What one run of the study records beside its build and run folders. */
interface RunRecord {
  hash: string;
  status: 'started' | 'completed';
  seconds?: number;
}

function print(diags: readonly Diagnostic[], spans: SpanIndex | undefined, opts: StudyOptions): void {
  if (diags.length) io.out(formatDiagnostics(diags, spans, { color: io.color, format: opts.format }));
}

async function study(file: string, opts: StudyOptions): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new TdcError(`${file}: cannot read the study file`, { usage: true, file });
  }
  const parsed = parseStudy(file, text);
  if (!parsed.value) {
    print(parsed.diagnostics, parsed.spans, opts);
    return EXIT.specErrors;
  }
  const s = parsed.value;
  const studyDir = dirname(resolve(file));
  const outDir = resolve(opts.out ?? join('studies', s.name));
  const runs = studyRuns(s, opts.set);

  // Every run's spec is compiled before anything trains: a typo in the last variant must not cost the first.
  const plans: BuildPlan[] = [];
  const problems: Diagnostic[] = [];
  const warnings = new Map<string, { d: Diagnostic; spans?: SpanIndex }>();
  for (const r of runs) {
    const plan = await planBuild({ spec: rel(resolve(studyDir, r.specFile)), outDir: join(runFolder(outDir, r), 'build'), overrides: r.overrides });
    plans.push(plan);
    for (const d of plan.diagnostics) {
      if (d.severity === 'error') continue;
      const key = `${d.code}|${d.message}|${d.span?.file}|${d.span?.offset}`;
      if (!warnings.has(key)) warnings.set(key, { d, spans: plan.spans });
    }
    if (hasErrors(plan.diagnostics) || !plan.files) {
      if (!problems.some((p) => p.message.includes(`'${r.variant.name}'`))) {
        print(plan.diagnostics.filter((d) => d.severity === 'error'), plan.spans, opts);
        problems.push({
          code: 'TDC0701',
          severity: 'error',
          message: `variant '${r.variant.name}' (seed ${r.seed}): its spec ${r.specFile} with ${r.overrides.length} override${r.overrides.length === 1 ? '' : 's'} does not compile`,
          ...(r.variant.span ? { span: r.variant.span } : {}),
          hint: `tdc check ${rel(resolve(studyDir, r.specFile))} ${r.overrides.map((o) => `--set '${o}'`).join(' ')}`,
        });
      }
    }
  }
  if (warnings.size) {
    // One listing for all variants: each warning once, its source line from whichever run's files hold it.
    const all = [...warnings.values()];
    const sources: SpanIndex = { get: () => undefined, key: () => undefined, source: (f) => all.map((w) => w.spans?.source(f)).find((t) => t !== undefined) };
    io.out(`warnings in the variant specs (each shown once):\n`);
    print(all.map((w) => w.d), sources, opts);
  }
  if (problems.length) {
    print(problems, parsed.spans, opts);
    return EXIT.specErrors;
  }
  const rowsPerVariant = s.variants.map((v) => `${v.name}${v.rows === 'stages' ? ' (one row per stage)' : ''}`);
  io.out(`study ${s.name}: ${s.variants.length} variant${s.variants.length === 1 ? '' : 's'} × ${s.seeds.length} seed${s.seeds.length === 1 ? '' : 's'} = ${runs.length} trainings → ${rel(outDir)}\n`);
  for (const line of rowsPerVariant) io.out(`  ${line}\n`);
  if (opts.check) {
    io.out('every variant compiles; nothing trained (--check)\n');
    return EXIT.ok;
  }

  const { selectBackend, formatBackendInfo } = await import('../../../runtime/backend/index.js');
  try {
    io.out(`${formatBackendInfo(await selectBackend(opts.backend ? { prefer: opts.backend } : {}))}\n`);
  } catch (e) {
    throw new TdcError(e instanceof Error ? e.message : String(e), { usage: true });
  }
  const { trainProgram } = await import('../../../runtime/program.js');
  const R = await import('../../../runtime/report/index.js');
  const results: import('../../../runtime/report/index.js').StudyRunResult[] = [];
  const started = Date.now();
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i]!;
    const plan = plans[i]!;
    const folder = runFolder(outDir, r);
    const buildDir = join(folder, 'build');
    const runDir = join(folder, 'run');
    const recordFile = join(folder, 'study-run.json');
    const record = readRecord(recordFile);
    const head = `[${i + 1}/${runs.length}] ${r.variant.name}, seed ${r.seed}`;
    const summaryFile = join(runDir, 'summary.json');
    if (record?.status === 'completed' && record.hash === plan.hash && existsSync(summaryFile)) {
      io.out(`${head}: finished earlier (${rel(runDir)}), not trained again\n`);
      results.push(resultOf(r, JSON.parse(readFileSync(summaryFile, 'utf8')) as { stages: never[] }));
      continue;
    }
    const resume = record?.hash === plan.hash && existsSync(join(runDir, 'checkpoints', 'last', 'state.json'));
    io.out(`${head}: ${resume ? 'resuming' : 'training'} in ${rel(folder)}\n`);
    mkdirSync(folder, { recursive: true });
    applyOutput(plan.outDir, plan.files!, plan.changes!);
    writeFileSync(recordFile, `${JSON.stringify({ hash: plan.hash!, status: 'started' } satisfies RunRecord)}\n`);
    const t0 = Date.now();
    const program = await loadProgram(buildDir);
    const { json } = readLock(buildDir);
    let summary;
    try {
      summary = await trainProgram(program, {
        buildDir,
        runDir,
        lockJson: json,
        resume,
        // A run left by an earlier study with another spec is kept aside, not refused.
        fresh: !resume,
        installSignalHandlers: true,
        output: { stream: process.stdout, isTTY: Boolean(process.stdout.isTTY) },
        note: (l) => io.out(`${l}\n`),
        samples: 0,
      });
    } catch (e) {
      // Name the run a problem stopped (the run folder stays: the same command resumes it).
      if (e instanceof TdcError) throw new TdcError(`${head}: ${e.message}`, { ...(e.code ? { code: e.code } : {}), ...(e.file !== undefined ? { file: e.file } : {}) });
      throw e;
    }
    if (summary.status !== 'completed') {
      io.out(`${head}: ${summary.status}; run the same tdc study command again to resume\n`);
      return summary.exitCode;
    }
    const seconds = (Date.now() - t0) / 1000;
    writeFileSync(recordFile, `${JSON.stringify({ hash: plan.hash!, status: 'completed', seconds } satisfies RunRecord)}\n`);
    io.out(`${head}: done in ${seconds.toFixed(0)} s (${i + 1}/${runs.length}; ${((Date.now() - started) / 1000).toFixed(0)} s so far)\n`);
    results.push(resultOf(r, summary));
  }
  const table = R.studyTable(s.name, results, s.description);
  const md = R.studyMarkdown(table);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'study.md'), `# Study ${s.name}\n\n${s.description ? `${s.description}\n\n` : ''}${md}\n`);
  writeFileSync(join(outDir, 'study.json'), `${JSON.stringify(jsonSafe({ study: s.name, file: rel(resolve(file)), seeds: s.seeds, ...table }), null, 2)}\n`);
  writeFileSync(join(outDir, 'study.html'), R.studyPage(table));
  io.out(`\n${md}\n\nwritten: ${rel(join(outDir, 'study.md'))}, study.json, study.html\n`);
  return EXIT.ok;
}

function runFolder(outDir: string, r: StudyRun): string {
  return join(outDir, variantSlug(r.variant.name), `seed-${r.seed}`);
}

function readRecord(file: string): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

function resultOf(r: StudyRun, summary: { stages: import('../../../runtime/train/index.js').StageSummary[] }) {
  return { variant: r.variant.name, index: r.index, rows: r.variant.rows, seed: r.seed, stages: summary.stages };
}

/** NaN / Infinity are not JSON: null and "inf". */
function jsonSafe(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? (Number.isNaN(x) ? null : x > 0 ? 'inf' : '-inf') : x)));
}

