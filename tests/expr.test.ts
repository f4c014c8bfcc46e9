// Expressions: parsing (precedence, recovery), printing, evaluation, and mapping error offsets to file spans.
import { describe, expect, it } from 'vitest';
import {
  MISSING,
  evaluate,
  evaluateNamespace,
  exprNames,
  formatExpr,
  parseExpr,
  spanInString,
} from '../compiler/expr/index.js';
import { parseYaml } from '../compiler/parse/index.js';
import type { Expr } from '../spec/types.js';

const num = (value: number): Expr => ({ kind: 'num', value });
const ref = (name: string): Expr => ({ kind: 'ref', name });
const bin = (op: '+' | '-' | '*' | '/', left: Expr, right: Expr): Expr => ({ kind: 'bin', op, left, right });

function ok(text: string): Expr {
  const r = parseExpr(text);
  expect(r.errors).toEqual([]);
  return r.expr!;
}

describe('parseExpr', () => {
  it('reads numbers in every written form', () => {
    expect(ok('1')).toEqual(num(1));
    expect(ok('0.5')).toEqual(num(0.5));
    expect(ok('1e-4')).toEqual(num(1e-4));
    expect(ok('.25')).toEqual(num(0.25));
    expect(ok('2.5E+3')).toEqual(num(2500));
  });

  it('reads names with underscores and digits', () => {
    expect(ok('w_1')).toEqual(ref('w_1'));
    expect(ok('_base2')).toEqual(ref('_base2'));
  });

  it('gives * and / precedence over + and -, left-associative', () => {
    expect(ok('seg + w1*class')).toEqual(bin('+', ref('seg'), bin('*', ref('w1'), ref('class'))));
    expect(ok('a - b - c')).toEqual(bin('-', bin('-', ref('a'), ref('b')), ref('c')));
    expect(ok('a / b * c')).toEqual(bin('*', bin('/', ref('a'), ref('b')), ref('c')));
    expect(ok('(a + b) * c')).toEqual(bin('*', bin('+', ref('a'), ref('b')), ref('c')));
  });

  it('binds unary minus tighter than *', () => {
    expect(ok('-a*b')).toEqual(bin('*', { kind: 'neg', operand: ref('a') }, ref('b')));
    expect(ok('a*-2')).toEqual(bin('*', ref('a'), { kind: 'neg', operand: num(2) }));
    expect(ok('--a')).toEqual({ kind: 'neg', operand: { kind: 'neg', operand: ref('a') } });
  });

  it('reports a missing operand in plain words and keeps the rest of the tree', () => {
    const r = parseExpr('a * + b');
    expect(r.errors).toEqual([{ message: "expected a number, a name or '(' after '*'", offset: 4, endOffset: 5 }]);
    expect(r.expr).toEqual(bin('+', bin('*', ref('a'), MISSING), ref('b')));
  });

  it('recovers to report several errors in one expression', () => {
    const r = parseExpr('a + * b * / c');
    expect(r.errors.map((e) => [e.message, e.offset])).toEqual([
      ["expected a number, a name or '(' after '+'", 4],
      ["expected a number, a name or '(' after '*'", 10],
    ]);
    expect(formatExpr(r.expr!)).toBe('a + ? * b * ? / c');
  });

  it('inserts a missing closing parenthesis and says so at the end', () => {
    const r = parseExpr('(a + b');
    expect(r.errors).toEqual([{ message: "expected ')' after 'b', but the expression ends there", offset: 6, endOffset: 6 }]);
    expect(r.expr).toEqual(bin('+', ref('a'), ref('b')));
  });

  it('reports leftover input and unknown characters', () => {
    expect(parseExpr('a b').errors).toEqual([
      { message: "unexpected 'b': expected an operator (+ - * /) or the end of the expression", offset: 2, endOffset: 3 },
    ]);
    const r = parseExpr('w1 % seg');
    expect(r.errors[0]).toEqual({
      message: "unexpected character '%' (names use letters, digits and '_'; operators are + - * /)",
      offset: 3,
      endOffset: 4,
    });
  });

  it('reports an empty expression and a dangling operator at the end', () => {
    expect(parseExpr('  ').errors).toEqual([{ message: 'the expression is empty', offset: 0, endOffset: 2 }]);
    const r = parseExpr('seg +');
    expect(r.errors).toEqual([
      { message: "expected a number, a name or '(' after '+', but the expression ends there", offset: 5, endOffset: 5 },
    ]);
    expect(r.expr).toEqual(bin('+', ref('seg'), MISSING));
  });
});

