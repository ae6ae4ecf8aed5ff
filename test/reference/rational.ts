/**
 * Exact rational arithmetic for group statistics: every float32 value is an
 * integer multiple of 2^-149, so a group's sum and its sum of squared
 * deviations are exact BigInt ratios. Used to rank groups by their exact
 * variance (semantics.md section 3) without any rounding: groups with equal
 * reward multisets have equal keys by construction.
 */

const SCALE_BITS = 149n;

/** The float32 value `x` as the integer x * 2^149 (exact). */
export function scaledInteger(x: number): bigint {
  const f = new Float32Array([x]);
  const bits = new Uint32Array(f.buffer)[0];
  const sign = bits >>> 31 ? -1n : 1n;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) throw new Error(`not finite: ${x}`);
  // value = significand * 2^(e - 150) for normal numbers, mantissa * 2^-149 for subnormals
  const significand = exponent === 0 ? BigInt(mantissa) : BigInt(mantissa | 0x800000);
  const shift = exponent === 0 ? 0n : BigInt(exponent - 1);
  return sign * (significand << shift);
}

/** An exact non-negative rational num / den. */
export interface Rational {
  num: bigint;
  den: bigint;
}

/**
 * The exact unbiased variance of float32 values: (n sum x^2 - (sum x)^2) / (n (n - 1)),
 * in units of 2^-298 (the scale cancels in comparisons); 0 for fewer than two values.
 */
export function exactVariance(values: ArrayLike<number>): Rational {
  const n = BigInt(values.length);
  if (n < 2n) return { num: 0n, den: 1n };
  let s1 = 0n;
  let s2 = 0n;
  for (let i = 0; i < values.length; i++) {
    const k = scaledInteger(values[i]);
    s1 += k;
    s2 += k * k;
  }
  return { num: n * s2 - s1 * s1, den: n * (n - 1n) };
}

/** Compares two rationals: negative when a < b, 0 when equal, positive when a > b. */
export function compareRational(a: Rational, b: Rational): number {
  const left = a.num * b.den;
  const right = b.num * a.den;
  return left < right ? -1 : left > right ? 1 : 0;
}

/** The rational as a float64 (for tolerance checks, not for ranking). */
export function rationalToNumber(r: Rational, unitBits = 2n * SCALE_BITS): number {
  if (r.num === 0n) return 0;
  // Keep 64 significant bits of the quotient, then scale by powers of two.
  const shift = BigInt(Math.max(0, 64 - (r.num.toString(2).length - r.den.toString(2).length)));
  const q = (r.num << shift) / r.den;
  return Number(q) * 2 ** -Number(shift + unitBits);
}
