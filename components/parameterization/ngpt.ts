/**
 * nGPT's own constants (docs/reference.md section 1): one global LR for every
 * parameter, rescalers with the init/scale trick at scale 1/sqrt(d),
 * softmax scale sqrt(d_k), weights renormalized after every step.
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { ModelRule, Parameterization, RescalerName } from "../../engine/core/contracts.ts";
import { baseShapeOptions, rescalerParamRule } from "../../engine/nn/scaling.ts";
import { blockInit, NGPT_FAMILY } from "../block/families.ts";

/** nGPT table: init / scale of each rescaler; scale 1/sqrt(d) except s_u, s_nu. */
export function ngptRescalers(d: number): ModelRule["rescalers"] {
  const s = 1 / Math.sqrt(d);
  const r: Record<RescalerName, { init: number; scale: number }> = {
    alpha_A: { init: 0.05, scale: s },
    alpha_M: { init: 0.05, scale: s },
    s_qk: { init: 1, scale: s },
    s_u: { init: 1, scale: 1 },
    s_nu: { init: 1, scale: 1 },
    s_z: { init: 1, scale: s },
  };
  return r;
}

const schema = z.object({ ...baseShapeOptions }).strict();

/** The nGPT rule as data. */
export function ngpt(): Parameterization {
  return {
    families: [NGPT_FAMILY],
    model: (ctx) => ({
      attention_scale: Math.sqrt(ctx.shape.head_dim),
      residual_multiplier: 1,
      rescalers: ngptRescalers(ctx.shape.width),
      logit_multiplier: 1,
      renormalize: true,
    }),
    param: (decl, _ctx, model) =>
      decl.role === "rescaler" ? rescalerParamRule(decl, model, 1) : {
        init: blockInit(decl) ?? { dist: "unit-norm" },
        forward_multiplier: 1,
        lr_multiplier: 1,
        eps_multiplier: 1,
        weight_decay: 0,
      },
    lr_factor: () => 1,
  };
}

register("parameterization", "ngpt", {
  describe: "nGPT constants: one global LR, rescaler scale 1/sqrt(d), renormalized weights",
  schema,
  create: () => ngpt(),
});
