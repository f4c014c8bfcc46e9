/**
 * `tdc train --target torch`: runs a torch build's generated train.py — in this process's terminal, one process,
 * or `--nproc N` DDP ranks through torchrun (torch.distributed.run) — and then, as after `tdc train`, draws the
 * validation samples and writes the HTML report from the run folder it left (tdc's run format).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { TdcError } from '../../runtime/errors.js';
import { EXIT, io } from './host.js';
import { findTorchPython } from './torch-python.js';

export interface TorchTrainOptions {
  resume?: boolean;
  pack?: string;
  runDir?: string;
  nproc?: string;
  device?: string;
  amp?: boolean;
}

/**
 * torchrun's own flags that every `--nproc` run passes: each rank's stderr goes to a log file and is tee'd to the
 * console (prefixed with the rank), its stdout stays the terminal (train.py's progress bar). Debian's PyTorch 1.13
 * under Python 3.11 cannot parse torchrun's defaults `--redirects 0 --tee 0` (an upstream launcher bug: Python
 * 3.11's enum iteration skips the zero flag, fixed in later PyTorch); these values parse on every version.
 */
export const TORCHRUN_STREAMS = ['--redirects', '2', '--tee', '2'] as const;

/** One argument as a POSIX shell word (quoted only when it has to be), so a printed command can be pasted. */
function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line for a build's train.py: [program, ...args], and the same command as a user would type it. With
 * `--nproc N` it is torchrun, run as `python -m torch.distributed.run` (what the `torchrun` script runs) with the
 * python that has torch, so the printed command is the one that runs, pasteable as it stands.
 */
export function torchCommand(python: string, buildDir: string, opts: TorchTrainOptions): { argv: string[]; shown: string } {
  const script = join(buildDir, 'train.py');
  const args = [
    ...(opts.pack ? ['--pack', opts.pack] : []),
    ...(opts.runDir ? ['--run-dir', opts.runDir] : []),
    ...(opts.resume ? ['--resume'] : []),
    ...(opts.device ? ['--device', opts.device] : []),
    ...(opts.amp ? ['--amp'] : []),
  ];
  let launch: string[] = [];
  if (opts.nproc !== undefined) {
    const n = Number(opts.nproc);
    if (!Number.isInteger(n) || n < 1) throw new TdcError(`--nproc must be a positive integer, not '${opts.nproc}'`, { usage: true });
    launch = ['-m', 'torch.distributed.run', ...TORCHRUN_STREAMS, '--standalone', `--nproc_per_node=${n}`];
  }
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  return { argv: [python, ...launch, script, ...args], shown: [python, ...launch, rel(script), ...args].map(shellWord).join(' ') };
}

/** Runs train.py to its end; returns its exit code (130 after Ctrl-C, which the child receives too). */
export async function trainTorch(buildDir: string, opts: TorchTrainOptions): Promise<number> {
  if (!existsSync(join(buildDir, 'train.py'))) {
    throw new TdcError(`${relative(process.cwd(), buildDir) || '.'} has no train.py; build it with tdc build <spec> --target torch`, { usage: true });
  }
  const found = findTorchPython();
  if ('problem' in found) throw new TdcError(found.problem, { usage: true });
  const { argv, shown } = torchCommand(found.python, buildDir, opts);
  io.out(`PyTorch ${found.torch} (${found.python})\n`);
  if (opts.nproc !== undefined) {
    // What every rank would refuse (no pack, a stale pack, a batch the ranks cannot split, no CUDA) is said once,
    // in one line, instead of by N ranks and torchrun's failure report.
    const script = join(buildDir, 'train.py');
    const pre = spawn(found.python, [script, '--preflight', String(Number(opts.nproc)), ...argv.slice(argv.indexOf(script) + 1)], { stdio: ['ignore', 'inherit', 'inherit'] });
    const code = await new Promise<number>((resolve, reject) => {
      pre.on('error', reject);
      pre.on('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0) return code;
  }
  io.out(`$ ${shown}\n`);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', cwd: process.cwd() });
  // The terminal's Ctrl-C reaches the child's process group; tdc waits for its checkpoint and exit code.
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
    });
  } finally {
    process.off('SIGINT', ignore);
  }
}
