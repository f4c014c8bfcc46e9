/** The expression language of loss and weight fields: a chevrotain lexer and recovering parser producing `Expr`. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CstNode, IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
import type { Expr } from '../../spec/types.js';

// chevrotain's package entry loads ~640 lodash-es modules (~0.3 s of start-up, most of `tdc check`'s time); its
// bundled build of the same version (lib/chevrotain.min.mjs) loads in ~0.06 s. The package's `exports` do not list
// that file, so it is found next to the resolved entry and imported by path.
const chevrotainEntry = createRequire(import.meta.url).resolve('chevrotain');
const { CstParser, Lexer, createToken } = (await import(
  pathToFileURL(join(dirname(chevrotainEntry), '..', 'chevrotain.min.mjs')).href
)) as typeof import('chevrotain');

/** One problem found while reading an expression; offsets are 0-based into the expression string. */
export interface ExprError {
  message: string;
  offset: number;
  endOffset: number;
}

export interface ExprParseResult {
  /**
   * The tree, also after recovered errors: an operand the parser had to invent is the placeholder
   * `MISSING` (a `ref` named '?', which no identifier can spell). Absent only when nothing usable was read.
   */
  expr?: Expr;
  errors: ExprError[];
}

/** Stands for an operand that was missing in the source; never produced for valid input. */
export const MISSING: Expr = Object.freeze({ kind: 'ref', name: '?' }) as Expr;

const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /\s+/, group: Lexer.SKIPPED });
const NumberLit = createToken({
  name: 'NumberLit',
  pattern: /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/,
  label: 'a number',
});
const Ident = createToken({ name: 'Ident', pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: 'a name' });
const Plus = createToken({ name: 'Plus', pattern: '+', label: "'+'" });
const Minus = createToken({ name: 'Minus', pattern: '-', label: "'-'" });
const Star = createToken({ name: 'Star', pattern: '*', label: "'*'" });
const Slash = createToken({ name: 'Slash', pattern: '/', label: "'/'" });
const LParen = createToken({ name: 'LParen', pattern: '(', label: "'('" });
const RParen = createToken({ name: 'RParen', pattern: ')', label: "')'" });

const allTokens: TokenType[] = [WhiteSpace, NumberLit, Ident, Plus, Minus, Star, Slash, LParen, RParen];
const exprLexer = new Lexer(allTokens, { positionTracking: 'onlyOffset', ensureOptimizations: false });

const OPERAND = "a number, a name or '('";

/** Where the parser stood, in words: "after '*'" or "at the start". */
function place(previous: IToken | undefined): string {
  return previous && previous.image !== '' && !Number.isNaN(previous.startOffset)
    ? `after '${previous.image}'`
    : 'at the start';
}

