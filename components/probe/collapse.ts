/**
 * Representational-collapse metrics of a token representation matrix X
 * (T tokens x d features, row-major), float64 (Dong et al. 2021,
 * "Attention is not all you need: pure attention loses rank doubly
 * exponentially with depth"; arXiv 2604.23681; docs/reference.md section 6).
 *
 * - rank-collapse residual ||X - 1 x^T||_F / ||X||_F, x = mean token
 *   (Dong et al. use a composite l1,inf norm; dmodel uses Frobenius);
 * - effective rank exp(-sum_k p_k log p_k), p_k = s_k / sum s (Roy & Vetterli);
 * - stable rank ||X||_F^2 / ||X||_2^2;
 * - mean pairwise cosine of the token vectors;
 * - attention entropy -sum_j A_ij log A_ij, mean over query rows;
 * - numerical rank: singular values above RANK_REL_TOL x the largest (the
 *   activations are float32). A single-head attention layer without skip
 *   computes A X W, so a stack of them keeps rank X_l <= rank X_0; H heads
 *   give sum_h A_h X W_h, rank up to H rank X (arXiv 2604.23681 says no
 *   stack of attention layers leaves the embeddings' span; measured in
 *   tests/studies.test.ts and pipelines/claims/).
 *
 * Singular values come from a one-sided (Hestenes) Jacobi SVD, accurate for
 * small singular values as well as large ones.
 */

/** Any dense numeric array. */
type Arr = ArrayLike<number>;

/**
 * Singular values of a rows x cols row-major matrix, largest first
 * (min(rows, cols) of them), by one-sided Jacobi rotations in float64.
 *
 * @example
 * ```ts
 * singularValues([3, 0, 0, 4], 2, 2); // Float64Array [4, 3]
 * ```
 */
export function singularValues(x: Arr, rows: number, cols: number): Float64Array {
  // Orthogonalize the n columns (length m) of X, or of X^T when it is wide.
  const tall = rows >= cols;
  const n = tall ? cols : rows, m = tall ? rows : cols;
  const v: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const c = new Float64Array(m);
    for (let i = 0; i < m; i++) c[i] = tall ? x[i * cols + j] : x[j * cols + i];
    v.push(c);
  }
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      const a = v[p];
      for (let q = p + 1; q < n; q++) {
        const b = v[q];
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < m; i++) {
          alpha += a[i] * a[i];
          beta += b[i] * b[i];
          gamma += a[i] * b[i];
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        // Rotation that zeroes the (p, q) entry of the Gram matrix.
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (let i = 0; i < m; i++) {
          const ai = a[i], bi = b[i];
          a[i] = c * ai - s * bi;
          b[i] = s * ai + c * bi;
        }
      }
    }
    if (!rotated) break;
  }
  const sv = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += v[j][i] * v[j][i];
    sv[j] = Math.sqrt(s);
  }
  return sv.sort().reverse();
}

/**
 * Rank-collapse residual ||X - 1 x^T||_F / ||X||_F with x the mean token:
 * 0 when every token is the same vector.
 *
 * @example
 * ```ts
 * collapseResidual([1, 2, 1, 2], 2, 2); // 0
 * ```
 */
export function collapseResidual(x: Arr, tokens: number, dim: number): number {
  const mean = new Float64Array(dim);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < dim; j++) mean[j] += x[t * dim + j] / tokens;
  let res = 0, tot = 0;
  for (let t = 0; t < tokens; t++) {
    for (let j = 0; j < dim; j++) {
      const v = x[t * dim + j];
      res += (v - mean[j]) ** 2;
      tot += v * v;
    }
  }
  return tot > 0 ? Math.sqrt(res / tot) : 0;
}

/**
 * Effective rank exp(H(p)), p_k = s_k / sum s: 1 for a rank-one matrix,
 * n for n equal singular values.
 *
 * @example
 * ```ts
 * effectiveRank([1, 1, 1]); // 3
 * ```
 */
export function effectiveRank(sv: Arr): number {
  let sum = 0;
  for (let i = 0; i < sv.length; i++) sum += sv[i];
  if (!(sum > 0)) return 0;
  let h = 0;
  for (let i = 0; i < sv.length; i++) {
    const p = sv[i] / sum;
    if (p > 0) h -= p * Math.log(p);
  }
  return Math.exp(h);
}

/** Stable rank sum s_k^2 / max s_k^2. */
export function stableRank(sv: Arr): number {
  let sq = 0, max = 0;
  for (let i = 0; i < sv.length; i++) {
    sq += sv[i] * sv[i];
    max = Math.max(max, sv[i]);
  }
  return max > 0 ? sq / (max * max) : 0;
}

/** Mean cosine similarity over all pairs of distinct tokens (rows); 1 when collapsed to one direction. */
export function meanTokenCosine(x: Arr, tokens: number, dim: number): number {
  const unit = new Float64Array(tokens * dim);
  for (let t = 0; t < tokens; t++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[t * dim + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) unit[t * dim + j] = x[t * dim + j] * inv;
  }
  if (tokens < 2) return 1;
  // sum_{i<j} u_i.u_j = (||sum u||^2 - sum ||u_i||^2) / 2
  const tot = new Float64Array(dim);
  let self = 0;
  for (let t = 0; t < tokens; t++) {
    for (let j = 0; j < dim; j++) {
      tot[j] += unit[t * dim + j];
      self += unit[t * dim + j] ** 2;
    }
  }
  let s2 = 0;
  for (let j = 0; j < dim; j++) s2 += tot[j] * tot[j];
  return (s2 - self) / (tokens * (tokens - 1));
}

/**
 * Mean entropy (nats) of the rows of a T x T attention matrix (row-major,
 * rows are distributions); a causal row i is at most log(i + 1).
 */
export function attentionEntropy(a: Arr, t: number, offset = 0): number {
  let h = 0;
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < t; j++) {
      const p = a[offset + i * t + j];
      if (p > 0) h -= p * Math.log(p);
    }
  }
  return h / t;
}

/** Relative tolerance of the numerical rank of float32 activations. */
export const RANK_REL_TOL = 1e-4;

/** Number of singular values above RANK_REL_TOL x the largest. */
export function numericalRankRel(sv: Arr, rel = RANK_REL_TOL): number {
  let max = 0, r = 0;
  for (let i = 0; i < sv.length; i++) max = Math.max(max, sv[i]);
  for (let i = 0; i < sv.length; i++) if (sv[i] > rel * max) r++;
  return r;
}

/** All token metrics of one X. */
export interface TokenMetrics {
  residual: number;
  effective_rank: number;
  stable_rank: number;
  cosine: number;
  /** Numerical rank (numericalRankRel). */
  rank: number;
}

/**
 * The collapse metrics of one T x d token matrix.
 *
 * @example
 * ```ts
 * const m = tokenMetrics(x, 64, 32); // {residual, effective_rank, stable_rank, cosine, rank}
 * ```
 */
export function tokenMetrics(x: Arr, tokens: number, dim: number): TokenMetrics {
  const sv = singularValues(x, tokens, dim);
  return {
    residual: collapseResidual(x, tokens, dim),
    effective_rank: effectiveRank(sv),
    stable_rank: stableRank(sv),
    cosine: meanTokenCosine(x, tokens, dim),
    rank: numericalRankRel(sv),
  };
}
