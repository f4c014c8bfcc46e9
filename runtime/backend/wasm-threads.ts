/**
 * Multi-threaded wasm under Node, without patching node_modules.
 *
 * tfjs-backend-wasm ships a threaded SIMD build (emscripten pthreads over XNNPACK's thread pool) but never uses it in
 * Node: its WASM_HAS_MULTITHREAD_SUPPORT flag is false there, and the build starts each pthread's worker from a blob
 * URL (`new Worker(URL.createObjectURL(blob))`), then posts the main script to it as a Blob, both of which Node's
 * worker_threads cannot load. `installWasmWorkerShim` gives the build a `Worker` that can:
 *
 * - `globalThis.Worker` becomes `BlobWorker`, a worker_threads Worker that, given a `blob:` URL, starts from a small
 *   bootstrap instead and hands it the Blob; the bootstrap reads the script and evaluates it. The threaded factory
 *   assigns `globalThis.Worker = worker_threads.Worker` while it initialises; that assignment is ignored (the
 *   property is an accessor that keeps the shim).
 * - Inside the worker, the main script arrives as a Blob in the pthread 'load' message; the bootstrap reads it and
 *   hands it to the worker script's `importScripts` under a name it recognises. The main script is the factory's own
 *   source (`Function.prototype.toString` of the node bundle's function): the bundle-level names it refers to
 *   (`require$$0` fs, `require$$1` path, `require$$3` perf_hooks, `require$$4` os, `commonjsGlobal`, `_scriptDir`) are
 *   defined in the worker's global scope first.
 * - A worker's error never throws on the main thread (the build's handler would rethrow it as an uncaught
 *   exception): it is recorded, and `waitForWasmInit` turns it into a failure the caller falls back from.
 * - Workers are unreferenced: XNNPACK's pool threads run for the process's lifetime and must not keep Node alive.
 * - The build keeps its shared `WebAssembly.Memory` to itself; it posts it to each worker in the 'load' message, where
 *   the shim notes it (`threadedWasmMemory`) for wasm-heap-copy.ts, whose copies run in wasm on that memory.
 *
 * The build creates a pool of 8 workers before it starts (PTHREAD_POOL_SIZE) and a worker created later is loaded
 * asynchronously, which a thread pool the main thread waits on synchronously would deadlock on: threads are capped at
 * WASM_MAX_THREADS. This relies on tfjs-backend-wasm 4.x's emscripten output; anything unexpected shows as a failed
 * initialisation, and selectBackend falls back to the single-threaded build with one line saying why.
 */
import { resolveObjectURL } from 'node:buffer';
import { Worker as NodeWorker, type TransferListItem, type WorkerOptions } from 'node:worker_threads';

/** Workers the threaded build creates up front; more threads than this would wait on a worker that cannot load. */
export const WASM_MAX_THREADS = 8;

/** Runs in each pthread worker (CommonJS, `eval: true`); workerData.script is the worker script's Blob. */
const BOOTSTRAP = `
const threads = require('node:worker_threads');
const { parentPort, workerData } = threads;
// Names the bundled factory source refers to (rollup's bundle-level requires of tf-backend-wasm.node.js).
Object.assign(globalThis, {
  require, __filename, __dirname, commonjsGlobal: globalThis, _scriptDir: undefined,
  require$$0: require('fs'), require$$1: require('path'), require$$3: require('perf_hooks'), require$$4: require('os'),
});
// The worker script attaches its listener to worker_threads.parentPort: give it a port whose 'message' listener we
// call ourselves, in order, after anything asynchronous a message needs (reading a Blob).
let deliver = null;
const port = {
  on: (event, fn) => (event === 'message' ? (deliver = fn) : parentPort.on(event, fn), port),
  postMessage: (msg, transfer) => parentPort.postMessage(msg, transfer),
};
const req = require;
globalThis.require = (id) => (id === 'worker_threads' || id === 'node:worker_threads' ? { ...threads, parentPort: port } : req(id));
const inline = new Map();
let chain = workerData.script.text().then((code) => {
  (0, eval)(code);
  const importScripts = globalThis.importScripts;
  globalThis.importScripts = (f) => (inline.has(f) ? (0, eval)(inline.get(f)) : importScripts(f));
});
parentPort.on('message', (data) => {
  chain = chain.then(async () => {
    if (data && data.cmd === 'load' && data.urlOrBlob instanceof Blob) {
      const name = 'tdc-inline:' + inline.size;
      inline.set(name, await data.urlOrBlob.text());
      data.urlOrBlob = name;
    }
    deliver(data);
  });
  chain.catch((e) => process.nextTick(() => { throw e; }));
});
`;

