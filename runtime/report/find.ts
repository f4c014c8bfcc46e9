/** Finds the run a bare `tdc report` (or `tdc train`) means: the one of the last `tdc build` in this folder. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TdcError } from '../errors.js';

/** What `tdc build` records in `.tdc/last-build.json`. */
export interface LastBuild {
  /** The build's output folder (relative paths are relative to the folder holding `.tdc/`). */
  dir: string;
  /** The spec file it was built from. */
  spec: string;
}

/** Reads `<cwd>/.tdc/last-build.json`; rejects with a one-line TdcError when there is none or it is unreadable. */
export async function readLastBuild(cwd: string = process.cwd()): Promise<LastBuild> {
  const file = path.join(cwd, '.tdc', 'last-build.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new TdcError(`no run given and no build recorded here (${path.join('.tdc', 'last-build.json')} is missing); run tdc build first or pass a run folder`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TdcError(`${file} is not valid JSON; run tdc build again or pass a run folder`);
  }
  const v = value as Partial<LastBuild> | null;
  if (!v || typeof v.dir !== 'string' || v.dir === '') throw new TdcError(`${file} has no "dir"; run tdc build again or pass a run folder`);
  return { dir: path.resolve(cwd, v.dir), spec: typeof v.spec === 'string' ? v.spec : '' };
}

/** The run folder of the last build: `<dir>/run`. */
export async function defaultRunDir(cwd: string = process.cwd()): Promise<string> {
  const build = await readLastBuild(cwd);
  return path.join(build.dir, 'run');
}
