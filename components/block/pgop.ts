/**
 * PG-OP, a position-gated output projection (arXiv 2604.23681 proposes one
 * with under 1.6% extra parameters as a partial remedy for head-channel
 * non-identifiability; its exact form is not public). dmodel's reading
 * (docs/reference.md section 6):
 *
 *   g[t, h] = 2 sigmoid(P[t] . w_h),   y_h[t] <- g[t, h] y_h[t]   before W_o,
 *
 * P[t] a fixed sinusoidal position feature of dimension r (no parameters),
 * w_h in R^r one learned vector per head: H x r extra parameters, stored as
 * W_g [H, r], zero at init so every gate starts at 2 sigmoid(0) = 1 and the
 * block computes exactly what it computes without PG-OP. docs/reference.md's
 * "H x d extra parameters" is r = d; the default r is the largest r <= d
 * that keeps the overhead H r / d^2 (relative to W_o's d^2) under 1.6%,
 * which is r = d once d_k >= 64.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { DmodelError } from "../../engine/core/errors.ts";

/** The PG-OP options a block offers (spread into its options schema). */
export const PgopOptionFields = {
  /** Position-gated output projection (components/block/pgop.ts). */
  pgop: z.boolean().default(false),
  /** PG-OP feature dimension r (default: largest with overhead < 1.6%). */
  pgop_dim: z.number().int().positive().optional(),
};

/** Overhead bound from the paper: extra parameters below 1.6% of W_o. */
export const PGOP_MAX_OVERHEAD = 0.016;

/** The shape fields PG-OP needs. */
export interface PgopShape {
  width: number;
  heads: number;
}

/** Largest feature dimension r <= d with H r / d^2 < 1.6%; 0 if even r = 1 is too much. */
export function pgopAutoDim(shape: PgopShape): number {
  const d = shape.width;
  let r = Math.min(d, Math.floor((PGOP_MAX_OVERHEAD * d * d) / shape.heads));
  while (r > 0 && (shape.heads * r) / (d * d) >= PGOP_MAX_OVERHEAD) r--;
  return r;
}

/**
 * Extra parameters of PG-OP relative to W_o (d x d): H r / d^2.
 *
 * @example
 * ```ts
 * pgopOverhead({ width: 1024, heads: 16 }, 1024); // 1/64 = 0.015625 (r = d, d_k = 64)
 * ```
 */
export function pgopOverhead(shape: PgopShape, dim?: number): number {
  const r = dim ?? pgopAutoDim(shape);
  return (shape.heads * r) / (shape.width * shape.width);
}

/** The feature dimension to use; throws when the overhead bound cannot be met. */
export function pgopDim(shape: PgopShape, dim?: number): number {
  const r = dim ?? pgopAutoDim(shape);
  if (!(r >= 1) || pgopOverhead(shape, r) >= PGOP_MAX_OVERHEAD) {
    throw new DmodelError(
      `pgop: ${shape.heads} heads x ${r} features is ${
        (100 * pgopOverhead(shape, Math.max(r, 1))).toFixed(2)
      }% ` +
        `of W_o at width ${shape.width}, above ${100 * PGOP_MAX_OVERHEAD}%; ` +
        `use pgop_dim <= ${pgopAutoDim(shape)} or a wider model`,
    );
  }
  return r;
}

/** Sinusoidal position features P [T, r]: (sin, cos) pairs at frequencies 10000^(-2j/r), unit RMS-ish. */
export function pgopFeatures(seqLen: number, dim: number): Float32Array {
  const p = new Float32Array(seqLen * dim);
  for (let t = 0; t < seqLen; t++) {
    for (let j = 0; j < dim; j++) {
      const f = Math.pow(10000, -(2 * Math.floor(j / 2)) / dim);
      p[t * dim + j] = j % 2 === 0 ? Math.sin(t * f) : Math.cos(t * f);
    }
  }
  return p;
}

const featureCache = new Map<string, tf.Tensor2D>();

/**
 * Applies the gates to the attention output y [B*T, H*d_k] (heads
 * concatenated) with W_g [H, r]: returns y with head h at position t scaled
 * by 2 sigmoid(P[t] . W_g[h]).
 */
export function applyPgop(
  y: tf.Tensor2D,
  wg: tf.Tensor,
  batch: number,
  seqLen: number,
  heads: number,
): tf.Tensor2D {
  const r = wg.shape[1]!;
  const key = `${seqLen}x${r}`;
  let feats = featureCache.get(key);
  if (!feats || feats.isDisposed) {
    feats = tf.keep(tf.tensor2d(pgopFeatures(seqLen, r), [seqLen, r]));
    featureCache.set(key, feats);
  }
  const gate = tf.mul(tf.sigmoid(tf.matMul(feats, wg as tf.Tensor2D, false, true)), 2); // [T, H]
  const dk = y.shape[1] / heads;
  return tf.mul(y.reshape([batch, seqLen, heads, dk]), gate.reshape([1, seqLen, heads, 1])).reshape(
    y.shape,
  ) as tf.Tensor2D;
}