describe('formatExpr / exprNames', () => {
  it('prints with the fewest parentheses that keep the meaning, and round-trips', () => {
    for (const text of ['seg + w1 * class', 'a - (b - c)', 'a / (b * c)', '(a + b) * c', '-(a + b)', 'a - b - c', '-a * 2']) {
      const e = ok(text);
      expect(formatExpr(e)).toBe(text);
      expect(ok(formatExpr(e))).toEqual(e);
    }
  });

  it('lists names in order of first appearance', () => {
    expect(exprNames(ok('seg + w1*class + w1*(sync - seg)'))).toEqual(['seg', 'w1', 'class', 'sync']);
  });
});

describe('evaluate', () => {
  const env: Record<string, number> = { base: 64, w1: 0.5 };
  const run = (text: string) => evaluate(ok(text), text, (n) => env[n], Object.keys(env));

  it('computes with the usual precedence', () => {
    expect(run('2*base + 1').value).toBe(129);
    expect(run('base / 4 - -w1').value).toBe(16.5);
    expect(run('(1 + 2) * 3 / 4').value).toBe(2.25);
  });

  it('names an unknown name, its place and the closest known one', () => {
    const r = run('2*bse');
    expect(r.value).toBeUndefined();
    expect(r.problems).toEqual([
      { kind: 'unknown', message: "unknown name 'bse'", offset: 2, endOffset: 5, hint: "did you mean 'base'?" },
    ]);
  });

  it('refuses division by zero, also when the zero is computed', () => {
    expect(run('base / (w1 - 0.5)').problems.map((p) => p.kind)).toEqual(['div0']);
    expect(run('base / 0').value).toBeUndefined();
  });
});

describe('evaluateNamespace', () => {
  it('evaluates entries in dependency order, whatever the written order', () => {
    const r = evaluateNamespace([
      { name: 'wide', value: '2*base' },
      { name: 'base', value: 32 },
      { name: 'w', value: 'wide / base / 4' },
    ]);
    expect(r.problems).toEqual([]);
    expect(Object.fromEntries(r.values)).toEqual({ base: 32, wide: 64, w: 0.5 });
  });

  it('reports a cycle once on each member and keeps evaluating the rest', () => {
    const r = evaluateNamespace([
      { name: 'a', value: 'b + 1' },
      { name: 'b', value: '2*c' },
      { name: 'c', value: 'a' },
      { name: 'd', value: 3 },
    ]);
    expect(r.problems.map((p) => [p.entry, p.problem.kind])).toEqual([
      ['a', 'cycle'],
      ['b', 'cycle'],
      ['c', 'cycle'],
    ]);
    expect(r.problems[0]!.problem.message).toBe("'a' depends on itself: a -> b -> c -> a");
    expect(Object.fromEntries(r.values)).toEqual({ d: 3 });
  });

  it('reports a self-reference as a cycle', () => {
    const r = evaluateNamespace([{ name: 'x', value: 'x + 1' }]);
    expect(r.problems.map((p) => p.problem.message)).toEqual(["'x' depends on itself: x -> x"]);
  });
});

describe('spanInString', () => {
  const source = [
    'stages:',
    '  - loss: seg + w1*klass', // plain scalar
    '  - loss: "seg + w1*klass"', // double-quoted
    "  - { loss: 'seg + w9' }", // single-quoted in a flow map
  ].join('\n');
  const parsed = parseYaml('s.yaml', source).value;

  function underline(path: (string | number)[], name: string): string {
    const valueSpan = parsed.spans.get(path)!;
    const text = (parsed.data as { stages: { loss: string }[] }).stages[path[1] as number]!.loss;
    const o = text.indexOf(name);
    const s = spanInString(valueSpan, parsed.spans.source('s.yaml'), o, o + name.length);
    expect(source.slice(s.offset, s.endOffset)).toBe(name);
    return `${s.line}:${s.col}-${s.endLine}:${s.endCol}`;
  }

  it('places an offset inside plain and quoted scalars (the quote shifts it by one)', () => {
    expect(underline(['stages', 0, 'loss'], 'klass')).toBe('2:20-2:25');
    expect(underline(['stages', 1, 'loss'], 'klass')).toBe('3:21-3:26');
    expect(underline(['stages', 2, 'loss'], 'w9')).toBe('4:20-4:22');
  });

  it('underlines one character for an error at the very end', () => {
    const valueSpan = parsed.spans.get(['stages', 0, 'loss'])!;
    const s = spanInString(valueSpan, source, 14, 14);
    expect([s.offset, s.endOffset - s.offset]).toEqual([valueSpan.offset + 14, 1]);
  });
});
