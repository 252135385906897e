/** Adam (Kingma & Ba) with per-parameter LR groups from the parameterization; AdamW-style decay. */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import { Adam, adamParamHyper, type OptimizerFactory } from "../../engine/nn/optim.ts";

/** Adam's options in a pipeline. */
export const AdamSchema = z.object({
  /** Global (peak) learning rate eta. */
  lr: z.number().positive("lr must be > 0"),
  // beta in [0, 1): at 1 the bias correction 1 - beta^t is 0 and the first step divides by it.
  beta1: z.number().min(0, "beta1 must be in [0, 1)").lt(
    1,
    "beta1 must be in [0, 1) (at 1 the bias correction 1 - beta1^t is 0)",
  ).default(0.9),
  beta2: z.number().min(0, "beta2 must be in [0, 1)").lt(
    1,
    "beta2 must be in [0, 1) (at 1 the bias correction 1 - beta2^t is 0)",
  ).default(0.95),
  // eps > 0: with eps 0 a parameter whose gradient is 0 so far divides 0 by 0 (NaN at step 1).
  eps: z.number().positive("eps must be > 0 (with 0, a zero gradient gives 0/0 = NaN)").default(1e-8),
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
