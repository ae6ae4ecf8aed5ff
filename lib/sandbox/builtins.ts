/**
 * The built-in functions and methods, with CPython's meaning and error
 * classes: print, int, float, round, abs, min, max, len, sum, str, repr,
 * list, tuple, range, bool, sorted, show; list.append / extend / insert / pop
 * / remove / index / count / reverse / sort / clear / copy, tuple.index /
 * count; range.start / stop / step.
 */
import { guardHost, pyError } from './exceptions.js';
import { PyList, PyTuple, isHostObject, type PyValue } from './host.js';
import { pyRepr, pyStr, type FormatBudget } from './format.js';
import { parseFloatLiteral, parseIntLiteral, roundFloat, roundFloatToInt, roundInt } from './numbers.js';
import { binaryOp, equals, greaterThan, lessThan } from './operators.js';
import { iter, iterate, length, sliceIndices } from './sequences.js';
import {
  PyRange, SSIZE_MAX, SandboxBuiltin, asIndex, checkInt, checkItems, fromHost, intToFloat, isIntLike, toBigInt, truthy, typeName,
  type Gen, type Runtime,
} from './values.js';

type Kwargs = Map<string, PyValue>;

const typeError = (message: string) => pyError('TypeError', message);

function noKeywords(name: string, kwargs: Kwargs): void {
  if (kwargs.size > 0) throw typeError(`${name}() takes no keyword arguments`);
}

function onlyKeywords(name: string, kwargs: Kwargs, allowed: readonly string[]): void {
  for (const key of kwargs.keys()) {
    if (!allowed.includes(key)) throw typeError(`'${key}' is an invalid keyword argument for ${name}()`);
  }
}

function exactlyOne(name: string, args: PyValue[]): PyValue {
  if (args.length !== 1) throw typeError(`${name}() takes exactly one argument (${args.length} given)`);
  return args[0];
}

