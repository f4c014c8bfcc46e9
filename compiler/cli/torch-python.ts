/**
 * Finds a Python interpreter that imports PyTorch (and numpy) recent enough for the generated torch project:
 * $TDC_PYTHON, then `python3` on PATH, then Debian's /usr/bin/python3 (python3-torch). Used by `tdc train
 * --target torch`, `npm run bench` and the tests.
 */
import { spawnSync } from 'node:child_process';

/** The oldest PyTorch the generated code runs on (Debian bookworm's python3-torch). */
export const MIN_TORCH: readonly [number, number] = [1, 13];

export interface TorchPython {
  python: string;
  torch: string;
}

/** The first candidate that imports torch ≥ MIN_TORCH and numpy, or a one-line reason why none does. */
export function findTorchPython(env: NodeJS.ProcessEnv = process.env): TorchPython | { problem: string } {
  const candidates = [env.TDC_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p));
  let old: string | undefined;
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', 'import numpy, torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const version = r.stdout.trim();
    const [major, minor] = version.split('+')[0]!.split('.').map(Number) as [number, number];
    if (major > MIN_TORCH[0] || (major === MIN_TORCH[0] && minor >= MIN_TORCH[1])) return { python, torch: version };
    old = `${python} has PyTorch ${version}`;
  }
  const need = `PyTorch ${MIN_TORCH.join('.')} or newer with numpy`;
  return {
    problem: old
      ? `${old}, too old; the torch target needs ${need} (set TDC_PYTHON to a python that has it)`
      : `no python with ${need} found (tried ${[...new Set(candidates)].join(', ')}); install it (pip install torch numpy, or apt install python3-torch) or set TDC_PYTHON`,
  };
}
