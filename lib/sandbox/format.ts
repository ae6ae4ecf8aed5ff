/**
 * repr() and str() exactly as CPython 3.11 writes them: floats in their
 * shortest round-trip form with CPython's switch to exponent notation
 * (1e+16, 1e-05), strings quoted and escaped as unicode_repr does, containers
 * with their elements' repr, `[...]` for a list that contains itself.
 */
import { guardHost, pyError } from './exceptions.js';
import { PyBuiltin, PyList, PyTuple, type PyValue } from './host.js';
import { PyRange, SandboxBuiltin, typeName } from './values.js';

/** repr(float) (= str(float)) as CPython: shortest digits, exponent when decpt <= -4 or decpt > 16. */
export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // String(x) gives the shortest digits that round-trip (closest to x on ties), in one of two layouts.
  const js = String(Math.abs(x));
  let digits: string;
  let decpt: number; // value = 0.DIGITS * 10 ** decpt
  const e = js.indexOf('e');
  if (e >= 0) {
    const mantissa = js.slice(0, e);
    digits = mantissa.replace('.', '');
    decpt = Number(js.slice(e + 1)) + 1;
  } else {
    const dot = js.indexOf('.');
    const intPart = dot >= 0 ? js.slice(0, dot) : js;
    const fracPart = dot >= 0 ? js.slice(dot + 1) : '';
    digits = intPart + fracPart;
    decpt = intPart.length;
    const lead = digits.length - digits.replace(/^0+/, '').length;
    digits = digits.slice(lead);
    decpt -= lead;
  }
  digits = digits.replace(/0+$/, '');
  if (decpt <= -4 || decpt > 16) {
    const exp = decpt - 1;
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expText = String(Math.abs(exp)).padStart(2, '0');
    return `${sign}${mant}e${exp < 0 ? '-' : '+'}${expText}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

// Characters CPython's str.isprintable() rejects: categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (space excepted).
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** repr(str): single quotes unless the string has ' and no ", CPython's escapes. */
export function strRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${hex(c, 2)}`;
    else if (c < 0x7f) out += ch;
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) {
      out += c <= 0xff ? `\\x${hex(c, 2)}` : c <= 0xffff ? `\\u${hex(c, 4)}` : `\\U${hex(c, 8)}`;
    } else out += ch;
  }
  return out + quote;
}

/** Budgets for formatting a value: characters (MemoryError past them), depth (RecursionError), steps. */
export interface FormatBudget {
  maxChars: number;
  maxDepth: number;
  /** Called with the number of parts produced, to charge steps. */
  charge?(steps: number): void;
}

const UNBOUNDED: FormatBudget = { maxChars: Infinity, maxDepth: 1000 };

class Formatter {
  private length = 0;
  private readonly active = new Set<PyList | PyTuple>();

  constructor(private readonly budget: FormatBudget) {}

  private add(parts: string[], text: string): void {
    this.length += text.length;
    if (this.length > this.budget.maxChars) {
      throw pyError('MemoryError', `too many items: a repr longer than ${this.budget.maxChars} characters`);
    }
    parts.push(text);
  }

  repr(v: PyValue, parts: string[], depth: number): void {
    if (v instanceof PyList || v instanceof PyTuple) {
      const isList = v instanceof PyList;
      if (this.active.has(v)) return this.add(parts, isList ? '[...]' : '(...)');
      if (depth >= this.budget.maxDepth) {
        throw pyError('RecursionError', 'maximum recursion depth exceeded while getting the repr of an object');
      }
      this.budget.charge?.(v.items.length + 1);
      this.active.add(v);
      this.add(parts, isList ? '[' : '(');
      v.items.forEach((item, i) => {
        if (i > 0) this.add(parts, ', ');
        this.repr(item, parts, depth + 1);
      });
      this.add(parts, isList ? ']' : v.items.length === 1 ? ',)' : ')');
      this.active.delete(v);
      return;
    }
    this.add(parts, scalarRepr(v));
  }
}

function scalarRepr(v: Exclude<PyValue, PyList | PyTuple>): string {
  if (v === null) return 'None';
  switch (typeof v) {
    case 'boolean':
      return v ? 'True' : 'False';
    case 'bigint':
      return v.toString();
    case 'number':
      return floatRepr(v);
    case 'string':
      return strRepr(v);
  }
  if (v instanceof SandboxBuiltin && v.self !== undefined) return `<built-in method ${v.name} of ${typeName(v.self)} object>`;
  if (v instanceof PyBuiltin) return `<built-in function ${v.name}>`;
  if (v instanceof PyRange) return v.repr();
  return guardHost(`${v.pyTypeName}.repr`, () => v.repr());
}

/** repr(v) as CPython writes it. */
export function pyRepr(v: PyValue, budget: FormatBudget = UNBOUNDED): string {
  if (!(v instanceof PyList || v instanceof PyTuple)) return scalarRepr(v);
  const parts: string[] = [];
  new Formatter(budget).repr(v, parts, 0);
  return parts.join('');
}

/** str(v) as CPython writes it (a str is itself, everything else its repr). */
export function pyStr(v: PyValue, budget: FormatBudget = UNBOUNDED): string {
  return typeof v === 'string' ? v : pyRepr(v, budget);
}
