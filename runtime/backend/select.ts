/**
 * Picks the fastest tfjs backend that works here (tensorflow native GPU → tensorflow native CPU → tdc's oneDNN 'native' → wasm → cpu),
 * or the one forced by `prefer` / `TDC_BACKEND`, and installs the training kernels it lacks.
 *
 * Threads: `threads`, else TDC_THREADS, else the machine's available parallelism. wasm runs its threaded build
 * through runtime/backend/wasm-threads.ts (at most WASM_MAX_THREADS); if that fails, one line says so and wasm
 * runs on one thread. The count is fixed when wasm first initialises in a process. native takes it as its OpenMP
 * thread count; tensorflow sizes its own pool.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { registerTrainingKernels } from './kernels.js';
import { nativeAvailable, registerNativeBackend } from './native.js';
import { installWasmWorkerShim, waitForWasmInit, WASM_MAX_THREADS } from './wasm-threads.js';

export interface SelectBackendOptions {
  /** force one backend: 'tensorflow' (tfjs-node / tfjs-node-gpu), 'wasm' or 'cpu'; overrides TDC_BACKEND */
  prefer?: string;
  /** compute threads; default TDC_THREADS, else os.availableParallelism() (wasm: at most WASM_MAX_THREADS) */
  threads?: number;
  /** where a one-line notice goes (wasm threads unavailable, thread count capped); default stderr */
  notice?: (line: string) => void;
}

export interface BackendInfo {
  /** tfjs backend name: 'tensorflow', 'wasm' or 'cpu' */
  name: string;
  /** threads the backend computes with */
  threads: number;
  /** whether WebAssembly SIMD is in use (wasm only) */
  simd: boolean;
  /** kernels tdc registered on top of the shipped backend */
  kernelsRegistered: string[];
}

// 'native': the cpu backend with oneDNN convolutions (runtime/native), present when its addon was built.
const KNOWN = ['tensorflow', 'native', 'wasm', 'cpu'] as const;

/** Imports an optional package by a runtime name: absent packages are a silent `false`. */
async function tryImport(pkg: string): Promise<boolean> {
  try {
    await import(pkg);
    return true;
  } catch {
    return false;
  }
}

async function tryTensorflow(): Promise<boolean> {
  // Each package registers the 'tensorflow' backend on import.
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if ((await tryImport(pkg)) && tf.findBackend('tensorflow')) return quietSet('tensorflow');
  }
  return false;
}

let wasmPathsSet = false;
/** How long the threaded wasm build may take to start its workers before we fall back to one thread. */
const WASM_THREADS_START_MS = 60_000;

async function tryWasm(threads: number, notice: (line: string) => void): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (tf.engine().registry.wasm) return await quietSet('wasm'); // initialised earlier: its thread count stays
    if (!wasmPathsSet && !tf.findBackend('wasm')) {
      // In Node the .wasm binaries are read from disk: point at the package's dist folder as a file path.
      // (Skipped when someone already initialised wasm: setWasmPaths would throw, and the paths worked.)
      const require = createRequire(import.meta.url);
      const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
      wasm.setWasmPaths(dist);
      wasmPathsSet = true;
    }
    if (threads > 1) {
      const n = Math.min(threads, WASM_MAX_THREADS);
      if (n < threads) notice(`wasm: ${threads} threads asked, using ${n} (the most its threaded build starts)`);
      const why = await tryThreadedWasm(wasm, n);
      if (!why) return true;
      notice(`wasm: threads unavailable (${why}); running on 1 thread`);
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      wasm.setThreadsCount(1);
    }
    return await quietSet('wasm');
  } catch {
    return false;
  }
}

/**
 * Initialises wasm's threaded build with `n` threads; '' on success, else why not. The build caps its pool at
 * emscripten_num_logical_cores() / 2, which under Node is os.cpus().length / 2 (tfjs assumes two hyperthreads per
 * core): while it initialises, os.cpus() reports 2·n entries so that the cap is the count asked for.
 */
async function tryThreadedWasm(wasm: typeof import('@tensorflow/tfjs-backend-wasm'), n: number): Promise<string> {
  const shim = installWasmWorkerShim();
  if (shim) return shim;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(n);
  const cpus = os.cpus;
  os.cpus = () => {
    const real = cpus();
    return Array.from({ length: 2 * n }, (_, i) => real[i % real.length]!);
  };
  try {
    if (!(await waitForWasmInit(quietSet('wasm'), WASM_THREADS_START_MS))) return 'the threaded build did not initialise';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    os.cpus = cpus;
  }
  const got = wasm.getThreadsCount();
  return got === n ? '' : `the threaded build started ${got} thread${got === 1 ? '' : 's'}, not ${n}`;
}

