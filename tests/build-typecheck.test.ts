/**
 * The generated code of the four examples type-checks under the project's strict NodeNext settings (plus
 * noUnusedLocals / noUnusedParameters: generated code carries no dead imports), in one TypeScript program that
 * resolves 'tdc/runtime' to this repository's runtime the way a user's build folder inside the package does.
 */
import { rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, expect, test } from 'vitest';
import { applyOutput } from '../compiler/cli/build-output.js';
import { planBuild } from '../compiler/cli/commands/build.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
// Inside the repository (so the package resolves itself by name) and git-ignored (tests/**/tmp/).
const outRoot = join(repoRoot, 'tests', 'tmp', `build-typecheck-${process.pid}`);
const CASES = ['quickstart', 'robot18', 'brats18', 'refuge18'];

afterAll(() => rmSync(outRoot, { recursive: true, force: true }));

/** Diagnostics as `path(line,col): TSxxxx message`, paths relative to the repository. */
function show(diags: readonly ts.Diagnostic[]): string[] {
  return diags.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return `TS${d.code}: ${text}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${relative(repoRoot, d.file.fileName)}(${line + 1},${character + 1}): TS${d.code} ${text}`;
  });
}

test('the generated files of every example pass tsc --strict --noEmit together', async () => {
  const generated: string[] = [];
  for (const name of CASES) {
    const plan = await planBuild({ spec: `examples/${name}.yaml`, outDir: join(outRoot, name), cwd: repoRoot });
    expect(plan.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    applyOutput(plan.outDir, plan.files!, plan.changes!);
    generated.push(...plan.files!.filter((f) => f.path.endsWith('.ts')).map((f) => join(plan.outDir, f.path)));
  }
  const config = ts.getParsedCommandLineOfConfigFile(join(repoRoot, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  })!;
  const options: ts.CompilerOptions = { ...config.options, noEmit: true, strict: true, noUnusedLocals: true, noUnusedParameters: true };
  // The project's ambient declarations (types for untyped packages) belong to the program the runtime needs.
  const ambient = config.fileNames.filter((f) => f.endsWith('.d.ts'));
  const program = ts.createProgram([...generated, ...ambient], options);
  const inGenerated = (d: ts.Diagnostic) => d.file !== undefined && d.file.fileName.startsWith(outRoot);
  const all = ts.getPreEmitDiagnostics(program);
  expect(show(all.filter(inGenerated))).toEqual([]);
  // The runtime as seen from the generated code: strict errors only (its unused locals are its owners' business).
  const UNUSED = new Set([6133, 6138, 6192, 6196, 6198, 6199, 6205]);
  expect(show(all.filter((d) => !inGenerated(d) && !UNUSED.has(d.code)))).toEqual([]);
  // The program really contains the runtime (not an `any` stub): Program and buildNetwork come from runtime/.
  expect(program.getSourceFile(join(repoRoot, 'runtime', 'program.ts'))).toBeDefined();
}, 120_000);
