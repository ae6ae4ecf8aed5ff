/**
 * Python's operators on the subset's values: + - * / // % ** (numbers,
 * sequence concatenation and repetition), unary - + not, comparisons (exact
 * int/float comparison, lexicographic sequences, code-point strings), ==
 * with CPython's identity shortcut inside containers, and `in`.
 */
import { pyError } from './exceptions.js';
import type { BinaryOperator, CompareOperator } from './ast.js';
import { PyBuiltin, PyException, PyList, PyTuple, type PyValue } from './host.js';
import { depthLimitError } from './limits.js';
import { floatFloorDiv, floatMod, floatPow, intFloorDiv, intMod, intPow, intTrueDiv } from './numbers.js';
import { iterate } from './sequences.js';
import { PyRange, checkChars, checkInt, checkItems, isIntLike, isNumber, strLength, toBigInt, toFloat, typeName, type Runtime } from './values.js';

function unsupported(op: string, a: PyValue, b: PyValue): PyException {
  return pyError('TypeError', `unsupported operand type(s) for ${op}: '${typeName(a)}' and '${typeName(b)}'`);
}

function intOp(rt: Runtime, op: BinaryOperator, a: bigint, b: bigint): PyValue {
  switch (op) {
    case '+':
      return checkInt(rt, a + b);
    case '-':
      return checkInt(rt, a - b);
    case '*':
      return checkInt(rt, a * b);
    case '/':
      return intTrueDiv(a, b);
    case '//':
      return intFloorDiv(a, b);
    case '%':
      return intMod(a, b);
    case '**':
      return intPow(rt, a, b);
  }
}

function floatOp(op: BinaryOperator, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      if (b === 0) throw pyError('ZeroDivisionError', 'float division by zero');
      return a / b;
    case '//':
      return floatFloorDiv(a, b);
    case '%':
      return floatMod(a, b);
    case '**':
      return floatPow(a, b);
  }
}

/** seq * n (n an int or bool; negative counts give an empty sequence). */
function repeat(rt: Runtime, seq: string | PyList | PyTuple, count: bigint): PyValue {
  const n = count < 0n ? 0n : count;
  if (typeof seq === 'string') {
    const length = BigInt(strLength(seq)) * n;
    checkChars(rt, length);
    return length === 0n ? '' : seq.repeat(Number(n));
  }
  const total = BigInt(seq.items.length) * n;
  checkItems(rt, seq instanceof PyList ? 'list' : 'tuple', total);
  const items: PyValue[] = new Array(Number(total));
  const m = seq.items.length;
  for (let i = 0; i < items.length; i++) items[i] = seq.items[i % m];
  return seq instanceof PyList ? new PyList(items) : new PyTuple(items);
}

function isSequence(v: PyValue): v is string | PyList | PyTuple {
  return typeof v === 'string' || v instanceof PyList || v instanceof PyTuple;
}

export function binaryOp(rt: Runtime, op: BinaryOperator, a: PyValue, b: PyValue): PyValue {
  if (isNumber(a) && isNumber(b)) {
    if (isIntLike(a) && isIntLike(b)) return intOp(rt, op, toBigInt(a), toBigInt(b));
    return floatOp(op, toFloat(a), toFloat(b));
  }
  if (op === '+') {
    if (typeof a === 'string' && typeof b === 'string') {
      checkChars(rt, a.length + b.length);
      return a + b;
    }
    if (a instanceof PyList && b instanceof PyList) {
      checkItems(rt, 'list', a.items.length + b.items.length);
      return new PyList([...a.items, ...b.items]);
    }
    if (a instanceof PyTuple && b instanceof PyTuple) {
      checkItems(rt, 'tuple', a.items.length + b.items.length);
      return new PyTuple([...a.items, ...b.items]);
    }
    if (isSequence(a)) {
      const what = typeof a === 'string' ? 'str' : typeName(a);
      throw pyError('TypeError', `can only concatenate ${what} (not "${typeName(b)}") to ${what}`);
    }
  }
  if (op === '*') {
    if (isSequence(a) && isIntLike(b)) return repeat(rt, a, toBigInt(b));
    if (isIntLike(a) && isSequence(b)) return repeat(rt, b, toBigInt(a));
    if (isSequence(a) && !isSequence(b)) throw pyError('TypeError', `can't multiply sequence by non-int of type '${typeName(b)}'`);
    if (isSequence(b) && !isSequence(a)) throw pyError('TypeError', `can't multiply sequence by non-int of type '${typeName(a)}'`);
  }
  if (op === '%' && typeof a === 'string') {
    throw pyError('NotImplementedError', "printf-style formatting ('...' % values) is not supported in the sandbox");
  }
  throw unsupported(op === '**' ? '** or pow()' : op, a, b);
}

