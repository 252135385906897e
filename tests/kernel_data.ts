/** Deterministic test data and the error measure shared by the kernel tests. */
import assert from "node:assert/strict";

/** Deterministic uniform(-1, 1) floats (LCG), so failures reproduce. */
export function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** max |x - y| / max(|y|, 1e-30): relative error against a reference (same lengths). */
export function relErr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  assert.equal(x.length, y.length);
  let num = 0, den = 1e-30;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i] - y[i]));
    den = Math.max(den, Math.abs(y[i]));
  }
  return num / den;
}
