/**
 * Runs the built CLI (bin/tdc.js) as a child process without blocking the test worker: a synchronous spawn of a
 * training run starves vitest's worker RPC ("Timeout calling onTaskUpdate") on a busy machine.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = join(fileURLToPath(new URL('../..', import.meta.url)), 'bin', 'tdc.js');

export interface TdcResult {
  code: number | null;
  out: string;
  err: string;
}

export function runTdc(args: string[], cwd: string, env: Record<string, string> = {}): Promise<TdcResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}
