/**
 * PythonSandbox: one interpreter state (one trajectory). run() parses a
 * program, evaluates it against the variables left by earlier runs, and
 * resolves to the printed text, the images shown and the Python error, if
 * any. It never rejects for a Python error, only for misuse (E_ARG,
 * E_DISPOSED). Runs of one sandbox execute one after the other.
 */
import { PyVisionError, describe } from '../util/errors.js';
import type { RgbImage } from '../util/rgb.js';
import { optionalObject } from '../util/validate.js';
import { BUILTINS } from './builtins.js';
import { Evaluator, callValue, type Scope } from './evaluator.js';
import { PyException, type HostContext, type PyValue } from './host.js';
import {
  checkImagePixels, imageCountError, outputLimitError, resolveLimits, sourceLimitError, stepLimitError, wallLimitError,
  type SandboxLimits,
} from './limits.js';
import { SyntaxErrorWithLine, parseCached } from './parser.js';
import { fromHost, type Gen, type Runtime } from './values.js';

export interface SandboxOptions {
  /** Values the program sees as variables (a world's image_clue_0, its host functions); programs may rebind them. */
  globals?: Record<string, PyValue>;
  /** Limits over DEFAULT_SANDBOX_LIMITS (see limits.ts for each limit and its error). */
  limits?: Partial<SandboxLimits>;
}

export interface SandboxError {
  /** CPython's exception class name (SyntaxError, NameError, ...) or the limit's class (TimeoutError, MemoryError, ...). */
  type: string;
  /** A short message, close to CPython's. */
  message: string;
  /** Line of the statement that raised (1-based), when known. */
  line?: number;
}

export interface SandboxResult {
  /** Everything printed, in order (also what was printed before an error). */
  output: string;
  /** Images shown with show(), in order. */
  images: RgbImage[];
  error: null | SandboxError;
  /** Steps the run executed (against limits.maxSteps). */
  steps: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkGlobal(name: string, value: unknown): PyValue {
  if (!IDENTIFIER.test(name)) throw new PyVisionError('E_ARG', `options.globals: '${name}' is not a Python identifier`);
  try {
    if (value === undefined) throw new Error();
    return fromHost(value, name);
  } catch {
    throw new PyVisionError('E_ARG', `options.globals.${name} must be a PyValue (null, boolean, bigint, number, string, PyList, PyTuple, PyBuiltin or a host object), got ${describe(value)}`);
  }
}

function now(): number {
  return performance.now();
}

/** A JavaScript error escaping the interpreter: the stack overflow guard reads as RecursionError, anything else is a bug. */
function internalError(error: unknown): SandboxError {
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return { type: 'RecursionError', message: 'maximum recursion depth exceeded' };
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { type: 'SystemError', message: `internal error in the sandbox: ${message}` };
}

export class PythonSandbox {
  readonly limits: SandboxLimits;
  /** 10 ** limits.maxIntDigits: ints must stay below it in magnitude. */
  private readonly intBound: bigint;
  private readonly globals = new Map<string, PyValue>();
  private imagesShown = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(options?: SandboxOptions) {
    const given = optionalObject(options, 'options');
    this.limits = resolveLimits(given.limits);
    this.intBound = 10n ** BigInt(this.limits.maxIntDigits);
    const globals = optionalObject(given.globals, 'options.globals');
    for (const [name, value] of Object.entries(globals)) this.globals.set(name, checkGlobal(name, value));
  }

  /** Runs a program; resolves to its output, shown images and Python error (never rejects for a Python error). */
  run(source: string): Promise<SandboxResult> {
    if (this.disposed) return Promise.reject(new PyVisionError('E_DISPOSED', 'PythonSandbox.run(): the sandbox was disposed'));
    if (typeof source !== 'string') return Promise.reject(new PyVisionError('E_ARG', `source must be a string, got ${describe(source)}`));
    const result = this.queue.then(() => this.execute(source));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** A variable's current value (undefined when unbound), e.g. for a world reading what a program computed. */
  getGlobal(name: string): PyValue | undefined {
    return this.globals.get(name);
  }

  /** Binds a variable for later runs (e.g. a world naming a shown image image_clue_1). */
  setGlobal(name: string, value: PyValue): void {
    if (this.disposed) throw new PyVisionError('E_DISPOSED', 'PythonSandbox.setGlobal(): the sandbox was disposed');
    this.globals.set(name, checkGlobal(name, value));
  }

  /** Images shown over the sandbox's lifetime (counted against limits.maxImages). */
  get imageCount(): number {
    return this.imagesShown;
  }

  /** Drops the state; later run() calls reject with E_DISPOSED. Idempotent. */
  dispose(): void {
    this.disposed = true;
    this.globals.clear();
  }

  private async execute(source: string): Promise<SandboxResult> {
    const limits = this.limits;
    const output: string[] = [];
    const images: RgbImage[] = [];
    let outputChars = 0;
    let steps = 0;
    let nextTimeCheck = 1024;
    const deadline = now() + limits.maxWallMs;
    const host: HostContext = {
      show: (image) => {
        if (this.imagesShown >= limits.maxImages) throw imageCountError(limits);
        checkImagePixels(image.width, image.height, limits.maxPixels);
        this.imagesShown++;
        images.push(image);
      },
      charge: (n) => rt.charge(n),
      checkPixels: (width, height) => checkImagePixels(width, height, limits.maxPixels),
    };
    const rt: Runtime = {
      limits,
      intBound: this.intBound,
      host,
      charge(n: number) {
        if (!(n >= 0)) return;
        steps += n;
        if (steps > limits.maxSteps) throw stepLimitError(limits);
        if (steps >= nextTimeCheck) {
          nextTimeCheck = steps + 1024;
          if (now() > deadline) throw wallLimitError(limits);
        }
      },
      call: (fn, args, kwargs) => callValue(rt, fn, args, kwargs),
      write(text: string) {
        outputChars += text.length;
        if (outputChars > limits.maxOutputChars) throw outputLimitError(limits);
        output.push(text);
      },
    };
    const scope: Scope = { globals: this.globals, builtins: BUILTINS };
    let evaluator: Evaluator | null = null;
    try {
      if (source.length > limits.maxSourceChars) throw sourceLimitError(source.length, limits);
      const module = parseCached(source);
      evaluator = new Evaluator(rt, scope);
      await drive(evaluator.module(module), deadline, limits);
      return { output: output.join(''), images, error: null, steps };
    } catch (error) {
      let reported: SandboxError;
      if (error instanceof SyntaxErrorWithLine) reported = { type: error.pyType, message: error.message, line: error.line };
      else if (error instanceof PyException) {
        reported = { type: error.pyType, message: error.message };
        if (evaluator !== null) reported.line = evaluator.line;
      } else reported = internalError(error);
      return { output: output.join(''), images, error: reported, steps };
    }
  }
}

/** Runs the evaluator, awaiting each Promise it yields (an async host call) within the time limit. */
async function drive(gen: Gen<void>, deadline: number, limits: SandboxLimits): Promise<void> {
  let step = gen.next();
  while (!step.done) {
    let value: PyValue = null;
    let failure: unknown;
    let failed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(wallLimitError(limits)), Math.max(0, deadline - now()));
      });
      value = await Promise.race([step.value, timeout]);
      if (now() > deadline) throw wallLimitError(limits);
    } catch (error) {
      failed = true;
      failure = error;
    } finally {
      clearTimeout(timer);
    }
    step = failed ? gen.throw(failure) : gen.next(value);
  }
}
