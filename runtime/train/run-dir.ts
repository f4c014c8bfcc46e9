/**
 * The run folder's safety rules: one `tdc train` at a time (a lock file created atomically, a stale one taken
 * over safely), a finished or interrupted run never replaced without the user saying so (`--resume` continues
 * it, `--fresh` moves it aside into a timestamped sibling folder), and where each stage's final weights live.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TdcError } from '../errors.js';

/** The lock file inside the run folder. */
export const LOCK_FILE = 'train.lock';

/** What a run writes into its folder (other files there, e.g. with `--run-dir .`, are neither counted nor moved). */
const RUN_ENTRIES = new Set(['log.jsonl', 'log.csv', 'checkpoints', 'best', 'summary.json', 'summary.md', 'samples', 'report.html', 'export']);
const isRunEntry = (name: string) => RUN_ENTRIES.has(name) || name.startsWith('best.');

/** Where stage `name`'s final weights are kept (same format as `best/`); a folder of its own so no stage name can collide with `last`. */
export function stageCheckpointDir(runDir: string, name: string): string {
  return path.join(runDir, 'checkpoints', 'stages', name);
}

/** The stages whose final weights a run folder holds, in folder order. */
export function savedStages(runDir: string): string[] {
  const dir = path.join(runDir, 'checkpoints', 'stages');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => !n.includes('.tmp-') && !n.endsWith('.old') && fs.existsSync(path.join(dir, n, 'state.json'))).sort();
}

/** What a run folder holds. */
export type RunDirState =
  | { kind: 'empty' }
  | { kind: 'finished' }
  | { kind: 'interrupted'; stage?: string; step?: number };

/** Reads what a run folder holds: nothing (or only a lock), a finished run (summary says completed), or any other run. */
export function runDirState(runDir: string): RunDirState {
  let entries: string[];
  try {
    entries = fs.readdirSync(runDir).filter(isRunEntry);
  } catch {
    return { kind: 'empty' };
  }
  if (entries.length === 0) return { kind: 'empty' };
  try {
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as { status?: string };
    if (summary.status === 'completed') return { kind: 'finished' };
  } catch {
    // no summary, or an unreadable one: not a finished run
  }
  try {
    const saved = JSON.parse(fs.readFileSync(path.join(runDir, 'checkpoints', 'last', 'state.json'), 'utf8')) as {
      state?: { stageIndex?: number; step?: number; stageNames?: string[] };
    };
    const s = saved.state;
    if (s && typeof s.stageIndex === 'number') return { kind: 'interrupted', stage: s.stageNames?.[s.stageIndex], step: s.step };
  } catch {
    // no checkpoint yet: still a run (logs, best/) that must not be lost silently
  }
  return { kind: 'interrupted' };
}

/** A sibling folder name for setting a run aside: `<run>-<UTC timestamp>` (with a counter if taken). */
export function asideName(runDir: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  let candidate = `${runDir}-${stamp}`;
  for (let i = 2; fs.existsSync(candidate); i++) candidate = `${runDir}-${stamp}-${i}`;
  return candidate;
}

/**
 * Refuses (a usage TdcError, exit 2) to start over in a folder that holds a run, unless `resume` or `fresh` says what to do.
 * `shown` renders paths for the message.
 */
export function checkRunDir(runDir: string, opts: { resume?: boolean; fresh?: boolean }, shown: (p: string) => string = (p) => p): RunDirState {
  const state = runDirState(runDir);
  if (opts.resume && opts.fresh) throw new TdcError('--resume and --fresh exclude each other: continue the run, or start a new one', { usage: true });
  if (opts.resume || opts.fresh || state.kind === 'empty') return state;
  const where = shown(runDir);
  const aside = `${path.basename(runDir)}-<timestamp>`;
  if (state.kind === 'finished') {
    throw new TdcError(`${where} holds a finished run; to train again use tdc train --fresh (the finished run is kept beside it as ${aside}), or another folder with --run-dir`, { usage: true });
  }
  const at = state.stage !== undefined ? ` (checkpoint at stage ${state.stage} step ${state.step})` : '';
  throw new TdcError(`${where} holds an interrupted run${at}; continue it with tdc train --resume, or start over with tdc train --fresh (the old run is kept beside it as ${aside})`, { usage: true });
}