/** a op= b: lists extend / repeat in place (list.__iadd__ takes any iterable), everything else as a op b. */
export function inplaceOp(rt: Runtime, op: BinaryOperator, a: PyValue, b: PyValue): PyValue {
  if (a instanceof PyList) {
    if (op === '+') {
      const extra = iterate(rt, b);
      checkItems(rt, 'list', a.items.length + extra.length);
      a.items.push(...extra);
      return a;
    }
    if (op === '*' && isIntLike(b)) {
      const repeated = repeat(rt, a, toBigInt(b)) as PyList;
      a.items = repeated.items;
      return a;
    }
  }
  return binaryOp(rt, op, a, b);
}

export function unaryOp(op: '-' | '+', v: PyValue): PyValue {
  if (isIntLike(v)) return op === '-' ? -toBigInt(v) : toBigInt(v);
  if (typeof v === 'number') return op === '-' ? -v : v;
  throw pyError('TypeError', `bad operand type for unary ${op}: '${typeName(v)}'`);
}

/** Orders an int and a float exactly (CPython compares them without rounding the int); NaN: 'unordered'. */
function compareIntFloat(i: bigint, f: number): -1 | 0 | 1 | 'unordered' {
  if (Number.isNaN(f)) return 'unordered';
  if (f === Infinity) return -1;
  if (f === -Infinity) return 1;
  const floor = BigInt(Math.floor(f));
  if (i < floor) return -1;
  if (i > floor) return 1;
  return Number.isInteger(f) ? 0 : -1;
}

function compareNumbers(a: bigint | boolean | number, b: bigint | boolean | number): -1 | 0 | 1 | 'unordered' {
  if (typeof a !== 'number' && typeof b !== 'number') {
    const x = toBigInt(a);
    const y = toBigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) || Number.isNaN(b)) return 'unordered';
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a === 'number') {
    const c = compareIntFloat(toBigInt(b as bigint | boolean), a);
    return c === 'unordered' ? c : ((-c) as -1 | 0 | 1);
  }
  return compareIntFloat(toBigInt(a), b as number);
}

/** Code-point order of two strings (JavaScript's < compares UTF-16 units). */
function compareStrings(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const cx = a.codePointAt(i)!;
      const cy = b.codePointAt(i)!;
      return cx < cy ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : 1;
}

function rangeEquals(a: PyRange, b: PyRange): boolean {
  if (a.length !== b.length) return false;
  if (a.length === 0n) return true;
  if (a.start !== b.start) return false;
  return a.length === 1n || a.step === b.step;
}

/** a == b. Inside containers CPython takes `x is y` as equal first; here that holds for the same list, tuple or host object. */
export function equals(rt: Runtime, a: PyValue, b: PyValue, depth = 0): boolean {
  if (isNumber(a) && isNumber(b)) return compareNumbers(a, b) === 0;
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if (a === null || b === null) return a === b;
  if ((a instanceof PyList && b instanceof PyList) || (a instanceof PyTuple && b instanceof PyTuple)) {
    if (a.items.length !== b.items.length) return false;
    if (depth >= rt.limits.maxDepth) throw depthLimitError(rt.limits);
    rt.charge(a.items.length);
    for (let i = 0; i < a.items.length; i++) {
      const x = a.items[i];
      const y = b.items[i];
      if (x !== y || typeof x === 'number') {
        if (!equals(rt, x, y, depth + 1)) return false;
      }
    }
    return true;
  }
  if (a instanceof PyRange && b instanceof PyRange) return rangeEquals(a, b);
  return a === b;
}

