/**
 * A minimal SP-like rule for the skipless / collapse-study blocks (docs/reference.md
 * sections 4-5): one global LR, attention scale 1/sqrt(d_k), no rescalers, no
 * renormalization. Hidden matrices start orthogonal (DKS/TAT style, gain
 * max(1, sqrt(fan_out / fan_in)) so the per-coordinate second moment is kept
 * through tall and wide matrices) or normal with std 1/sqrt(fan_in);
 * embeddings normal with std 1 (unit second moment without a norm layer);
 * readout normal with std 1/sqrt(fan_in); gains 1, biases 0. A block's own
 * required init (components/block/families.ts: W_q = 0 for shaped attention
 * and E-SPA, ...) wins over these. Decoupled weight decay applies to hidden
 * matrices only.
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Init, ParamDecl, Parameterization } from "../../engine/core/contracts.ts";
import { baseShapeOptions } from "../../engine/nn/scaling.ts";
import { blockInit, SP_FAMILY } from "../block/families.ts";

const schema = z.object({
  ...baseShapeOptions,
  /** Hidden-matrix init. */
  init: z.enum(["orthogonal", "normal"]).default("orthogonal"),
  /** Std of the embedding rows. */
  embedding_std: z.number().positive().default(1),
  /** Multiplier of each residual branch in blocks with skips (e.g. 1/sqrt(2L) for norm-free skips). */
  residual_multiplier: z.number().positive().default(1),
}).strict();

/** Options of the vanilla rule. */
export type VanillaOptions = z.infer<typeof schema>;

function roleInit(decl: ParamDecl, o: VanillaOptions): Init {
  switch (decl.role) {
    case "embedding":
      return { dist: "normal", std: o.embedding_std };
    case "hidden":
      return o.init === "orthogonal"
        ? { dist: "orthogonal", gain: Math.max(1, Math.sqrt(decl.fan_out / decl.fan_in)) }
        : { dist: "normal", std: 1 / Math.sqrt(decl.fan_in) };
    case "readout":
      return { dist: "normal", std: 1 / Math.sqrt(decl.fan_in) };
    case "gain":
    case "rescaler":
      return { dist: "constant", value: 1 };
    case "bias":
      return { dist: "zeros" };
  }
}

/** The vanilla rule as data. */
export function vanilla(o: VanillaOptions): Parameterization {
  return {
    families: [SP_FAMILY],
    model: (ctx) => ({
      attention_scale: 1 / Math.sqrt(ctx.shape.head_dim),
      residual_multiplier: o.residual_multiplier,
      rescalers: {},
      logit_multiplier: 1,
      renormalize: false,
    }),
    param: (decl) => ({
      init: blockInit(decl) ?? roleInit(decl, o),
      forward_multiplier: 1,
      lr_multiplier: 1,
      eps_multiplier: 1,
      weight_decay: decl.role === "hidden" ? 1 : 0,
    }),
    lr_factor: () => 1,
  };
}

register("parameterization", "vanilla", {
  describe:
    "SP-like rule for vanilla/attnstack blocks: orthogonal or 1/sqrt(fan_in) init, one LR, 1/sqrt(d_k)",
  schema,
  create: (o: VanillaOptions) => vanilla(o),
});