function atMost(name: string, args: PyValue[], n: number): void {
  if (args.length > n) throw typeError(`${name} expected at most ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
}

function formatBudget(rt: Runtime): FormatBudget {
  return { maxChars: rt.limits.maxItems, maxDepth: rt.limits.maxDepth, charge: (n) => rt.charge(n) };
}

/** Calls `key` on each item (or takes the items themselves). */
function* keysOf(rt: Runtime, items: PyValue[], key: PyValue | undefined): Gen<PyValue[]> {
  if (key === undefined || key === null) return items;
  const keys: PyValue[] = [];
  for (const item of items) keys.push(yield* rt.call(key, [item], new Map()));
  return keys;
}

// ---- sorting: CPython's list.sort, exactly for fewer than 64 items (one run: count_run + binarysort) ----

function reverseBoth(keys: PyValue[], values: PyValue[], lo: number, hi: number): void {
  for (let i = lo, j = hi - 1; i < j; i++, j--) {
    [keys[i], keys[j]] = [keys[j], keys[i]];
    [values[i], values[j]] = [values[j], values[i]];
  }
}

function binarySort(rt: Runtime, keys: PyValue[], values: PyValue[], start: number): void {
  const n = keys.length;
  for (let s = start === 0 ? 1 : start; s < n; s++) {
    const pivotKey = keys[s];
    const pivotValue = values[s];
    let l = 0;
    let r = s;
    do {
      const p = l + ((r - l) >> 1);
      if (lessThan(rt, pivotKey, keys[p])) r = p;
      else l = p + 1;
    } while (l < r);
    for (let p = s; p > l; p--) {
      keys[p] = keys[p - 1];
      values[p] = values[p - 1];
    }
    keys[l] = pivotKey;
    values[l] = pivotValue;
  }
}

function mergeSort(rt: Runtime, keys: PyValue[], values: PyValue[]): void {
  const order = keys.map((_, i) => i);
  const sortRange = (idx: number[]): number[] => {
    if (idx.length <= 1) return idx;
    const mid = idx.length >> 1;
    const a = sortRange(idx.slice(0, mid));
    const b = sortRange(idx.slice(mid));
    const out: number[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      // Take from b only when b < a: equal keys keep their order (stable).
      if (lessThan(rt, keys[b[j]], keys[a[i]])) out.push(b[j++]);
      else out.push(a[i++]);
    }
    while (i < a.length) out.push(a[i++]);
    while (j < b.length) out.push(b[j++]);
    return out;
  };
  const sorted = sortRange(order);
  const k = sorted.map((i) => keys[i]);
  const v = sorted.map((i) => values[i]);
  k.forEach((x, i) => (keys[i] = x));
  v.forEach((x, i) => (values[i] = x));
}

/** Sorts values by keys in place, stable, with list.sort's reverse (reverse, sort, reverse). */
function sortItems(rt: Runtime, keys: PyValue[], values: PyValue[], reverse: boolean): void {
  const n = keys.length;
  rt.charge(n * Math.max(1, Math.ceil(Math.log2(n + 1))));
  if (reverse) reverseBoth(keys, values, 0, n);
  if (n >= 2) {
    if (n < 64) {
      // count_run: a strictly descending run is reversed, a non-descending one is kept.
      let run = 2;
      if (lessThan(rt, keys[1], keys[0])) {
        while (run < n && lessThan(rt, keys[run], keys[run - 1])) run++;
        reverseBoth(keys, values, 0, run);
      } else {
        while (run < n && !lessThan(rt, keys[run], keys[run - 1])) run++;
      }
      binarySort(rt, keys, values, run);
    } else mergeSort(rt, keys, values);
  }
  if (reverse) reverseBoth(keys, values, 0, n);
}

function* sortArguments(rt: Runtime, name: string, items: PyValue[], kwargs: Kwargs): Gen<void> {
  onlyKeywords(name, kwargs, ['key', 'reverse']);
  const reverseValue = kwargs.has('reverse') ? kwargs.get('reverse')! : false;
  if (!isIntLike(reverseValue)) throw typeError(`'${typeName(reverseValue)}' object cannot be interpreted as an integer`);
  const keys = yield* keysOf(rt, items, kwargs.get('key'));
  sortItems(rt, keys === items ? items.slice() : keys, items, toBigInt(reverseValue) !== 0n);
}

// ---- min / max ----

function* minMax(rt: Runtime, name: 'min' | 'max', args: PyValue[], kwargs: Kwargs): Gen<PyValue> {
  onlyKeywords(name, kwargs, ['key', 'default']);
  if (args.length === 0) throw typeError(`${name} expected at least 1 argument, got 0`);
  if (args.length > 1 && kwargs.has('default')) {
    throw typeError(`Cannot specify a default for ${name}() with multiple positional arguments`);
  }
  const key = kwargs.get('key');
  const better = name === 'min' ? lessThan : greaterThan;
  let bestItem: PyValue | undefined;
  let bestValue: PyValue = null;
  for (const item of args.length === 1 ? iter(rt, args[0]) : args) {
    const value = key === undefined || key === null ? item : yield* rt.call(key, [item], new Map());
    if (bestItem === undefined || better(rt, value, bestValue)) {
      bestItem = item;
      bestValue = value;
    }
  }
  if (bestItem !== undefined) return bestItem;
  if (kwargs.has('default')) return kwargs.get('default')!;
  throw pyError('ValueError', `${name}() arg is an empty sequence`);
}

// ---- conversions ----

function intOf(rt: Runtime, args: PyValue[], kwargs: Kwargs): PyValue {
  onlyKeywords('int', kwargs, ['base']);
  if (args.length > 2) throw typeError(`int() takes at most 2 arguments (${args.length} given)`);
  const baseValue = args.length === 2 ? args[1] : kwargs.get('base');
  if (args.length === 2 && kwargs.has('base')) throw typeError("argument for int() given by name ('base') and position (2)");
  if (args.length === 0) {
    if (baseValue !== undefined) throw typeError('int() missing string argument');
    return 0n;
  }
  const x = args[0];
  if (baseValue !== undefined) {
    const base = asIndex(baseValue);
    if (typeof x !== 'string') throw typeError("int() can't convert non-string with explicit base");
    if (base !== 0n && (base < 2n || base > 36n)) throw pyError('ValueError', 'int() base must be >= 2 and <= 36, or 0');
    return parseIntLiteral(rt, x, Number(base));
  }
  if (isIntLike(x)) return toBigInt(x);
  if (typeof x === 'number') {
    if (Number.isNaN(x)) throw pyError('ValueError', 'cannot convert float NaN to integer');
    if (!Number.isFinite(x)) throw pyError('OverflowError', 'cannot convert float infinity to integer');
    return checkInt(rt, BigInt(Math.trunc(x)));
  }
  if (typeof x === 'string') return parseIntLiteral(rt, x, 10);
  throw typeError(`int() argument must be a string, a bytes-like object or a real number, not '${typeName(x)}'`);
}

function floatOf(args: PyValue[], kwargs: Kwargs): PyValue {
  noKeywords('float', kwargs);
  atMost('float', args, 1);
  if (args.length === 0) return 0;
  const x = args[0];
  if (typeof x === 'number') return x;
  if (isIntLike(x)) return intToFloat(x);
  if (typeof x === 'string') return parseFloatLiteral(x);
  throw typeError(`float() argument must be a string or a real number, not '${typeName(x)}'`);
}

function roundOf(rt: Runtime, args: PyValue[], kwargs: Kwargs): PyValue {
  onlyKeywords('round', kwargs, ['number', 'ndigits']);
  if (args.length > 2) throw typeError(`round() takes at most 2 arguments (${args.length} given)`);
  const number = args.length > 0 ? args[0] : kwargs.get('number');
  if (number === undefined) throw typeError("round() missing required argument 'number' (pos 1)");
  if (args.length > 0 && kwargs.has('number')) throw typeError("argument for round() given by name ('number') and position (1)");
  const ndigitsValue = args.length > 1 ? args[1] : kwargs.get('ndigits') ?? null;
  if (args.length > 1 && kwargs.has('ndigits')) throw typeError("argument for round() given by name ('ndigits') and position (2)");
  if (isIntLike(number)) return ndigitsValue === null ? toBigInt(number) : roundInt(rt, toBigInt(number), asIndex(ndigitsValue));
  if (typeof number === 'number') return ndigitsValue === null ? roundFloatToInt(rt, number) : roundFloat(number, asIndex(ndigitsValue));
  throw typeError(`type ${typeName(number)} doesn't define __round__ method`);
}

function rangeOf(args: PyValue[], kwargs: Kwargs): PyValue {
  noKeywords('range', kwargs);
  if (args.length === 0) throw typeError('range expected at least 1 argument, got 0');
  if (args.length > 3) throw typeError(`range expected at most 3 arguments, got ${args.length}`);
  const ints = args.map(asIndex);
  if (ints.length === 1) return new PyRange(0n, ints[0], 1n);
  const step = ints[2] ?? 1n;
  if (step === 0n) throw pyError('ValueError', 'range() arg 3 must not be zero');
  return new PyRange(ints[0], ints[1], step);
}

function* sumOf(rt: Runtime, args: PyValue[], kwargs: Kwargs): Gen<PyValue> {
  onlyKeywords('sum', kwargs, ['start']);
  if (args.length === 0) throw typeError('sum() takes at least 1 positional argument (0 given)');
  if (args.length > 2) throw typeError(`sum() takes at most 2 arguments (${args.length} given)`);
  let total = args.length > 1 ? args[1] : kwargs.get('start') ?? 0n;
  if (typeof total === 'string') throw typeError("sum() can't sum strings [use ''.join(seq) instead]");
  for (const item of iter(rt, args[0])) total = binaryOp(rt, '+', total, item);
  return total;
}

function* print(rt: Runtime, args: PyValue[], kwargs: Kwargs): Gen<PyValue> {
  onlyKeywords('print', kwargs, ['sep', 'end', 'file', 'flush']);
  const text = (name: 'sep' | 'end', fallback: string): string => {
    const v = kwargs.get(name) ?? null;
    if (v === null) return fallback;
    if (typeof v !== 'string') throw typeError(`${name} must be None or a string, not ${typeName(v)}`);
    return v;
  };
  const sep = text('sep', ' ');
  const end = text('end', '\n');
  const file = kwargs.get('file') ?? null;
  if (file !== null) throw pyError('AttributeError', `'${typeName(file)}' object has no attribute 'write'`);
  const budget = formatBudget(rt);
  rt.write(args.map((a) => pyStr(a, budget)).join(sep) + end);
  return null;
}

function* show(rt: Runtime, args: PyValue[], kwargs: Kwargs): Gen<PyValue> {
  noKeywords('show', kwargs);
  const x = exactlyOne('show', args);
  if (!isHostObject(x) || x instanceof PyRange || !x.asImage) throw typeError(`show() argument must be an image, not '${typeName(x)}'`);
  const image = guardHost(`${x.pyTypeName}.asImage`, () => x.asImage!());
  rt.host.checkPixels?.(image.width, image.height);
  rt.host.show(image);
  return null;
}

function* gen(v: PyValue): Gen<PyValue> {
  return v;
}

const builtin = (name: string, run: (rt: Runtime, args: PyValue[], kwargs: Kwargs) => Gen<PyValue>) => new SandboxBuiltin(name, run);
const simple = (name: string, f: (rt: Runtime, args: PyValue[], kwargs: Kwargs) => PyValue) => builtin(name, (rt, a, k) => gen(f(rt, a, k)));

/** The built-in functions every sandbox has (a world adds its own through options.globals). */
export const BUILTINS: ReadonlyMap<string, PyValue> = new Map<string, PyValue>([
  ['print', builtin('print', print)],
  ['show', builtin('show', show)],
  ['int', simple('int', intOf)],
  ['float', simple('float', (_, a, k) => floatOf(a, k))],
  ['round', simple('round', roundOf)],
  ['abs', simple('abs', (_, args, kwargs) => {
    noKeywords('abs', kwargs);
    const x = exactlyOne('abs', args);
    if (isIntLike(x)) {
      const v = toBigInt(x);
      return v < 0n ? -v : v;
    }
    if (typeof x === 'number') return Math.abs(x);
    throw typeError(`bad operand type for abs(): '${typeName(x)}'`);
  })],
  ['min', builtin('min', (rt, a, k) => minMax(rt, 'min', a, k))],
  ['max', builtin('max', (rt, a, k) => minMax(rt, 'max', a, k))],
  ['len', simple('len', (_, args, kwargs) => {
    noKeywords('len', kwargs);
    return BigInt(length(exactlyOne('len', args)));
  })],
  ['sum', builtin('sum', sumOf)],
  ['str', simple('str', (rt, args, kwargs) => {
    onlyKeywords('str', kwargs, ['object']);
    if (args.length > 1) throw typeError(`str() takes at most 1 argument (${args.length} given)`);
    const x = args.length > 0 ? args[0] : kwargs.get('object');
    return x === undefined ? '' : pyStr(x, formatBudget(rt));
  })],
  ['repr', simple('repr', (rt, args, kwargs) => {
    noKeywords('repr', kwargs);
    return pyRepr(exactlyOne('repr', args), formatBudget(rt));
  })],
  ['list', simple('list', (rt, args, kwargs) => {
    noKeywords('list', kwargs);
    atMost('list', args, 1);
    return new PyList(args.length === 0 ? [] : iterate(rt, args[0]));
  })],
  ['tuple', simple('tuple', (rt, args, kwargs) => {
    noKeywords('tuple', kwargs);
    atMost('tuple', args, 1);
    return new PyTuple(args.length === 0 ? [] : iterate(rt, args[0]));
  })],
  ['range', simple('range', (_, a, k) => rangeOf(a, k))],
  ['bool', simple('bool', (_, args, kwargs) => {
    noKeywords('bool', kwargs);
    atMost('bool', args, 1);
    return args.length === 0 ? false : truthy(args[0]);
  })],
  ['sorted', builtin('sorted', function* (rt, args, kwargs) {
    if (args.length !== 1) throw typeError(`sorted expected 1 argument, got ${args.length}`);
    const items = iterate(rt, args[0]);
    yield* sortArguments(rt, 'sort', items, kwargs);
    return new PyList(items);
  })],
]);

// ---- methods ----

/** list.index / tuple.index start and stop (clamped like slice bounds). */
function searchBounds(args: PyValue[], n: number): [number, number] {
  const bound = (v: PyValue): bigint => {
    if (!isIntLike(v)) throw typeError('slice indices must be integers or have an __index__ method');
    return toBigInt(v);
  };
  const s = sliceIndices(args.length > 1 ? bound(args[1]) : null, args.length > 2 ? bound(args[2]) : null, null, BigInt(n));
  return [Number(s.start), Number(s.stop)];
}

function countArgs(name: string, args: PyValue[], min: number, max: number): void {
  if (args.length < min || args.length > max) {
    if (min === max) throw typeError(`${name}() takes exactly one argument (${args.length} given)`);
    if (args.length < min) throw typeError(`${name} expected at least ${min} argument${min === 1 ? '' : 's'}, got ${args.length}`);
    throw typeError(`${name} expected at most ${max} argument${max === 1 ? '' : 's'}, got ${args.length}`);
  }
}

function sequenceMethod(self: PyList | PyTuple, name: string): PyValue | undefined {
  const kind = self instanceof PyList ? 'list' : 'tuple';
  const method = (run: (rt: Runtime, args: PyValue[]) => PyValue, min: number, max: number) =>
    new SandboxBuiltin(name, (rt, args, kwargs) => {
      noKeywords(`${kind}.${name}`, kwargs);
      countArgs(`${kind}.${name}`, args, min, max);
      return gen(run(rt, args));
    }, self);
  switch (name) {
    case 'index':
      return method((rt, args) => {
        const [start, stop] = searchBounds(args, self.items.length);
        for (let i = start; i < Math.min(stop, self.items.length); i++) {
          rt.charge(1);
          const x = self.items[i];
          if ((x === args[0] && typeof x !== 'number') || equals(rt, x, args[0])) return BigInt(i);
        }
        throw pyError('ValueError', kind === 'list' ? `${pyRepr(args[0], formatBudget(rt))} is not in list` : 'tuple.index(x): x not in tuple');
      }, 1, 3);
    case 'count':
      return method((rt, args) => {
        rt.charge(self.items.length);
        return BigInt(self.items.filter((x) => (x === args[0] && typeof x !== 'number') || equals(rt, x, args[0])).length);
      }, 1, 1);
  }
  if (!(self instanceof PyList)) return undefined;
  const list = self;
  switch (name) {
    case 'append':
      return method((rt, args) => {
        checkItems(rt, 'list', list.items.length + 1);
        list.items.push(args[0]);
        return null;
      }, 1, 1);
    case 'extend':
      return method((rt, args) => {
        const extra = iterate(rt, args[0]);
        checkItems(rt, 'list', list.items.length + extra.length);
        list.items.push(...extra);
        return null;
      }, 1, 1);
    case 'insert':
      return new SandboxBuiltin(name, (rt, args, kwargs) => {
        noKeywords('list.insert', kwargs);
        if (args.length !== 2) throw typeError(`insert expected 2 arguments, got ${args.length}`);
        checkItems(rt, 'list', list.items.length + 1);
        const n = BigInt(list.items.length);
        let i = asIndex(args[0]);
        if (i < 0n) i = i + n < 0n ? 0n : i + n;
        if (i > n) i = n;
        list.items.splice(Number(i), 0, args[1]);
        return gen(null);
      }, self);
    case 'pop':
      return method((_, args) => {
        if (list.items.length === 0) throw pyError('IndexError', 'pop from empty list');
        const n = BigInt(list.items.length);
        let i = args.length > 0 ? asIndex(args[0]) : -1n;
        if (i > SSIZE_MAX || i < -SSIZE_MAX - 1n) throw pyError('IndexError', "cannot fit 'int' into an index-sized integer");
        if (i < 0n) i += n;
        if (i < 0n || i >= n) throw pyError('IndexError', 'pop index out of range');
        return list.items.splice(Number(i), 1)[0];
      }, 0, 1);
    case 'remove':
      return method((rt, args) => {
        rt.charge(list.items.length);
        const i = list.items.findIndex((x) => (x === args[0] && typeof x !== 'number') || equals(rt, x, args[0]));
        if (i < 0) throw pyError('ValueError', 'list.remove(x): x not in list');
        list.items.splice(i, 1);
        return null;
      }, 1, 1);
    case 'reverse':
      return method((rt) => {
        rt.charge(list.items.length);
        list.items.reverse();
        return null;
      }, 0, 0);
    case 'clear':
      return method(() => {
        list.items = [];
        return null;
      }, 0, 0);
    case 'copy':
      return method((rt) => {
        checkItems(rt, 'list', list.items.length);
        return new PyList(list.items.slice());
      }, 0, 0);
    case 'sort':
      return new SandboxBuiltin(name, function* (rt, args, kwargs) {
        if (args.length > 0) throw typeError('sort() takes no positional arguments');
        const items = list.items.slice();
        yield* sortArguments(rt, 'sort', items, kwargs);
        list.items = items;
        return null;
      }, self);
  }
  return undefined;
}

/** obj.name: list / tuple methods, range attributes, host attributes; never a dunder. */
export function getAttribute(obj: PyValue, name: string): PyValue {
  let found: PyValue | undefined;
  if (!name.startsWith('__')) {
    if (obj instanceof PyList || obj instanceof PyTuple) found = sequenceMethod(obj, name);
    else if (isHostObject(obj)) found = fromHostAttr(guardHost(`${obj.pyTypeName}.getAttr`, () => obj.getAttr(name)), obj.pyTypeName, name);
  }
  if (found === undefined) throw pyError('AttributeError', `'${typeName(obj)}' object has no attribute '${name}'`);
  return found;
}

function fromHostAttr(v: PyValue | undefined, typeName: string, name: string): PyValue | undefined {
  return v === undefined ? undefined : fromHost(v, `${typeName}.${name}`);
}

/** obj.name = value: no value of the subset has writable attributes. */
export function setAttribute(obj: PyValue, name: string, _value: PyValue): never {
  let exists = false;
  try {
    getAttribute(obj, name);
    exists = true;
  } catch {
    exists = false;
  }
  if (exists) throw pyError('AttributeError', `'${typeName(obj)}' object attribute '${name}' is read-only`);
  throw pyError('AttributeError', `'${typeName(obj)}' object has no attribute '${name}'`);
}

