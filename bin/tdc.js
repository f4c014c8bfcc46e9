#!/usr/bin/env node
// The `tdc` command: runs the compiled CLI from dist/ (built by `npm ci` through the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const entry = new URL('../dist/compiler/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('tdc: the CLI is not built; run `npm run build` (or `npm ci`) in the tdc folder first\n');
  process.exit(2);
}
await import(entry.href);