/** Plain-word messages instead of chevrotain's grammar-path dumps (they reach users verbatim). */
const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, previous }) {
    // Recovery may re-sync by expecting end of input; say what was found instead of naming 'EOF'.
    if (expected.name === 'EOF') return `unexpected '${actual.image}': expected an operator (+ - * /) or the end of the expression`;
    return `expected ${expected.LABEL ?? expected.name} ${place(previous)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `unexpected '${firstRedundant.image}': expected an operator (+ - * /) or the end of the expression`;
  },
  buildNoViableAltMessage({ previous }) {
    return `expected ${OPERAND} ${place(previous)}`;
  },
  buildEarlyExitMessage({ previous }) {
    return `expected ${OPERAND} ${place(previous)}`;
  },
};

class ExprCstParser extends CstParser {
  constructor() {
    super(allTokens, { recoveryEnabled: true, errorMessageProvider: messages });
    this.performSelfAnalysis();
  }

  public expression = this.RULE('expression', () => {
    this.SUBRULE(this.multiplicative, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(Plus, { LABEL: 'ops' }) }, { ALT: () => this.CONSUME(Minus, { LABEL: 'ops' }) }]);
      this.SUBRULE2(this.multiplicative, { LABEL: 'operands' });
    });
  });

  private multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(Star, { LABEL: 'ops' }) }, { ALT: () => this.CONSUME(Slash, { LABEL: 'ops' }) }]);
      this.SUBRULE2(this.unary, { LABEL: 'operands' });
    });
  });

  private unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(Minus, { LABEL: 'neg' });
          this.SUBRULE(this.unary, { LABEL: 'operand' });
        },
      },
      { ALT: () => this.SUBRULE(this.primary, { LABEL: 'operand' }) },
    ]);
  });

  private primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(NumberLit) },
      { ALT: () => this.CONSUME(Ident) },
      {
        ALT: () => {
          this.CONSUME(LParen);
          this.SUBRULE(this.expression, { LABEL: 'inner' });
          this.CONSUME(RParen);
        },
      },
    ]);
  });
}

// One parser instance is enough: chevrotain parsers are reusable by resetting `input`.
const parser = new ExprCstParser();

function tokens(node: CstNode, label: string): IToken[] {
  return (node.children[label] as IToken[] | undefined) ?? [];
}
function nodes(node: CstNode, label: string): CstNode[] {
  return (node.children[label] as CstNode[] | undefined) ?? [];
}

/** Folds a left-associative chain; operands the parser could not read become `MISSING`. */
function chain(node: CstNode, sub: (n: CstNode) => Expr): Expr {
  const operands = nodes(node, 'operands');
  const ops = tokens(node, 'ops').filter((t) => !t.isInsertedInRecovery);
  let acc = operands[0] ? sub(operands[0]) : MISSING;
  ops.forEach((op, i) => {
    const right = operands[i + 1] ? sub(operands[i + 1]!) : MISSING;
    acc = { kind: 'bin', op: op.image as '+' | '-' | '*' | '/', left: acc, right };
  });
  return acc;
}

function toExpr(node: CstNode): Expr {
  switch (node.name) {
    case 'expression':
      return chain(node, toExpr);
    case 'multiplicative':
      return chain(node, toExpr);
    case 'unary': {
      const operand = nodes(node, 'operand')[0];
      const inner = operand ? toExpr(operand) : MISSING;
      return tokens(node, 'neg').length > 0 ? { kind: 'neg', operand: inner } : inner;
    }
    case 'primary': {
      const num = tokens(node, 'NumberLit')[0];
      if (num && !num.isInsertedInRecovery) return { kind: 'num', value: Number(num.image) };
      const id = tokens(node, 'Ident')[0];
      if (id && !id.isInsertedInRecovery) return { kind: 'ref', name: id.image };
      const inner = nodes(node, 'inner')[0];
      return inner ? toExpr(inner) : MISSING;
    }
    default:
      return MISSING;
  }
}

/** Parses an expression string; all lexical and syntax errors are reported, each with its offset. */
export function parseExpr(text: string): ExprParseResult {
  const errors: ExprError[] = [];
  const lexed = exprLexer.tokenize(text);
  for (const e of lexed.errors) {
    const ch = text.slice(e.offset, e.offset + e.length);
    errors.push({
      message: `unexpected character '${ch}' (names use letters, digits and '_'; operators are + - * /)`,
      offset: e.offset,
      endOffset: e.offset + e.length,
    });
  }
  if (lexed.tokens.length === 0) {
    if (errors.length === 0) errors.push({ message: 'the expression is empty', offset: 0, endOffset: text.length });
    return { errors };
  }
  parser.input = lexed.tokens;
  const cst = parser.expression();
  for (const e of parser.errors) {
    const t = e.token;
    // At the end of input chevrotain reports the EOF token, whose offsets are NaN: point just past the text.
    const atEnd = Number.isNaN(t.startOffset) || t.tokenType.name === 'EOF';
    const offset = atEnd ? text.trimEnd().length : t.startOffset;
    const endOffset = atEnd ? offset : (t.endOffset ?? t.startOffset) + 1;
    errors.push({ message: atEnd ? `${e.message}, but the expression ends there` : e.message, offset, endOffset });
  }
  errors.sort((a, b) => a.offset - b.offset);
  return { expr: cst ? toExpr(cst) : undefined, errors };
}

/** Prints an expression with the fewest parentheses that keep its meaning (used in messages and generated code). */
export function formatExpr(e: Expr): string {
  const prec = (x: Expr): number =>
    x.kind === 'bin' ? (x.op === '+' || x.op === '-' ? 1 : 2) : x.kind === 'neg' ? 3 : 4;
  const wrap = (x: Expr, min: number): string => (prec(x) < min ? `(${formatExpr(x)})` : formatExpr(x));
  switch (e.kind) {
    case 'num':
      return String(e.value);
    case 'ref':
      return e.name;
    case 'neg':
      return `-${wrap(e.operand, 3)}`;
    case 'bin': {
      const p = prec(e);
      // Right operands of - and / bind tighter so a-(b-c) keeps its parentheses.
      return `${wrap(e.left, p)} ${e.op} ${wrap(e.right, e.op === '-' || e.op === '/' ? p + 1 : p)}`;
    }
  }
}

/** Every name an expression refers to, in order of first appearance. */
export function exprNames(e: Expr, out: string[] = []): string[] {
  if (e.kind === 'ref') {
    if (!out.includes(e.name)) out.push(e.name);
  } else if (e.kind === 'neg') exprNames(e.operand, out);
  else if (e.kind === 'bin') {
    exprNames(e.left, out);
    exprNames(e.right, out);
  }
  return out;
}
