/**
 * x ** y for positive finite doubles, correctly rounded, so that it agrees
 * with CPython (which calls the C library's pow; glibc's is correctly rounded
 * in all but extremely rare cases). JavaScript's Math.pow is not: V8 computes
 * integer exponents by repeated squaring and others with fdlibm, both off by
 * an ulp now and then (3.5 ** -2, 0.14 ** 1.5, 1e-7 ** -2).
 *
 * Integer exponents up to 1024 in magnitude are computed exactly with BigInt
 * (x = m * 2**e, so x**n = m**n * 2**(e*n)) and rounded once; the square
 * root is Math.sqrt (IEEE correctly rounded); everything else goes through
 * exp(y * ln x) in 200-bit fixed point, rounded once.
 */

const P = 200n;
const ONE = 1n << P;

function bitLength(v: bigint): number {
  return v.toString(2).length;
}

/** x = mantissa * 2 ** exponent exactly (x finite, > 0). */
function exactFloat(x: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  if (biased === 0) return { mantissa: fraction, exponent: -1074 };
  return { mantissa: fraction | (1n << 52n), exponent: biased - 1075 };
}

/**
 * M * 2 ** E (M > 0) rounded to the nearest double, ties to even. `inexact`: the true value is a
 * little above M * 2 ** E (less than one unit of M's last bit), which breaks ties upwards.
 */
function roundToDouble(M: bigint, E: number, inexact: boolean): number {
  const top = bitLength(M) - 1 + E; // floor(log2(value))
  if (top > 1023) return Infinity;
  const quantum = Math.max(top - 52, -1074); // exponent of the last bit a double keeps here
  const shift = quantum - E;
  if (shift <= 0) return Number(M) * 2 ** E;
  if (shift > bitLength(M) + 1) return 0;
  const big = BigInt(shift);
  let q = M >> big;
  const rest = M - (q << big);
  const half = 1n << (big - 1n);
  if (rest > half || (rest === half && (inexact || (q & 1n) === 1n))) q += 1n;
  return Number(q) * 2 ** quantum;
}

/** x ** n for an integer n, 0 < |n| <= 1024, exactly rounded. */
function powInteger(x: number, n: number): number {
  const { mantissa, exponent } = exactFloat(x);
  if (n > 0) return roundToDouble(mantissa ** BigInt(n), exponent * n, false);
  const k = -n;
  const denominator = mantissa ** BigInt(k);
  const s = bitLength(denominator) + 60;
  const numerator = 1n << BigInt(s);
  const q = numerator / denominator;
  return roundToDouble(q, -s - exponent * k, q * denominator !== numerator);
}

/** atanh(s) for a fixed-point |s| <= 0.18. */
function atanhFixed(s: bigint): bigint {
  if (s < 0n) return -atanhFixed(-s);
  const s2 = (s * s) >> P;
  let term = s;
  let sum = s;
  for (let i = 3n; term !== 0n; i += 2n) {
    term = (term * s2) >> P;
    sum += term / i;
  }
  return sum;
}

const LN2 = 2n * atanhFixed(ONE / 3n);

/** ln(x) in fixed point (x finite, > 0). */
function lnFixed(x: number): bigint {
  const { mantissa, exponent } = exactFloat(x);
  let k = bitLength(mantissa) - 1 + exponent; // x = f * 2**k, f in [1, 2)
  let f = mantissa << BigInt(Number(P) - (bitLength(mantissa) - 1));
  if (f * f > 2n * ONE * ONE) {
    // f in [1/sqrt(2), sqrt(2)) keeps the series short
    k += 1;
    f >>= 1n;
  }
  const s = ((f - ONE) * ONE) / (f + ONE);
  return 2n * atanhFixed(s) + BigInt(k) * LN2;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
}

/** e ** t for a fixed-point t (|t| < 800), rounded once. */
function expToDouble(t: bigint): number {
  const n = floorDiv(t + LN2 / 2n, LN2);
  const r = t - n * LN2; // |r| <= ln(2) / 2
  const SQUARINGS = 10n;
  const small = r >> SQUARINGS;
  let term = ONE;
  let sum = ONE;
  for (let i = 1n; term !== 0n; i++) {
    term = (term * small) / (i * ONE);
    sum += term;
  }
  for (let i = 0n; i < SQUARINGS; i++) sum = (sum * sum) >> P;
  return roundToDouble(sum, Number(n) - Number(P), true);
}

/** x ** y for finite x > 0, x != 1, finite y != 0. */
export function accuratePow(x: number, y: number): number {
  if (y === 0.5) return Math.sqrt(x);
  const estimate = y * Math.log(x);
  if (estimate > 720) return Infinity;
  if (estimate < -760) return 0;
  if (Number.isInteger(y) && Math.abs(y) <= 1024) return powInteger(x, y);
  const { mantissa, exponent } = exactFloat(Math.abs(y));
  let t = lnFixed(x) * mantissa;
  t = exponent >= 0 ? t << BigInt(exponent) : t >> BigInt(-exponent);
  return expToDouble(y < 0 ? -t : t);
}
