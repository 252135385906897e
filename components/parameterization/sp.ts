/**
 * Standard parameterization (docs/reference.md section 4): init std 1/sqrt(fan_in)
 * (embeddings std 1: their input is one-hot), gains 1, one global LR for
 * every parameter, attention scale 1/sqrt(d_k). Nothing depends on width:
 * the baseline whose optimal LR is expected to move.
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { ParamDecl, Parameterization, ParamRule } from "../../engine/core/contracts.ts";
import { baseShapeOptions } from "../../engine/nn/scaling.ts";
import { blockInit, SP_FAMILY } from "../block/families.ts";

/** SP init of one parameter: N(0, 1/fan_in) matrices, N(0, 1) embeddings, gains 1, biases 0 (unless the block requires its own). */
export function spInit(decl: ParamDecl): ParamRule["init"] {
  const required = blockInit(decl);
  if (required) return required;
  if (decl.role === "gain") return { dist: "constant", value: 1 };
  if (decl.role === "bias") return { dist: "zeros" };
  if (decl.role === "embedding") return { dist: "normal", std: 1 };
  return { dist: "normal", std: 1 / Math.sqrt(decl.fan_in) };
}

/** Weight decay applies to matrices, not to gains and biases. */
export function decays(decl: ParamDecl): number {
  return decl.role === "gain" || decl.role === "bias" ? 0 : 1;
}

const schema = z.object({ ...baseShapeOptions }).strict();

/** The SP rule as data. */
export function sp(): Parameterization {
  return {
    families: [SP_FAMILY],
    model: (ctx) => ({
      attention_scale: 1 / Math.sqrt(ctx.shape.head_dim),
      residual_multiplier: 1,
      rescalers: {},
      logit_multiplier: 1,
      renormalize: false,
    }),
    param: (decl) => ({
      init: spInit(decl),
      forward_multiplier: 1,
      lr_multiplier: 1,
      eps_multiplier: 1,
      weight_decay: decays(decl),
    }),
    lr_factor: () => 1,
  };
}

register("parameterization", "sp", {
  describe: "standard parameterization: 1/sqrt(fan_in) init, one global LR, 1/sqrt(d_k) attention",
  schema,
  create: () => sp(),
});
