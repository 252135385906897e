/**
 * The analysis's one least-squares routine: weighted least squares of y on
 * [1, X] with the coefficients' covariance, and the small dense solver it
 * uses. The scaling-law fit (./fit.ts) and the basin parabola (./basin.ts)
 * both call it; the two-sided basin fit solves its 3x3 normal equations in
 * closed form (./basin.ts, atVertex), as it runs ~10^5 times per analysis.
 */

/** Gaussian elimination with partial pivoting on an augmented k x (k+1) matrix; NaN when singular. */
export function solveSmall(aug: number[][]): number[] {
  const n = aug.length;
  const m = aug.map((r) => r.slice());
  let scale = 0;
  for (const r of m) for (let j = 0; j < n; j++) scale = Math.max(scale, Math.abs(r[j]));
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i][k]) > Math.abs(m[p][k])) p = i;
    [m[k], m[p]] = [m[p], m[k]];
    if (!(Math.abs(m[k][k]) > 1e-12 * scale)) return new Array(n).fill(NaN);
    for (let i = k + 1; i < n; i++) {
      const f = m[i][k] / m[k][k];
      for (let j = k; j <= n; j++) m[i][j] -= f * m[k][j];
    }
  }
  const x = new Array(n).fill(0);
  for (let k = n - 1; k >= 0; k--) {
    let s = m[k][n];
    for (let j = k + 1; j < n; j++) s -= m[k][j] * x[j];
    x[k] = s / m[k][k];
  }
  return x;
}

/**
 * Weighted least squares of y on [1, X] (weights w, default 1). Returns the
 * coefficients, their covariance (X'WX)^-1 (exact when the weights are
 * 1 / variance), the weighted chi^2 and R^2; null when the design is
 * singular (axes that vary together).
 *
 * @example
 * ```ts
 * leastSquares([[6], [7], [8]], [-3, -3.5, -4]).coef; // [0, -0.5]
 * ```
 */
export function leastSquares(
  x: number[][],
  y: number[],
  w?: number[],
): { coef: number[]; cov: number[][]; chi2: number; r2: number } | null {
  const k = (x[0]?.length ?? 0) + 1;
  const wt = w ?? y.map(() => 1);
  const m: number[][] = Array.from({ length: k }, () => new Array(k).fill(0));
  const v = new Array(k).fill(0);
  for (let i = 0; i < y.length; i++) {
    const row = [1, ...x[i]];
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) m[r][c] += wt[i] * row[r] * row[c];
      v[r] += wt[i] * row[r] * y[i];
    }
  }
  const coef = solveSmall(m.map((r, i) => [...r, v[i]]));
  if (coef.some((c) => !Number.isFinite(c))) return null;
  const cov = Array.from({ length: k }, (_, j) => solveSmall(m.map((r, i) => [...r, i === j ? 1 : 0])));
  const wsum = wt.reduce((a, b) => a + b, 0);
  const mean = y.reduce((a, b, i) => a + wt[i] * b, 0) / wsum;
  let chi2 = 0, ssTot = 0;
  for (let i = 0; i < y.length; i++) {
    const pred = coef[0] + x[i].reduce((s, v, j) => s + v * coef[j + 1], 0);
    chi2 += wt[i] * (y[i] - pred) ** 2;
    ssTot += wt[i] * (y[i] - mean) ** 2;
  }
  // cov columns were solved as rows of the inverse (symmetric matrix).
  return { coef, cov, chi2, r2: ssTot > 1e-18 ? 1 - chi2 / ssTot : NaN };
}
