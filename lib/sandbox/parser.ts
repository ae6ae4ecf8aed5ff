/**
 * A recursive-descent parser for the subset, following CPython's grammar and
 * precedence (or < and < not < comparisons < + - < * / // % < unary - + < **
 * < calls, subscripts, attributes). Everything outside the subset raises a
 * SyntaxError naming the construct and the line.
 */
import type {
  Attribute, BinaryOperator, Call, CompareOperator, Expr, Keyword, Module, Name, Slice, Statement, Subscript, Target,
} from './ast.js';
import { withoutStack } from './exceptions.js';
import { PyException } from './host.js';
import { tokenize, type Token } from './lexer.js';

/** Nesting of expressions the parser follows (CPython's tokenizer allows 200 nested brackets). */
const MAX_NESTING = 200;
/** Depth of the syntax tree of one statement (long operator chains count): the evaluator recurses once per level. */
const MAX_TREE_DEPTH = 500;

const AUGMENTED: Record<string, BinaryOperator> = {
  '+=': '+', '-=': '-', '*=': '*', '/=': '/', '//=': '//', '%=': '%', '**=': '**',
};
const UNSUPPORTED_AUGMENTED = new Set(['&=', '|=', '^=', '>>=', '<<=', '@=']);
const COMPARE_OPS = new Set(['<', '>', '<=', '>=', '==', '!=']);
/** Keywords that can start an expression in the subset. */
const EXPRESSION_KEYWORDS = new Set(['True', 'False', 'None', 'not']);

/** A SyntaxError (or IndentationError) with the line it was found on; the message names the line too. */
export class SyntaxErrorWithLine extends PyException {
  constructor(
    type: string,
    message: string,
    readonly line: number,
  ) {
    super(type, `${message} (line ${line})`);
  }
}

