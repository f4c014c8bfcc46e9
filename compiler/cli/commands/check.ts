/** `tdc check spec.yaml`: compile the spec front half and print every problem found, like a compiler. */
import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Spec } from '../../../spec/types.js';
import type { Diagnostic } from '../../../spec/diagnostics.js';
import { hasErrors } from '../../../spec/diagnostics.js';
import { formatDiagnostics, type DiagnosticFormat } from '../../format.js';
import { loadSpecDetailed } from '../../frontend.js';
import type { SpanIndex } from '../../parse/index.js';
import { createNodeHost, diskFacts, EXIT, io, setExitCode } from '../host.js';

/** Collects a repeatable option into a list. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function register(program: Command): void {
  program
    .command('check')
    .description('check a spec: YAML, schema, composition, expressions and semantics')
    .argument('<spec>', 'the spec file (YAML)')
    .option('--set <path=value>', 'override a value, e.g. --set data.batch_size=4 (repeatable)', collect, [])
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'github']).default('text'))
    .option('--data', 'also scan the dataset: counts per split, class and scene; missing pairs, size mismatches, unknown labels, corrupt files')
    .action(async (spec: string, opts: { set: string[]; format: DiagnosticFormat; data?: boolean }) => {
      const { diagnostics, spans, resolved } = await checkSpec(spec, opts.set);
      io.out(formatDiagnostics(diagnostics, spans, { color: io.color, format: opts.format }));
      if (diagnostics.some((d) => d.code === 'TDC0901')) setExitCode(EXIT.usage);
      else if (hasErrors(diagnostics)) setExitCode(EXIT.specErrors);
      else if (opts.data && resolved) setExitCode(await checkData(spec, resolved, opts.format));
    });
}

/** Runs the front end, then (when it is clean) the later stages on the same loaded document: each stage once. */
export async function checkSpec(
  spec: string,
  overrides: string[],
): Promise<{ diagnostics: Diagnostic[]; spans?: SpanIndex; resolved?: Spec }> {
  const host = createNodeHost();
  const loaded = loadSpecDetailed(spec, host, overrides);
  const spans = loaded.spans;
  if (hasErrors(loaded.diagnostics) || !loaded.value) return { diagnostics: loaded.diagnostics, spans };
  // Imported here so that the module list in main.ts stays cheap to load.
  const { compileDoc } = await import('../../pipeline.js');
  const compiled = compileDoc(loaded.value, diskFacts(host));
  const diagnostics = [...loaded.diagnostics, ...compiled.diagnostics];
  return { diagnostics, spans: loaded.value.spans, ...(compiled.spec ? { resolved: compiled.spec } : {}) };
}

/**
 * `--data`: scans the dataset the spec names (paths relative to the spec's folder) and prints counts and every
 * problem; returns the exit code (1 when the dataset has errors: training would refuse it).
 */
async function checkData(specPath: string, spec: Spec, format: DiagnosticFormat): Promise<number> {
  const { resolveDataPaths } = await import('../../../runtime/program.js');
  const { scanDataset, formatScan } = await import('../../../runtime/data/scan.js');
  const { needsStandIn } = await import('../../../runtime/data/dataset.js');
  const data = resolveDataPaths(spec.data, dirname(resolvePath(specPath)));
  if (data.synthesize && needsStandIn(data.root)) {
    io.out(`data: ${data.root} does not exist yet or is empty; tdc train will generate a ${data.format} stand-in there (data.synthesize)\n`);
    return EXIT.ok;
  }
  if (!existsSync(data.root)) {
    io.err(`tdc: data root ${data.root} does not exist\n`);
    return EXIT.specErrors;
  }
  const report = await scanDataset({ data, task: spec.task, train: spec.train });
  if (format === 'text') io.out(`${formatScan(report, spec.task).trimEnd()}\n`);
  else io.out(formatDiagnostics(report.diagnostics, undefined, { color: false, format }));
  return report.diagnostics.some((d) => d.severity === 'error') ? EXIT.specErrors : EXIT.ok;
}
