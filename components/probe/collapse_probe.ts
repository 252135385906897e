/**
 * The `collapse` probe: representational-collapse metrics per layer
 * (components/probe/collapse.ts; docs/reference.md section 6) on the first `sequences`
 * sequences of the fixed probe batch, each sequence's T x d token matrix
 * measured on its own and the metrics averaged over sequences.
 *
 * Layer 0 is the embedding output (sink `embed`), layer i + 1 the output of
 * block i (sink `block<i>.out`). Columns per layer l: `L<l>.residual`,
 * `L<l>.effective_rank`, `L<l>.stable_rank`, `L<l>.cosine`, `L<l>.rank`
 * (numerical rank) and `L<l>.rank_excess` (rank X_l - rank X_0 of the same
 * sequence: directions beyond the embeddings' rank); per block with
 * attention probabilities in the sink (`block<i>.attn_probs`, [B, H, T, T]):
 * `L<i+1>.entropy` (mean over heads) and `L<i+1>.entropy.h<j>` per head
 * (nats, mean over query rows).
 */
import { z } from "zod";
import { attentionEntropy, tokenMetrics } from "./collapse.ts";
import { DmodelError } from "../../engine/core/errors.ts";
import type { Probe, ProbeContext } from "../../engine/train/probe.ts";
import { register } from "../../engine/core/registry.ts";
import { capture } from "./capture.ts";

const schema = z.object({
  every: z.number().int().positive().default(10),
  /** Sequences of the probe batch to measure. */
  sequences: z.number().int().positive().default(4),
}).strict();

/** The sink name of layer l's representation. */
export function layerSinkName(l: number): string {
  return l === 0 ? "embed" : `block${l - 1}.out`;
}

/** The collapse probe. */
export function collapseProbe(o: z.infer<typeof schema>): Probe {
  return {
    every: o.every,
    measure(ctx: ProbeContext) {
      const L = ctx.trial.model.depth;
      const acts = capture(
        ctx.net,
        ctx.x,
        ctx.B,
        ctx.T,
        o.sequences,
        (n) => n === "embed" || /^block\d+\.(out|attn_probs)$/.test(n),
      );
      const out: Record<string, number> = {};
      const rank0: number[] = [];
      for (let l = 0; l <= L; l++) {
        const a = acts.get(layerSinkName(l));
        if (!a) {
          throw new DmodelError(
            `probe collapse: block ${ctx.trial.model.block} reports no ${layerSinkName(l)} to the sink`,
          );
        }
        const [n, d] = a.shape, T = ctx.T, seqs = n / T;
        const sum = { residual: 0, effective_rank: 0, stable_rank: 0, cosine: 0, rank: 0, rank_excess: 0 };
        for (let s = 0; s < seqs; s++) {
          const m = tokenMetrics(a.data.subarray(s * T * d, (s + 1) * T * d), T, d);
          if (l === 0) rank0.push(m.rank);
          for (const k of ["residual", "effective_rank", "stable_rank", "cosine", "rank"] as const) {
            sum[k] += m[k] / seqs;
          }
          sum.rank_excess += (m.rank - rank0[s]) / seqs;
        }
        for (const [k, v] of Object.entries(sum)) out[`L${l}.${k}`] = v;
        const att = l > 0 ? acts.get(`block${l - 1}.attn_probs`) : undefined;
        if (att) {
          const [b, H, Tq] = att.shape;
          let mean = 0;
          const perHead: number[] = [];
          for (let h = 0; h < H; h++) {
            let e = 0;
            for (let s = 0; s < b; s++) e += attentionEntropy(att.data, Tq, (s * H + h) * Tq * Tq) / b;
            perHead.push(e);
            mean += e / H;
          }
          out[`L${l}.entropy`] = mean;
          perHead.forEach((e, h) => (out[`L${l}.entropy.h${h}`] = e));
        }
      }
      return out;
    },
  };
}

register("probe", "collapse", {
  describe:
    "per-layer rank-collapse residual, effective/stable rank, token cosine, attention entropy per head",
  schema,
  create: (o: z.infer<typeof schema>) => collapseProbe(o),
});
