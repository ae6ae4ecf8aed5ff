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