function syntaxError(message: string, line: number, type = 'SyntaxError'): PyException {
  return withoutStack(() => new SyntaxErrorWithLine(type, message, line));
}

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)];
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind === 'error') throw syntaxError(token.text, token.line, token.errorType);
    this.pos++;
    return token;
  }

  private isOp(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'op' && t.text === text;
  }

  private isKeyword(text: string): boolean {
    const t = this.peek();
    return t.kind === 'keyword' && t.text === text;
  }

  private fail(token = this.peek()): never {
    if (token.kind === 'error') throw syntaxError(token.text, token.line, token.errorType);
    if (token.kind === 'keyword' && !EXPRESSION_KEYWORDS.has(token.text) && !['and', 'or', 'in'].includes(token.text)) {
      throw syntaxError(`'${token.text}' is not supported in the sandbox`, token.line);
    }
    if (token.kind === 'op' && ['{', '}', '&', '|', '^', '~', '<<', '>>', '@', ':=', '...', '->', '!'].includes(token.text)) {
      throw syntaxError(`'${token.text}' is not supported in the sandbox`, token.line);
    }
    if (token.kind === 'end') throw syntaxError('unexpected end of program', token.line);
    throw syntaxError('invalid syntax', token.line);
  }

  private expectOp(text: string): Token {
    if (!this.isOp(text)) this.fail();
    return this.next();
  }

  parseModule(): Module {
    const body: Statement[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'end') break;
      if (t.kind === 'error') this.fail(t);
      if (t.kind === 'newline') {
        this.next();
        continue;
      }
      for (;;) {
        const statement = this.statement();
        checkDepth(statement);
        body.push(statement);
        if (this.isOp(';')) {
          this.next();
          if (this.peek().kind === 'newline') break;
          continue;
        }
        break;
      }
      if (this.peek().kind !== 'newline') this.fail();
      this.next();
    }
    return { body };
  }

  private statement(): Statement {
    const start = this.peek();
    if (start.kind === 'keyword' && !EXPRESSION_KEYWORDS.has(start.text)) this.fail(start);
    const first = this.expressionList();
    const t = this.peek();
    if (t.kind === 'op' && t.text === '=') {
      const items: Expr[] = [first];
      while (this.isOp('=')) {
        this.next();
        const k = this.peek();
        if (k.kind === 'keyword' && !EXPRESSION_KEYWORDS.has(k.text)) this.fail(k);
        items.push(this.expressionList());
      }
      const value = items.pop()!;
      return { kind: 'assign', targets: items.map((e) => toTarget(e)), value, line: start.line };
    }
    if (t.kind === 'op' && t.text in AUGMENTED) {
      this.next();
      const target = toAugTarget(first);
      const value = this.expressionList();
      if (this.isOp('=')) throw syntaxError('invalid syntax', this.peek().line);
      return { kind: 'augassign', target, op: AUGMENTED[t.text], value, line: start.line };
    }
    if (t.kind === 'op' && UNSUPPORTED_AUGMENTED.has(t.text)) this.fail(t);
    if (t.kind === 'op' && t.text === ':') throw syntaxError('annotations are not supported in the sandbox', t.line);
    return { kind: 'expr', value: first, line: start.line };
  }

  /** expr (',' expr)* [','] -- a tuple when there is a comma. */
  private expressionList(): Expr {
    const line = this.peek().line;
    const first = this.expression();
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.isOp(',')) {
      this.next();
      if (!this.startsExpression()) break;
      elts.push(this.expression());
    }
    return { kind: 'tuple', elts, line };
  }

  private startsExpression(): boolean {
    const t = this.peek();
    if (t.kind === 'name' || t.kind === 'int' || t.kind === 'float' || t.kind === 'string') return true;
    if (t.kind === 'keyword') return EXPRESSION_KEYWORDS.has(t.text) || t.text === 'lambda' || t.text === 'await' || t.text === 'yield';
    return t.kind === 'op' && ['(', '[', '-', '+', '{', '~', '*', '...'].includes(t.text);
  }

  private expression(): Expr {
    if (++this.depth > MAX_NESTING) throw syntaxError('too many nested parentheses', this.peek().line);
    const t = this.peek();
    if (t.kind === 'keyword' && (t.text === 'lambda' || t.text === 'yield' || t.text === 'await')) this.fail(t);
    if (t.kind === 'op' && t.text === '*') throw syntaxError('starred expressions are not supported in the sandbox', t.line);
    const e = this.orTest();
    if (this.isKeyword('if')) throw syntaxError("conditional expressions ('x if c else y') are not supported in the sandbox", this.peek().line);
    if (this.isKeyword('for') || this.isKeyword('async')) throw syntaxError('comprehensions are not supported in the sandbox', this.peek().line);
    if (this.isOp(':=')) this.fail();
    this.depth--;
    return e;
  }

  private orTest(): Expr {
    const line = this.peek().line;
    const first = this.andTest();
    if (!this.isKeyword('or')) return first;
    const values = [first];
    while (this.isKeyword('or')) {
      this.next();
      values.push(this.andTest());
    }
    return { kind: 'boolop', op: 'or', values, line };
  }

  private andTest(): Expr {
    const line = this.peek().line;
    const first = this.notTest();
    if (!this.isKeyword('and')) return first;
    const values = [first];
    while (this.isKeyword('and')) {
      this.next();
      values.push(this.notTest());
    }
    return { kind: 'boolop', op: 'and', values, line };
  }

  private notTest(): Expr {
    if (this.isKeyword('not')) {
      const line = this.next().line;
      if (++this.depth > MAX_NESTING) throw syntaxError('too many nested parentheses', line);
      const operand = this.notTest();
      this.depth--;
      return { kind: 'unary', op: 'not', operand, line };
    }
    return this.comparison();
  }

  private compareOperator(): CompareOperator | null {
    const t = this.peek();
    if (t.kind === 'op' && COMPARE_OPS.has(t.text)) return t.text as CompareOperator;
    if (t.kind === 'keyword' && t.text === 'in') return 'in';
    if (t.kind === 'keyword' && t.text === 'not' && this.peek(1).kind === 'keyword' && this.peek(1).text === 'in') return 'not in';
    if (t.kind === 'keyword' && t.text === 'is') throw syntaxError("'is' is not supported in the sandbox (use ==)", t.line);
    return null;
  }

  private comparison(): Expr {
    const line = this.peek().line;
    const left = this.arith();
    let op = this.compareOperator();
    if (op === null) return left;
    const ops: CompareOperator[] = [];
    const comparators: Expr[] = [];
    while (op !== null) {
      this.next();
      if (op === 'not in') this.next();
      ops.push(op);
      comparators.push(this.arith());
      op = this.compareOperator();
    }
    return { kind: 'compare', left, ops, comparators, line };
  }

  private arith(): Expr {
    let left = this.term();
    while (this.isOp('+') || this.isOp('-')) {
      const t = this.next();
      left = { kind: 'binop', op: t.text as BinaryOperator, left, right: this.term(), line: t.line };
    }
    return left;
  }

  private term(): Expr {
    let left = this.factor();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !['*', '/', '//', '%'].includes(t.text)) break;
      this.next();
      left = { kind: 'binop', op: t.text as BinaryOperator, left, right: this.factor(), line: t.line };
    }
    return left;
  }

  private factor(): Expr {
    if (this.isOp('-') || this.isOp('+')) {
      const t = this.next();
      if (++this.depth > MAX_NESTING) throw syntaxError('too many nested parentheses', t.line);
      const operand = this.factor();
      this.depth--;
      return { kind: 'unary', op: t.text as '-' | '+', operand, line: t.line };
    }
    return this.power();
  }

  private power(): Expr {
    const base = this.primary();
    if (!this.isOp('**')) return base;
    const t = this.next();
    return { kind: 'binop', op: '**', left: base, right: this.factor(), line: t.line };
  }

  private primary(): Expr {
    let e = this.atom();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op') break;
      if (t.text === '(') e = this.call(e);
      else if (t.text === '[') e = this.subscript(e);
      else if (t.text === '.') {
        this.next();
        const name = this.peek();
        if (name.kind !== 'name') this.fail(name);
        this.next();
        e = { kind: 'attribute', value: e, attr: name.text, line: t.line } satisfies Attribute;
      } else break;
    }
    return e;
  }

  private call(func: Expr): Call {
    const open = this.expectOp('(');
    const args: Expr[] = [];
    const keywords: Keyword[] = [];
    while (!this.isOp(')')) {
      const t = this.peek();
      if (t.kind === 'op' && (t.text === '*' || t.text === '**')) {
        throw syntaxError('argument unpacking (*args, **kwargs) is not supported in the sandbox', t.line);
      }
      if (t.kind === 'name' && this.isOp('=', 1)) {
        this.next();
        this.next();
        if (keywords.some((k) => k.name === t.text)) throw syntaxError(`keyword argument repeated: ${t.text}`, t.line);
        keywords.push({ name: t.text, value: this.expression() });
      } else {
        const value = this.expression();
        if (this.isOp('=')) {
          throw syntaxError(
            value.kind === 'constant' && typeof value.value === 'boolean' || value.kind === 'constant' && value.value === null
              ? 'cannot assign to ' + (value.value === null ? 'None' : value.value ? 'True' : 'False')
              : 'expression cannot contain assignment, perhaps you meant "=="?',
            t.line,
          );
        }
        if (keywords.length > 0) throw syntaxError('positional argument follows keyword argument', t.line);
        args.push(value);
      }
      if (!this.isOp(',')) break;
      this.next();
    }
    this.expectOp(')');
    return { kind: 'call', func, args, keywords, line: open.line };
  }

  private sliceOrExpression(): Expr | Slice {
    const line = this.peek().line;
    const lower = this.isOp(':') ? null : this.expression();
    if (!this.isOp(':')) return lower!;
    this.next();
    const endsPart = () => this.isOp(':') || this.isOp(']') || this.isOp(',');
    const upper = endsPart() ? null : this.expression();
    let step: Expr | null = null;
    if (this.isOp(':')) {
      this.next();
      step = this.isOp(']') || this.isOp(',') ? null : this.expression();
    }
    return { kind: 'slice', lower, upper, step, line };
  }

  private subscript(value: Expr): Subscript {
    const open = this.expectOp('[');
    if (this.isOp(']')) this.fail();
    const first = this.sliceOrExpression();
    let index: Expr | Slice = first;
    if (this.isOp(',')) {
      const elts: (Expr | Slice)[] = [first];
      while (this.isOp(',')) {
        this.next();
        if (this.isOp(']')) break;
        elts.push(this.sliceOrExpression());
      }
      if (elts.some((e) => e.kind === 'slice')) throw syntaxError('multi-dimensional slices are not supported in the sandbox', open.line);
      index = { kind: 'tuple', elts: elts as Expr[], line: open.line };
    }
    this.expectOp(']');
    return { kind: 'subscript', value, index, line: open.line };
  }

  private atom(): Expr {
    const t = this.peek();
    switch (t.kind) {
      case 'name':
        this.next();
        return { kind: 'name', id: t.text, line: t.line };
      case 'int':
        this.next();
        return { kind: 'constant', value: BigInt(t.text), line: t.line };
      case 'float':
        this.next();
        return { kind: 'constant', value: Number(t.text), line: t.line };
      case 'string': {
        let text = '';
        while (this.peek().kind === 'string') text += this.next().text;
        return { kind: 'constant', value: text, line: t.line };
      }
      case 'keyword':
        if (t.text === 'True' || t.text === 'False' || t.text === 'None') {
          this.next();
          return { kind: 'constant', value: t.text === 'None' ? null : t.text === 'True', line: t.line };
        }
        return this.fail(t);
      case 'op':
        if (t.text === '(' || t.text === '[') return this.display(t.text);
        return this.fail(t);
      default:
        return this.fail(t);
    }
  }

  /** ( ), (e), (e,), (e, f), [ ], [e, f] */
  private display(open: '(' | '['): Expr {
    const line = this.next().line;
    const close = open === '(' ? ')' : ']';
    const elts: Expr[] = [];
    let comma = false;
    while (!this.isOp(close)) {
      elts.push(this.expression());
      if (!this.isOp(',')) break;
      this.next();
      comma = true;
    }
    this.expectOp(close);
    if (open === '[') return { kind: 'list', elts, line };
    if (elts.length === 1 && !comma) return elts[0];
    return { kind: 'tuple', elts, line };
  }
}