/** tf.setBackend logs its own failures to the console; we report them ourselves, in one line. */
async function quietSet(name: string): Promise<boolean> {
  const warn = console.warn;
  console.warn = () => {};
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  } finally {
    console.warn = warn;
  }
}

async function tryBackend(name: string, threads: number, notice: (line: string) => void): Promise<boolean> {
  if (name === 'tensorflow') return tryTensorflow();
  if (name === 'wasm') return tryWasm(threads, notice);
  if (name === 'native') return registerNativeBackend() !== null && quietSet('native');
  if (name === 'cpu') return quietSet('cpu');
  return false;
}

/** Backends other than `except` whose packages load (without switching the active backend). */
async function listInstalled(except: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of KNOWN) {
    if (name === except) continue;
    if (name === 'tensorflow') {
      if ((await tryImport('@tensorflow/tfjs-node-gpu')) || (await tryImport('@tensorflow/tfjs-node'))) out.push(name);
    } else if (name === 'wasm') {
      if (await tryImport('@tensorflow/tfjs-backend-wasm')) out.push(name);
    } else if (name === 'native') {
      if (nativeAvailable()) out.push(name);
    } else {
      out.push(name);
    }
  }
  return out;
}

/** The thread count asked for (`threads`, else TDC_THREADS), or undefined for the backend's default. */
function askedThreads(threads?: number): number | undefined {
  const env = process.env.TDC_THREADS?.trim();
  if (threads === undefined && !env) return undefined;
  const n = threads ?? Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${threads !== undefined ? '--threads' : 'TDC_THREADS'} must be a positive integer, got '${threads ?? env}'`);
  return n;
}

/** One-line summary for the CLI, e.g. `backend: wasm (SIMD, 1 thread)`. */
export function formatBackendInfo(info: BackendInfo): string {
  const parts: string[] = [];
  if (info.simd) parts.push('SIMD');
  parts.push(`${info.threads} thread${info.threads === 1 ? '' : 's'}`);
  return `backend: ${info.name} (${parts.join(', ')})`;
}

/**
 * Selects and initialises the backend. Forced (prefer or TDC_BACKEND) and unavailable → an Error whose message
 * is one line naming it and what is available.
 */
export async function selectBackend(opts: SelectBackendOptions = {}): Promise<BackendInfo> {
  const forced = (opts.prefer ?? process.env.TDC_BACKEND ?? '').trim().toLowerCase();
  const asked = askedThreads(opts.threads);
  const notice = opts.notice ?? ((line: string) => void process.stderr.write(`${line}\n`));
  // Debug checks read back every kernel's output; keep them off (they are off by default unless a user flag set them).
  tf.env().set('DEBUG', false);
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  // Production mode silences tfjs's console banners ("install our node backend"): tdc prints the backend itself.
  tf.env().set('PROD', true);

  let chosen: string | undefined;
  if (forced) {
    if (!(KNOWN as readonly string[]).includes(forced)) {
      throw new Error(`unknown backend '${forced}' (TDC_BACKEND / --backend): use one of ${KNOWN.join(', ')}`);
    }
    if (await tryBackend(forced, asked ?? os.availableParallelism(), notice)) {
      chosen = forced;
    } else {
      const available = await listInstalled(forced);
      const hint = forced === 'tensorflow' ? ' (install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu)' : '';
      throw new Error(`backend '${forced}' is not available here${hint}; available: ${available.join(', ') || 'none'}`);
    }
  } else {
    for (const name of KNOWN) {
      if (await tryBackend(name, asked ?? os.availableParallelism(), notice)) {
        chosen = name;
        break;
      }
    }
    if (!chosen) throw new Error('no tfjs backend could be initialised (tried tensorflow, wasm, cpu)');
  }
  await tf.ready();

  let simd = false;
  let threads = 1;
  if (chosen === 'wasm') {
    simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    try {
      threads = wasm.getThreadsCount();
    } catch {
      threads = 1;
    }
  } else if (chosen === 'native') {
    // Without a count asked for, OpenMP's own default (OMP_NUM_THREADS, else every logical core).
    threads = registerNativeBackend(asked !== undefined ? { threads: asked } : {})!.threads;
  } else if (chosen === 'tensorflow') {
    // libtensorflow sizes its own intra-op pool to the machine.
    threads = os.availableParallelism();
  }
  const kernelsRegistered = registerTrainingKernels(chosen);
  return { name: chosen, threads, simd, kernelsRegistered };
}
