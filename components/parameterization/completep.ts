/**
 * CompleteP (arXiv 2505.01618; docs/reference.md section 4): muP in width plus a
 * depth rule with exponent a (a = 1 is CompleteP, a = 1/2 depth-muP):
 *   residual         x <- x + m_depth^(-a) F(x)
 *   hidden LR        eta * m_width^(-1) * m_depth^(a - 1)
 *   hidden Adam eps  eps * m_width^(-1) * m_depth^(-a)
 *   embedding eps    eps / m_width
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Parameterization } from "../../engine/core/contracts.ts";
import { mup, MupSchema } from "./mup.ts";
import { requiredBase } from "../../engine/nn/scaling.ts";

const schema = MupSchema.extend({
  ...requiredBase("completep", ["base_width", "base_depth"]),
  a: z.union([z.literal(1), z.literal(0.5)]).default(1),
}).strict();

/** The CompleteP rule as data. */
export function completep(o: z.infer<typeof schema>): Parameterization {
  const base = mup(o);
  return {
    ...base,
    model: (ctx) => ({ ...base.model(ctx), residual_multiplier: Math.pow(ctx.m_depth, -o.a) }),
    param: (decl, ctx, model) => {
      const rule = base.param(decl, ctx, model);
      if (decl.role === "hidden") {
        rule.lr_multiplier = Math.pow(ctx.m_width, -1) * Math.pow(ctx.m_depth, o.a - 1);
        rule.eps_multiplier = Math.pow(ctx.m_width, -1) * Math.pow(ctx.m_depth, -o.a);
      } else if (decl.role === "embedding") {
        rule.eps_multiplier = 1 / ctx.m_width;
      }
      return rule;
    },
  };
}

register("parameterization", "completep", {
  describe: "CompleteP: muP + residual x m_depth^-a, hidden LR m_width^-1 m_depth^(a-1), scaled Adam eps",
  schema,
  create: (o: z.infer<typeof schema>) => completep(o),
});
