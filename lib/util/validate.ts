/**
 * Argument validation shared by every public function. Each helper throws a
 * PyVisionError whose message names the argument, what was expected and what
 * was given. Only O(1) checks live here (types, lengths, option ranges); value
 * scans (NaN, ids, masks) run in native code on the worker thread.
 */
import { PyVisionError, describe } from './errors.js';

type TypedArrayCtor = Float32ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor;
type InstanceOf<C> = C extends { new (...args: never[]): infer I } ? I : never;

export function typedArray<C extends TypedArrayCtor>(value: unknown, ctor: C, name: string, length?: number): InstanceOf<C> {
  if (!(value instanceof ctor)) {
    throw new PyVisionError('E_DTYPE', `${name} must be a ${ctor.name}, got ${describe(value)}`);
  }
  const array = value as InstanceOf<C>;
  if (length !== undefined && array.length !== length) {
    throw new PyVisionError('E_SHAPE', `${name} must have length ${length}, got ${array.length}`);
  }
  return array;
}

export function optionalTypedArray<C extends TypedArrayCtor>(
  value: unknown,
  ctor: C,
  name: string,
  length?: number,
): InstanceOf<C> | undefined {
  return value === undefined ? undefined : typedArray(value, ctor, name, length);
}

export function object(value: unknown, name: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
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
}

function rangeText(rule: NumberRule): string {
  const parts: string[] = [];
  if (rule.integer) parts.push('an integer');
  else parts.push('a finite number');
  if (rule.min !== undefined) parts.push(`>= ${rule.min}`);
  if (rule.above !== undefined) parts.push(`> ${rule.above}`);
  if (rule.max !== undefined) parts.push(`<= ${rule.max}`);
  if (rule.below !== undefined) parts.push(`< ${rule.below}`);
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
    (rule.below === undefined || value < rule.below);
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

/** Checks that `offsets` is an Int32Array of B + 1 entries starting at 0 and ending at `total`. */
export function offsetsArray(value: unknown, name: string, total: number, totalName: string): Int32Array {
  const offsets = typedArray(value, Int32Array, name);
  if (offsets.length < 1) throw new PyVisionError('E_SHAPE', `${name} must have length B + 1 >= 1, got 0`);
  if (offsets[0] !== 0) throw new PyVisionError('E_SHAPE', `${name}[0] must be 0, got ${offsets[0]}`);
  const last = offsets[offsets.length - 1];
  if (last !== total) {
    throw new PyVisionError('E_SHAPE', `${name}[${offsets.length - 1}] must equal ${totalName} (${total}), got ${last}`);
  }
  return offsets;
}
