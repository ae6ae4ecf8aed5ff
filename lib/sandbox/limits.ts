/**
 * The sandbox's limits: one typed object, defaults in one place, and the
 * errors raised when a limit is exceeded (each with its own message, so a
 * policy reading the error can tell them apart).
 *
 *   limit             exceeded ->  class           message starts with
 *   maxSourceChars                 SyntaxError     "program too long"
 *   maxSteps                       TimeoutError    "step limit exceeded"
 *   maxWallMs                      TimeoutError    "time limit exceeded"
 *   maxItems                       MemoryError     "too many items"
 *   maxOutputChars                 MemoryError     "output too long"
 *   maxPixels                      MemoryError     "image too large"
 *   maxImages                      MemoryError     "too many images"
 *   maxIntDigits                   OverflowError   "integer too large"
 *   maxDepth                       RecursionError  "maximum nesting depth exceeded"
 */
import { pyError } from './exceptions.js';
import { PyVisionError, describe } from '../util/errors.js';
import { number, optionalObject } from '../util/validate.js';
import { PyException } from './host.js';

export interface SandboxLimits {
  /** Characters of one program (one run() call). */
  maxSourceChars: number;
  /** Executed steps per run(): one per evaluated node, plus one per item built, copied, compared or iterated. */
  maxSteps: number;
  /** Wall-clock milliseconds per run(), host calls included (checked between steps and after each host call). */
  maxWallMs: number;
  /** Items of one list, tuple or range materialised, and characters of one string. */
  maxItems: number;
  /** Characters printed per run(). */
  maxOutputChars: number;
  /** Pixels (width * height) of one image a host creates or shows (hosts check with ctx.checkPixels). */
  maxPixels: number;
  /** Images shown over the sandbox's lifetime (one trajectory). */
  maxImages: number;
  /** Decimal digits of an int (CPython's ints are unbounded; here a larger one raises OverflowError). */
  maxIntDigits: number;
  /** Nesting of containers met by repr, ==, < and friends (CPython raises RecursionError near 1000). */
  maxDepth: number;
}

export const DEFAULT_SANDBOX_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  maxSourceChars: 10_000,
  maxSteps: 1_000_000,
  maxWallMs: 2_000,
  maxItems: 1_000_000,
  maxOutputChars: 100_000,
  maxPixels: 4096 * 4096,
  maxImages: 32,
  maxIntDigits: 100,
  maxDepth: 200,
});

/** Upper bounds accepted for each limit (the interpreter's own guarantees hold below them). */
const LIMIT_MAX: Readonly<SandboxLimits> = Object.freeze({
  maxSourceChars: 1_000_000,
  maxSteps: 1e12,
  maxWallMs: 3_600_000,
  maxItems: 100_000_000,
  maxOutputChars: 100_000_000,
  maxPixels: 1 << 30,
  maxImages: 1_000_000,
  // CPython itself refuses int <-> str conversions beyond 4300 digits.
  maxIntDigits: 4300,
  // The evaluator recurses once per level; deeper would risk the JavaScript stack.
  maxDepth: 1000,
});

/** The objects resolveLimits returned (frozen): handed back in, they need no second validation. */
const RESOLVED = new WeakSet<object>();

/**
 * Validates user limits (a partial object) over the defaults; returns a frozen SandboxLimits.
 * An object resolveLimits returned is returned as it is (a world resolves its limits once and
 * opens many sandboxes with them).
 */
export function resolveLimits(value: unknown, name = 'options.limits'): SandboxLimits {
  if (typeof value === 'object' && value !== null && RESOLVED.has(value)) return value as SandboxLimits;
  const given = optionalObject(value, name);
  const limits = { ...DEFAULT_SANDBOX_LIMITS };
  for (const key of Object.keys(given)) {
    if (!(key in DEFAULT_SANDBOX_LIMITS)) {
      throw new PyVisionError('E_ARG', `${name}.${key} is not a sandbox limit (known: ${Object.keys(DEFAULT_SANDBOX_LIMITS).join(', ')}), got ${describe(given[key])}`);
    }
    const k = key as keyof SandboxLimits;
    if (given[k] !== undefined) limits[k] = number(given[k], `${name}.${key}`, { integer: true, min: 1, max: LIMIT_MAX[k] });
  }
  Object.freeze(limits);
  RESOLVED.add(limits);
  return limits;
}

export function stepLimitError(limits: SandboxLimits): PyException {
  return pyError('TimeoutError', `step limit exceeded: the program ran more than ${limits.maxSteps} steps`);
}

export function wallLimitError(limits: SandboxLimits): PyException {
  return pyError('TimeoutError', `time limit exceeded: the program ran longer than ${limits.maxWallMs} ms`);
}

export function itemLimitError(what: string, n: number | bigint, limits: SandboxLimits): PyException {
  const unit = what === 'str' ? 'characters' : 'items';
  return pyError('MemoryError', `too many items: a ${what} of ${n} ${unit} (the limit is ${limits.maxItems})`);
}

export function outputLimitError(limits: SandboxLimits): PyException {
  return pyError('MemoryError', `output too long: more than ${limits.maxOutputChars} characters printed`);
}

export function intLimitError(limits: SandboxLimits): PyException {
  return pyError('OverflowError', `integer too large: more than ${limits.maxIntDigits} digits (the sandbox limit)`);
}

export function depthLimitError(limits: SandboxLimits): PyException {
  return pyError('RecursionError', `maximum nesting depth exceeded (${limits.maxDepth} levels)`);
}

export function imageCountError(limits: SandboxLimits): PyException {
  return pyError('MemoryError', `too many images: at most ${limits.maxImages} images may be shown in one trajectory`);
}

export function sourceLimitError(length: number, limits: SandboxLimits): PyException {
  return pyError('SyntaxError', `program too long: ${length} characters (the limit is ${limits.maxSourceChars})`);
}

/**
 * The check hosts run before creating or showing an image (a crop, a resize,
 * a frame): raises MemoryError "image too large" past maxPixels, ValueError
 * for sizes that are not positive integers.
 */
export function checkImagePixels(width: number, height: number, maxPixels: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw pyError('ValueError', `image size must be positive integers, got ${width} x ${height}`);
  }
  if (width * height > maxPixels) {
    throw pyError('MemoryError', `image too large: ${width} x ${height} = ${width * height} pixels (the limit is ${maxPixels})`);
  }
}