function toTarget(e: Expr): Target {
  switch (e.kind) {
    case 'name':
    case 'attribute':
    case 'subscript':
      return e;
    case 'tuple':
    case 'list':
      return { kind: 'targets', elts: e.elts.map((x) => toTarget(x)), line: e.line };
    case 'constant':
      if (e.value === null || typeof e.value === 'boolean') {
        throw syntaxError(`cannot assign to ${e.value === null ? 'None' : e.value ? 'True' : 'False'}`, e.line);
      }
      throw syntaxError('cannot assign to literal here. Maybe you meant \'==\' instead of \'=\'?', e.line);
    case 'call':
      throw syntaxError("cannot assign to function call here. Maybe you meant '==' instead of '='?", e.line);
    default:
      throw syntaxError("cannot assign to expression here. Maybe you meant '==' instead of '='?", e.line);
  }
}

function toAugTarget(e: Expr): Name | Attribute | Subscript {
  if (e.kind === 'name' || e.kind === 'attribute' || e.kind === 'subscript') return e;
  const what = e.kind === 'tuple' ? 'tuple' : e.kind === 'list' ? 'list' : e.kind === 'constant' ? 'literal' : e.kind === 'call' ? 'function call' : 'expression';
  throw syntaxError(`'${what}' is an illegal expression for augmented assignment`, e.line);
}

