/**
 * `tdc report [run-dir]`: writes the run's self-contained HTML report to `<run>/report.html` and prints its path.
 * A run whose summary rows lack the protocol's scores (one of the generated PyTorch project's train.py, run
 * without tdc) has its stages scored first, as `tdc train --target torch` does at the run's end.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { Command } from 'commander';
import { TdcError } from '../../../runtime/errors.js';
import { stageCheckpointDir } from '../../../runtime/train/run-dir.js';
import { readLastBuild, readLock } from '../build-loader.js';
import { EXIT, io, setExitCode } from '../host.js';

export function register(program: Command): void {
  program
    .command('report')
    .description('write <run>/report.html: loss curves, validation scores, the stage table and sample overlays in one offline HTML file')
    .argument('[run-dir]', 'the run folder (default: the run of the last tdc build here, <build dir>/run)')
    .action(async (runArg: string | undefined) => {
      // Imported here so that the command list in main.ts stays cheap to load (the report code needs no tfjs).
      const { writeReport, resolveRunDir } = await import('../../../runtime/report/write.js');
      const runDir = await resolveRunDir(runArg);
      await scoreUnscoredStages(runDir);
      const file = await writeReport(runDir);
      io.out(`${file}\n`);
      setExitCode(EXIT.ok);
    });
}

/** Scores the summary's stages that have no protocol scores (tfjs is loaded only then); a stage scored stays as it is. */
async function scoreUnscoredStages(runDir: string): Promise<void> {
  const { unscoredStages } = await import('../../../runtime/train/summary.js');
  let todo: string[];
  try {
    todo = unscoredStages(runDir);
  } catch {
    return; // an unreadable summary: writeReport says so
  }
  // Only stages whose final weights were kept can be scored (a run folder copied without checkpoints cannot).
  const { hasCheckpoint } = await import('../../../runtime/train/checkpoint.js');
  const kept = await Promise.all(todo.map((name) => hasCheckpoint(stageCheckpointDir(runDir, name))));
  todo = todo.filter((_, i) => kept[i]);
  if (todo.length === 0) return;
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  const buildDir = buildOfRun(runDir, todo[0]!);
  if (!buildDir) {
    io.err(`note: the stages in ${rel(join(runDir, 'summary.json'))} have no protocol scores and no build of this run was found (neither its parent folder nor the last tdc build here); the report shows the training's pooled validation figures; run tdc report from the folder of the run's tdc build\n`);
    return;
  }
  const { loadProgram } = await import('../build-loader.js');
  const { selectBackend } = await import('../../../runtime/backend/index.js');
  const { scoreRunStages } = await import('../../../runtime/program.js');
  const { RunLock } = await import('../../../runtime/train/index.js');
  // The summary is rewritten as stages are scored: not while a training (or another report) holds the run.
  let lock: { releaseSync(): void } | undefined;
  try {
    lock = RunLock.acquire(runDir, rel);
    io.err(`scoring ${todo.length} stage${todo.length === 1 ? '' : 's'} by the protocol…\n`);
    const program = await loadProgram(buildDir);
    await selectBackend({});
    await scoreRunStages(program, { runDir, buildDir, note: (l) => io.err(`${l}\n`), only: todo });
  } catch (e) {
    if (!(e instanceof TdcError)) throw e;
    io.err(`note: the stages were not scored by the protocol: ${e.message}\n`);
  } finally {
    lock?.releaseSync();
  }
}

/**
 * The build a run was trained from: the run's parent folder (`<build>/run`) or the last `tdc build` here, whichever
 * has the spec hash of the stage checkpoint's `spec.lock.json` (any build, when the checkpoint has none).
 */
function buildOfRun(runDir: string, stage: string): string | undefined {
  const saved = join(stageCheckpointDir(runDir, stage), 'spec.lock.json');
  let hash: string | undefined;
  try {
    hash = existsSync(saved) ? (JSON.parse(readFileSync(saved, 'utf8')) as { hash?: string }).hash : undefined;
  } catch {
    hash = undefined;
  }
  for (const dir of [dirname(runDir), readLastBuild()?.dir]) {
    if (!dir || !existsSync(join(dir, 'spec.lock.json'))) continue;
    try {
      if (hash === undefined || readLock(dir).lock.hash === hash) return dir;
    } catch {
      continue;
    }
  }
  return undefined;
}
