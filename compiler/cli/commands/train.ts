/**
 * `tdc train [dir]`: runs the generated trainer of a build (default: the last `tdc build`) — progress per stage,
 * validation, atomic checkpoints, `--resume`, logs, the summary table and the HTML report.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Option, type Command } from 'commander';
import { EXIT, io, setExitCode } from '../host.js';
import { BuildError, checkSpecUnchanged, loadProgram, readLock, resolveBuildDir } from '../build-loader.js';

interface TrainOptions {
  resume?: boolean;
  runDir?: string;
  backend?: string;
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
    .option('--run-dir <dir>', 'where logs, checkpoints and the summary go (default: <build>/run)')
    .option('--backend <name>', 'force a tfjs backend: tensorflow, native, wasm or cpu (also TDC_BACKEND)')
    .addOption(new Option('--target <target>', 'tfjs: train here with tdc; torch: run the build\'s PyTorch train.py').choices(['tfjs', 'torch']).default('tfjs'))
    .option('--pack <dir>', 'torch: the tdc pack folder (default: .tdc/pack/<name> beside the spec)')
    .option('--nproc <n>', 'torch: DDP ranks on this node, through torchrun (default: one process, no torchrun)')
    .addOption(new Option('--device <device>', 'torch: auto (CUDA when present), cpu or cuda').choices(['auto', 'cpu', 'cuda']))
    .option('--amp', 'torch: mixed precision on CUDA')
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
  if (opts.target === 'torch') return trainWithTorch(buildDir, runDir, json, programDef, opts);
  if (!opts.resume && existsSync(join(runDir, 'checkpoints', 'last'))) {
    io.out(`starting over in ${rel(runDir)} (the previous run's checkpoints are replaced; use --resume to continue it)\n`);
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
  const { TrainError } = await import('../../../runtime/train/index.js');
  const { DataError } = await import('../../../runtime/data/index.js');
  let summary;
  try {
    summary = await trainProgram(programDef, {
      buildDir,
      runDir,
      lockJson: json,
      resume: Boolean(opts.resume),
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

/** The torch target: the generated train.py writes the run folder; tdc then adds the samples and the report. */
async function trainWithTorch(buildDir: string, runDir: string, lockJson: string, programDef: Awaited<ReturnType<typeof loadProgram>>, opts: TrainOptions): Promise<number> {
  const { trainTorch } = await import('../torch-train.js');
  // train.py's own default run folder is <build>/run: name it only when the user chose another.
  const code = await trainTorch(buildDir, { ...opts, runDir: opts.runDir === undefined ? undefined : runDir });
  if (code !== 0) return code;
  const summary = join(runDir, 'summary.json');
  if (!existsSync(summary) || !/"status": "completed"/.test(readFileSync(summary, 'utf8'))) return code;
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  const { selectBackend } = await import('../../../runtime/backend/index.js');
  await selectBackend(opts.backend ? { prefer: opts.backend } : {});
  const { writeRunSamples } = await import('../../../runtime/program.js');
  await writeRunSamples(programDef, { runDir, lockJson, buildDir });
  const { writeReport } = await import('../../../runtime/report/index.js');
  const report = await writeReport(runDir);
  io.out(`run finished: ${rel(runDir)} (summary.md, log.jsonl, log.csv, best/, samples/)\nreport: ${rel(report)}\n`);
  return code;
}