const OP_NAMES: Record<string, string> = { '<': '<', '>': '>', '<=': '<=', '>=': '>=' };

function orderResult(op: CompareOperator, c: -1 | 0 | 1 | 'unordered'): boolean {
  if (c === 'unordered') return false;
  switch (op) {
    case '<':
      return c < 0;
    case '>':
      return c > 0;
    case '<=':
      return c <= 0;
    default:
      return c >= 0;
  }
}

/** a < b, a <= b, a > b, a >= b. */
function order(rt: Runtime, op: CompareOperator, a: PyValue, b: PyValue, depth: number): boolean {
  if (isNumber(a) && isNumber(b)) return orderResult(op, compareNumbers(a, b));
  if (typeof a === 'string' && typeof b === 'string') return orderResult(op, compareStrings(a, b));
  if ((a instanceof PyList && b instanceof PyList) || (a instanceof PyTuple && b instanceof PyTuple)) {
    if (depth >= rt.limits.maxDepth) throw depthLimitError(rt.limits);
    const n = Math.min(a.items.length, b.items.length);
    rt.charge(n);
    for (let i = 0; i < n; i++) {
      const x = a.items[i];
      const y = b.items[i];
      if ((x === y && typeof x !== 'number') || equals(rt, x, y, depth + 1)) continue;
      return order(rt, op, x, y, depth + 1);
    }
    return orderResult(op, a.items.length < b.items.length ? -1 : a.items.length > b.items.length ? 1 : 0);
  }
  throw pyError('TypeError', `'${OP_NAMES[op]}' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`);
}

/** x in container. */
export function contains(rt: Runtime, container: PyValue, item: PyValue): boolean {
  if (typeof container === 'string') {
    if (typeof item !== 'string') throw pyError('TypeError', `'in <string>' requires string as left operand, not ${typeName(item)}`);
    return container.includes(item);
  }
  if (container instanceof PyList || container instanceof PyTuple) {
    rt.charge(container.items.length);
    return container.items.some((x) => (x === item && typeof x !== 'number') || equals(rt, x, item));
  }
  if (container instanceof PyRange && isIntLike(item)) {
    const v = toBigInt(item);
    const { start, stop, step } = container;
    if (step > 0n ? v < start || v >= stop : v > start || v <= stop) return false;
    return (v - start) % step === 0n;
  }
  if (container instanceof PyRange || (container !== null && typeof container === 'object' && !(container instanceof PyBuiltin) && container.len && container.getItem)) {
    for (const x of iterate(rt, container)) if (equals(rt, x, item)) return true;
    return false;
  }
  throw pyError('TypeError', `argument of type '${typeName(container)}' is not iterable`);
}

/** One comparison of a chain. */
export function compare(rt: Runtime, op: CompareOperator, a: PyValue, b: PyValue): boolean {
  switch (op) {
    case '==':
      return equals(rt, a, b);
    case '!=':
      return !equals(rt, a, b);
    case 'in':
      return contains(rt, b, a);
    case 'not in':
      return !contains(rt, b, a);
    default:
      return order(rt, op, a, b, 0);
  }
}

/** For min / max / sorted: a < b with CPython's errors. */
export function lessThan(rt: Runtime, a: PyValue, b: PyValue): boolean {
  return order(rt, '<', a, b, 0);
}

export function greaterThan(rt: Runtime, a: PyValue, b: PyValue): boolean {
  return order(rt, '>', a, b, 0);
}
