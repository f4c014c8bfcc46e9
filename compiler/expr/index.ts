/** Expressions in specs (loss totals, weights, vars): parse, print, evaluate, and place errors in the file. */
export { parseExpr, formatExpr, exprNames, MISSING } from './parser.js';
export type { ExprError, ExprParseResult } from './parser.js';
export { evaluate, evaluateNamespace, nameOffset } from './eval.js';
export type { EvalProblem, NamedEntry } from './eval.js';
export { spanInString } from './span.js';
