/**
 * Head-channel non-identifiability (arXiv 2604.23681; docs/reference.md section
 * 6), measured: the attention output of one layer is
 *
 *   Z = concat_h(g_h . Y_h) W_o^T = sum_h (g_h . Y_h) W_o^(h)T,
 *
 * Y_h [n, d_k] the per-head outputs of n tokens, W_o [d, H d_k] (stored
 * (out, in)), W_o^(h) its d_k columns of head h, g_h [n] the PG-OP gates
 * (components/block/pgop.ts; 1 without PG-OP). For fixed gates Z is linear in
 * Y = (Y_1..Y_H), so the set of per-head outputs that give the same Z is an
 * affine space whose dimension is the nullity of the Jacobian dZ/dY,
 * (n d) x (n H d_k). The paper counts n (H - 1) d_k per layer; this module
 * computes the nullity numerically with dmodel's own ops (tf.matMul,
 * applyPgop), on small shapes:
 *
 * - heads summed in one shared space (W_o^(h) = W for every h): n (H - 1) d_k;
 * - dmodel's W_o (distinct blocks): n (H d_k - rank W_o), 0 when W_o is invertible;
 * - PG-OP multiplies each head at each position by g[t, h] > 0, an invertible
 *   diagonal map, so it changes neither count; what it can remove is the
 *   ambiguity of position-constant head signals (Y_h[t] = y_h for every t):
 *   (H - rank G) d_k with G [n, H] the gate matrix, instead of (H - 1) d_k.
 */
import * as tf from "@tensorflow/tfjs";
import { applyPgop } from "../block/pgop.ts";
import { linearRank } from "./affine_rank.ts";

/** One layer's head mixing: shapes, W_o [width, heads x head_dim] (out, in) and optional PG-OP W_g [heads, r]. */
export interface HeadMixing {
  tokens: number;
  heads: number;
  head_dim: number;
  width: number;
  /** W_o, row-major [width, heads * head_dim]. */
  wo: ArrayLike<number>;
  /** PG-OP gate weights W_g, row-major [heads, r] (absent: no PG-OP). */
  wg?: { data: ArrayLike<number>; dim: number };
}

/** Relative tolerance of the float32 rank: products of O(1) numbers carry ~1e-7 relative error. */
export const F32_RTOL = 1e-5;

/**
 * Columns of the Jacobian dZ/dinput, computed by pushing basis inputs
 * through dmodel's ops: input `dof` coordinates, expanded to per-head
 * outputs [n, H d_k] by `expand`. Returns the (n d) x dof matrix row-major.
 */
function jacobian(m: HeadMixing, dof: number, expand: (k: number, y: Float32Array) => void): Float64Array {
  const { tokens: n, heads: H, head_dim: dk, width: d } = m;
  const hd = H * dk;
  const y = new Float32Array(dof * n * hd);
  for (let k = 0; k < dof; k++) expand(k, y.subarray(k * n * hd, (k + 1) * n * hd));
  const z = tf.tidy(() => {
    let yt = tf.tensor2d(y, [dof * n, hd]);
    if (m.wg) yt = applyPgop(yt, tf.tensor2d(Float32Array.from(m.wg.data), [H, m.wg.dim]), dof, n, H);
    return tf.matMul(yt, tf.tensor2d(Float32Array.from(m.wo), [d, hd]), false, true).dataSync();
  });
  const j = new Float64Array(n * d * dof); // rows (t, i), column k
  for (let k = 0; k < dof; k++) for (let r = 0; r < n * d; r++) j[r * dof + k] = z[k * n * d + r];
  return j;
}

/**
 * Dimension of the set of per-head outputs Y [n, H d_k] that give the same
 * Z: the nullity of dZ/dY.
 *
 * @example
 * ```ts
 * // two heads of width 2 summed in one space (W_o = [I I]), 3 tokens: 3 (2 - 1) 2 = 6
 * headFiberDimension({ tokens: 3, heads: 2, head_dim: 2, width: 2, wo: [1, 0, 1, 0, 0, 1, 0, 1] });
 * ```
 */
export function headFiberDimension(m: HeadMixing): number {
  const dof = m.tokens * m.heads * m.head_dim;
  const j = jacobian(m, dof, (k, y) => (y[k] = 1));
  return dof - linearRank(j, m.tokens * m.width, dof, F32_RTOL);
}

/**
 * The same for position-constant head signals Y_h[t] = y_h (H d_k
 * coordinates): (H - 1) d_k when the heads share one space without PG-OP,
 * (H - rank G) d_k with PG-OP gates G.
 */
export function constantSignalFiberDimension(m: HeadMixing): number {
  const hd = m.heads * m.head_dim;
  const j = jacobian(m, hd, (k, y) => {
    for (let t = 0; t < m.tokens; t++) y[t * hd + k] = 1;
  });
  return hd - linearRank(j, m.tokens * m.width, hd, F32_RTOL);
}

/** W_o [width, H d_k] with every head's block equal to `w` [width, d_k]: the heads summed in one space. */
export function sharedSpaceWo(
  w: ArrayLike<number>,
  width: number,
  heads: number,
  headDim: number,
): Float64Array {
  const hd = heads * headDim, wo = new Float64Array(width * hd);
  for (let i = 0; i < width; i++) {
    for (let h = 0; h < heads; h++) {
      for (let c = 0; c < headDim; c++) wo[i * hd + h * headDim + c] = w[i * headDim + c];
    }
  }
  return wo;
}
