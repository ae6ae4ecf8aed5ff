/**
 * The tree-walking evaluator. Every evaluation function is a generator so
 * that an asynchronous host call (a PyBuiltin returning a Promise) anywhere in
 * an expression suspends the whole evaluation: the generator yields the
 * Promise and the driver in sandbox.ts resumes it with the settled value.
 * Synchronous calls never yield, so a program without async host calls runs
 * in one synchronous stretch.
 */
import type { Expr, Module, Slice, Statement, Target } from './ast.js';
import { hostError, pyError } from './exceptions.js';
import { PyBuiltin, PyException, PyList, PyTuple, type PyValue } from './host.js';
import { getAttribute, setAttribute } from './builtins.js';
import { binaryOp, compare, inplaceOp, unaryOp } from './operators.js';
import { getItem, getSlice, iterate, setItem, setSlice } from './sequences.js';
import { SandboxBuiltin, checkInt, checkItems, fromHost, truthy, typeName as typeNameOf, type Gen, type Runtime } from './values.js';

/** The names a program sees: its own variables (persisting across runs) over the built-ins. */
export interface Scope {
  globals: Map<string, PyValue>;
  builtins: ReadonlyMap<string, PyValue>;
}

function isPromise(v: unknown): v is Promise<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

/** Calls a callable value: interpreter built-ins run as generators, host functions may return a Promise. */
export function* callValue(rt: Runtime, fn: PyValue, args: PyValue[], kwargs: Map<string, PyValue>): Gen<PyValue> {
  if (fn instanceof SandboxBuiltin) return yield* fn.run(rt, args, kwargs);
  if (fn instanceof PyBuiltin) {
    let result: unknown;
    try {
      result = fn.call(args, kwargs, rt.host);
      if (isPromise(result)) result = yield result as Promise<PyValue>;
    } catch (error) {
      throw hostError(error, fn.name);
    }
    return fromHost(result, fn.name);
  }
  throw pyError('TypeError', `'${typeNameOf(fn)}' object is not callable`);
}

export class Evaluator {
  /** Line of the statement being executed (for error reports). */
  line = 0;

  constructor(
    private readonly rt: Runtime,
    private readonly scope: Scope,
  ) {}

  *module(module: Module): Gen<void> {
    for (const statement of module.body) {
      this.line = statement.line;
      yield* this.statement(statement);
    }
  }

  private *statement(s: Statement): Gen<void> {
    this.rt.charge(1);
    switch (s.kind) {
      case 'expr':
        yield* this.expr(s.value);
        return;
      case 'assign': {
        const value = yield* this.expr(s.value);
        for (const target of s.targets) yield* this.assign(target, value);
        return;
      }
      case 'augassign': {
        const t = s.target;
        if (t.kind === 'name') {
          const current = this.lookup(t.id);
          const value = yield* this.expr(s.value);
          this.scope.globals.set(t.id, inplaceOp(this.rt, s.op, current, value));
        } else if (t.kind === 'attribute') {
          const obj = yield* this.expr(t.value);
          const current = getAttribute(obj, t.attr);
          const value = yield* this.expr(s.value);
          setAttribute(obj, t.attr, inplaceOp(this.rt, s.op, current, value));
        } else {
          const obj = yield* this.expr(t.value);
          if (t.index.kind === 'slice') {
            const [lower, upper, step] = yield* this.sliceParts(t.index);
            const current = getSlice(this.rt, obj, lower, upper, step);
            const value = yield* this.expr(s.value);
            setSlice(this.rt, obj, lower, upper, step, inplaceOp(this.rt, s.op, current, value));
          } else {
            const index = yield* this.expr(t.index);
            const current = getItem(this.rt, obj, index);
            const value = yield* this.expr(s.value);
            setItem(this.rt, obj, index, inplaceOp(this.rt, s.op, current, value));
          }
        }
        return;
      }
    }
  }

