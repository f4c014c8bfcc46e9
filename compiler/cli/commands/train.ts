/**
 * `tdc train [dir]`: runs the generated trainer of a build (default: the last `tdc build`) — progress per stage,
 * validation, atomic checkpoints, `--resume`, logs, the summary table and the HTML report.
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { EXIT, io, setExitCode } from '../host.js';
import { BuildError, checkSpecUnchanged, loadProgram, readLock, resolveBuildDir } from '../build-loader.js';

interface TrainOptions {
  resume?: boolean;
  fresh?: boolean;
  runDir?: string;
  backend?: string;
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
    .option('--backend <name>', 'force a tfjs backend: tensorflow, native, wasm or cpu (also TDC_BACKEND)')
    .action(async (dir: string | undefined, opts: TrainOptions) => {
      try {
        setExitCode(await train(dir, opts));
      } catch (e) {
        if (!(e instanceof BuildError)) throw e;
        io.err(`tdc: ${e.message}\n`);
        setExitCode(e.exitCode);
      }
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
  const { TrainError, checkRunDir } = await import('../../../runtime/train/index.js');
  try {
    // Before the backend and the data scan: a refused run says so at once.
    checkRunDir(runDir, { resume: opts.resume, fresh: opts.fresh }, rel);
  } catch (e) {
    if (e instanceof TrainError) throw new BuildError(e.message, EXIT.usage);
    throw e;
  }
  if (opts.resume && !existsSync(join(runDir, 'checkpoints', 'last'))) {
    throw new BuildError(`nothing to resume in ${rel(runDir)}: no checkpoint yet; run tdc train without --resume`, 2);
  }
  const { selectBackend, formatBackendInfo } = await import('../../../runtime/backend/index.js');
  let info;
  try {
    info = await selectBackend(opts.backend ? { prefer: opts.backend } : {});
  } catch (e) {
    throw new BuildError(e instanceof Error ? e.message : String(e), EXIT.usage);
  }
  io.out(`${formatBackendInfo(info)}\n`);
  io.out(`training ${programDef.name} (${rel(buildDir)}, spec sha256 ${lock.hash.slice(0, 12)}) → ${rel(runDir)}\n`);
  const { trainProgram } = await import('../../../runtime/program.js');
  const { DataError } = await import('../../../runtime/data/index.js');
  let summary;
  try {
    summary = await trainProgram(programDef, {
      buildDir,
      runDir,
      lockJson: json,
      resume: Boolean(opts.resume),
      fresh: Boolean(opts.fresh),
      installSignalHandlers: true,
      output: { stream: process.stdout, isTTY: Boolean(process.stdout.isTTY) },
      note: (l) => io.out(`${l}\n`),
    });
  } catch (e) {
    if (e instanceof TrainError || e instanceof DataError) throw new BuildError(e.message);
    throw e;
  }
  // A run that did not complete (interrupted, stopped, diverged) has already printed its one-line reason.
  if (summary.status === 'completed') {
    io.out(`run finished: ${rel(runDir)} (summary.md, log.jsonl, log.csv, best/, samples/)\n`);
    const { writeReport } = await import('../../../runtime/report/index.js');
    const report = await writeReport(runDir);
    io.out(`report: ${rel(report)}\n`);
  }
  return summary.exitCode;
}
