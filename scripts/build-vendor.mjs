// Bundles the many-module dependencies that `tdc check` and `tdc build` load (compiler/vendor.ts: yaml, Handlebars'
// runtime) into one CommonJS file each under dist/compiler/vendor/, with esbuild; each records the package version
// it was made from, and tdc loads the package itself when that is not the installed one. Run by `npm run build`
// after tsc.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const moduleDir = join(root, 'dist', 'compiler');
const { VENDORED, vendoredFile, installedVersion } = await import(pathToFileURL(join(moduleDir, 'vendor.js')).href);
const require = createRequire(import.meta.url);

for (const name of VENDORED) {
  const version = installedVersion(name);
  await build({
    stdin: { contents: `module.exports = { version: ${JSON.stringify(version)}, exports: require(${JSON.stringify(name)}) };`, resolveDir: root, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: join(moduleDir, vendoredFile(name)),
    banner: { js: `// ${name} ${version} (${require.resolve(name).slice(root.length + 1)} and its modules) bundled by scripts/build-vendor.mjs; do not edit.` },
    logLevel: 'warning',
  });
}
