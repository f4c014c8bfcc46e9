/** The file-writing end of the report: find the run, read it, render it, write `<run>/report.html`. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { defaultRunDir } from './find.js';
import { renderReport } from './html.js';
import { loadRunData } from './run-data.js';
import { TdcError } from '../errors.js';

/**
 * Writes `<runDir>/report.html` (runDir defaults to the last build's run, see `defaultRunDir`) and returns its
 * path (a build folder is accepted for its `run/`). Rejects with a one-line TdcError when there is no run to report on or the file cannot be written.
 */
export async function writeReport(runDir?: string, cwd: string = process.cwd()): Promise<string> {
  const dir = await resolveRunDir(runDir, cwd);
  const data = await loadRunData(dir);
  const file = path.join(dir, 'report.html');
  try {
    await fs.writeFile(file, renderReport(data));
  } catch (e) {
    throw new TdcError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return file;
}

/** The run folder `tdc report [run-dir]` means: the argument (a build folder stands for its `run/`), else the last build's run. */
export async function resolveRunDir(runDir?: string, cwd: string = process.cwd()): Promise<string> {
  const dir = runDir ? path.resolve(cwd, runDir) : await defaultRunDir(cwd);
  // A build folder given where its run was meant: use the run inside it.
  if (!(await exists(path.join(dir, 'log.jsonl'))) && (await exists(path.join(dir, 'run', 'log.jsonl')))) return path.join(dir, 'run');
  return dir;
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}
