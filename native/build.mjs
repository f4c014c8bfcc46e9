// Builds the optional oneDNN addon (native/build/tdc_native.node) at install time; never fails the install.
//
// Runs from package.json's `install` script, i.e. during `npm ci`. When a C++ compiler, Node's headers or
// oneDNN (Debian: `apt-get install libdnnl-dev`) are missing, or the compile fails, it prints one line and exits 0:
// tdc then runs on the wasm / cpu backends as before. The compiler is called directly rather than through
// node-gyp, because node-gyp wants to download Node's headers (no network here) while they are on disk.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, 'build', 'tdc_native.node');
const quiet = process.argv.includes('--quiet');

function say(msg) {
  if (!quiet) console.log(`tdc native addon: ${msg}`);
}

/** The first directory in `dirs` holding `file`, or undefined. */
function findDir(dirs, file) {
  return dirs.find((d) => d && existsSync(path.join(d, file)));
}

function main() {
  if (process.env.TDC_NO_NATIVE === '1') return say('skipped (TDC_NO_NATIVE=1)');
  if (process.platform !== 'linux') return say(`skipped (only built on Linux, this is ${process.platform})`);
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const nodeInc = findDir([process.env.TDC_NODE_INCLUDE, path.join(prefix, 'include', 'node'), '/usr/include/node', '/usr/local/include/node'], 'node_api.h');
  if (!nodeInc) return say('skipped (Node headers with node_api.h not found)');
  const dnnlRoot = process.env.DNNL_ROOT;
  const dnnlInc = findDir([dnnlRoot && path.join(dnnlRoot, 'include'), '/usr/include', '/usr/local/include'], path.join('oneapi', 'dnnl', 'dnnl.hpp'));
  if (!dnnlInc) return say('skipped (oneDNN not found: apt-get install libdnnl-dev, or set DNNL_ROOT)');
  const cxx = process.env.CXX || 'g++';
  const libDirs = dnnlRoot ? [`-L${path.join(dnnlRoot, 'lib')}`, `-Wl,-rpath,${path.join(dnnlRoot, 'lib')}`] : [];
  mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const argv = [
    // -ffp-contract=off: no fused multiply-adds where the target has them (aarch64), so kernels that promise tfjs's
    // float32 results bit for bit (sgdUpdate, batchNormApply) keep that promise on every target.
    '-O2', '-std=c++17', '-shared', '-fPIC', '-fopenmp', '-fvisibility=hidden', '-ffp-contract=off',
    '-DNODE_GYP_MODULE_NAME=tdc_native', '-DNAPI_VERSION=8',
    `-I${nodeInc}`, `-I${dnnlInc}`,
    path.join(here, 'tdc_native.cc'),
    '-o', tmp, ...libDirs, '-ldnnl',
  ];
  try {
    execFileSync(cxx, argv, { stdio: quiet ? 'ignore' : ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    rmSync(tmp, { force: true });
    const first = String(e.stderr ?? e.message ?? e).split('\n').find((l) => l.includes('error')) ?? String(e.message).split('\n')[0];
    return say(`not built (${cxx} failed: ${first.trim()}); tdc falls back to wasm/cpu`);
  }
  // Rename last, so a half-written file is never loaded.
  renameSync(tmp, out);
  say(`built ${path.relative(process.cwd(), out)}`);
}

try {
  main();
} catch (e) {
  say(`not built (${e instanceof Error ? e.message.split('\n')[0] : e}); tdc falls back to wasm/cpu`);
}
process.exitCode = 0;
