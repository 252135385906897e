/**
 * nuGPT, the parameterization that makes nGPT transfer ("Learning Rate
 * Transfer in Normalized Transformers", arXiv 2604.27077; docs/reference.md section 2).
 * With m_width = d / d_base, m_depth = L / L_base, m_data = steps / steps_base:
 *
 *   eta_base     = eta * m_data^(-1/3)              token-horizon correction (switchable)
 *   eta_input    = eta_base * m_width^(-1/2)        E_in
 *   eta_hidden   = eta_base * m_width^(-3/4)        W_q W_k W_v W_o W_u W_nu W_oMLP
 *   eta_output   = 0.5 * eta_base * m_width^(-3/4)  E_out
 *   eta_rescaler = eta_base                         alpha, s vectors (raw)
 *   alpha_A, alpha_M: init 0.05 / m_depth, scale 0.03
 *   s_qk: init 1, scale 0.03;  s_z: init m_width^(1/2), scale 0.03;  s_u, s_nu: init 1, scale 1
 *
 * -3/4: Adam as sign descent makes a hidden matrix's largest stable LR
 * d^(-max(alpha, nu)) with alignment exponents settling near 3/4 on average.
 * The output factor 0.5 and the s_z exponent 1/2 are not in the paper's text
 * (section 7.4 and an independent implementation): options with these defaults.
 * Pair with Adam eps 1e-16, betas (0.9, 0.95), cosine to 10%.
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { ModelRule, Parameterization, ParamRule } from "../../engine/core/contracts.ts";
import { baseShapeOptions, requiredBase, rescalerParamRule } from "../../engine/nn/scaling.ts";
import { blockInit, NGPT_FAMILY } from "../block/families.ts";

/** nuGPT's options: exponents and constants, with the paper's defaults. */
export const NugptSchema = z.object({
  ...baseShapeOptions,
  ...requiredBase<"base_width" | "base_depth">("nugpt", ["base_width", "base_depth"]),
  input_exponent: z.number().default(0.5),
  hidden_exponent: z.number().default(0.75),
  output_exponent: z.number().default(0.75),
  output_factor: z.number().positive().default(0.5),
  /** s_z init = m_width^s_z_exponent, keeping logits Theta(1) at init. */
  s_z_exponent: z.number().default(0.5),
  /** The m_data^(-1/3) token-horizon correction. */
  horizon_correction: z.boolean().default(true),
  horizon_exponent: z.number().default(1 / 3),
  /** Extra depth-muP factor m_depth^(-depth_exponent) on eta_hidden (0: none; 0.5 breaks depth transfer). */
  depth_exponent: z.number().default(0),
  rescaler_scale: z.number().positive().default(0.03),
  alpha_init: z.number().positive().default(0.05),
}).strict().superRefine((o, ctx) => {
  if (o.horizon_correction && o.base_steps === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["base_steps"],
      message:
        "nugpt needs base_steps for its m_data^(-1/3) horizon correction (or horizon_correction: false)",
    });
  }
});

/** nuGPT options (defaults filled). */
export type NugptOptions = z.infer<typeof NugptSchema>;

/** The nuGPT rule as data. */
export function nugpt(o: NugptOptions): Parameterization {
  return {
    families: [NGPT_FAMILY],
    model: (ctx): ModelRule => {
      const s = o.rescaler_scale;
      const alpha = { init: o.alpha_init / ctx.m_depth, scale: s };
      return {
        attention_scale: Math.sqrt(ctx.shape.head_dim),
        residual_multiplier: 1,
        rescalers: {
          alpha_A: alpha,
          alpha_M: alpha,
          s_qk: { init: 1, scale: s },
          s_z: { init: Math.pow(ctx.m_width, o.s_z_exponent), scale: s },
          s_u: { init: 1, scale: 1 },
          s_nu: { init: 1, scale: 1 },
        },
        logit_multiplier: 1,
        renormalize: true,
      };
    },
    param: (decl, ctx, model): ParamRule => {
      if (decl.role === "rescaler") return rescalerParamRule(decl, model, 1);
      const m = ctx.m_width;
      const lr = decl.role === "embedding"
        ? Math.pow(m, -o.input_exponent)
        : decl.role === "readout"
        ? o.output_factor * Math.pow(m, -o.output_exponent)
        : Math.pow(m, -o.hidden_exponent) * Math.pow(ctx.m_depth, -o.depth_exponent);
      return {
        init: blockInit(decl) ?? { dist: "unit-norm" },
        forward_multiplier: 1,
        lr_multiplier: lr,
        eps_multiplier: 1,
        weight_decay: 0,
      };
    },
    lr_factor: (ctx) => o.horizon_correction ? Math.pow(ctx.m_data, -o.horizon_exponent) : 1,
  };
}

register("parameterization", "nugpt", {
  describe: "nuGPT: nGPT with LR m_width^-1/2 (input), ^-3/4 (hidden, output x0.5), m_data^-1/3, scale 0.03",
  schema: NugptSchema,
  create: (o: NugptOptions) => nugpt(o),
});
