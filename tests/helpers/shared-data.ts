// The shared test data (../shared/data beside the repository; a git worktree one level deeper finds it through
// TDC_SHARED_DATA or /work/shared/data).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function sharedDataDir(): string {
  const candidates = [process.env['TDC_SHARED_DATA'], fileURLToPath(new URL('../../../shared/data/', import.meta.url)), '/work/shared/data/'];
  for (const c of candidates) if (c && existsSync(c)) return c.endsWith('/') ? c : `${c}/`;
  return candidates[1]!;
}
