/**
 * `tdc pack spec.yaml`: runs the spec's dataset once through tdc's readers, data checks, splits and normalisation
 * and writes it as .npy arrays + pack.json for the PyTorch project of `tdc build --target torch` (its data.py).
 */
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { Option, type Command } from 'commander';
import { hasErrors } from '../../../spec/diagnostics.js';
import { TdcError } from '../../../runtime/errors.js';
import { formatDiagnostics, type DiagnosticFormat } from '../../format.js';
import { EXIT, io, setExitCode } from '../host.js';
import { checkSpec, collect } from './check.js';

interface PackOptions {
  out?: string;
  set: string[];
  format: DiagnosticFormat;
}

/** How many samples the pre-pack scan decodes (all are listed; the pack itself decodes every one). */
const SCAN_IMAGES = 400;
const SCAN_VOLUMES = 4;

export function register(program: Command): void {
  program
    .command('pack')
    .description('write a spec\'s dataset as .npy arrays + pack.json for the PyTorch project (tdc build --target torch)')
    .argument('<spec>', 'the spec file (YAML)')
    .option('-o, --out <dir>', 'the pack folder (default: .tdc/pack/<spec name> beside the spec)')
    .option('--set <path=value>', 'override a value, as in tdc build (repeatable)', collect, [])
    .addOption(new Option('--format <format>', 'diagnostics format').choices(['text', 'json', 'github']).default('text'))
    .action(async (spec: string, opts: PackOptions) => {
      setExitCode(await pack(spec, opts));
    });
}

async function pack(specArg: string, opts: PackOptions): Promise<number> {
  const { diagnostics, spans, resolved } = await checkSpec(specArg, opts.set);
  if (diagnostics.length) io.out(formatDiagnostics(diagnostics, spans, { color: io.color, format: opts.format }));
  if (diagnostics.some((d) => d.code === 'TDC0901')) return EXIT.usage;
  if (hasErrors(diagnostics) || !resolved) return EXIT.specErrors;
  const { defaultPackDir, dataHash, specHash } = await import('../../emit/index.js');
  const { resolveDataPaths } = await import('../../../runtime/program.js');
  const data = await import('../../../runtime/data/index.js');
  const specDir = dirname(resolvePath(specArg));
  const out = resolvePath(opts.out ?? join(specDir, defaultPackDir(resolved.name)));
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  const dataSpec = resolveDataPaths(resolved.data, specDir);
  const task = resolved.task;
  try {
    const synth = await data.ensureDataset(dataSpec, task);
    if (synth) io.out(`generated a ${dataSpec.format} stand-in dataset at ${rel(dataSpec.root)}\n`);
    const scan = await data.scanDataset({ data: dataSpec, task, train: resolved.train }, { limit: task.dims === 3 ? SCAN_VOLUMES : SCAN_IMAGES });
    const errors = scan.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length) {
      const more = errors.length > 1 ? ` (and ${errors.length - 1} more problems)` : '';
      io.err(`tdc: data: ${errors[0]!.message}${more}; run tdc check ${specArg} --data\n`);
      return EXIT.specErrors;
    }
    const dataset = await data.openDataset({ data: dataSpec, task, seed: resolved.train.seed });
    const hash = dataHash(resolved);
    const key = createHash('sha256').update(`${hash}\n${data.datasetFingerprint(dataset)}`).digest('hex');
    const total = dataset.splits.train.length + dataset.splits.val.length + dataset.splits.test.length;
    let lastShown = 0;
    const started = Date.now();
    const wrote = await data.packDataset({
      dataset,
      out,
      key,
      meta: { dataHash: hash, spec: relative(process.cwd(), resolvePath(specArg)).split(/[\\/]/).join('/'), specHash: specHash(resolved), name: resolved.name },
      progress: (done, n, split) => {
        // A line every 10 % (or 5 s), overwritten in place on a terminal.
        const now = Date.now();
        if (done !== n && done * 10 < (lastShown + 1) * n && now - started < 5000 * (lastShown + 1)) return;
        lastShown++;
        const line = `packing ${done}/${n} samples (${split})`;
        if (process.stdout.isTTY) io.out(`\r${line}${done === n ? '\n' : ''}`);
        else io.out(`${line}\n`);
      },
    });
    const counts = `train ${dataset.splits.train.length}, val ${dataset.splits.val.length}, test ${dataset.splits.test.length}`;
    io.out(wrote ? `packed ${total} samples (${counts}) into ${rel(out)}\n` : `${rel(out)} is current (${counts}); nothing to do\n`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof TdcError && e.code?.startsWith('TDC06')) {
      io.err(`tdc: data: ${e.message}; run tdc check ${specArg} --data\n`);
      return EXIT.specErrors;
    }
    throw e;
  }
}