/** Errors reported by shim workers (a worker that failed to start or load), newest last. */
const failures: string[] = [];
const failureListeners = new Set<(msg: string) => void>();

function fail(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  failures.push(msg);
  for (const f of failureListeners) f(msg);
}

/** A worker_threads Worker that can start from a `blob:` URL (the script is read and evaluated in the worker). */
export class BlobWorker extends NodeWorker {
  constructor(url: string | URL, options: WorkerOptions = {}) {
    const href = String(url);
    if (href.startsWith('blob:')) {
      const script = resolveObjectURL(href);
      if (!script) throw new Error(`wasm threads: no Blob behind ${href}`);
      super(BOOTSTRAP, { ...options, eval: true, workerData: { script } });
    } else {
      super(url, options);
    }
    this.unref();
  }

  // The build's shared memory travels to each worker in its 'load' message: note it for wasm-heap-copy.ts.
  override postMessage(value: unknown, transferList?: readonly TransferListItem[]): void {
    const memory = (value as { cmd?: unknown; wasmMemory?: unknown } | null)?.wasmMemory;
    if (memory instanceof WebAssembly.Memory) sharedMemory = memory;
    super.postMessage(value, transferList);
  }

  /** Kept unreferenced: the pool's threads live as long as the process and must not keep it alive. */
  override ref(): void {}

  // The build's 'error' handler rethrows on the main thread (an uncaught exception): record the error instead.
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    if (event !== 'error') return super.on(event, listener);
    return super.on('error', (e: unknown) => {
      fail(e);
      try {
        listener(e);
      } catch {
        // recorded above
      }
    });
  }
}

let installed = false;
let sharedMemory: WebAssembly.Memory | undefined;

/** The threaded build's shared memory, once it has posted it to a worker; undefined before (or without threads). */
export function threadedWasmMemory(): WebAssembly.Memory | undefined {
  return sharedMemory;
}

/** Makes `globalThis.Worker` the blob-capable shim (idempotent). Returns '' or why it could not. */
export function installWasmWorkerShim(): string {
  if (installed) return '';
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return 'no SharedArrayBuffer/Atomics';
  try {
    Object.defineProperty(globalThis, 'Worker', {
      configurable: true,
      get: () => BlobWorker,
      // The threaded build sets Worker = worker_threads.Worker while initialising; keep the shim.
      set: () => {},
    });
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  installed = true;
  return '';
}

/**
 * Waits for a wasm backend initialisation, failing as soon as a shim worker reports an error or after `timeoutMs`
 * (a worker that never loads would otherwise leave the build waiting forever).
 */
export async function waitForWasmInit<T>(init: Promise<T>, timeoutMs: number): Promise<T> {
  let onFail: ((msg: string) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    onFail = (msg) => reject(new Error(`a wasm worker failed: ${msg}`));
    failureListeners.add(onFail);
    timer = setTimeout(() => reject(new Error(`wasm workers did not start within ${timeoutMs / 1000} s`)), timeoutMs);
    timer.unref();
  });
  failed.catch(() => {}); // observed through the race below; never an unhandled rejection once init has won
  try {
    return await Promise.race([init, failed]);
  } finally {
    failureListeners.delete(onFail!);
    clearTimeout(timer);
  }
}
