/**
 * An example user plugin with a rule of its own: nuGPT, except that the query
 * and key matrices get their own width exponent,
 *
 *   eta_{W_q, W_k} = eta_base * m_width^(-qk_exponent)     (nuGPT: -3/4, as every hidden matrix)
 *
 * (their outputs are normalized per head before the dot product, so their
 * scale does not reach the logits: one may ask whether they tolerate larger
 * steps). Everything else (other hidden matrices, input, output, rescalers,
 * horizon factor) is nuGPT's rule as is. A pipeline loads it with
 * `plugins: [./plugins/nugpt_qk.ts]` and names it like a built-in.
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Parameterization } from "../../engine/core/contracts.ts";
import { nugpt, NugptSchema } from "../../components/parameterization/nugpt.ts";

// nuGPT's options and checks (safeExtend keeps them), plus the one this rule adds.
const schema = NugptSchema.safeExtend({ qk_exponent: z.number().default(0.5) });

register("parameterization", "nugpt-qk", {
  describe: "example plugin: nuGPT with its own width exponent for W_q and W_k",
  schema,
  create: (o: z.infer<typeof schema>): Parameterization => {
    const base = nugpt(o);
    return {
      ...base,
      // The rule of its own: a per-parameter LR multiplier chosen by the block's tag.
      param: (decl, ctx, model) => {
        const rule = base.param(decl, ctx, model);
        if (decl.tag !== "query" && decl.tag !== "key") return rule;
        return { ...rule, lr_multiplier: Math.pow(ctx.m_width, -o.qk_exponent) };
      },
    };
  },
});
