/**
 * Signal-preserving attention for vanilla transformers (He et al., "Deep
 * Transformers without Shortcuts", arXiv 2302.10322; docs/reference.md section 5).
 *
 * Without skips or norms, the token-by-token kernel Sigma (T x T, the
 * normalized Gram matrix of the token representations) must evolve through
 * the depth along a chosen schedule Sigma_0 = I, Sigma_1, ..., Sigma_L instead
 * of collapsing to the all-ones matrix. At initialization (W_q = 0, orthogonal
 * values) attention layer l maps Sigma_(l-1) to A_l Sigma_(l-1) A_l^T, so
 * choosing A_l = L_l L_(l-1)^-1 with L_l = chol(Sigma_l) gives exactly Sigma_l.
 *
 * - E-SPA: Sigma_l[i,j] = exp(-gamma_l |i-j|), gamma_l = -1/2 log(1 - a^(2l/L)),
 *   a chosen so gamma_L = 0.005 (gamma_0 = +inf: Sigma_0 = I).
 * - U-SPA (dmodel's reading): Sigma_l = (1 - rho_l) I + rho_l 1 1^T with
 *   1 - rho_l = (1 - rho_L)^(l/L), rho_0 = 0, rho_L = 0.8 by default.
 *
 * A_l is lower triangular (causal) and non-negative; it is realized inside a
 * softmax as A_l = D P: D = diag(row sums), P = D^-1 A_l row-stochastic, fixed
 * bias B = log P (-1e9 where P = 0 or above the diagonal) and the attention
 * output rescaled row-wise by D. All math here is float64.
 *
 * MLP-aware schedule (option `mlpSlope`, dmodel's): in a vanilla block the
 * MLP after attention l - 1 maps the kernel entrywise through its C map, so
 * attention l receives C(Sigma_(l-1)), not Sigma_(l-1). Choosing
 * A_l = L_l chol(C(Sigma_(l-1)))^-1 gives Sigma_l after every attention layer
 * again; such an A_l has negative entries, realized as A_l = D P - N with a
 * fixed non-negative N (N = 0 without `mlpSlope`).
 */
import { MASKED } from "../../../engine/kernels/kernel_tasks.ts";
import { DmodelError } from "../../../engine/core/errors.ts";
import { leakyReluCMap } from "./tat.ts";

/** A dense row-major n x n float64 matrix. */
export type Mat = Float64Array;

/**
 * E-SPA kernel: Sigma[i,j] = exp(-gamma |i-j|); gamma = Infinity gives I.
 *
 * @example
 * ```ts
 * const s = expKernel(4, 0.1); // s[1] = exp(-0.1)
 * ```
 */
export function expKernel(n: number, gamma: number): Mat {
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      s[i * n + j] = i === j ? 1 : Number.isFinite(gamma) ? Math.exp(-gamma * Math.abs(i - j)) : 0;
    }
  }
  return s;
}

/**
 * U-SPA kernel: (1 - rho) I + rho 1 1^T (every pair of positions equally correlated).
 *
 * @example
 * ```ts
 * const s = uniformKernel(3, 0.5); // diagonal 1, off-diagonal 0.5
 * ```
 */
export function uniformKernel(n: number, rho: number): Mat {
  const s = new Float64Array(n * n).fill(rho);
  for (let i = 0; i < n; i++) s[i * n + i] = 1;
  return s;
}

/**
 * Cholesky factor L (lower triangular, positive diagonal) of a symmetric
 * positive-definite matrix: S = L L^T. Throws when S is not positive definite.
 *
 * @example
 * ```ts
 * const l = cholesky(expKernel(8, 0.1), 8);
 * ```
 */
export function cholesky(s: Mat, n: number): Mat {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = s[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0)) throw new DmodelError(`cholesky: matrix is not positive definite (pivot ${j} is ${d})`);
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let v = s[i * n + j];
      for (let k = 0; k < j; k++) v -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = v / ljj;
    }
  }
  return l;
}

/**
 * X = A B^-1 for lower-triangular B (solves X B = A row by row, back to front).
 *
 * @example
 * ```ts
 * const x = rightDivideLower(lNew, lOld, n); // A_l = L_l L_(l-1)^-1
 * ```
 */
export function rightDivideLower(a: Mat, b: Mat, n: number): Mat {
  const x = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    // Row r of X: x B = a_r; B lower triangular, so solve for j = n-1 .. 0.
    for (let j = n - 1; j >= 0; j--) {
      let v = a[r * n + j];
      for (let k = j + 1; k < n; k++) v -= x[r * n + k] * b[k * n + j];
      x[r * n + j] = v / b[j * n + j];
    }
  }
  return x;
}

/** C = A B for n x n matrices. */
export function matmul(a: Mat, b: Mat, n: number): Mat {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  }
  return c;
}

/** A^T. */
export function transpose(a: Mat, n: number): Mat {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
  return t;
}

/**
 * The MLP's kernel map on a unit-diagonal kernel: C(Sigma) entrywise, C the
 * normalized leaky ReLU's C map of slope `slope` (components/block/vanilla/tat.ts).
 *
 * @example
 * ```ts
 * const k = kernelCMap(expKernel(8, 0.1), 8, -0.219); // off-diagonals move towards 1
 * ```
 */
export function kernelCMap(s: Mat, n: number, slope: number): Mat {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) out[i] = leakyReluCMap(s[i], slope);
  return out;
}

/**
 * The E-SPA decay schedule gamma_0..gamma_L: gamma_l = -1/2 log(1 - a^(2l/L))
 * with a^2 = 1 - exp(-2 gamma_L), so gamma_L equals `gammaFinal` (0.005) and
 * gamma_0 = +inf (Sigma_0 = I). Decreasing in l.
 *
 * @example
 * ```ts
 * const g = espaGammas(8); // g[0] = Infinity, g[8] = 0.005
 * ```
 */
