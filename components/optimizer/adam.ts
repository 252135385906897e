/** Adam (Kingma & Ba) with per-parameter LR groups from the parameterization; AdamW-style decay. */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import { Adam, adamParamHyper, type OptimizerFactory } from "../../engine/nn/optim.ts";

/** Adam's options in a pipeline. */
export const AdamSchema = z.object({
  /** Global (peak) learning rate eta. */
  lr: z.number().positive(),
  beta1: z.number().min(0).max(1).default(0.9),
  beta2: z.number().min(0).max(1).default(0.95),
  eps: z.number().nonnegative().default(1e-8),
  /** Global gradient-norm clip; 0 disables. */
  grad_clip: z.number().nonnegative().default(1.0),
  /** Decoupled weight decay (x the parameterization's per-parameter multiplier). */
  weight_decay: z.number().nonnegative().default(0),
}).strict();

register("optimizer", "adam", {
  describe: "Adam, one LR/eps/decay per parameter group, global-norm clipping",
  schema: AdamSchema,
  create: (o: z.infer<typeof AdamSchema>): OptimizerFactory => ({
    lr: o.lr,
    paramHyper: (rule, lrFactor, lr) => adamParamHyper(o, rule, lrFactor, lr),
    create: (net) => new Adam(net, o),
  }),
});
