/**
 * The spec validator `npm run build` precompiles (ajv standalone code in dist/, loaded by `tdc check` / `tdc build`)
 * against ajv compiling the schema at run time: the same verdict, errors and defaults on every example and every
 * spec of the error corpus. The test suite builds first (`npm test`), so dist/ is current.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { compileValidator, PRECOMPILED_VALIDATOR, schemaHash } from '../compiler/validate/schema.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const file = path.join(root, 'dist', 'compiler', 'validate', PRECOMPILED_VALIDATOR);
const specs = [
  ...readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => path.join(root, 'examples', f)),
  ...readdirSync(path.join(root, 'tests', 'corpus')).filter((f) => f.endsWith('.yaml')).map((f) => path.join(root, 'tests', 'corpus', f)),
];

describe('the precompiled spec validator', () => {
  const pre = createRequire(import.meta.url)(file) as ValidateFunction & { schemaHash?: string };
  const runtime = compileValidator();

  it('was generated from the current schema', () => {
    expect(pre.schemaHash).toBe(schemaHash());
  });

  it.each(specs.map((f) => [path.relative(root, f), f]))('%s: same result as a run-time compile', (_name, f) => {
    let data: unknown;
    try {
      data = parseYaml(readFileSync(f, 'utf8'));
    } catch {
      return; // YAML syntax errors never reach the validator
    }
    const a = structuredClone(data);
    const b = structuredClone(data);
    const okA = pre(a);
    const okB = runtime(b);
    expect(okA).toBe(okB);
    const strip = (errs: ValidateFunction['errors']) =>
      (errs ?? []).map((e) => ({ instancePath: e.instancePath, schemaPath: e.schemaPath, keyword: e.keyword, params: e.params, message: e.message }));
    expect(strip(pre.errors)).toEqual(strip(runtime.errors));
    expect(a).toEqual(b); // defaults written alike
  });
});
