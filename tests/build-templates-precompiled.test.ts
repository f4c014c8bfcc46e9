/**
 * The templates `npm run build` precompiles (dist/compiler/emit/templates.precompiled.cjs, run on Handlebars' runtime
 * by `tdc build`) against the templates compiled from source, as the TypeScript sources do: the same bytes for every
 * example on both targets; and a template edited after the precompile is compiled from its source, never served
 * stale. The test suite builds first (`npm test`), so dist/ is current.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../compiler/pipeline.js';
import { createNodeHost } from '../compiler/cli/host.js';
import * as fromSource from '../compiler/emit/index.js';
import { templatesPrecompiled as sourcePrecompiled } from '../compiler/emit/render.js';
import { buildTorchView } from '../compiler/emit/torch.js';
import type { EmitMeta } from '../compiler/emit/view.js';
import type { Spec } from '../spec/types.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const distEmit = path.join(root, 'dist', 'compiler', 'emit');
const SPECS = ['quickstart', 'robot18', 'refuge18', 'brats18'];
// Inside the repository so that handlebars resolves from its node_modules; git-ignored (tests/**/tmp/).
const tmp = path.join(root, 'tests', 'tmp', `templates-${process.pid}`);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const metaOf = (name: string, spec: Spec): EmitMeta => ({ version: '0.0.0-test', specPath: `examples/${name}.yaml`, specDirFromOut: '../..', hash: fromSource.specHash(spec) });

describe('the precompiled templates', () => {
  it('are current in dist/ and used there; the sources compile theirs', async () => {
    const dist = (await import(pathToFileURL(path.join(distEmit, 'render.js')).href)) as typeof import('../compiler/emit/render.js');
    expect(dist.templatesPrecompiled()).toBe(true);
    expect(sourcePrecompiled()).toBe(false);
  });

  it.each(SPECS)('%s: the same files as templates compiled from source, both targets', async (name) => {
    const dist = (await import(pathToFileURL(path.join(distEmit, 'index.js')).href)) as typeof fromSource;
    const res = compile(path.join(root, 'examples', `${name}.yaml`), createNodeHost());
    const meta = metaOf(name, res.spec!);
    const a = dist.emitProject(res.spec!, res.ir!, meta, 'torch').value!;
    const b = fromSource.emitProject(res.spec!, res.ir!, meta, 'torch').value!;
    expect(a.map((f) => f.path)).toEqual([...fromSource.OUTPUTS, ...fromSource.TORCH_OUTPUTS]);
    for (let i = 0; i < a.length; i++) expect(a[i]!.contents, a[i]!.path).toBe(b[i]!.contents);
  });

  it('are not used for a set whose template changed after the precompile', async () => {
    cpSync(distEmit, path.join(tmp, 'emit'), { recursive: true });
    for (const f of ['vendor.js', 'vendor.js.map']) cpSync(path.join(distEmit, '..', f), path.join(tmp, f));
    const edited = path.join(tmp, 'emit', 'templates', 'torch', 'losses.py.hbs');
    writeFileSync(edited, `${readFileSync(edited, 'utf8')}# edited after the build\n`);
    const copy = (await import(pathToFileURL(path.join(tmp, 'emit', 'render.js')).href)) as typeof import('../compiler/emit/render.js');
    expect(copy.templatesPrecompiled()).toBe(false);
    const res = compile(path.join(root, 'examples', 'quickstart.yaml'), createNodeHost());
    const view = buildTorchView(res.spec!, res.ir!, metaOf('quickstart', res.spec!), { packDir: 'p', dataHash: fromSource.dataHash(res.spec!) });
    expect(copy.templates().get('losses.py')!(view)).toMatch(/# edited after the build\n$/);
  });
});
