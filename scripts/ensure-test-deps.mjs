// Makes sure the system tools the tests need are present: Debian Chromium for tests/report-chromium.test.ts, and
// Debian's PyTorch + numpy (python3-torch, python3-numpy) for the torch-target tests (tests/torch-*.test.ts).
// As root on a Debian-like system it installs what is missing with apt-get; otherwise it prints one line on how
// to install it. It never fails the test run itself: a missing browser makes the browser test fail, loudly.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = '/usr/bin/chromium';
const HOW = `tdc tests: ${CHROMIUM} is missing and the browser test will fail; install it with: sudo apt-get install -y chromium`;

function apt(args) {
  const r = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    console.log(HOW);
    return;
  }
  console.log(`tdc tests: installing chromium with apt-get (${CHROMIUM} is missing)`);
  // A fresh image has no package lists yet: update only when the first attempt fails.
  const ok = apt(['install', '-y', 'chromium']) || (apt(['update']) && apt(['install', '-y', 'chromium']));
  if (!ok || !existsSync(CHROMIUM)) console.log(HOW);
}

const TORCH_HOW = 'tdc tests: no python3 with torch and numpy; the torch-target tests will be skipped; install them with: sudo apt-get install -y python3-torch python3-numpy';

/** True when a python the tests try (as compiler/cli/torch-python.ts does) imports torch and numpy. */
function hasTorch() {
  return [process.env.TDC_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean).some((py) => spawnSync(py, ['-c', 'import numpy, torch'], { stdio: 'ignore' }).status === 0);
}

function ensureTorch() {
  if (hasTorch()) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    console.log(TORCH_HOW);
    return;
  }
  console.log('tdc tests: installing python3-torch and python3-numpy with apt-get');
  const pkgs = ['install', '-y', 'python3-torch', 'python3-numpy'];
  const ok = apt(pkgs) || (apt(['update']) && apt(pkgs));
  if (!ok || !hasTorch()) console.log(TORCH_HOW);
}

ensureChromium();
ensureTorch();
