/**
 * Arithmetic with CPython's meaning where JavaScript's differs: floor division
 * and modulo (floor semantics, float_floor_div / float_rem), int / int
 * correctly rounded for any size, ** (float_pow's special cases and errors,
 * negative int exponents give floats), round (half-even, round(x, n) from the
 * exact binary value), int(str) and float(str) parsing.
 */
import { pyError } from './exceptions.js';
import { type PyValue } from './host.js';
import { intLimitError } from './limits.js';
import { strRepr } from './format.js';
import { accuratePow } from './pow.js';
import { checkInt, intToFloat, type Runtime } from './values.js';

const zeroDivision = (message: string) => pyError('ZeroDivisionError', message);

/** Python's a // b on ints (floor). */
export function intFloorDiv(a: bigint, b: bigint): bigint {
  if (b === 0n) throw zeroDivision('integer division or modulo by zero');
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

/** Python's a % b on ints (the sign of b). */
export function intMod(a: bigint, b: bigint): bigint {
  if (b === 0n) throw zeroDivision('integer modulo by zero');
  const r = a % b;
  return r !== 0n && (r < 0n) !== (b < 0n) ? r + b : r;
}

function bitLength(v: bigint): number {
  return v === 0n ? 0 : (v < 0n ? -v : v).toString(2).length;
}

/** int / int, correctly rounded as CPython's long_true_divide (any size, -0.0 kept). */
export function intTrueDiv(a: bigint, b: bigint): number {
  if (b === 0n) throw zeroDivision('division by zero');
  const negative = (a < 0n) !== (b < 0n);
  const x = a < 0n ? -a : a;
  const y = b < 0n ? -b : b;
  if (x === 0n) return negative ? -0 : 0;
  const limit = 1n << 53n;
  let result: number;
  if (x <= limit && y <= limit) {
    result = Number(x) / Number(y);
  } else {
    // Scale so that the quotient has at least 55 bits, keep a sticky bit for the remainder, let Number() round once.
    const shift = bitLength(x) - bitLength(y) - 56;
    let num = x;
    let den = y;
    if (shift > 0) den <<= BigInt(shift);
    else num <<= BigInt(-shift);
    let q = num / den;
    if (num % den !== 0n) q |= 1n;
    // Two scalings so that a subnormal result is not flushed to zero by 2 ** shift alone.
    const half = Math.trunc(shift / 2);
    result = Number(q) * 2 ** half * 2 ** (shift - half);
    if (!Number.isFinite(result)) throw pyError('OverflowError', 'integer division result too large for a float');
  }
  return negative ? -result : result;
}

/** Python's float // float (float_floor_div via float_divmod). */
export function floatFloorDiv(vx: number, wx: number): number {
  if (wx === 0) throw zeroDivision('float floor division by zero');
  return floatDivmod(vx, wx)[0];
}

/** Python's float % float (float_rem). */
export function floatMod(vx: number, wx: number): number {
  if (wx === 0) throw zeroDivision('float modulo');
  let mod = vx % wx;
  if (mod !== 0) {
    if ((wx < 0) !== (mod < 0)) mod += wx;
  } else {
    mod = wx < 0 ? -0 : 0;
  }
  return mod;
}

function floatDivmod(vx: number, wx: number): [number, number] {
  let mod = vx % wx;
  let div = (vx - mod) / wx;
  if (mod !== 0) {
    if ((wx < 0) !== (mod < 0)) {
      mod += wx;
      div -= 1;
    }
  } else {
    mod = wx < 0 ? -0 : 0;
  }
  let floordiv: number;
  if (div !== 0) {
    floordiv = Math.floor(div);
    if (div - floordiv > 0.5) floordiv += 1;
  } else {
    floordiv = (vx / wx < 0 || Object.is(vx / wx, -0)) ? -0 : 0;
  }
  return [floordiv, mod];
}

function isOddInteger(x: number): boolean {
  return Number.isFinite(x) && Math.abs(x % 2) === 1;
}

/** Python's float ** float (float_pow). */
export function floatPow(iv: number, iw: number): number {
  if (iw === 0) return 1;
  if (Number.isNaN(iv)) return iv;
  if (Number.isNaN(iw)) return iv === 1 ? 1 : iw;
  if (!Number.isFinite(iw)) {
    const a = Math.abs(iv);
    if (a === 1) return 1;
    return (iw > 0) === (a > 1) ? Math.abs(iw) : 0;
  }
  if (!Number.isFinite(iv)) {
    const odd = isOddInteger(iw);
    if (iw > 0) return odd ? iv : Math.abs(iv);
    return odd ? (iv < 0 ? -0 : 0) : 0;
  }
  if (iv === 0) {
    if (iw < 0) throw zeroDivision('0.0 cannot be raised to a negative power');
    return isOddInteger(iw) ? iv : 0;
  }
  let negate = false;
  if (iv < 0) {
    if (iw !== Math.floor(iw)) {
      throw pyError('ValueError', 'negative number raised to a fractional power gives a complex number (complex numbers are not supported in the sandbox)');
    }
    iv = -iv;
    negate = isOddInteger(iw);
  }
  if (iv === 1) return negate ? -1 : 1;
  let ix = accuratePow(iv, iw);
  if (negate) ix = -ix;
  if (!Number.isFinite(ix)) throw pyError('OverflowError', "(34, 'Numerical result out of range')");
  return ix;
}

/** Python's int ** int (a float for negative exponents, as CPython). */
export function intPow(rt: Runtime, base: bigint, exp: bigint): PyValue {
  if (exp < 0n) return floatPow(intToFloat(base), intToFloat(exp));
  if (base === 0n || base === 1n) return exp === 0n ? 1n : base;
  if (base === -1n) return exp % 2n === 0n ? 1n : -1n;
  // |base| >= 2: the result has at least (bits(base) - 1) * exp bits; refuse before computing what cannot fit.
  const boundBits = bitLength(rt.intBound);
  if (exp > BigInt(boundBits) || (bitLength(base) - 1) * Number(exp) > boundBits) throw intLimitError(rt.limits);
  return checkInt(rt, base ** exp);
}

/** round(x) for a float: half-even to an int (CPython's float.__round__ without ndigits). */
export function roundFloatToInt(rt: Runtime, x: number): bigint {
  if (Number.isNaN(x)) throw pyError('ValueError', 'cannot convert float NaN to integer');
  if (!Number.isFinite(x)) throw pyError('OverflowError', 'cannot convert float infinity to integer');
  let r = Math.round(x); // half up
  if (Math.abs(x - Math.trunc(x)) === 0.5) r = 2 * Math.round(x / 2);
  return checkInt(rt, BigInt(r));
}

/** The exact value of a finite float as mantissa * 2 ** exponent. */
function exactFloat(x: number): { mantissa: bigint; exponent: number } {
  const buffer = new DataView(new ArrayBuffer(8));
  buffer.setFloat64(0, x);
  const bits = buffer.getBigUint64(0);
  const sign = bits >> 63n ? -1n : 1n;
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  if (biased === 0) return { mantissa: sign * fraction, exponent: -1074 };
  return { mantissa: sign * (fraction | (1n << 52n)), exponent: biased - 1075 };
}

/** Half-even division of integers n / d (d > 0). */
function divRoundHalfEven(n: bigint, d: bigint): bigint {
  let q = n / d;
  let r = n % d;
  if (r < 0n) {
    q -= 1n;
    r += d;
  }
  const twice = 2n * r;
  if (twice > d || (twice === d && q % 2n !== 0n)) q += 1n;
  return q;
}

/** round(x, ndigits) for a float: CPython's double_round (the exact value rounded half-even, then read back). */
export function roundFloat(x: number, ndigits: bigint): number {
  if (!Number.isFinite(x) || x === 0) return x;
  if (ndigits > 323n) return x;
  if (ndigits < -308n) return 0 * x;
  const n = Number(ndigits);
  const { mantissa, exponent } = exactFloat(x);
  let q: bigint;
  if (n >= 0) {
    // x * 10**n = mantissa * 10**n * 2**exponent
    const num = mantissa * 10n ** BigInt(n);
    q = exponent >= 0 ? num << BigInt(exponent) : divRoundHalfEven(num, 1n << BigInt(-exponent));
  } else {
    const den = 10n ** BigInt(-n);
    q = exponent >= 0 ? divRoundHalfEven(mantissa << BigInt(exponent), den) : divRoundHalfEven(mantissa, den << BigInt(-exponent));
  }
  const sign = x < 0 ? '-' : '';
  const magnitude = q < 0n ? -q : q;
  const rounded = Number(`${sign}${magnitude}e${-n}`);
  if (!Number.isFinite(rounded)) throw pyError('OverflowError', 'rounded value too large to represent');
  return rounded;
}

/** round(i, ndigits) for an int: unchanged for ndigits >= 0, else half-even to a multiple of 10 ** -ndigits. */
export function roundInt(rt: Runtime, v: bigint, ndigits: bigint): bigint {
  if (ndigits >= 0n) return v;
  if (-ndigits > BigInt(rt.limits.maxIntDigits + 1)) return 0n;
  const unit = 10n ** -ndigits;
  return checkInt(rt, divRoundHalfEven(v, unit) * unit);
}

/** int(s, base) as CPython parses it (white space, sign, underscores between digits, 0x/0o/0b with base 0 or that base). */
export function parseIntLiteral(rt: Runtime, text: string, base: number): bigint {
  const invalid = () => pyError('ValueError', `invalid literal for int() with base ${base}: ${strRepr(text)}`);
  let s = text.trim();
  let negative = false;
  if (s[0] === '+' || s[0] === '-') {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  let b = base;
  const prefix = s.slice(0, 2).toLowerCase();
  const prefixBase = prefix === '0x' ? 16 : prefix === '0o' ? 8 : prefix === '0b' ? 2 : 0;
  if (b === 0) {
    if (prefixBase) {
      b = prefixBase;
      s = s.slice(2);
      if (s.startsWith('_')) s = s.slice(1);
    } else {
      b = 10;
      if (/^0+(_?0)*$/.test(s)) return 0n;
      if (s.startsWith('0')) throw invalid();
    }
  } else if (prefixBase === b) {
    s = s.slice(2);
    if (s.startsWith('_')) s = s.slice(1);
  }
  if (s.length === 0 || s.startsWith('_') || s.endsWith('_') || s.includes('__')) throw invalid();
  const body = s.replace(/_/g, '').toLowerCase();
  let value = 0n;
  const big = BigInt(b);
  if (body.length > rt.limits.maxIntDigits * 4 + 8) throw intLimitError(rt.limits);
  for (const ch of body) {
    const d = ch >= '0' && ch <= '9' ? ch.charCodeAt(0) - 48 : ch >= 'a' && ch <= 'z' ? ch.charCodeAt(0) - 87 : 99;
    if (d >= b) throw invalid();
    value = value * big + BigInt(d);
  }
  return checkInt(rt, negative ? -value : value);
}

/** float(s) as CPython parses it: decimal literals with underscores between digits, inf, infinity, nan. */
export function parseFloatLiteral(text: string): number {
  const s = text.trim();
  const m = /^([+-]?)(?:(inf|infinity|nan)|((?:\d(?:_?\d)*)?(?:\.(?:\d(?:_?\d)*)?)?(?:[eE][+-]?\d(?:_?\d)*)?))$/i.exec(s);
  const body = m?.[3];
  const ok = m !== null && (m[2] !== undefined || (body !== undefined && /\d/.test(body.replace(/[eE].*$/, ''))));
  if (!ok) throw pyError('ValueError', `could not convert string to float: ${strRepr(text)}`);
  const sign = m![1] === '-' ? -1 : 1;
  if (m![2] !== undefined) return m![2].toLowerCase() === 'nan' ? NaN : sign * Infinity;
  return sign * Number(body!.replace(/_/g, ''));
}
