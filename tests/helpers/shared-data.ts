// The shared folder (../shared beside the repository; a git worktree one level deeper finds it through
// TDC_SHARED or /work/shared): the paper's text and the test data.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function sharedDir(): string {
  const candidates = [process.env['TDC_SHARED'], fileURLToPath(new URL('../../../shared/', import.meta.url)), '/work/shared/'];
  for (const c of candidates) if (c && existsSync(c)) return c.endsWith('/') ? c : `${c}/`;
  return candidates[1]!;
}

/** The shared test data (peer test suites, NIfTI and fundus samples). */
export function sharedDataDir(): string {
  return `${sharedDir()}data/`;
}
