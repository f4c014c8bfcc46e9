// wasm on several threads under Node (runtime/backend/wasm-threads.ts): the blob-URL Worker shim on its own, and a
// training step on 2 threads against the same step on 1 thread (each in its own child process: the wasm thread
// count is fixed per process), and the one-line fallback to 1 thread when the shim cannot be installed.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { BlobWorker, waitForWasmInit } from '../runtime/backend/wasm-threads.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Inside the repository, so that the bundle's bare imports (@tensorflow/…) resolve from its node_modules.
const bundle = path.join(root, 'node_modules', '.cache', 'tdc-tests', 'wasm-step.mjs');

interface StepResult {
  threads: number;
  paths: { filterGradShifted: number; filterGradRegions: number; maxPoolGrad: number; sum: number; flipSwapInHeap: number };
  copies: { slice: number; pad: number };
  loss: number;
  grads: Record<string, number[]>;
}

function runStep(env: Record<string, string>): { result: StepResult; stderr: string } {
  const r = spawnSync(process.execPath, [bundle], { env: { ...process.env, TDC_BACKEND: '', ...env }, encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  return { result: JSON.parse(r.stdout.trim().split('\n').pop()!) as StepResult, stderr: r.stderr };
}

describe('BlobWorker', () => {
  it('starts a worker_threads Worker from a blob: URL and talks to it', async () => {
    const url = URL.createObjectURL(new Blob(["require('worker_threads').parentPort.on('message', (m) => require('worker_threads').parentPort.postMessage(m * 2));"]));
    const w = new BlobWorker(url);
    const reply = await new Promise((resolve) => {
      w.on('message', resolve);
      w.postMessage(21);
    });
    await w.terminate();
    expect(reply).toBe(42);
  });

  it("turns a worker's error into a rejected initialisation instead of an uncaught exception", async () => {
    const url = URL.createObjectURL(new Blob(["throw new Error('broken worker script')"]));
    const pending = new Promise<never>(() => {}); // an initialisation that never finishes on its own
    const w = new BlobWorker(url);
    w.on('error', () => {
      throw new Error('rethrown, as the emscripten handler does');
    });
    await expect(waitForWasmInit(pending, 30_000)).rejects.toThrow(/a wasm worker failed: broken worker script/);
    await w.terminate();
  });
});

describe('wasm training step on threads', () => {
  beforeAll(async () => {
    mkdirSync(path.dirname(bundle), { recursive: true });
    await build({
      entryPoints: [path.join(root, 'tests', 'helpers', 'wasm-step.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      outfile: bundle,
      logLevel: 'warning',
    });
  });

  it('2 threads give the 1-thread loss and gradients to 1e-5', () => {
    const one = runStep({ TDC_THREADS: '1' }).result;
    const { result: two, stderr } = runStep({ TDC_THREADS: '2' });
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(stderr).not.toMatch(/threads unavailable/);
    // tdc's wasm paths ran on both: the per-tap filter gradient in both layouts, the JS max-pool gradient and
    // bias-gradient sum, the input gradients' filter flip on the heap (three convs' dx kernels, the 2D and 3D atrous ops).
    for (const r of [one, two]) expect(r.paths).toEqual({ filterGradShifted: 1, filterGradRegions: 1, maxPoolGrad: 1, sum: 1, flipSwapInHeap: 5 });
    // Slice and PadV2 as copies in wasm memory on both builds (the threaded one's memory noted by the Worker shim).
    for (const r of [one, two]) expect(r.copies).toEqual(one.copies);
    expect(one.copies.slice).toBeGreaterThan(0);
    expect(one.copies.pad).toBeGreaterThan(0);
    expect(Math.abs(two.loss - one.loss)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(one.loss)));
    for (const [name, g1] of Object.entries(one.grads)) {
      const g2 = two.grads[name]!;
      expect(g2.length).toBe(g1.length);
      const scale = Math.max(...g1.map(Math.abs));
      expect(scale, name).toBeGreaterThan(0);
      const diff = Math.max(...g1.map((v, i) => Math.abs(v - g2[i]!)));
      expect(diff / scale, name).toBeLessThanOrEqual(1e-5);
    }
  });

  it('falls back to 1 thread with one line when the shim cannot be installed', () => {
    const { result, stderr } = runStep({ TDC_THREADS: '2', TDC_TEST_BREAK_WORKER: '1' });
    expect(result.threads).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^wasm: threads unavailable \(.+\); running on 1 thread$/)]);
  });
});