export function espaGammas(depth: number, gammaFinal = 0.005): number[] {
  if (!(depth >= 1)) throw new DmodelError(`espaGammas: depth must be >= 1, got ${depth}`);
  if (!(gammaFinal > 0)) throw new DmodelError(`espaGammas: gamma_L must be > 0, got ${gammaFinal}`);
  const a2 = -Math.expm1(-2 * gammaFinal); // a^2 = 1 - exp(-2 gamma_L)
  const out: number[] = [];
  for (let l = 0; l <= depth; l++) {
    out.push(l === 0 ? Infinity : -0.5 * Math.log1p(-Math.pow(a2, l / depth)));
  }
  out[depth] = gammaFinal; // exact at the end, free of rounding
  return out;
}

/**
 * The U-SPA correlation schedule rho_0..rho_L: 1 - rho_l = (1 - rho_L)^(l/L)
 * (dmodel's choice, the uniform analogue of the E-SPA geometric schedule).
 */
export function uspaRhos(depth: number, rhoFinal = 0.8): number[] {
  if (!(rhoFinal >= 0 && rhoFinal < 1)) {
    throw new DmodelError(`uspaRhos: rho_L must be in [0, 1), got ${rhoFinal}`);
  }
  const out: number[] = [];
  for (let l = 0; l <= depth; l++) out.push(1 - Math.pow(1 - rhoFinal, l / depth));
  return out;
}

/** The attention matrix of one layer and its softmax decomposition A = D P. */
export interface SpaLayer {
  /** A_l = L_l L_(l-1)^-1, lower triangular, n x n row-major. */
  A: Mat;
  /** Row sums of A (the location-dependent rescaling D). */
  D: Float64Array;
  /** P = D^-1 A (rows sum to 1). */
  P: Mat;
  /** B = log P; MASKED where P = 0 (including above the diagonal). */
  B: Mat;
  /** The negative part N >= 0 of A (A = D P - N); all zero unless the schedule is MLP-aware. */
  N: Mat;
}

/**
 * A = D P - N with D the row sums of the positive part, B = log P with MASKED
 * where P = 0. Unsigned (the default): entries below -1e-12 (relative to the
 * row's largest) are an error, smaller negatives from rounding are set to 0
 * and N = 0; signed: the negative entries go to N.
 */
export function decompose(a: Mat, n: number, signed = false): SpaLayer {
  const A = Float64Array.from(a), N = new Float64Array(n * n);
  const D = new Float64Array(n), P = new Float64Array(n * n), B = new Float64Array(n * n).fill(MASKED);
  for (let i = 0; i < n; i++) {
    let max = 0;
    for (let j = 0; j < n; j++) max = Math.max(max, Math.abs(A[i * n + j]));
    for (let j = 0; j < n; j++) {
      const v = A[i * n + j];
      if (v < 0 && signed) {
        N[i * n + j] = -v;
        A[i * n + j] = 0;
      } else if (v < 0) {
        if (v < -1e-12 * Math.max(1, max)) {
          throw new DmodelError(
            `signal-preserving attention: A[${i},${j}] = ${v} is negative (schedule not monotone?)`,
          );
        }
        A[i * n + j] = 0;
      }
    }
    let s = 0;
    for (let j = 0; j < n; j++) s += A[i * n + j];
    D[i] = s;
    for (let j = 0; j < n; j++) {
      const p = A[i * n + j] / s;
      P[i * n + j] = p;
      if (p > 0) B[i * n + j] = Math.log(p);
    }
  }
  for (let i = 0; i < n * n; i++) A[i] -= N[i];
  return { A, D, P, B, N };
}

/** Which signal-preserving attention. */
export type SpaKind = "espa" | "uspa";

/** Options of {@link spaLayers}. */
export interface SpaOptions {
  /** E-SPA: gamma_L (default 0.005). */
  gammaFinal?: number;
  /** U-SPA: rho_L (default 0.8). */
  rhoFinal?: number;
  /**
   * Slope of the TAT leaky ReLU of the MLP after each attention layer: when
   * given, attention l maps C(Sigma_(l-1)) (the MLP's output kernel) to Sigma_l.
   */
  mlpSlope?: number;
}

/** The kernels Sigma_0..Sigma_L of a schedule. */
export function spaKernels(kind: SpaKind, n: number, depth: number, opts: SpaOptions = {}): Mat[] {
  if (kind === "espa") return espaGammas(depth, opts.gammaFinal).map((g) => expKernel(n, g));
  return uspaRhos(depth, opts.rhoFinal).map((r) => uniformKernel(n, r));
}

/**
 * The attention matrices of layers 1..L (index 0 = layer 1), each decomposed
 * as A_l = D_l P_l, for sequence length n.
 *
 * @example
 * ```ts
 * const layers = spaLayers("espa", 64, 8); // layers[l].B is the fixed softmax bias of layer l+1
 * ```
 */
export function spaLayers(kind: SpaKind, n: number, depth: number, opts: SpaOptions = {}): SpaLayer[] {
  const sig = spaKernels(kind, n, depth, opts);
  const chol = sig.map((s) => cholesky(s, n));
  const slope = opts.mlpSlope;
  const out: SpaLayer[] = [];
  for (let l = 1; l <= depth; l++) {
    // layer 1 reads the embeddings (Sigma_0 = I); later layers read the previous MLP's output kernel
    const input = slope === undefined || l === 1
      ? chol[l - 1]
      : cholesky(kernelCMap(sig[l - 1], n, slope), n);
    out.push(decompose(rightDivideLower(chol[l], input, n), n, slope !== undefined));
  }
  return out;
}
