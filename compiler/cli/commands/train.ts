/**
 * `tdc train [dir]`: runs the generated trainer of a build (default: the last `tdc build`) — progress per stage,
 * validation, atomic checkpoints, `--resume`, logs, the summary table and the HTML report.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Option, type Command } from 'commander';
import { EXIT, io, setExitCode } from '../host.js';
import { checkSpecUnchanged, loadProgram, readLock, resolveBuildDir } from '../build-loader.js';
import { TdcError } from '../../../runtime/errors.js';
import { BACKEND_HELP, backendOptions, THREADS_HELP, type BackendOptions } from './eval.js';

interface TrainOptions extends BackendOptions {
  resume?: boolean;
  fresh?: boolean;
  runDir?: string;
  target: 'tfjs' | 'torch';
  nproc?: string;
  pack?: string;
  device?: string;
  amp?: boolean;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train a build in its stages (default: the last tdc build)')
    .argument('[dir]', 'the build folder written by tdc build')
    .option('--resume', 'continue from the last checkpoint of the run (same data order and schedule)')
    .option(
      '--fresh',
      'start a new run where the run folder holds one; the old run is kept beside it as <run>-<UTC timestamp> (without --resume or --fresh, tdc train refuses to touch an existing run)',
    )
    .option('--run-dir <dir>', 'where logs, checkpoints and the summary go (default: <build>/run)')
    .option('--backend <name>', BACKEND_HELP)
    .option('--threads <n>', THREADS_HELP)
    .addOption(new Option('--target <target>', 'tfjs: train here with tdc; torch: run the build\'s PyTorch train.py').choices(['tfjs', 'torch']).default('tfjs'))
    .option('--pack <dir>', 'torch: the tdc pack folder (default: .tdc/pack/<name> beside the spec)')
    .option('--nproc <n>', 'torch: DDP ranks on this node, through torchrun (default: one process, no torchrun)')
    .addOption(new Option('--device <device>', 'torch: auto (CUDA when present), cpu or cuda').choices(['auto', 'cpu', 'cuda']))
    .option('--amp', 'torch: mixed precision on CUDA')
    .action(async (dir: string | undefined, opts: TrainOptions) => {
      setExitCode(await train(dir, opts));
    });
}

async function train(dirArg: string | undefined, opts: TrainOptions): Promise<number> {
  const buildDir = resolveBuildDir(dirArg);
  const { lock, json } = readLock(buildDir);
  const programDef = await loadProgram(buildDir);
  const note = await checkSpecUnchanged(buildDir, lock, programDef.data.specDir);
  if (note) io.err(`${note}\n`);
  const runDir = opts.runDir ?? join(buildDir, 'run');
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  const { checkRunDir, RunLock, setRunAside } = await import('../../../runtime/train/index.js');
  // Before the backend and the data scan: a refused run says so at once (a usage error, exit 2).
  const state = checkRunDir(runDir, { resume: opts.resume, fresh: opts.fresh }, rel);
  if (opts.target === 'torch') {
    // The generated train.py writes the same run folder: the same lock, and --fresh keeps the old run aside.
    const lock = RunLock.acquire(runDir, rel);
    try {
      if (opts.fresh && state.kind !== 'empty') io.out(`the previous run is kept in ${rel(setRunAside(runDir))}\n`);
      return await trainWithTorch(buildDir, runDir, programDef, opts);
    } finally {
      lock.releaseSync();
    }
  }
  if (opts.resume && !existsSync(join(runDir, 'checkpoints', 'last'))) {
    throw new TdcError(`nothing to resume in ${rel(runDir)}: no checkpoint yet; run tdc train without --resume`, { usage: true });
  }
  const backendOpts = backendOptions(opts);
  const { selectBackend, formatBackendInfo } = await import('../../../runtime/backend/index.js');
  let info;
  try {
    info = await selectBackend(backendOpts);
  } catch (e) {
    throw new TdcError(e instanceof Error ? e.message : String(e), { usage: true });
  }
  io.out(`${formatBackendInfo(info)}\n`);
  io.out(`training ${programDef.name} (${rel(buildDir)}, spec sha256 ${lock.hash.slice(0, 12)}) → ${rel(runDir)}\n`);
  const { trainProgram } = await import('../../../runtime/program.js');
  const summary = await trainProgram(programDef, {
    buildDir,
    runDir,
    lockJson: json,
    resume: Boolean(opts.resume),
    fresh: Boolean(opts.fresh),
    installSignalHandlers: true,
    output: { stream: process.stdout, isTTY: Boolean(process.stdout.isTTY) },
    note: (l) => io.out(`${l}\n`),
  });
  // A run that did not complete (interrupted, stopped, diverged) has already printed its one-line reason.
  if (summary.status === 'completed') {
    io.out(`run finished: ${rel(runDir)} (summary.md, log.jsonl, log.csv, best/, samples/)\n`);
    const { writeReport } = await import('../../../runtime/report/index.js');
    const report = await writeReport(runDir);
    io.out(`report: ${rel(report)}\n`);
  }
  return summary.exitCode;
}

/** The torch target: the generated train.py writes the run folder; tdc then adds the samples and the report. */
async function trainWithTorch(buildDir: string, runDir: string, programDef: Awaited<ReturnType<typeof loadProgram>>, opts: TrainOptions): Promise<number> {
  const { trainTorch } = await import('../torch-train.js');
  // train.py's own default run folder is <build>/run: name it only when the user chose another.
  const code = await trainTorch(buildDir, { ...opts, runDir: opts.runDir === undefined ? undefined : runDir });
  if (code !== 0) return code;
  const summary = join(runDir, 'summary.json');
  if (!existsSync(summary) || !/"status": "completed"/.test(readFileSync(summary, 'utf8'))) return code;
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  const { selectBackend } = await import('../../../runtime/backend/index.js');
  await selectBackend(opts.backend ? { prefer: opts.backend } : {});
  const { writeRunSamples, scoreRunStages } = await import('../../../runtime/program.js');
  // train.py's summary rows are pooled validation figures; tdc train's are each stage's final weights scored by
  // the paper's protocol: the same rows here, so that both targets' summaries and reports read alike.
  const stages = await scoreRunStages(programDef, { runDir, buildDir, note: (l) => io.out(`${l}\n`) });
  const { formatSummaryTable } = await import('../../../runtime/train/index.js');
  io.out(`${formatSummaryTable(stages)}\nsummary written to ${rel(join(runDir, 'summary.md'))}\n`);
  await writeRunSamples(programDef, { runDir, buildDir });
  const { writeReport } = await import('../../../runtime/report/index.js');
  const report = await writeReport(runDir);
  io.out(`run finished: ${rel(runDir)} (summary.md, log.jsonl, log.csv, best/, samples/)\nreport: ${rel(report)}\n`);
  return code;
}
