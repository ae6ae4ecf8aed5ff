/** The syntax tree of the subset (a small slice of CPython's ast module, same names where they exist). */
import type { PyValue } from './host.js';

export type BinaryOperator = '+' | '-' | '*' | '/' | '//' | '%' | '**';
export type CompareOperator = '<' | '>' | '<=' | '>=' | '==' | '!=' | 'in' | 'not in';
export type UnaryOperator = '-' | '+' | 'not';

interface Node {
  line: number;
}

/** A literal: int (bigint, checked against maxIntDigits when evaluated), float, str, True, False, None. */
export interface Constant extends Node {
  kind: 'constant';
  value: PyValue;
}
export interface Name extends Node {
  kind: 'name';
  id: string;
}
export interface TupleExpr extends Node {
  kind: 'tuple';
  elts: Expr[];
}
export interface ListExpr extends Node {
  kind: 'list';
  elts: Expr[];
}
export interface BinOp extends Node {
  kind: 'binop';
  op: BinaryOperator;
  left: Expr;
  right: Expr;
}
export interface UnaryOp extends Node {
  kind: 'unary';
  op: UnaryOperator;
  operand: Expr;
}
export interface BoolOp extends Node {
  kind: 'boolop';
  op: 'and' | 'or';
  values: Expr[];
}
/** a < b <= c: each comparison on the value of the previous operand, evaluated once. */
export interface Compare extends Node {
  kind: 'compare';
  left: Expr;
  ops: CompareOperator[];
  comparators: Expr[];
}
export interface Keyword {
  name: string;
  value: Expr;
}
export interface Call extends Node {
  kind: 'call';
  func: Expr;
  args: Expr[];
  keywords: Keyword[];
}
export interface Attribute extends Node {
  kind: 'attribute';
  value: Expr;
  attr: string;
}
export interface Slice extends Node {
  kind: 'slice';
  lower: Expr | null;
  upper: Expr | null;
  step: Expr | null;
}
export interface Subscript extends Node {
  kind: 'subscript';
  value: Expr;
  index: Expr | Slice;
}

export type Expr = Constant | Name | TupleExpr | ListExpr | BinOp | UnaryOp | BoolOp | Compare | Call | Attribute | Subscript;

/** What can stand left of `=`: a name, an attribute, a subscript, or a tuple / list of targets. */
export type Target = Name | Attribute | Subscript | TargetList;
export interface TargetList extends Node {
  kind: 'targets';
  elts: Target[];
}

export interface ExprStatement extends Node {
  kind: 'expr';
  value: Expr;
}
/** a = b = value: targets assigned left to right. */
export interface Assign extends Node {
  kind: 'assign';
  targets: Target[];
  value: Expr;
}
export interface AugAssign extends Node {
  kind: 'augassign';
  target: Name | Attribute | Subscript;
  op: BinaryOperator;
  value: Expr;
}

export type Statement = ExprStatement | Assign | AugAssign;

export interface Module {
  body: Statement[];
}
