/**
 * Least squares, the one routine every fit in dmodel uses (optimal-LR
 * parabolas and basins, the scaling fit of eta* against width, the
 * coordinate check's slopes, alignment exponents): weighted least squares
 * of y on [1, X], with X's columns and y centred on their weighted means
 * first so that the normal equations stay well conditioned (or on X alone,
 * `intercept: false`).
 */

/**
 * Gaussian elimination with partial pivoting on an augmented n x (n+1)
 * matrix; all NaN when the matrix is singular (pivot below 1e-12 of its scale).
 */
export function solve(aug: number[][]): number[] {
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

/** A least-squares fit. */
export interface LeastSquares {
  /** [b0, b1, ...] with an intercept, else [b1, ...]. */
  coef: number[];
  /** Covariance of the coefficients, (X'WX)^-1 (exact when the weights are 1 / variance). */
  cov: number[][];
  /** Weighted residual sum of squares. */
  chi2: number;
  /** 1 - chi2 / (weighted total sum of squares); NaN when y is constant. */
  r2: number;
}

/**
 * Weighted least squares (weights w, default 1). With the intercept the
 * slopes solve the centred normal equations
 *   sum w (x_r - mx_r)(x_c - mx_c) b_c = sum w (x_r - mx_r)(y - my),
 * b0 = my - sum b_j mx_j. Null when the design is singular (columns that
 * vary together, or too few points).
 *
 * @example
 * ```ts
 * leastSquares([[6], [7], [8]], [-3, -3.5, -4])!.coef; // [0, -0.5]
 * ```
 */
export function leastSquares(
  x: number[][],
  y: number[],
  w?: number[],
  opts: { intercept?: boolean } = {},
): LeastSquares | null {
  const n = y.length, k = x[0]?.length ?? 0, intercept = opts.intercept ?? true;
  if (n === 0) return null;
  const wt = w ?? y.map(() => 1);
  const W = wt.reduce((a, b) => a + b, 0);
  const my = y.reduce((a, b, i) => a + wt[i] * b, 0) / W;
  const mx = Array.from(
    { length: k },
    (_, j) => intercept ? x.reduce((a, r, i) => a + wt[i] * r[j], 0) / W : 0,
  );
  const m: number[][] = Array.from({ length: k }, () => new Array(k).fill(0));
  const v = new Array(k).fill(0);
  for (let i = 0; i < n; i++) {
    const d = intercept ? x[i].map((u, j) => u - mx[j]) : x[i], dy = intercept ? y[i] - my : y[i];
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) m[r][c] += wt[i] * d[r] * d[c];
      v[r] += wt[i] * d[r] * dy;
    }
  }
  const b = k ? solve(m.map((r, i) => [...r, v[i]])) : [];
  // C = M^-1, column by column (M is symmetric).
  const C = Array.from({ length: k }, (_, j) => solve(m.map((r, i) => [...r, i === j ? 1 : 0])));
  let coef = b, cov = C;
  if (intercept) {
    coef = [my - b.reduce((a, bj, j) => a + bj * mx[j], 0), ...b];
    const cmx = C.map((row) => row.reduce((a, c, l) => a + c * mx[l], 0));
    const var0 = 1 / W + cmx.reduce((a, c, j) => a + c * mx[j], 0);
    cov = [[var0, ...cmx.map((c) => -c)], ...C.map((row, j) => [-cmx[j], ...row])];
  }
  if (coef.some((c) => !Number.isFinite(c))) return null;
  let chi2 = 0, ssTot = 0;
  for (let i = 0; i < n; i++) {
    const fit = (intercept ? coef[0] : 0) +
      x[i].reduce((s, u, j) => s + u * coef[intercept ? j + 1 : j], 0);
    chi2 += wt[i] * (y[i] - fit) ** 2;
    ssTot += wt[i] * (y[i] - my) ** 2;
  }
  return { coef, cov, chi2, r2: ssTot > 1e-18 ? 1 - chi2 / ssTot : NaN };
}

/** The least-squares slope of y on one x; NaN when x does not vary. */
export function lineSlope(x: number[], y: number[]): number {
  return leastSquares(x.map((v) => [v]), y)?.coef[1] ?? NaN;
}
