/** Numeric evaluation of expressions against named numbers (vars + weights), with cycle detection. */
import type { Expr } from '../../spec/types.js';
import { parseExpr } from './parser.js';
import { didYouMean } from '../suggest.js';

/** A problem met while evaluating; offsets are into the expression text when it is known. */
export interface EvalProblem {
  kind: 'syntax' | 'unknown' | 'div0' | 'cycle';
  message: string;
  /** Offsets into the expression string (0..length when the whole text is meant). */
  offset: number;
  endOffset: number;
  hint?: string;
}

/** Offset of the first occurrence of `name` as a whole identifier in `text` (0 when not found). */
export function nameOffset(text: string, name: string): number {
  const re = new RegExp(`(?<![A-Za-z0-9_])${name.replace(/[^A-Za-z0-9_]/g, '\\$&')}(?![A-Za-z0-9_])`);
  const m = re.exec(text);
  return m ? m.index : 0;
}

/**
 * Evaluates `expr`; `lookup` gives the value of a name (undefined = not defined). `text` is the source, used to
 * place problems. Returns undefined as the value when any problem was found.
 */
export function evaluate(
  expr: Expr,
  text: string,
  lookup: (name: string) => number | undefined,
  known: readonly string[],
): { value?: number; problems: EvalProblem[] } {
  const problems: EvalProblem[] = [];
  const go = (e: Expr): number => {
    switch (e.kind) {
      case 'num':
        return e.value;
      case 'ref': {
        const v = lookup(e.name);
        if (v === undefined) {
          const offset = nameOffset(text, e.name);
          problems.push({
            kind: 'unknown',
            message: `unknown name '${e.name}'`,
            offset,
            endOffset: offset + e.name.length,
            hint: didYouMean(e.name, known) ?? (known.length ? `known names: ${known.join(', ')}` : 'define it under vars'),
          });
          return NaN;
        }
        return v;
      }
      case 'neg':
        return -go(e.operand);
      case 'bin': {
        const l = go(e.left);
        const r = go(e.right);
        switch (e.op) {
          case '+':
            return l + r;
          case '-':
            return l - r;
          case '*':
            return l * r;
          case '/':
            if (r === 0) {
              const slash = text.indexOf('/');
              problems.push({
                kind: 'div0',
                message: `division by zero in '${text}'`,
                offset: slash < 0 ? 0 : slash,
                endOffset: slash < 0 ? text.length : text.length,
              });
              return NaN;
            }
            return l / r;
        }
      }
    }
  };
  const value = go(expr);
  return problems.length ? { problems } : { value, problems };
}

/** One named number as written: a number, or an expression string over other names. */
export interface NamedEntry {
  name: string;
  value: number | string;
}

/**
 * Evaluates a namespace of entries that may refer to each other (vars and weights), in dependency order.
 * Problems are keyed by entry name; a cycle is reported once on each entry in it.
 */
export function evaluateNamespace(entries: readonly NamedEntry[]): {
  values: Map<string, number>;
  problems: { entry: string; problem: EvalProblem }[];
} {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const known = entries.map((e) => e.name);
  const values = new Map<string, number>();
  const failed = new Set<string>();
  const problems: { entry: string; problem: EvalProblem }[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];

  const visit = (name: string): number | undefined => {
    if (values.has(name)) return values.get(name);
    if (failed.has(name)) return undefined;
    const entry = byName.get(name);
    if (!entry) return undefined;
    if (state.get(name) === 'visiting') {
      const cycle = stack.slice(stack.indexOf(name));
      cycle.forEach((member, k) => {
        if (failed.has(member)) return;
        failed.add(member);
        // Each member sees the cycle starting from itself: the path its own definition follows.
        const path = [...cycle.slice(k), ...cycle.slice(0, k), member];
        const text = String(byName.get(member)!.value);
        problems.push({
          entry: member,
          problem: { kind: 'cycle', message: `'${member}' depends on itself: ${path.join(' -> ')}`, offset: 0, endOffset: text.length },
        });
      });
      return undefined;
    }
    if (typeof entry.value === 'number') {
      values.set(name, entry.value);
      return entry.value;
    }
    state.set(name, 'visiting');
    stack.push(name);
    const text = entry.value;
    const parsed = parseExpr(text);
    let result: number | undefined;
    if (parsed.errors.length || !parsed.expr) {
      for (const e of parsed.errors) problems.push({ entry: name, problem: { kind: 'syntax', ...e } });
    } else {
      let dependencyFailed = false;
      const r = evaluate(
        parsed.expr,
        text,
        (n) => {
          if (!byName.has(n)) return undefined;
          const v = visit(n);
          if (v === undefined) dependencyFailed = true;
          return v ?? NaN; // a failed dependency is already reported where it is defined
        },
        known,
      );
      for (const p of r.problems) problems.push({ entry: name, problem: p });
      if (!dependencyFailed && r.value !== undefined) result = r.value;
    }
    stack.pop();
    state.set(name, 'done');
    if (result === undefined) failed.add(name);
    else values.set(name, result);
    return result;
  };
  for (const e of entries) visit(e.name);
  return { values, problems };
}
