/**
 * The `head_fiber` probe: head-channel non-identifiability (arXiv
 * 2604.23681; docs/reference.md section 6) in a model as it trains, for blocks
 * with PG-OP (components/block/pgop.ts). components/probe/head_fiber.ts
 * counts the fibers for given W_o and gates; this probe feeds it each block's
 * current W_o and W_g, over the T positions of a training window.
 *
 * Columns per block i (layer l = i + 1), n = T positions, H heads of d_k:
 *
 * - `L<l>.wo_rank`: the numerical rank of W_o [d, H d_k] (float32 tolerance);
 *   the fiber through dmodel's own W_o is n (H d_k - rank W_o), `L<l>.fiber_wo`.
 * - `L<l>.fiber_const`: the paper's count for position-constant head signals
 *   with the heads summed in one space (W_o^(h) = head 0's block for every h)
 *   and this block's gates: (H - rank G) d_k, (H - 1) d_k at init (W_g = 0,
 *   every gate 1); from the Jacobian, through dmodel's ops.
 * - `L<l>.gate_sv_ratio`: sigma_H(G) / sigma_1(G), G [T, H] the gate matrix
 *   G[t, h] = 2 sigmoid(P[t] . w_h): 0 when the gates do not vary over
 *   positions differently per head, so how far the trained gates are from
 *   leaving the position-constant ambiguity in place (a rank at a tolerance
 *   is all-or-nothing; this ratio is graded).
 * - `L<l>.gate_dev`: the mean |g - 1| over positions and heads.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { DmodelError } from "../../engine/core/errors.ts";
import type { Probe, ProbeContext } from "../../engine/train/probe.ts";
import type { Param } from "../../engine/nn/network.ts";
import { register } from "../../engine/core/registry.ts";
import { applyPgop } from "../block/pgop.ts";
import { singularValues } from "./collapse.ts";
import { constantSignalFiberDimension, F32_RTOL, sharedSpaceWo } from "./head_fiber.ts";
import { linearRank } from "./affine_rank.ts";

const schema = z.object({
  every: z.number().int().positive().default(100),
}).strict();

/** A parameter's effective value (stored value times its forward multiplier), float64. */
function effective(p: Param): Float64Array {
  const m = p.rule.forward_multiplier;
  return Float64Array.from(p.host, (v) => v * m);
}

/** The gate matrix G [T, H] of W_g [H, r], through components/block/pgop.ts's own gating of a ones input. */
export function gateMatrix(wg: ArrayLike<number>, heads: number, dim: number, seqLen: number): Float64Array {
  const g = tf.tidy(() =>
    applyPgop(tf.ones([seqLen, heads]), tf.tensor2d(Float32Array.from(wg), [heads, dim]), 1, seqLen, heads)
      .dataSync()
  );
  return Float64Array.from(g);
}

/** The head-fiber columns of one block (see the module comment). */
export function headFiberColumns(
  wo: ArrayLike<number>,
  wg: ArrayLike<number>,
  s: { width: number; heads: number; head_dim: number; dim: number; tokens: number },
): Record<string, number> {
  const { width: d, heads: H, head_dim: dk, tokens: n } = s;
  const woRank = linearRank(wo, d, H * dk, F32_RTOL);
  const head0 = new Float64Array(d * dk);
  for (let i = 0; i < d; i++) for (let c = 0; c < dk; c++) head0[i * dk + c] = wo[i * H * dk + c];
  const fiberConst = constantSignalFiberDimension({
    tokens: n,
    heads: H,
    head_dim: dk,
    width: d,
    wo: sharedSpaceWo(head0, d, H, dk),
    wg: { data: wg, dim: s.dim },
  });
  const g = gateMatrix(wg, H, s.dim, n);
  const sv = singularValues(g, n, H);
  let dev = 0;
  for (const v of g) dev += Math.abs(v - 1) / g.length;
  return {
    wo_rank: woRank,
    fiber_wo: n * (H * dk - woRank),
    fiber_const: fiberConst,
    gate_sv_ratio: sv[0] > 0 ? sv[H - 1] / sv[0] : 0,
    gate_dev: dev,
  };
}

/** The head_fiber probe. */
export function headFiberProbe(o: z.infer<typeof schema>): Probe {
  return {
    every: o.every,
    measure(ctx: ProbeContext) {
      const s = ctx.net.shape, out: Record<string, number> = {};
      for (let i = 0; i < s.depth; i++) {
        const wo = ctx.net.byName.get(`blocks.${i}.W_o`), wg = ctx.net.byName.get(`blocks.${i}.W_g`);
        if (!wo || !wg) {
          throw new DmodelError(
            `probe head_fiber: block ${ctx.trial.model.block} has no blocks.${i}.W_o and blocks.${i}.W_g ` +
              `(PG-OP gates): set model.pgop: true`,
          );
        }
        const cols = headFiberColumns(effective(wo), effective(wg), {
          width: s.width,
          heads: s.heads,
          head_dim: s.head_dim,
          dim: wg.decl.shape[1],
          tokens: ctx.T,
        });
        for (const [k, v] of Object.entries(cols)) out[`L${i + 1}.${k}`] = v;
      }
      return out;
    },
  };
}

register("probe", "head_fiber", {
  describe: "head-channel non-identifiability with PG-OP: W_o rank, fibers, gate-matrix spread per block",
  schema,
  create: (o: z.infer<typeof schema>) => headFiberProbe(o),
});
