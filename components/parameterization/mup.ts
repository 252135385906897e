/**
 * muP for Adam (Tensor Programs V; microsoft/mup; docs/reference.md section 4),
 * relative to a base width (m_width = d / d_base):
 *   hidden matrices  LR eta / m_width, init variance 1/fan_in
 *   embedding        LR eta, init std 1 (one-hot input)
 *   readout          zero init; forward multiplier 1/m_width with LR eta (readout: multiplier)
 *                    or LR eta / m_width (readout: lr)
 *   query            zero init
 *   attention scale  1/d_k
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Parameterization, ParamRule } from "../../engine/core/contracts.ts";
import { baseShapeOptions, requiredBase } from "../../engine/nn/scaling.ts";
import { SP_FAMILY } from "../block/families.ts";
import { decays, spInit } from "./sp.ts";

/** muP's options: the base shape and how the readout is scaled. */
export const MupSchema = z.object({
  ...baseShapeOptions,
  ...requiredBase("mup", ["base_width"]),
  readout: z.enum(["multiplier", "lr"]).default("multiplier"),
  zero_query: z.boolean().default(true),
  zero_readout: z.boolean().default(true),
}).strict();

/** The muP rule as data; CompleteP builds on it. */
export function mup(o: z.infer<typeof MupSchema>): Parameterization {
  return {
    families: [SP_FAMILY],
    model: (ctx) => ({
      attention_scale: 1 / ctx.shape.head_dim,
      residual_multiplier: 1,
      rescalers: {},
      logit_multiplier: 1,
      renormalize: false,
    }),
    param: (decl, ctx) => {
      const m = ctx.m_width;
      const rule: ParamRule = {
        init: spInit(decl),
        forward_multiplier: 1,
        lr_multiplier: 1,
        eps_multiplier: 1,
        weight_decay: decays(decl),
      };
      if (decl.role === "hidden") {
        rule.lr_multiplier = 1 / m;
        if (o.zero_query && decl.tag === "query") rule.init = { dist: "zeros" };
      } else if (decl.role === "readout") {
        if (o.zero_readout) rule.init = { dist: "zeros" };
        if (o.readout === "multiplier") rule.forward_multiplier = 1 / m;
        else rule.lr_multiplier = 1 / m;
      }
      return rule;
    },
    lr_factor: () => 1,
  };
}

register("parameterization", "mup", {
  describe: "muP (Adam): hidden LR eta/m_width, readout x 1/m_width zero-init, zero query, 1/d_k attention",
  schema: MupSchema,
  create: (o: z.infer<typeof MupSchema>) => mup(o),
});
