/**
 * Python exceptions raised by the interpreter. They are values reported to
 * the program's caller, not JavaScript failures: they carry no JavaScript
 * stack (capturing one costs more than running a small program).
 */
import { PyException } from './host.js';

/** Creates `new make()` without capturing a JavaScript stack trace. */
export function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** A Python exception of class `type` (CPython's name) with CPython's message. */
export function pyError(type: string, message: string): PyException {
  return withoutStack(() => new PyException(type, message));
}

/** Host code throws PyException for Python errors; anything else it throws becomes a RuntimeError naming the function. */
export function hostError(error: unknown, name: string): PyException {
  if (error instanceof PyException) return error;
  if (error instanceof Error && error.name === 'PyVisionError') {
    const code = (error as Error & { code?: string }).code;
    const type = code === 'E_ARG' || code === 'E_SHAPE' || code === 'E_DTYPE' || code === 'E_NONFINITE' ? 'ValueError' : 'RuntimeError';
    return pyError(type, `${name}(): ${error.message}`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return pyError('RuntimeError', `${name}() failed: ${message}`);
}

/** Runs a host object's method (getAttr, len, getItem, asImage, repr) with hostError's conversion. */
export function guardHost<T>(name: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw hostError(error, name);
  }
}
