/** The `eval` stage: val loss and perplexity of a trained trial's model.safetensors. */
import { z } from "zod";
import { evaluateTrialDir } from "../../engine/train/evaluate.ts";
import { DmodelError } from "../../engine/core/errors.ts";
import { register } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";
import type { TrainOutput } from "./train.ts";

const schema = z.object({
  /** Trial directory; default: the output of the stage this one needs. */
  trial: z.string().optional(),
  /** Number of val batches (default: the trial's eval_batches). */
  batches: z.number().int().positive().optional(),
}).strict();

register("stage", "eval", {
  describe: "evaluate a trained trial (model.safetensors): val loss and perplexity",
  schema,
  create: (o: z.infer<typeof schema>): Stage => ({
    async run(ctx) {
      let dir = o.trial;
      if (!dir) {
        const prev = [...ctx.inputs.values()].reverse().find((v) => (v as TrainOutput)?.dir) as
          | TrainOutput
          | undefined;
        if (!prev) {
          throw new DmodelError(
            `stage ${ctx.stageId}: no trial to evaluate (set with.trial or need a train stage)`,
          );
        }
        if (prev.result.status !== "ok") {
          throw new DmodelError(
            `stage ${ctx.stageId}: trial ${prev.dir} ended ${prev.result.status}; nothing to evaluate`,
          );
        }
        dir = prev.dir;
      }
      const r = await evaluateTrialDir(dir, { batches: o.batches });
      ctx.log(
        `eval ${dir}: val loss ${r.val_loss.toFixed(4)}, perplexity ${
          r.perplexity.toFixed(2)
        } over ${r.eval_tokens} tokens`,
      );
      return r;
    },
  }),
});
