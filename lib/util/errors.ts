/**
 * The one error class of pyvision-rl. Every failure the library reports, from
 * TypeScript validation or from native code, is a PyVisionError whose `code`
 * is stable across versions (match on `code`, not on the message).
 */
export type ErrorCode =
  /** an argument or option has a bad value (out of range, wrong enum, inconsistent) */
  | 'E_ARG'
  /** an array has the wrong length, or offsets do not describe the data */
  | 'E_SHAPE'
  /** an array has the wrong element type */
  | 'E_DTYPE'
  /** a NaN or infinite value where finite numbers are required */
  | 'E_NONFINITE'
  /** the requested backend is not available (e.g. 'cuda' without a GPU) */
  | 'E_BACKEND'
  /** a CUDA runtime call failed */
  | 'E_CUDA'
  /** the object was disposed */
  | 'E_DISPOSED'
  /** a file could not be read or written, or is not in the expected format */
  | 'E_IO'
  /** memory could not be allocated */
  | 'E_OOM'
  /** the native module could not be loaded */
  | 'E_LOAD'
  /** an internal invariant failed (a bug: please report it) */
  | 'E_INTERNAL';

export const ERROR_CODES: readonly ErrorCode[] = [
  'E_ARG',
  'E_SHAPE',
  'E_DTYPE',
  'E_NONFINITE',
  'E_BACKEND',
  'E_CUDA',
  'E_DISPOSED',
  'E_IO',
  'E_OOM',
  'E_LOAD',
  'E_INTERNAL',
];

export class PyVisionError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'PyVisionError';
    this.code = code;
  }
}

/** Describes a value for an error message: its type and, when short, its value. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) {
    const length = (value as unknown as { length?: number }).length;
    return `${value.constructor.name}(${length ?? value.byteLength})`;
  }
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function') return 'a function';
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}

/**
 * Runs a native call and, when it rejects, rewrites the error's stack to point
 * at the caller's line rather than at the addon's compute thread.
 */
export async function withCallSite<T>(run: () => Promise<T>): Promise<T> {
  const site = new Error();
  try {
    return await run();
  } catch (error) {
    if (error instanceof PyVisionError && site.stack) {
      const frames = site.stack.split('\n').slice(1).join('\n');
      error.stack = `${error.name}: ${error.message}\n${frames}`;
    }
    throw error;
  }
}
