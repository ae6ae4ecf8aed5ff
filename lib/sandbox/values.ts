/**
 * The interpreter's view of Python values (host.ts's PyValue, plus `range`
 * and the built-ins written in the interpreter itself), the runtime services
 * operations need (step charging, limits) and the small conversions every
 * operation shares.
 */
import { pyError } from './exceptions.js';
import { PyBuiltin, PyList, PyTuple, type HostContext, type PyHostObject, type PyValue } from './host.js';
import { intLimitError, itemLimitError, type SandboxLimits } from './limits.js';

/**
 * The evaluator is written as generators so that an asynchronous host call
 * anywhere in an expression can suspend it: a generator yields the host's
 * Promise and is resumed with the settled value.
 */
export type Gen<T> = Generator<Promise<PyValue>, T, PyValue>;

/** What operations and built-ins need from the running interpreter. */
export interface Runtime {
  readonly limits: SandboxLimits;
  /** 10 ** maxIntDigits: ints must stay strictly inside (-bound, bound). */
  readonly intBound: bigint;
  /** Charges executed steps; throws the step or time limit error. */
  charge(steps: number): void;
  /** Calls any callable value with CPython's calling convention. */
  call(fn: PyValue, args: PyValue[], kwargs: Map<string, PyValue>): Gen<PyValue>;
  /** Appends printed text. */
  write(text: string): void;
  readonly host: HostContext;
}

/** A built-in implemented by the interpreter (it may call back into Python callables, e.g. key=). */
export class SandboxBuiltin extends PyBuiltin {
  constructor(
    name: string,
    readonly run: (rt: Runtime, args: PyValue[], kwargs: Map<string, PyValue>) => Gen<PyValue>,
    /** The object a method is bound to (repr shows it), undefined for functions. */
    readonly self?: PyValue,
  ) {
    super(name, () => {
      throw pyError('TypeError', `${name}() can only be called from Python code`);
    });
  }
}

/** range(start, stop, step) with CPython's arithmetic (bigint throughout, lengths beyond 2**63 included). */
export class PyRange implements PyHostObject {
  readonly pyTypeName = 'range';
  readonly length: bigint;

  constructor(
    readonly start: bigint,
    readonly stop: bigint,
    readonly step: bigint,
  ) {
    let n = 0n;
    if (step > 0n && start < stop) n = (stop - start - 1n) / step + 1n;
    else if (step < 0n && start > stop) n = (start - stop - 1n) / -step + 1n;
    this.length = n;
  }

  item(i: bigint): bigint {
    return this.start + i * this.step;
  }

  getAttr(name: string): PyValue | undefined {
    if (name === 'start') return this.start;
    if (name === 'stop') return this.stop;
    if (name === 'step') return this.step;
    return undefined;
  }

  repr(): string {
    return this.step === 1n ? `range(${this.start}, ${this.stop})` : `range(${this.start}, ${this.stop}, ${this.step})`;
  }
}

/** type(v).__name__ as CPython spells it. */
export function typeName(v: PyValue): string {
  if (v === null) return 'NoneType';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float';
    case 'string':
      return 'str';
  }
  if (v instanceof PyList) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyBuiltin) return 'builtin_function_or_method';
  return v.pyTypeName;
}

/** int or bool (bool is a subclass of int in Python). */
export function isIntLike(v: PyValue): v is bigint | boolean {
  return typeof v === 'bigint' || typeof v === 'boolean';
}

export function isNumber(v: PyValue): v is bigint | boolean | number {
  return typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'number';
}

export function toBigInt(v: bigint | boolean): bigint {
  return typeof v === 'bigint' ? v : v ? 1n : 0n;
}

/** int -> float with CPython's rounding (round-half-even) and its overflow error. */
export function intToFloat(v: bigint | boolean): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  const x = Number(v);
  if (!Number.isFinite(x)) throw pyError('OverflowError', 'int too large to convert to float');
  return x;
}

export function toFloat(v: bigint | boolean | number): number {
  return typeof v === 'number' ? v : intToFloat(v);
}

/** Checks an int result against maxIntDigits. */
export function checkInt(rt: Runtime, v: bigint): bigint {
  if (v >= rt.intBound || v <= -rt.intBound) throw intLimitError(rt.limits);
  return v;
}

/** Checks a container size before it is built, and charges one step per item. */
export function checkItems(rt: Runtime, what: string, n: number | bigint): number {
  if (n > rt.limits.maxItems) throw itemLimitError(what, n, rt.limits);
  const count = Number(n);
  rt.charge(count);
  return count;
}

/** Checks a string length before it is built (characters are charged 16 per step). */
export function checkChars(rt: Runtime, n: number | bigint): number {
  if (n > rt.limits.maxItems) throw itemLimitError('str', n, rt.limits);
  const count = Number(n);
  rt.charge(Math.ceil(count / 16));
  return count;
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** A string's characters as CPython counts them (code points, not UTF-16 units). */
export function codePoints(s: string): string[] {
  return SURROGATE.test(s) ? Array.from(s) : s.split('');
}

export function strLength(s: string): number {
  return SURROGATE.test(s) ? Array.from(s).length : s.length;
}

/** Python truth value. */
export function truthy(v: PyValue): boolean {
  if (v === null) return false;
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'bigint':
      return v !== 0n;
    case 'number':
      return v !== 0;
    case 'string':
      return v.length > 0;
  }
  if (v instanceof PyList || v instanceof PyTuple) return v.items.length > 0;
  if (v instanceof PyRange) return v.length > 0n;
  if (v instanceof PyBuiltin) return true;
  if (v.len) return v.len() > 0;
  return true;
}

/** Largest index CPython accepts (Py_ssize_t). */
export const SSIZE_MAX = (1n << 63n) - 1n;

/** operator.index(v) for ints and bools; TypeError otherwise (CPython's message). */
export function asIndex(v: PyValue): bigint {
  if (isIntLike(v)) return toBigInt(v);
  throw pyError('TypeError', `'${typeName(v)}' object cannot be interpreted as an integer`);
}

/** A value a host function returned, checked to be a PyValue (undefined reads as None). */
export function fromHost(v: unknown, name: string): PyValue {
  if (v === undefined || v === null) return null;
  const t = typeof v;
  if (t === 'boolean' || t === 'bigint' || t === 'number' || t === 'string') return v as PyValue;
  if (v instanceof PyList || v instanceof PyTuple || v instanceof PyBuiltin) return v;
  if (t === 'object' && typeof (v as PyHostObject).getAttr === 'function' && typeof (v as PyHostObject).repr === 'function') {
    return v as PyHostObject;
  }
  throw pyError('SystemError', `host function ${name}() returned a value that is not a Python value`);
}

