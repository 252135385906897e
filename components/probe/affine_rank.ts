/**
 * Rank of a token set and what normalization does to it (arXiv 2604.23681,
 * "layer normalisation is precisely affine-rank-neutral"; docs/reference.md
 * section 6). A token set is a T x d row-major float64 matrix X, one token
 * per row.
 *
 * - linear rank: rank X;
 * - affine rank: the dimension of the affine hull of the tokens,
 *   rank (X - 1 x^T), x the mean token (0 when every token is the same).
 *
 * LayerNorm of a token: LN(x) = g . (x - mean(x) 1) / sigma(x) + b, that is
 * the centering projection P = I - 1 1^T / d, a positive per-token scale
 * 1 / sigma(x), the gain and the bias. RMSNorm: x g / rms(x), no centering.
 * What holds exactly (the gain has no zero entry):
 *
 * - rank LN(X) = rank (P X) = rank X - dim(rowspace X ∩ span 1) when b = 0
 *   (per-token scales do not change rank); rank RMSNorm(X) = rank X;
 * - the affine rank of any set is its linear rank or one less, so
 *   rank (P X) - 1 <= affine rank LN(X) <= rank (P X).
 *
 * The affine rank itself is not invariant: the per-token scale bends a line
 * of tokens with different spreads into a plane (affine rank 1 -> 2), and
 * the centering removes the direction 1, so T >= d generic tokens (affine
 * rank d) come out of LN with affine rank d - 1 (tests/affine_rank.test.ts).
 * Singular values: collapse.ts's one-sided Jacobi SVD.
 */
import { singularValues } from "./collapse.ts";
import { normals } from "../../engine/nn/init.ts";

/** Any dense numeric array. */
type Arr = ArrayLike<number>;

/** Default relative tolerance: singular values below rtol x the largest input scale count as zero. */
export const RANK_RTOL = 1e-9;

/**
 * Number of singular values above `tol` (absolute).
 *
 * @example
 * ```ts
 * numericalRank([3, 1e-14, 0], 1e-9); // 1
 * ```
 */
export function numericalRank(sv: Arr, tol: number): number {
  let r = 0;
  for (let i = 0; i < sv.length; i++) if (sv[i] > tol) r++;
  return r;
}

/** Largest absolute entry (the scale the tolerances are relative to). */
function maxAbs(x: Arr): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/**
 * Linear rank of a rows x cols matrix: singular values above
 * rtol x max|x_ij| x sqrt(rows cols).
 *
 * @example
 * ```ts
 * linearRank([1, 2, 2, 4], 2, 2); // 1
 * ```
 */
export function linearRank(x: Arr, rows: number, cols: number, rtol = RANK_RTOL): number {
  const tol = rtol * maxAbs(x) * Math.sqrt(rows * cols);
  return numericalRank(singularValues(x, rows, cols), tol);
}

/**
 * Affine rank of a token set (T x d): rank of the tokens minus their mean,
 * with the tolerance relative to the tokens themselves (so a collapsed set,
 * every token the same, has affine rank 0).
 *
 * @example
 * ```ts
 * affineRank([1, 0, 2, 0, 3, 0], 3, 2); // 1: three points on a line
 * ```
 */
export function affineRank(x: Arr, tokens: number, dim: number, rtol = RANK_RTOL): number {
  const c = centerTokens(x, tokens, dim);
  const tol = rtol * maxAbs(x) * Math.sqrt(tokens * dim);
  return numericalRank(singularValues(c, tokens, dim), tol);
}

/** X - 1 x^T, x the mean token. */
export function centerTokens(x: Arr, tokens: number, dim: number): Float64Array {
  const mean = new Float64Array(dim);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < dim; j++) mean[j] += x[t * dim + j] / tokens;
  const c = new Float64Array(tokens * dim);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < dim; j++) c[t * dim + j] = x[t * dim + j] - mean[j];
  return c;
}

/** Gain, bias and epsilon of a normalization (defaults: g = 1, b = 0, eps = 0). */
export interface NormOptions {
  gain?: Arr;
  bias?: Arr;
  eps?: number;
}

/**
 * LayerNorm of every token (row): g . (x - mean(x)) / sqrt(var(x) + eps) + b,
 * mean and variance over the d features of that token.
 *
 * @example
 * ```ts
 * layerNorm([1, 3], 1, 2); // Float64Array [-1, 1]
 * ```
 */
export function layerNorm(x: Arr, tokens: number, dim: number, o: NormOptions = {}): Float64Array {
  const y = new Float64Array(tokens * dim), eps = o.eps ?? 0;
  for (let t = 0; t < tokens; t++) {
    let mean = 0, v = 0;
    for (let j = 0; j < dim; j++) mean += x[t * dim + j] / dim;
    for (let j = 0; j < dim; j++) v += (x[t * dim + j] - mean) ** 2 / dim;
    const inv = 1 / Math.sqrt(v + eps);
    for (let j = 0; j < dim; j++) {
      y[t * dim + j] = (o.gain?.[j] ?? 1) * (x[t * dim + j] - mean) * inv + (o.bias?.[j] ?? 0);
    }
  }
  return y;
}

/**
 * RMSNorm of every token (row): g . x / sqrt(mean(x^2) + eps) (+ b), no centering.
 *
 * @example
 * ```ts
 * rmsNormTokens([3, 4], 1, 2); // Float64Array [0.8485, 1.1314]
 * ```
 */
export function rmsNormTokens(x: Arr, tokens: number, dim: number, o: NormOptions = {}): Float64Array {
  const y = new Float64Array(tokens * dim), eps = o.eps ?? 0;
  for (let t = 0; t < tokens; t++) {
    let ms = 0;
    for (let j = 0; j < dim; j++) ms += x[t * dim + j] ** 2 / dim;
    const inv = 1 / Math.sqrt(ms + eps);
    for (let j = 0; j < dim; j++) {
      y[t * dim + j] = (o.gain?.[j] ?? 1) * x[t * dim + j] * inv + (o.bias?.[j] ?? 0);
    }
  }
  return y;
}

/**
 * T tokens x_t = p + sum_k c_tk b_k on the affine flat through p spanned by
 * the k rows of `basis` (k x d), with seeded normal coefficients c: a token
 * set of affine rank k (in general position), the adversarial sets of the
 * LayerNorm property (tests/affine_rank.test.ts, docs/reproductions.md).
 *
 * @example
 * ```ts
 * affineRank(flatTokens(5, 2, [1, 0], 1, [0, 3], 7), 5, 2); // 1: five points on the line y = 3
 * ```
 */
export function flatTokens(
  T: number,
  d: number,
  basis: ArrayLike<number>,
  k: number,
  p: ArrayLike<number>,
  seed: number,
): Float64Array {
  const c = normals(T * k, seed), x = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < d; j++) {
      let s = p[j];
      for (let i = 0; i < k; i++) s += c[t * k + i] * basis[i * d + j];
      x[t * d + j] = s;
    }
  }
  return x;
}