/** Moves the run's files (not the lock, not foreign files) into a new timestamped sibling folder; returns its path. */
export function setRunAside(runDir: string): string {
  const target = asideName(runDir);
  fs.mkdirSync(target);
  for (const name of fs.readdirSync(runDir).filter(isRunEntry)) fs.renameSync(path.join(runDir, name), path.join(target, name));
  return target;
}

/** What the lock file records about its holder. */
interface LockOwner {
  pid: number;
  host: string;
  /** Linux boot id: a pid from another boot is not the same process. */
  boot: string | null;
  /** The process start time (clock ticks since boot, /proc/<pid>/stat field 22): a reused pid has another. */
  start: string | null;
  since: string;
}

function bootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** True when the lock's holder may still be running (a holder on another host cannot be checked, so it counts as alive). */
function holderAlive(owner: LockOwner): boolean {
  if (owner.host !== os.hostname()) return true;
  const boot = bootId();
  if (owner.boot && boot && owner.boot !== boot) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.start) {
    const now = processStart(owner.pid);
    if (now !== null && now !== owner.start) return false;
  }
  return true;
}

function readOwner(file: string): { text: string; owner: LockOwner | null } | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const o = JSON.parse(text) as LockOwner;
    return { text, owner: typeof o.pid === 'number' ? o : null };
  } catch {
    // A holder killed between creating and writing the file leaves it empty: treat as stale.
    return { text, owner: null };
  }
}

/** A held run-folder lock. */
export class RunLock {
  private released = false;
  private readonly onExit = () => this.releaseSync();

  private constructor(
    readonly file: string,
    private readonly text: string,
    /** The pid whose stale lock was taken over, if any. */
    readonly tookOverFrom: number | null,
  ) {
    process.on('exit', this.onExit);
  }

  /**
   * Takes the lock of `runDir` (creating the folder), or throws a one-line TdcError naming the holder's pid.
   * The lock file is created with O_EXCL; a stale one (holder dead, from another boot, or a reused pid) is first
   * renamed to a name of this process's own and checked to still be the stale one before it is removed, so two
   * processes taking over the same stale lock cannot both win.
   */
  static acquire(runDir: string, shown: (p: string) => string = (p) => p): RunLock {
    fs.mkdirSync(runDir, { recursive: true });
    const file = path.join(runDir, LOCK_FILE);
    const me: LockOwner = { pid: process.pid, host: os.hostname(), boot: bootId(), start: processStart(process.pid), since: new Date().toISOString() };
    const text = `${JSON.stringify(me)}\n`;
    let tookOver: number | null = null;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx');
        try {
          fs.writeSync(fd, text);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        return new RunLock(file, text, tookOver);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const held = readOwner(file);
      if (!held) continue; // released meanwhile: try again
      if (held.owner && holderAlive(held.owner)) {
        const o = held.owner;
        const host = o.host !== os.hostname() ? ` on ${o.host}` : '';
        throw new TdcError(
          `${shown(runDir)} is in use by another tdc train (pid ${o.pid}${host}, since ${o.since}); wait for it to end or stop it, or train into another folder with --run-dir`,
        );
      }
      // Stale: move it to a name only this process uses, and check that what moved is what was judged stale.
      const mine = `${file}.stale-${process.pid}`;
      try {
        fs.renameSync(file, mine);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      const moved = fs.readFileSync(mine, 'utf8');
      if (moved !== held.text) {
        // Another process took the stale lock over in between: what moved is its live lock; put it back.
        try {
          fs.linkSync(mine, file);
        } catch {
          // someone created yet another lock meanwhile; the next attempt reports whoever holds it
        }
        fs.rmSync(mine, { force: true });
        continue;
      }
      fs.rmSync(mine, { force: true });
      tookOver = held.owner?.pid ?? null;
    }
    throw new TdcError(`could not take the lock ${shown(file)}: it keeps changing hands; is another tdc train starting?`);
  }

  /** Removes the lock file if it is still this process's. */
  releaseSync(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    try {
      if (fs.readFileSync(this.file, 'utf8') === this.text) fs.rmSync(this.file, { force: true });
    } catch {
      // already gone
    }
  }
}
