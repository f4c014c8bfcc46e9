/**
 * `tdc synth <robot18|refuge18|brats18> -o dir [--n N] [--seed S] [--size …]`: writes a generated stand-in
 * dataset in the format's distributed layout (see runtime/data/synth.ts).
 */
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { SynthFormat } from '../../../runtime/data/synth.js';
import { EXIT, io, setExitCode } from '../host.js';

const FORMATS: readonly SynthFormat[] = ['robot18', 'refuge18', 'brats18'];

function positiveInt(name: string): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a positive whole number, got '${v}'`);
    return Number(v);
  };
}

/** "128x160", "128,160" or "48x48x16". */
export function parseSize(v: string): number[] {
  const parts = v.split(/[x×,]/i).map((p) => p.trim());
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) {
    throw new InvalidArgumentError(`--size must look like 128x160 (2D: height x width) or 48x48x16 (3D: x x y x z), got '${v}'`);
  }
  return parts.map(Number);
}

export function register(program: Command): void {
  program
    .command('synth')
    .description('write a generated stand-in dataset in the distributed layout of robot18, refuge18 or brats18')
    .argument('<format>', `dataset format: ${FORMATS.join(', ')}`)
    .requiredOption('-o, --out <dir>', 'output folder (created; must be empty or absent)')
    .option('--n <count>', 'number of frames / images / subjects', positiveInt('--n'))
    .option('--seed <seed>', 'random seed (same seed, same files)', positiveIntOrZero, 0)
    .option('--size <size>', '2D: HxW (default 128x160 robot18, 128x128 refuge18); 3D: XxYxZ (default 48x48x16)', parseSize)
    .action(async (format: string, opts: { out: string; n?: number; seed: number; size?: number[] }) => {
      const usage = (message: string): void => {
        io.err(`tdc synth: ${message}\n`);
        setExitCode(EXIT.usage);
      };
      if (!FORMATS.includes(format as SynthFormat)) return usage(`unknown format '${format}' (expected ${FORMATS.join(', ')})`);
      const fmt = format as SynthFormat;
      if (opts.size && opts.size.length !== (fmt === 'brats18' ? 3 : 2)) {
        return usage(`--size for ${fmt} needs ${fmt === 'brats18' ? 'three numbers (x, y, z)' : 'two numbers (height, width)'}`);
      }
      const out = path.resolve(opts.out);
      if (existsSync(out) && readdirSync(out).length > 0) return usage(`${opts.out} is not empty; choose a new folder`);
      const n = opts.n ?? (fmt === 'brats18' ? 4 : 12);
      // Imported here so that loading the command list stays cheap (see main.ts).
      const { synthesize } = await import('../../../runtime/data/synth.js');
      const result = await synthesize(fmt, out, { n, seed: opts.seed, ...(opts.size ? { size: opts.size } : {}) });
      const extra = result.scenesFile ? ` (labels: ${path.relative(process.cwd(), result.labelsFile!)}, scenes: ${path.relative(process.cwd(), result.scenesFile)})` : '';
      io.out(`wrote ${result.ids.length} ${fmt} samples to ${out}${extra}\n`);
    });
}

function positiveIntOrZero(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`--seed must be a whole number, got '${v}'`);
  return Number(v);
}