  private *assign(target: Target, value: PyValue): Gen<void> {
    switch (target.kind) {
      case 'name':
        this.scope.globals.set(target.id, value);
        return;
      case 'attribute': {
        const obj = yield* this.expr(target.value);
        setAttribute(obj, target.attr, value);
        return;
      }
      case 'subscript': {
        const obj = yield* this.expr(target.value);
        if (target.index.kind === 'slice') {
          const [lower, upper, step] = yield* this.sliceParts(target.index);
          setSlice(this.rt, obj, lower, upper, step, value);
        } else {
          const index = yield* this.expr(target.index);
          setItem(this.rt, obj, index, value);
        }
        return;
      }
      case 'targets': {
        const n = target.elts.length;
        let items: PyValue[];
        if (value instanceof PyList || value instanceof PyTuple) items = value.items.slice();
        else {
          try {
            items = iterate(this.rt, value);
          } catch (error) {
            if (error instanceof PyException && error.pyType === 'TypeError' && error.message.endsWith('is not iterable')) {
              throw pyError('TypeError', `cannot unpack non-iterable ${typeNameOf(value)} object`);
            }
            throw error;
          }
        }
        if (items.length > n) throw pyError('ValueError', `too many values to unpack (expected ${n})`);
        if (items.length < n) throw pyError('ValueError', `not enough values to unpack (expected ${n}, got ${items.length})`);
        for (let i = 0; i < n; i++) yield* this.assign(target.elts[i], items[i]);
        return;
      }
    }
  }

  private lookup(id: string): PyValue {
    const v = this.scope.globals.get(id);
    if (v !== undefined) return v;
    const b = this.scope.builtins.get(id);
    if (b !== undefined) return b;
    throw pyError('NameError', `name '${id}' is not defined`);
  }

  private *sliceParts(s: Slice): Gen<[PyValue, PyValue, PyValue]> {
    const lower = s.lower ? yield* this.expr(s.lower) : null;
    const upper = s.upper ? yield* this.expr(s.upper) : null;
    const step = s.step ? yield* this.expr(s.step) : null;
    return [lower, upper, step];
  }

  *expr(e: Expr): Gen<PyValue> {
    const rt = this.rt;
    rt.charge(1);
    switch (e.kind) {
      case 'constant':
        return typeof e.value === 'bigint' ? checkInt(rt, e.value) : e.value;
      case 'name':
        return this.lookup(e.id);
      case 'tuple':
      case 'list': {
        const items: PyValue[] = [];
        for (const x of e.elts) items.push(yield* this.expr(x));
        return e.kind === 'list' ? new PyList(items) : new PyTuple(items);
      }
      case 'binop': {
        const left = yield* this.expr(e.left);
        const right = yield* this.expr(e.right);
        return binaryOp(rt, e.op, left, right);
      }
      case 'unary': {
        const v = yield* this.expr(e.operand);
        return e.op === 'not' ? !truthy(v) : unaryOp(e.op, v);
      }
      case 'boolop': {
        let v: PyValue = null;
        for (const x of e.values) {
          v = yield* this.expr(x);
          if (e.op === 'and' ? !truthy(v) : truthy(v)) return v;
        }
        return v;
      }
      case 'compare': {
        let left = yield* this.expr(e.left);
        for (let i = 0; i < e.ops.length; i++) {
          const right = yield* this.expr(e.comparators[i]);
          if (!compare(rt, e.ops[i], left, right)) return false;
          left = right;
        }
        return true;
      }
      case 'call': {
        const fn = yield* this.expr(e.func);
        const args: PyValue[] = [];
        for (const a of e.args) args.push(yield* this.expr(a));
        const kwargs = new Map<string, PyValue>();
        for (const k of e.keywords) kwargs.set(k.name, yield* this.expr(k.value));
        checkItems(rt, 'argument list', args.length + kwargs.size);
        return yield* callValue(rt, fn, args, kwargs);
      }
      case 'attribute': {
        const obj = yield* this.expr(e.value);
        return getAttribute(obj, e.attr);
      }
      case 'subscript': {
        const obj = yield* this.expr(e.value);
        if (e.index.kind === 'slice') {
          const [lower, upper, step] = yield* this.sliceParts(e.index);
          return getSlice(rt, obj, lower, upper, step);
        }
        const index = yield* this.expr(e.index);
        return getItem(rt, obj, index);
      }
    }
  }
}
