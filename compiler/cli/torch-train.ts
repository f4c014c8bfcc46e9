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
 * torchrun itself, run as `python -c LAUNCHER`: Debian's PyTorch 1.13 under Python 3.11 cannot parse its own
 * default `--redirects 0` (enum iteration skips the zero flag, so every torchrun call dies in `to_map`); the
 * launcher mends that one parser when it is broken and is torchrun unchanged otherwise.
 */
export const TORCHRUN_LAUNCHER = [
  'import re, sys',
  'from torch.distributed.elastic.multiprocessing import api',
  'if api.Std.from_str("0") is None:',
  '    api.Std.from_str = staticmethod(lambda vm: api.Std(int(vm)) if re.match(api._VALUE_REGEX, vm) else {int(i): api.Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))})',
  'from torch.distributed.run import main',
  'sys.argv[0] = "torchrun"',
  'main()',
].join('\n');

/** The command line for a build's train.py: [program, ...args] and the torchrun command a user would type. */
export function torchCommand(python: string, buildDir: string, opts: TorchTrainOptions): { argv: string[]; shown: string } {
  const script = join(buildDir, 'train.py');
  const args = [
    ...(opts.pack ? ['--pack', opts.pack] : []),
    ...(opts.runDir ? ['--run-dir', opts.runDir] : []),
    ...(opts.resume ? ['--resume'] : []),
    ...(opts.device ? ['--device', opts.device] : []),
    ...(opts.amp ? ['--amp'] : []),
  ];
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  if (opts.nproc === undefined) return { argv: [python, script, ...args], shown: [python, rel(script), ...args].join(' ') };
  const n = Number(opts.nproc);
  if (!Number.isInteger(n) || n < 1) throw new TdcError(`--nproc must be a positive integer, not '${opts.nproc}'`, { usage: true });
  const launch = ['--standalone', `--nproc_per_node=${n}`];
  return { argv: [python, '-c', TORCHRUN_LAUNCHER, ...launch, script, ...args], shown: ['torchrun', ...launch, rel(script), ...args].join(' ') };
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
