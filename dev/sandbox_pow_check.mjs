// Float ** of the sandbox (lib/sandbox/pow.ts, correctly rounded) and V8's Math.pow against CPython's
// x ** y (the C library's pow) on 20,010 seeded pairs: integer and fractional exponents, small, large,
// tiny and near-one bases, and a few hard cases (exact ties, subnormal and overflowing results).
// Usage: npx tsc -p tsconfig.build.json && node dev/sandbox_pow_check.mjs   (needs python3)
import { spawnSync } from 'node:child_process';
import { floatPow } from '../dist/lib/sandbox/numbers.js';
import { floatRepr } from '../dist/lib/sandbox/format.js';

let state = 12345;
const random = () => {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
};
const pairs = [];
for (let i = 0; i < 20000; i++) {
  const x = [random() * 10, random() * 1e6, random() * 1e-3, Math.floor(random() * 1e6), 1 + random() * 1e-9, random() * 1e200][i % 6];
  const y = [Math.floor(random() * 40) - 20, random() * 10 - 5, [0.5, 1.5, -0.5, 2, -2, 3, 1 / 3, 0.25][Math.floor(random() * 8)], Math.floor(random() * 2000) - 1000, random() * 1e6][i % 5];
  pairs.push([x, y]);
}
pairs.push([134217727, 2], [3.5, -2], [0.14, 1.5], [1e-7, -2], [2, 1023], [2, -1074], [2, -1075], [10, 308], [10, -323], [1.0000001, 1e9]);

const python = spawnSync('python3', ['-c', `
import json, sys
out = []
for x, y in json.load(sys.stdin):
    try:
        out.append(repr(float(x) ** float(y)))
    except Exception as e:
        out.append(type(e).__name__)
print(json.dumps(out))`], { input: JSON.stringify(pairs), encoding: 'utf8' });
const reference = JSON.parse(python.stdout);
const show = (f) => {
  try {
    return floatRepr(f());
  } catch (error) {
    return error.pyType;
  }
};
let sandboxDiffers = 0;
let mathPowDiffers = 0;
pairs.forEach(([x, y], i) => {
  if (show(() => floatPow(x, y)) !== reference[i]) sandboxDiffers++;
  const m = Math.pow(x, y);
  if ((Number.isFinite(m) ? floatRepr(m) : 'OverflowError') !== reference[i]) mathPowDiffers++;
});
console.log(`${pairs.length} pairs: sandbox differs from CPython in ${sandboxDiffers}, Math.pow in ${mathPowDiffers}`);
