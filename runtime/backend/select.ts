/**
 * Picks the fastest tfjs backend that works here (tensorflow native GPU → tensorflow native CPU → tdc's oneDNN 'native' → wasm → cpu),
 * or the one forced by `prefer` / `TDC_BACKEND`, and installs the training kernels it lacks.
 *
 * Threads: the wasm backend runs single-threaded under Node as shipped (its multithread flag is false in Node,
 * and its threaded build starts workers from blob URLs that Node's worker_threads refuses); making it threaded
 * needs patching node_modules, which we do not do. `threads` is honoured only where the backend supports it.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { registerTrainingKernels } from './kernels.js';
import { nativeAvailable, registerNativeBackend } from '../native/index.js';

export interface SelectBackendOptions {
  /** force one backend: 'tensorflow' (tfjs-node / tfjs-node-gpu), 'wasm' or 'cpu'; overrides TDC_BACKEND */
  prefer?: string;
  /** wanted worker threads (used only by backends that can run threads in Node) */
  threads?: number;
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

async function tryWasm(): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (!wasmPathsSet && !tf.findBackend('wasm')) {
      // In Node the .wasm binaries are read from disk: point at the package's dist folder as a file path.
      // (Skipped when someone already initialised wasm: setWasmPaths would throw, and the paths worked.)
      const require = createRequire(import.meta.url);
      const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
      wasm.setWasmPaths(dist);
      wasmPathsSet = true;
    }
    return await quietSet('wasm');
  } catch {
    return false;
  }
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

async function tryBackend(name: string): Promise<boolean> {
  if (name === 'tensorflow') return tryTensorflow();
  if (name === 'wasm') return tryWasm();
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
    if (await tryBackend(forced)) {
      chosen = forced;
    } else {
      const available = await listInstalled(forced);
      const hint = forced === 'tensorflow' ? ' (install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu)' : '';
      throw new Error(`backend '${forced}' is not available here${hint}; available: ${available.join(', ') || 'none'}`);
    }
  } else {
    for (const name of KNOWN) {
      if (await tryBackend(name)) {
        chosen = name;
        break;
      }
    }
    if (!chosen) throw new Error('no tfjs backend could be initialised (tried tensorflow, wasm, cpu)');
  }
  await tf.ready();

  let threads = 1;
  let simd = false;
  if (chosen === 'wasm') {
    simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    try {
      threads = wasm.getThreadsCount();
    } catch {
      threads = 1;
    }
  } else if (chosen === 'native') {
    threads = registerNativeBackend(opts.threads !== undefined ? { threads: opts.threads } : {})!.threads;
  } else if (chosen === 'tensorflow') {
    // libtensorflow sizes its own intra-op pool to the machine.
    threads = opts.threads ?? (await import('node:os')).availableParallelism();
  }
  const kernelsRegistered = registerTrainingKernels(chosen);
  return { name: chosen, threads, simd, kernelsRegistered };
}
