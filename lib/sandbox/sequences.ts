/**
 * Iteration, indexing and slicing of str, list, tuple, range and host
 * sequences, with CPython's index rules (negative indices, PySlice_Unpack /
 * PySlice_AdjustIndices clamping, slice assignment) and its error messages.
 */
import { guardHost, pyError } from './exceptions.js';
import { PyBuiltin, PyException, PyList, PyTuple, type PyHostObject, type PyValue } from './host.js';
import { itemLimitError } from './limits.js';
import { PyRange, SSIZE_MAX, checkItems, codePoints, fromHost, isIntLike, toBigInt, typeName, type Runtime } from './values.js';

function hostObject(v: PyValue): PyHostObject | null {
  return v !== null && typeof v === 'object' && !(v instanceof PyList) && !(v instanceof PyTuple) && !(v instanceof PyBuiltin) ? v : null;
}

/** Iterates lazily (one step per item): str (code points), list, tuple, range, host objects with len() and [i]. */
export function* iter(rt: Runtime, v: PyValue): Generator<PyValue, void, undefined> {
  if (typeof v === 'string') {
    for (const ch of v) {
      rt.charge(1);
      yield ch;
    }
    return;
  }
  if (v instanceof PyList) {
    // Like CPython's list iterator: reads the current length at each step.
    for (let i = 0; i < v.items.length; i++) {
      rt.charge(1);
      yield v.items[i];
    }
    return;
  }
  if (v instanceof PyTuple) {
    for (const x of v.items) {
      rt.charge(1);
      yield x;
    }
    return;
  }
  if (v instanceof PyRange) {
    for (let i = 0n; i < v.length; i++) {
      rt.charge(1);
      yield v.item(i);
    }
    return;
  }
  const host = hostObject(v);
  if (host && host.len && host.getItem) {
    const n = guardHost(`${host.pyTypeName}.len`, () => host.len!());
    for (let i = 0; i < n; i++) {
      rt.charge(1);
      yield fromHost(guardHost(`${host.pyTypeName}.getItem`, () => host.getItem!(BigInt(i))), `${host.pyTypeName}.getItem`);
    }
    return;
  }
  throw pyError('TypeError', `'${typeName(v)}' object is not iterable`);
}

/** The items of an iterable as an array (checked against maxItems when the length is known up front). */
export function iterate(rt: Runtime, v: PyValue): PyValue[] {
  if (v instanceof PyList || v instanceof PyTuple) {
    rt.charge(v.items.length);
    return v.items.slice();
  }
  if (v instanceof PyRange && v.length > BigInt(rt.limits.maxItems)) throw itemLimitError('range', v.length, rt.limits);
  const out: PyValue[] = [];
  for (const x of iter(rt, v)) {
    out.push(x);
    if (out.length > rt.limits.maxItems) throw itemLimitError(typeName(v), out.length, rt.limits);
  }
  return out;
}

/** len(v). */
export function length(v: PyValue): number | bigint {
  if (typeof v === 'string') return codePoints(v).length;
  if (v instanceof PyList || v instanceof PyTuple) return v.items.length;
  if (v instanceof PyRange) {
    if (v.length > SSIZE_MAX) throw pyError('OverflowError', 'Python int too large to convert to C ssize_t');
    return v.length;
  }
  const host = hostObject(v);
  if (host && host.len) return guardHost(`${host.pyTypeName}.len`, () => host.len!());
  throw pyError('TypeError', `object of type '${typeName(v)}' has no len()`);
}

const SEQUENCE_NAMES: Record<string, string> = { list: 'list', tuple: 'tuple', str: 'string', range: 'range object' };

/** Normalises an item index against a length; IndexError when outside. */
function itemIndex(index: bigint, n: bigint, what: string): bigint {
  // range indexes with Python ints of any size; the other sequences with a Py_ssize_t.
  if (what !== 'range' && (index > SSIZE_MAX || index < -SSIZE_MAX - 1n)) throw pyError('IndexError', "cannot fit 'int' into an index-sized integer");
  const i = index < 0n ? index + n : index;
  if (i < 0n || i >= n) throw pyError('IndexError', `${SEQUENCE_NAMES[what]} index out of range`);
  return i;
}

function indexTypeError(container: string, index: PyValue): PyException {
  if (container === 'str') return pyError('TypeError', `string indices must be integers, not '${typeName(index)}'`);
  return pyError('TypeError', `${container} indices must be integers or slices, not ${typeName(index)}`);
}

/** A slice's start, stop, step after PySlice_Unpack and PySlice_AdjustIndices, and its length. */
export interface SliceIndices {
  start: bigint;
  stop: bigint;
  step: bigint;
  length: bigint;
}

function sliceBound(v: PyValue): bigint | null {
  if (v === null) return null;
  if (isIntLike(v)) return toBigInt(v);
  throw pyError('TypeError', 'slice indices must be integers or None or have an __index__ method');
}

