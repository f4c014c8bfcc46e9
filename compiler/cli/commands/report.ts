/** `tdc report [run-dir]`: writes the run's self-contained HTML report to `<run>/report.html` and prints its path. */
import type { Command } from 'commander';
import { EXIT, io, setExitCode } from '../host.js';

export function register(program: Command): void {
  program
    .command('report')
    .description('write <run>/report.html: loss curves, validation scores, the stage table and sample overlays in one offline HTML file')
    .argument('[run-dir]', 'the run folder (default: the run of the last tdc build here, <build dir>/run)')
    .action(async (runDir: string | undefined) => {
      // Imported here so that the command list in main.ts stays cheap to load (the report code needs no tfjs).
      const { writeReport } = await import('../../../runtime/report/write.js');
            const file = await writeReport(runDir);
      io.out(`${file}\n`);
    });
}
