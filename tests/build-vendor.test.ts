/**
 * The dependencies `npm run build` bundles into one file each (dist/compiler/vendor/, loaded by `tdc check` and
 * `tdc build` through compiler/vendor.ts): dist loads the bundles, not the packages, and the yaml bundle reads every
 * example and every spec of the error corpus as the package does (Handlebars' runtime bundle renders the templates
 * in tests/build-templates-precompiled.test.ts). The test suite builds first (`npm test`), so dist/ is current.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type * as YAML from 'yaml';
import { VENDORED, vendored } from '../compiler/vendor.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const specs = [
  ...readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => path.join(root, 'examples', f)),
  ...readdirSync(path.join(root, 'tests', 'corpus')).filter((f) => f.endsWith('.yaml')).map((f) => path.join(root, 'tests', 'corpus', f)),
];

describe('the vendored bundles', async () => {
  const dist = (await import(pathToFileURL(path.join(root, 'dist', 'compiler', 'vendor.js')).href)) as typeof import('../compiler/vendor.js');

  it.each(VENDORED)('%s: dist loads its bundle; the sources load the package', (name) => {
    expect(dist.vendored(name)).not.toBe(require(name));
    expect(vendored(name)).toBe(require(name));
  });

  it('yaml: every example and corpus spec reads alike (data, node ranges, errors, warnings)', () => {
    const bundle = dist.vendored<typeof YAML>('yaml');
    const pkg = require('yaml') as typeof YAML;
    const read = (y: typeof YAML, text: string) => {
      const doc = y.parseDocument(text, { uniqueKeys: false, prettyErrors: false, keepSourceTokens: true });
      const ranges: unknown[] = [];
      y.visit(doc, (_key, node) => void ranges.push((node as { range?: unknown } | null)?.range));
      const problems = (list: readonly YAML.YAMLError[] | readonly YAML.YAMLWarning[]) => list.map((e) => [e.code, e.pos, e.message]);
      let data: unknown;
      try {
        data = doc.toJS();
      } catch (e) {
        data = { threw: (e as Error).message }; // the corpus has an alias bomb, which both refuse alike
      }
      return { data, ranges, errors: problems(doc.errors), warnings: problems(doc.warnings) };
    };
    for (const f of specs) {
      const text = readFileSync(f, 'utf8');
      expect(read(bundle, text), path.relative(root, f)).toEqual(read(pkg, text));
    }
  });
});
