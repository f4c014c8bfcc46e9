/** `tdc explain spec.yaml`: the resolved network, its shapes and its training plan, as text or JSON. */
import type { Command } from 'commander';
import { hasErrors } from '../../../spec/diagnostics.js';
import { formatDiagnostics } from '../../format.js';
import { loadSpecDetailed } from '../../frontend.js';
import { collect } from './check.js';
import { createNodeHost, diskFacts, EXIT, io, setExitCode } from '../host.js';

export function register(program: Command): void {
  program
    .command('explain')
    .description('describe the network a spec builds: layers, shapes, parameters, losses and stages')
    .argument('<spec>', 'the spec file (YAML)')
    .option('--set <path=value>', 'override a value (repeatable)', collect, [])
    .option('--json', 'print JSON instead of text')
    .action(async (spec: string, opts: { set: string[]; json?: boolean }) => {
      // Imported here so that the module list in main.ts stays cheap to load.
      const { compile } = await import('../../pipeline.js');
      const { explainText, explainJson } = await import('../../explain.js');
      const host = createNodeHost();
      const result = compile(spec, host, opts.set, diskFacts(host));
      if (hasErrors(result.diagnostics) || !result.spec || !result.ir) {
        // Without a composed doc (the spec did not load) take the spans of whatever was read, for source lines.
        const spans = result.doc?.spans ?? loadSpecDetailed(spec, createNodeHost(), opts.set).spans;
        io.out(formatDiagnostics(result.diagnostics, spans, { color: io.color }));
        if (result.diagnostics.some((d) => d.code === 'TDC0901')) setExitCode(EXIT.usage);
        else if (hasErrors(result.diagnostics)) setExitCode(EXIT.specErrors);
        else throw new Error('the compiler pipeline produced no model for this spec');
        return;
      }
      io.out(opts.json ? `${JSON.stringify(explainJson(result.spec, result.ir), null, 2)}\n` : explainText(result.spec, result.ir));
    });
}
