/**
 * Dependencies that ship as many small CommonJS modules (yaml: 72, Handlebars' runtime: 21) cost `tdc check` and
 * `tdc build` more in Node's module loader than in their own code; from one file they load several times faster.
 * `npm run build` bundles each into dist/compiler/vendor/ with esbuild (scripts/build-vendor.mjs), and
 * `vendored(name)` loads that bundle when it was made from the installed version of the package, else the package
 * itself (run from the TypeScript sources, as the tests do, or after the package changed without a rebuild).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The vendored packages, as one would `require` them. */
export const VENDORED = ['yaml', 'handlebars/runtime'] as const;
export type Vendored = (typeof VENDORED)[number];

/** The bundle's path relative to this module. */
export function vendoredFile(name: Vendored): string {
  return `./vendor/${name.replace(/\//g, '-')}.cjs`;
}

/** What a bundle exports: the package's exports and the version it was bundled from. */
export interface VendoredBundle<T = unknown> {
  version: string;
  exports: T;
}

/** The installed version of the package `name` belongs to. */
export function installedVersion(name: Vendored): string {
  return (require(`${name.split('/')[0]}/package.json`) as { version: string }).version;
}

/** The package `name`: its bundle where current, else the package itself. */
export function vendored<T>(name: Vendored): T {
  try {
    const bundle = require(vendoredFile(name)) as VendoredBundle<T>;
    if (bundle.version === installedVersion(name)) return bundle.exports;
  } catch {
    // not built: the package itself
  }
  return require(name) as T;
}
