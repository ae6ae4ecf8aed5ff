/**
 * How values look to code outside the interpreter (worlds injecting
 * image_clue_0, video_clue_0, show, select_frames...). The interpreter itself
 * may use richer internals, but every value a host function receives or
 * returns is one of these:
 *
 *   None -> null          bool -> boolean        int -> bigint (bounded, see limits)
 *   float -> number       str -> string          list -> PyList     tuple -> PyTuple
 *   a host object -> PyHostObject                a function -> PyBuiltin
 */
import type { RgbImage } from '../util/rgb.js';

export type PyValue = null | boolean | bigint | number | string | PyList | PyTuple | PyHostObject | PyBuiltin;

/** A Python list (mutable). */
export class PyList {
  constructor(public items: PyValue[]) {}
}

/** A Python tuple (immutable). */
export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** Raised by host code to surface a Python exception (class name as CPython spells it). */
export class PyException extends Error {
  constructor(readonly pyType: string, message: string) {
    super(message);
    this.name = pyType;
  }
}

/** What a host function may ask of the running interpreter. */
export interface HostContext {
  /** Shows an image: it becomes an image observation (and, in world sandboxes, image_clue_k). */
  show(image: RgbImage): void;
  /** Charges `steps` executed steps against the step limit (for host work proportional to its input). */
  charge(steps: number): void;
  /**
   * Checks an image size against the sandbox's pixel limit before a host creates it (a crop, a resize, a
   * frame): throws the PyException (MemoryError "image too large", ValueError for non-positive sizes).
   * PythonSandbox always provides it (optional only so that test doubles of this interface need not).
   */
  checkPixels?(width: number, height: number): void;
}

/** A built-in function; may be async (the interpreter awaits it wherever the call stands). */
export class PyBuiltin {
  constructor(
    readonly name: string,
    readonly call: (args: PyValue[], kwargs: ReadonlyMap<string, PyValue>, ctx: HostContext) => PyValue | Promise<PyValue>,
  ) {}
}

/** An object provided by the host (an image, a video). */
export interface PyHostObject {
  /** type(x).__name__ as Python shows it, e.g. 'Image'. */
  readonly pyTypeName: string;
  /** Attribute lookup (methods are PyBuiltin values bound to this object); undefined: AttributeError. */
  getAttr(name: string): PyValue | undefined;
  /** len(x); undefined: TypeError "object of type ... has no len()". */
  len?(): number;
  /** x[i]; undefined: TypeError not subscriptable. */
  getItem?(index: PyValue): PyValue;
  /** The image to show when show(x) is called with this object; undefined: not showable. */
  asImage?(): RgbImage;
  /** repr(x) / str(x). */
  repr(): string;
}

export function isHostObject(v: PyValue): v is PyHostObject {
  return typeof v === 'object' && v !== null && !(v instanceof PyList) && !(v instanceof PyTuple) && !(v instanceof PyBuiltin);
}
