/**
 * Argument validation shared by every public function. Each helper throws a
 * PyVisionError whose message names the argument, what was expected and what
 * was given. Only O(1) checks live here (types, lengths, option ranges); value
 * scans (NaN, ids, masks) run in native code on the compute thread.
 */
import { types } from 'node:util';

import { PyVisionError, describe } from './errors.js';

/** The element types that cross to native code. */
export type TypedArrayKind = 'Float32Array' | 'Int32Array' | 'Uint8Array';
export type TypedArrayOf<K extends TypedArrayKind> = K extends 'Float32Array'
  ? Float32Array
  : K extends 'Int32Array'
    ? Int32Array
    : Uint8Array;

// The intrinsic getters of %TypedArray%.prototype. They read the internal
// slots of any realm's typed arrays (a vm context's, a worker's, Buffer) and
// cannot be shadowed by the value's own properties; on anything else (a
// Proxy, a plain object) the tag getter returns undefined.
const typedArrayPrototype = Object.getPrototypeOf(Int8Array.prototype) as object;
const intrinsicGetter = (key: PropertyKey) => Object.getOwnPropertyDescriptor(typedArrayPrototype, key)!.get! as (this: unknown) => unknown;
const tagOf = intrinsicGetter(Symbol.toStringTag);
const lengthOf = intrinsicGetter('length') as (this: unknown) => number;
const bufferOf = intrinsicGetter('buffer');

/**
 * Whether `value` is a typed array of element type `kind`, from any realm.
 * The one typed-array check of lib/: judged by the internal tag, never by
 * `instanceof` or by the value's own (overridable) properties.
 */
export function isTypedArray<K extends TypedArrayKind>(value: unknown, kind: K): value is TypedArrayOf<K> {
  return tagOf.call(value) === kind;
}

/** The length of a typed array, read through the intrinsic getter. */
export function typedLength(value: ArrayBufferView): number {
  return lengthOf.call(value);
}

/**
 * Checks that `value` is a typed array of one of `kinds` (on an ordinary
 * ArrayBuffer: memory that another thread may write while native code reads
 * it is rejected) and, when given, of length `length`. E_DTYPE / E_SHAPE name `name`.
 */
export function typedArrayOf<K extends TypedArrayKind>(value: unknown, kinds: readonly K[], name: string, length?: number): TypedArrayOf<K> {
  if (!kinds.some((k) => isTypedArray(value, k))) {
    throw new PyVisionError('E_DTYPE', `${name} must be a ${kinds.join(' or a ')}, got ${describe(value)}`);
  }
  if (types.isSharedArrayBuffer(bufferOf.call(value))) {
    throw new PyVisionError('E_DTYPE', `${name} must be on an ArrayBuffer, got a ${tagOf.call(value) as string} on a SharedArrayBuffer`);
  }
  const actual = lengthOf.call(value);
  if (length !== undefined && actual !== length) {
    throw new PyVisionError('E_SHAPE', `${name} must have length ${length}, got ${actual}`);
  }
  return value as TypedArrayOf<K>;
}

export function typedArray<K extends TypedArrayKind>(value: unknown, kind: K, name: string, length?: number): TypedArrayOf<K> {
  return typedArrayOf(value, [kind], name, length);
}

export function optionalTypedArray<K extends TypedArrayKind>(
  value: unknown,
  kind: K,
  name: string,
  length?: number,
): TypedArrayOf<K> | undefined {
  return value === undefined ? undefined : typedArray(value, kind, name, length);
}

/**
 * Checks that `value` is an options or input object. A revoked Proxy (on
 * which every operation throws a TypeError) is E_ARG like any other bad value.
 */
export function object(value: unknown, name: string): Record<string, unknown> {
  let isArray: boolean;
  try {
    isArray = Array.isArray(value);
  } catch {
    throw new PyVisionError('E_ARG', `${name} must be an object, got a revoked Proxy`);
  }
  if (value === null || typeof value !== 'object' || isArray || ArrayBuffer.isView(value)) {
    throw new PyVisionError('E_ARG', `${name} must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

export function optionalObject(value: unknown, name: string): Record<string, unknown> {
  return value === undefined ? {} : object(value, name);
}

export interface NumberRule {
  /** inclusive lower bound */
  min?: number;
  /** inclusive upper bound */
  max?: number;
  /** exclusive lower bound */
  above?: number;
  /** exclusive upper bound */
  below?: number;
  integer?: boolean;
  /** native code reads it as a float32: |value| <= F32_MAX */
  float32?: boolean;
}

function rangeText(rule: NumberRule): string {
  const parts: string[] = [];
  if (rule.integer) parts.push('an integer');
  else parts.push('a finite number');
  if (rule.min !== undefined) parts.push(`>= ${rule.min}`);
  if (rule.above !== undefined) parts.push(`> ${rule.above}`);
  if (rule.max !== undefined) parts.push(`<= ${rule.max}`);
  if (rule.below !== undefined) parts.push(`< ${rule.below}`);
  if (rule.float32) parts.push('within the float32 range (|x| <= 3.4028235e38)');
  return parts.join(' ');
}

export function number(value: unknown, name: string, rule: NumberRule = {}): number {
  if (typeof value !== 'number') {
    throw new PyVisionError('E_ARG', `${name} must be ${rangeText(rule)}, got ${describe(value)}`);
  }
  if (!Number.isFinite(value)) {
    throw new PyVisionError('E_NONFINITE', `${name} must be ${rangeText(rule)}, got ${value}`);
  }
  const ok =
    (!rule.integer || Number.isInteger(value)) &&
    (rule.min === undefined || value >= rule.min) &&
    (rule.max === undefined || value <= rule.max) &&
    (rule.above === undefined || value > rule.above) &&
    (rule.below === undefined || value < rule.below) &&
    (!rule.float32 || Math.abs(value) <= F32_MAX);
  if (!ok) throw new PyVisionError('E_ARG', `${name} must be ${rangeText(rule)}, got ${value}`);
  return value;
}

export function optionalNumber(value: unknown, name: string, fallback: number, rule: NumberRule = {}): number {
  return value === undefined ? fallback : number(value, name, rule);
}

export function boolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new PyVisionError('E_ARG', `${name} must be a boolean, got ${describe(value)}`);
  return value;
}

export function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new PyVisionError(
      'E_ARG',
      `${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}; got ${describe(value)}`,
    );
  }
  return value as T;
}

/** The largest finite float32: options that native code reads as float must lie within ±F32_MAX. */
export const F32_MAX = 3.4028234663852886e38;

/** Checks that `offsets` is an Int32Array of B + 1 entries starting at 0 and ending at `total`. */
export function offsetsArray(value: unknown, name: string, total: number, totalName: string): Int32Array {
  const offsets = typedArray(value, 'Int32Array', name);
  if (offsets.length < 1) throw new PyVisionError('E_SHAPE', `${name} must have length B + 1 >= 1, got 0`);
  if (offsets[0] !== 0) throw new PyVisionError('E_SHAPE', `${name}[0] must be 0, got ${offsets[0]}`);
  const last = offsets[offsets.length - 1];
  if (last !== total) {
    throw new PyVisionError('E_SHAPE', `${name}[${offsets.length - 1}] must equal ${totalName} (${total}), got ${last}`);
  }
  return offsets;
}
