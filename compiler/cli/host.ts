/** The CLI's window onto the machine: a disk-backed SpecHost, the output streams and the exit code. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import type { SpecHost } from '../compose.js';

/** Reads spec files from disk; paths stay as the user wrote them (relative to cwd) so messages show them so. */
export function createNodeHost(): SpecHost {
  return {
    readFile(path: string): string | undefined {
      try {
        if (!statSync(path).isFile()) return undefined;
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    resolve(fromFile: string, rel: string): string {
      return normalize(isAbsolute(rel) ? rel : join(dirname(fromFile), rel));
    },
  };
}

/** Disk facts the semantic checks need (pretrained weight files), given as functions so the checks stay pure. */
export function diskFacts(host: SpecHost): { exists: (rel: string, fromFile: string) => boolean } {
  return { exists: (rel, fromFile) => existsSync(host.resolve(fromFile, rel)) };
}

/** Where commands write, swappable so that tests run the real CLI in-process and read what it printed. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Use ANSI colours in human-readable output. */
  color: boolean;
  /** The exit code the CLI will end with; commands raise it with `setExitCode`. */
  exitCode: number;
}

export const io: CliIO = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb',
  exitCode: 0,
};

/** Exit codes: 0 ok (warnings allowed), 1 spec errors, 2 usage errors (unknown command/option, missing file). */
export const EXIT = { ok: 0, specErrors: 1, usage: 2 } as const;

/** Keeps the most severe exit code seen (usage > spec errors > ok). */
export function setExitCode(code: number): void {
  io.exitCode = Math.max(io.exitCode, code);
}
