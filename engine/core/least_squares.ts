/**
 * Least squares, the one routine every fit in dmodel uses (optimal-LR
 * parabolas, the scaling fit of eta* against width, the coordinate check's
 * slopes, alignment exponents): y on [1, X], with X's columns and y centred
 * first so that the normal equations stay well conditioned.
 */

/**
 * Gaussian elimination with partial pivoting on an augmented n x (n+1)
 * matrix; all NaN when the matrix is singular (pivot below 1e-10 of its scale).
 */
export function solve(aug: number[][]): number[] {
  const n = aug.length;
  const m = aug.map((r) => r.slice());
  const scale = Math.max(...m.flatMap((r) => r.slice(0, n).map(Math.abs)));
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i][k]) > Math.abs(m[p][k])) p = i;
    [m[k], m[p]] = [m[p], m[k]];
    if (!(Math.abs(m[k][k]) > 1e-10 * scale)) return new Array(n).fill(NaN);
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
 * Ordinary least squares of y on [1, X]: slopes from the centred normal
 * equations sum (x_r - mean x_r)(x_c - mean x_c) b_c = sum (x_r - mean x_r)(y - mean y),
 * intercept mean y - sum b_j mean x_j. Returns [b0, b1, ...] and R^2 (NaN
 * when y is constant), or null when the design is singular (columns that
 * vary together, or too few points).
 *
 * @example
 * ```ts
 * leastSquares([[6], [7], [8]], [-3, -3.5, -4]).coef; // [0, -0.5]
 * ```
 */
export function leastSquares(x: number[][], y: number[]): { coef: number[]; r2: number } | null {
  const n = y.length, k = x[0]?.length ?? 0;
  if (n === 0) return null;
  const my = y.reduce((a, b) => a + b, 0) / n;
  const mx = Array.from({ length: k }, (_, j) => x.reduce((a, r) => a + r[j], 0) / n);
  const m: number[][] = Array.from({ length: k }, () => new Array(k + 1).fill(0));
  for (let i = 0; i < n; i++) {
    const d = x[i].map((v, j) => v - mx[j]), dy = y[i] - my;
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) m[r][c] += d[r] * d[c];
      m[r][k] += d[r] * dy;
    }
  }
  const slopes = k ? solve(m) : [];
  const coef = [my - slopes.reduce((a, b, j) => a + b * mx[j], 0), ...slopes];
  if (coef.some((c) => !Number.isFinite(c))) return null;
  let ssRes = 0, ssTot = 0;
  for (let i = 0; i < n; i++) {
    const pred = coef[0] + x[i].reduce((s, v, j) => s + v * coef[j + 1], 0);
    ssRes += (y[i] - pred) ** 2;
    ssTot += (y[i] - my) ** 2;
  }
  return { coef, r2: ssTot > 1e-18 ? 1 - ssRes / ssTot : NaN };
}

/** The least-squares slope of y on one x; NaN when x does not vary. */
export function lineSlope(x: number[], y: number[]): number {
  return leastSquares(x.map((v) => [v]), y)?.coef[1] ?? NaN;
}
