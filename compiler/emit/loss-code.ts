/**
 * Lowers a stage's loss expression (the `Expr` AST) to TypeScript over tfjs: terms become tensors, weights and
 * vars stay plain numbers, so `seg + w1*class` becomes `tf.add(t.seg, tf.mul(WEIGHTS.w1, t.class))`.
 */
import type { Expr } from '../../spec/types.js';

export interface LossCodeNames {
  /** Loss-term names (tensor-valued). */
  terms: ReadonlySet<string>;
  /** Weight names (emitted as WEIGHTS.<name>). */
  weights: ReadonlySet<string>;
  /** Var names (emitted as VARS.<name>). */
  vars: ReadonlySet<string>;
}

const TF_OP = { '+': 'tf.add', '-': 'tf.sub', '*': 'tf.mul', '/': 'tf.div' } as const;

function member(obj: string, name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `${obj}.${name}` : `${obj}[${JSON.stringify(name)}]`;
}

function usesTerm(e: Expr, names: LossCodeNames): boolean {
  switch (e.kind) {
    case 'num':
      return false;
    case 'ref':
      return names.terms.has(e.name);
    case 'neg':
      return usesTerm(e.operand, names);
    case 'bin':
      return usesTerm(e.left, names) || usesTerm(e.right, names);
  }
}

function numberLiteral(v: number): string {
  return Number.isInteger(v) ? v.toFixed(0) : String(v);
}

/** Scalar (number-valued) sub-expression as plain TypeScript arithmetic. */
function numberCode(e: Expr, names: LossCodeNames): string {
  switch (e.kind) {
    case 'num':
      return numberLiteral(e.value);
    case 'ref':
      return names.weights.has(e.name) ? member('WEIGHTS', e.name) : member('VARS', e.name);
    case 'neg':
      return `-${numberCode(e.operand, names)}`;
    case 'bin':
      return `(${numberCode(e.left, names)} ${e.op} ${numberCode(e.right, names)})`;
  }
}

/** The operands of a chain of '+' (`a + b + c` parses as `(a + b) + c`), left to right. */
function addends(e: Expr): Expr[] {
  return e.kind === 'bin' && e.op === '+' ? [...addends(e.left), ...addends(e.right)] : [e];
}

/**
 * Tensor-valued code for an expression that uses at least one term; `t` holds the term values. A sum of three or
 * more parts becomes one `tf.addN([...])`, so `seg + w1*class + w3*sync` reads as the formula it is rather than
 * as nested `tf.add` calls.
 */
export function lossCode(e: Expr, names: LossCodeNames): string {
  if (!usesTerm(e, names)) return `tf.scalar(${numberCode(e, names)})`;
  const parts = addends(e);
  if (parts.length > 2) return `tf.addN([${parts.map((p) => lossCode(p, names)).join(', ')}])`;
  switch (e.kind) {
    case 'ref':
      return member('t', e.name);
    case 'neg':
      return `tf.neg(${lossCode(e.operand, names)})`;
    case 'bin': {
      const l = usesTerm(e.left, names) ? lossCode(e.left, names) : numberCode(e.left, names);
      const r = usesTerm(e.right, names) ? lossCode(e.right, names) : numberCode(e.right, names);
      return `${TF_OP[e.op]}(${l}, ${r})`;
    }
    case 'num':
      return `tf.scalar(${numberLiteral(e.value)})`;
  }
}

/** Term names an expression uses, in first-use order. */
export function termsUsed(e: Expr, names: LossCodeNames, out: string[] = []): string[] {
  if (e.kind === 'ref' && names.terms.has(e.name) && !out.includes(e.name)) out.push(e.name);
  if (e.kind === 'neg') termsUsed(e.operand, names, out);
  if (e.kind === 'bin') {
    termsUsed(e.left, names, out);
    termsUsed(e.right, names, out);
  }
  return out;
}
