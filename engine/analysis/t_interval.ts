/**
 * The Student-t interval of a mean across a few independent repeats (seeds):
 * mean +- t_{0.975, n-1} s / sqrt(n), with s the sample standard deviation.
 * Used where a quantity is measured once per seed and the seeds are the only
 * replication (the alignment exponents, per-segment horizon exponents).
 */

/** t_{0.975, df} for df = 1..30 (the usual table, 4 significant digits). */
const T975 = [
  12.706,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042,
];

/**
 * The 0.975 quantile of Student's t with `df` degrees of freedom: the table
 * up to 30, beyond it the Cornish-Fisher expansion around z = 1.95996
 * (t ~ z + (z^3 + z) / (4 df) + (5z^5 + 16z^3 + 3z) / (96 df^2), error < 1e-3).
 *
 * @example
 * ```ts
 * tQuantile975(2); // 4.303
 * ```
 */
export function tQuantile975(df: number): number {
  if (!(df >= 1) || !Number.isInteger(df)) return NaN;
  if (df <= T975.length) return T975[df - 1];
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df);
}

/** A mean across repeats with its 95% interval; lo = hi = NaN with fewer than two finite values. */
export interface MeanInterval {
  mean: number;
  lo: number;
  hi: number;
  /** Finite values used. */
  n: number;
}

/**
 * The mean of the finite `values` and its 95% Student-t interval.
 *
 * @example
 * ```ts
 * meanInterval([0.6, 0.7, 0.8]); // { mean: 0.7, lo: 0.452, hi: 0.948, n: 3 }
 * ```
 */
export function meanInterval(values: number[]): MeanInterval {
  const v = values.filter(Number.isFinite);
  const n = v.length;
  if (!n) return { mean: NaN, lo: NaN, hi: NaN, n };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, lo: NaN, hi: NaN, n };
  const s = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = tQuantile975(n - 1) * s / Math.sqrt(n);
  return { mean, lo: mean - half, hi: mean + half, n };
}
