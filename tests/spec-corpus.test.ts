/**
 * The error corpus: each `tests/corpus/NNN-slug.yaml` is a small bad spec run through the real CLI
 * (`tdc check`, in-process through `runCli`, the code path bin/tdc.js uses), and its printed output must equal
 * `NNN-slug.expected.txt` byte for byte.
 *
 * Header comments of a case (at the top of the file):
 *   # expect: error TDC0203 at 5:7          a diagnostic that must be printed at file:line:col (repeatable);
 *   # expect: error TDC0203 at <--set 1>:1:8  … or in another file (an override's pseudo-file);
 *   # expect: error TDC0901                 … or with no place at all.
 *   # args: --set a.b=1                     extra CLI arguments (split on spaces).
 *   # file: tests/corpus/missing.yaml       check this path instead of the case file.
 *   # exit: 2                               the exit code (default: 1 if an error is expected, else 0).
 * Numbers 001-099 are the front end's (parse, schema, compose, CLI); 100 and up are the semantic stages'.
 *
 * After an intended change of wording, rewrite the expected files and review the diff:
 *   UPDATE_CORPUS=1 npx vitest run tests/spec-corpus.test.ts
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../compiler/cli/main.js';
import { CODES } from '../spec/diagnostics.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const corpusDir = join(repoRoot, 'tests', 'corpus');
const update = process.env.UPDATE_CORPUS === '1';

interface Case {
  name: string;
  file: string;
  args: string[];
  expects: { severity: string; code: string; at?: string }[];
  exit?: number;
}

function readCase(name: string): Case {
  const text = readFileSync(join(corpusDir, `${name}.yaml`), 'utf8');
  const c: Case = { name, file: relative(repoRoot, join(corpusDir, `${name}.yaml`)), args: [], expects: [] };
  for (const line of text.split('\n')) {
    if (!line.startsWith('#')) break;
    const m = /^# (expect|args|file|exit): (.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'args') c.args = value.trim().split(/\s+/);
    else if (key === 'file') c.file = value.trim();
    else if (key === 'exit') c.exit = Number(value);
    else {
      const e = /^(error|warning|info) (TDC\d{4})(?: at (.+))?$/.exec(value.trim());
      if (!e) throw new Error(`${name}: bad '# expect:' line: ${value}`);
      c.expects.push({ severity: e[1]!, code: e[2]!, at: e[3] });
    }
  }
  return c;
}

const names = readdirSync(corpusDir)
  .filter((f) => /^\d{3}-.+\.yaml$/.test(f))
  .map((f) => f.slice(0, -'.yaml'.length))
  .sort();
const cases = names.map(readCase);

beforeAll(() => {
  // Printed paths are relative to the working directory; pin it so the expected files are stable.
  process.chdir(repoRoot);
});

describe('error corpus', () => {
  test('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expect(c.expects.length, 'a case needs at least one # expect: line').toBeGreaterThan(0);
    let out = '';
    const code = await runCli(['check', c.file, ...c.args], { out: (s) => (out += s), err: (s) => (out += s), color: false });
    const expectedFile = join(corpusDir, `${c.name}.expected.txt`);
    if (update) writeFileSync(expectedFile, out);
    expect(out, 'no stack trace').not.toMatch(/^\s+at /m);
    const wantExit = c.exit ?? (c.expects.some((e) => e.severity === 'error') ? 1 : 0);
    expect(code).toBe(wantExit);
    for (const e of c.expects) {
      const where = e.at === undefined ? '' : e.at.includes(':') && !/^\d+:\d+$/.test(e.at) ? `${e.at} ` : `${c.file}:${e.at} `;
      const line = `${where}${e.severity} ${e.code}:`;
      expect(out.split('\n').some((l) => l.startsWith(line)), `expected a line starting with '${line}' in:\n${out}`).toBe(true);
    }
    expect(existsSync(expectedFile), `missing ${c.name}.expected.txt (run with UPDATE_CORPUS=1)`).toBe(true);
    expect(out).toBe(readFileSync(expectedFile, 'utf8'));
  });

  test('every front-end code has a case', () => {
    const covered = new Set(cases.flatMap((c) => c.expects.map((e) => e.code)));
    const mine = Object.keys(CODES).filter((k) => /^TDC0[1239]/.test(k));
    expect(mine.filter((k) => !covered.has(k))).toEqual([]);
  });
});
