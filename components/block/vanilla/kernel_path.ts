/**
 * The token-by-token kernel of a vanilla stack at init, predicted in the
 * infinite-width limit (He et al. arXiv 2302.10322 section 3; docs/reference.md
 * section 5): with W_q = 0 and orthogonal W_v, W_o, attention layer l maps the
 * kernel K to A_l K A_l^T; the MLP (orthogonal W_1, W_2, TAT leaky ReLU of
 * slope s) maps the normalized kernel entrywise through the C map and keeps
 * each position's second moment q (components/block/vanilla/tat.ts). Starting from
 * Sigma_0 = I (distinct tokens, unit second moment), this is the path the
 * E-SPA targets Sigma_l are compared with (tasks/espa_diagnose.ts).
 */
import { kernelCMap, type Mat, matmul, transpose } from "./espa.ts";

/** The predicted kernel after one layer's attention and after its MLP. */
export interface KernelStep {
  /** A_l K_(l-1) A_l^T. */
  afterAttention: Mat;
  /** The MLP's map of it: sqrt(q_i q_j) C(cos_ij). */
  afterMlp: Mat;
}

/**
 * Propagates Sigma_0 = I through attention matrices A_1..A_L, each followed by
 * an MLP whose leaky ReLU has slope `slope` (slope 1: a linear MLP).
 *
 * @example
 * ```ts
 * const path = kernelPath(spaLayers("espa", 64, 8).map((l) => l.A), 64, tatSlope(8, 0.9));
 * ```
 */
export function kernelPath(attention: Mat[], n: number, slope: number): KernelStep[] {
  let k: Mat = new Float64Array(n * n);
  for (let i = 0; i < n; i++) k[i * n + i] = 1;
  const out: KernelStep[] = [];
  for (const a of attention) {
    const afterAttention = matmul(matmul(a, k, n), transpose(a, n), n);
    const q = Array.from({ length: n }, (_, i) => afterAttention[i * n + i]);
    const cos = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) cos[i * n + j] = afterAttention[i * n + j] / Math.sqrt(q[i] * q[j]);
    }
    const c = kernelCMap(cos, n, slope), afterMlp = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) afterMlp[i * n + j] = Math.sqrt(q[i] * q[j]) * c[i * n + j];
    }
    out.push({ afterAttention, afterMlp });
    k = afterMlp;
  }
  return out;
}

/** Summary of a kernel: mean second moment q (diagonal) and mean cosine over pairs i > j. */
export function kernelStats(k: ArrayLike<number>, n: number): { q: number; cos: number } {
  let q = 0, cos = 0;
  for (let i = 0; i < n; i++) q += k[i * n + i];
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) cos += k[i * n + j] / Math.sqrt(k[i * n + i] * k[j * n + j]);
  }
  return { q: q / n, cos: cos / (n * (n - 1) / 2) };
}