/** The children of a node (expressions, targets, slices). */
function children(node: Statement | Expr | Target | Slice): (Expr | Target | Slice)[] {
  switch (node.kind) {
    case 'expr':
      return [node.value];
    case 'assign':
      return [...node.targets, node.value];
    case 'augassign':
      return [node.target, node.value];
    case 'tuple':
    case 'list':
    case 'targets':
      return node.elts;
    case 'binop':
      return [node.left, node.right];
    case 'unary':
      return [node.operand];
    case 'boolop':
      return node.values;
    case 'compare':
      return [node.left, ...node.comparators];
    case 'call':
      return [node.func, ...node.args, ...node.keywords.map((k) => k.value)];
    case 'attribute':
      return [node.value];
    case 'subscript':
      return [node.value, node.index];
    case 'slice':
      return [node.lower, node.upper, node.step].filter((x): x is Expr => x !== null);
    default:
      return [];
  }
}

/** Rejects statements whose tree is deeper than the evaluator follows (iteratively, any depth). */
function checkDepth(statement: Statement): void {
  const nodes: (Statement | Expr | Target | Slice)[] = [statement];
  const depths: number[] = [0];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > MAX_TREE_DEPTH) throw syntaxError(`expression too complex (nested deeper than ${MAX_TREE_DEPTH})`, statement.line);
    for (const child of children(node)) {
      nodes.push(child);
      depths.push(depth + 1);
    }
  }
}

/** Parses a whole program (nothing runs when any of it is a SyntaxError, as in CPython). */
export function parse(source: string): Module {
  return new Parser(tokenize(source)).parseModule();
}

/** Programs parse() has seen, by their source: the tree, or the SyntaxError it raised. Least recently used first. */
const PARSED = new Map<string, Module | SyntaxErrorWithLine>();
/** Most programs kept by parseCached (and their longest source): a policy repeats a few programs often. */
export const PARSE_CACHE_LIMITS = Object.freeze({ entries: 1024, sourceChars: 4096 });

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * parse(), remembering each program's tree (frozen: the evaluator only reads it) or SyntaxError
 * by its source text, so that a program the policy writes again is not lexed and parsed again.
 * Returns the same tree and throws the same error (type, message, line) as parse().
 */
export function parseCached(source: string): Module {
  let result = PARSED.get(source);
  if (result !== undefined) {
    PARSED.delete(source);
    PARSED.set(source, result);
  } else {
    try {
      result = deepFreeze(parse(source));
    } catch (error) {
      if (!(error instanceof SyntaxErrorWithLine)) throw error;
      result = error;
    }
    if (source.length <= PARSE_CACHE_LIMITS.sourceChars) {
      PARSED.set(source, result);
      if (PARSED.size > PARSE_CACHE_LIMITS.entries) PARSED.delete(PARSED.keys().next().value as string);
    }
  }
  if (result instanceof SyntaxErrorWithLine) throw result;
  return result;
}
