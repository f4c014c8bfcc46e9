/** The `tdc` CLI frame and `tdc check`, run in-process through runCli (the code path bin/tdc.js takes). */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { COMMANDS, createProgram, runCli } from '../compiler/cli/main.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
beforeAll(() => process.chdir(repoRoot));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (s) => (out += s), err: (s) => (err += s), color: false });
  return { code, out, err };
}

describe('exit codes', () => {
  test('0 for a clean spec', async () => {
    const r = await run('check', 'examples/quickstart.yaml');
    expect([r.code, r.out]).toEqual([0, 'no problems\n']);
  });
  test('1 for spec errors', async () => {
    const r = await run('check', 'tests/corpus/009-unknown-key.yaml');
    expect(r.code).toBe(1);
    expect(r.out).toContain('error TDC0203');
  });
  test('2 for a missing file, an unknown command, an unknown option, a bad --format', async () => {
    expect((await run('check', 'no/such.yaml')).code).toBe(2);
    const cmd = await run('frobnicate');
    expect(cmd.code).toBe(2);
    expect(cmd.err).toContain("unknown command 'frobnicate'");
    expect((await run('check', 'examples/quickstart.yaml', '--colour')).code).toBe(2);
    expect((await run('check', 'examples/quickstart.yaml', '--format', 'xml')).code).toBe(2);
    expect((await run('check')).code).toBe(2);
  });
  test('0 for --help and --version, which print to stdout', async () => {
    const h = await run('--help');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/check \[options\] <spec>/);
    const v = await run('--version');
    expect([v.code, v.out.trim()]).toEqual([0, JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version]);
  });
});

describe('commands loaded on demand', () => {
  test.each(Object.keys(COMMANDS))('%s: its module registers that command alone', async (name) => {
    const p = await createProgram([name, '--help']);
    expect(p.commands.map((c) => c.name())).toEqual([name]);
  });
  test('help lists every command; a misspelt one is still suggested', async () => {
    const h = await run('--help');
    for (const name of Object.keys(COMMANDS)) expect(h.out).toMatch(new RegExp(`^  ${name} `, 'm'));
    const typo = await run('chekc', 'examples/quickstart.yaml');
    expect([typo.code, typo.err]).toEqual([2, expect.stringContaining('(Did you mean check?)')]);
  });
});

describe('output formats', () => {
  test('--format json is parseable and complete', async () => {
    const r = await run('check', 'tests/corpus/034-typo-in-list-item.yaml', '--format', 'json');
    expect(r.code).toBe(1);
    const diags = JSON.parse(r.out) as { code: string; line: number; col: number }[];
    expect(diags.map((d) => [d.code, d.line, d.col])).toEqual([
      ['TDC0202', 6, 5],
      ['TDC0203', 6, 28],
    ]);
  });
  test('--format github prints one annotation per diagnostic', async () => {
    const r = await run('check', 'tests/corpus/009-unknown-key.yaml', '--format', 'github');
    expect(r.out).toBe("::error file=tests/corpus/009-unknown-key.yaml,line=6,col=5,endLine=6,endColumn=13,title=TDC0203::unknown key 'dilation' in model.context (hint: did you mean 'dilations'?)\n");
  });
  test('--set is repeatable and applied in order', async () => {
    const r = await run('check', 'examples/quickstart.yaml', '--set', 'data.batch_size=0', '--set', 'data.batch_size=3');
    expect([r.code, r.out]).toEqual([0, 'no problems\n']);
  });
});

/**
 * `tdc check` must start fast, so nothing reachable from main.ts through *static* imports may load tfjs
 * (commands import heavy modules inside their actions with `await import`).
 */
test('the CLI frame does not statically import tfjs', () => {
  const seen = new Set<string>();
  const offenders: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^;'"]*?from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('@tensorflow')) offenders.push(`${file}: ${spec}`);
      if (spec.startsWith('.') && !/^\s*import\s+type\s/.test(m[0]) && spec.endsWith('.js')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    }
  };
  // main.ts loads each command's module (commands/<name>.ts) when that command runs: each is a frame too.
  visit(join(repoRoot, 'compiler/cli/main.ts'));
  for (const name of Object.keys(COMMANDS)) visit(join(repoRoot, 'compiler/cli/commands', `${name}.ts`));
  expect(seen.size).toBeGreaterThan(5 + Object.keys(COMMANDS).length);
  expect(offenders).toEqual([]);
});

describe('unexpected errors', () => {
  const failing = async () => {
    const p = await createProgram();
    p.command('boom').action(() => {
      throw new Error('disk on fire\nsecond line');
    });
    return p;
  };
  test('one line, no stack trace, exit 1', async () => {
    let err = '';
    const code = await runCli(['boom'], { out: () => {}, err: (s) => (err += s), color: false }, failing);
    expect([code, err]).toEqual([1, 'tdc: disk on fire\n']);
  });
  test('the stack only with TDC_DEBUG=1', async () => {
    let err = '';
    process.env.TDC_DEBUG = '1';
    try {
      await runCli(['boom'], { out: () => {}, err: (s) => (err += s), color: false }, failing);
    } finally {
      delete process.env.TDC_DEBUG;
    }
    expect(err.startsWith('tdc: disk on fire\nError: disk on fire')).toBe(true);
    expect(err).toMatch(/^\s+at /m);
  });
});

test('explain on a bad spec prints the diagnostics with their source line and exits 1', async () => {
  const r = await run('explain', 'tests/corpus/009-unknown-key.yaml');
  expect(r.code).toBe(1);
  expect(r.out).toBe(readFileSync(join(repoRoot, 'tests/corpus/009-unknown-key.expected.txt'), 'utf8'));
});

describe('size of a spec', () => {
  test('50,000 vars check in linear time, and a repeated key among them is still found', async () => {
    const { compile } = await import('../compiler/pipeline.js');
    const base = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'quickstart.yaml'), 'utf8');
    const n = 50_000;
    const lines = Array.from({ length: n }, (_, i) => `  v${i}: ${i % 2 ? `v${i - 1} + 1` : i}`);
    lines.push('  v7: 1');
    const text = base.replace('vars:\n', `vars:\n${lines.join('\n')}\n`);
    const host = { readFile: (p: string) => (p === 'big.yaml' ? text : undefined), resolve: (_f: string, rel: string) => rel };
    const t0 = performance.now();
    const r = compile('big.yaml', host, []);
    const ms = performance.now() - t0;
    expect(r.diagnostics.map((d) => `${d.code} ${d.span?.line}`)).toEqual([`TDC0102 ${n + 9}`]);
    // Generous: ~2 s here; the quadratic duplicate-key and vars/weights passes took ~40 s at this size.
    expect(ms).toBeLessThan(20_000);
  }, 60_000);
});