export function sliceIndices(lower: PyValue, upper: PyValue, stepValue: PyValue, n: bigint): SliceIndices {
  const stepGiven = sliceBound(stepValue);
  const step = stepGiven ?? 1n;
  if (step === 0n) throw pyError('ValueError', 'slice step cannot be zero');
  const adjust = (v: bigint | null, fallback: 'low' | 'high'): bigint => {
    if (v === null) {
      if (fallback === 'low') return step < 0n ? n - 1n : 0n;
      return step < 0n ? -1n : n;
    }
    if (v < 0n) {
      const w = v + n;
      return w < 0n ? (step < 0n ? -1n : 0n) : w;
    }
    return v >= n ? (step < 0n ? n - 1n : n) : v;
  };
  const start = adjust(sliceBound(lower), 'low');
  const stop = adjust(sliceBound(upper), 'high');
  let count = 0n;
  if (step < 0n) {
    if (stop < start) count = (start - stop - 1n) / -step + 1n;
  } else if (start < stop) count = (stop - start - 1n) / step + 1n;
  return { start, stop, step, length: count };
}

function sliceItems<T>(items: readonly T[], s: SliceIndices): T[] {
  const out: T[] = new Array(Number(s.length));
  let i = Number(s.start);
  const step = Number(s.step);
  for (let k = 0; k < out.length; k++, i += step) out[k] = items[i];
  return out;
}

/** obj[index] for an int (or bool) index. */
export function getItem(rt: Runtime, obj: PyValue, index: PyValue): PyValue {
  if (typeof obj === 'string' || obj instanceof PyList || obj instanceof PyTuple || obj instanceof PyRange) {
    const what = typeName(obj);
    if (!isIntLike(index)) throw indexTypeError(what, index);
    if (obj instanceof PyRange) return obj.item(itemIndex(toBigInt(index), obj.length, what));
    if (typeof obj === 'string') {
      const chars = codePoints(obj);
      return chars[Number(itemIndex(toBigInt(index), BigInt(chars.length), what))];
    }
    return obj.items[Number(itemIndex(toBigInt(index), BigInt(obj.items.length), what))];
  }
  const host = hostObject(obj);
  if (host && host.getItem) return fromHost(guardHost(`${host.pyTypeName}.getItem`, () => host.getItem!(index)), `${host.pyTypeName}.getItem`);
  throw pyError('TypeError', `'${typeName(obj)}' object is not subscriptable`);
}

/** obj[lower:upper:step]. */
export function getSlice(rt: Runtime, obj: PyValue, lower: PyValue, upper: PyValue, step: PyValue): PyValue {
  if (obj instanceof PyRange) {
    const s = sliceIndices(lower, upper, step, obj.length);
    return new PyRange(obj.item(s.start), obj.item(s.stop), obj.step * s.step);
  }
  if (typeof obj === 'string') {
    const chars = codePoints(obj);
    const s = sliceIndices(lower, upper, step, BigInt(chars.length));
    rt.charge(Math.ceil(Number(s.length) / 16));
    return s.step === 1n ? chars.slice(Number(s.start), Number(s.stop)).join('') : sliceItems(chars, s).join('');
  }
  if (obj instanceof PyList || obj instanceof PyTuple) {
    const s = sliceIndices(lower, upper, step, BigInt(obj.items.length));
    checkItems(rt, typeName(obj), s.length);
    const items = sliceItems(obj.items, s);
    return obj instanceof PyList ? new PyList(items) : new PyTuple(items);
  }
  const host = hostObject(obj);
  if (host && host.getItem) {
    throw pyError('TypeError', `'${host.pyTypeName}' object does not support slicing in the sandbox`);
  }
  throw pyError('TypeError', `'${typeName(obj)}' object is not subscriptable`);
}

/** obj[index] = value. */
export function setItem(rt: Runtime, obj: PyValue, index: PyValue, value: PyValue): void {
  if (obj instanceof PyList) {
    if (!isIntLike(index)) throw indexTypeError('list', index);
    const n = BigInt(obj.items.length);
    const i = toBigInt(index);
    if (i > SSIZE_MAX || i < -SSIZE_MAX - 1n) throw pyError('IndexError', "cannot fit 'int' into an index-sized integer");
    const j = i < 0n ? i + n : i;
    if (j < 0n || j >= n) throw pyError('IndexError', 'list assignment index out of range');
    obj.items[Number(j)] = value;
    return;
  }
  throw pyError('TypeError', `'${typeName(obj)}' object does not support item assignment`);
}

/** obj[lower:upper:step] = value (lists only; extended slices need a value of the same length). */
export function setSlice(rt: Runtime, obj: PyValue, lower: PyValue, upper: PyValue, step: PyValue, value: PyValue): void {
  if (!(obj instanceof PyList)) throw pyError('TypeError', `'${typeName(obj)}' object does not support item assignment`);
  const items = value === obj ? obj.items.slice() : value instanceof PyList || value instanceof PyTuple || typeof value === 'string' || value instanceof PyRange || hostObject(value) ? iterate(rt, value) : null;
  if (items === null) throw pyError('TypeError', 'can only assign an iterable');
  const s = sliceIndices(lower, upper, step, BigInt(obj.items.length));
  if (s.step === 1n) {
    const start = Number(s.start);
    const stop = Math.max(start, Number(s.stop));
    checkItems(rt, 'list', obj.items.length - (stop - start) + items.length);
    obj.items.splice(start, stop - start, ...items);
    return;
  }
  if (BigInt(items.length) !== s.length) {
    throw pyError('ValueError', `attempt to assign sequence of size ${items.length} to extended slice of size ${s.length}`);
  }
  let i = Number(s.start);
  for (const item of items) {
    obj.items[i] = item;
    i += Number(s.step);
  }
}
