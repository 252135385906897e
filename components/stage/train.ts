/** The `train` stage: one trial, from its `with:` config, into `<out>/<trial dir>/`. */
import { type TrialConfig, trialDirName, trialId, TrialOption } from "../../engine/core/config.ts";
import { register } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";
import { runTrial } from "../../engine/train/trainer.ts";
import type { TrialResult } from "../../engine/train/result.ts";
import { TrainProgress } from "../../engine/train/progress.ts";

/** What the train stage returns to later stages. */
export interface TrainOutput {
  dir: string;
  id: string;
  trial: TrialConfig;
  result: TrialResult;
}

register("stage", "train", {
  describe: "train one trial (with: data, model, parameterization, optimizer, schedule, train)",
  schema: TrialOption,
  create: (trial: TrialConfig): Stage => ({
    async run(ctx): Promise<TrainOutput> {
      const id = trialId(trial);
      const dir = `${ctx.outDir}/${trialDirName(trial, id)}`;
      if (ctx.flags.fresh) await Deno.remove(dir, { recursive: true }).catch(() => {});
      // A progress line when the task asks for one (`deno task train`; scripts and tests do not).
      const progress = ctx.flags.progress ? new TrainProgress("train") : null;
      const result = await runTrial(trial, dir, {
        resume: Boolean(ctx.flags.resume),
        log: (l) => {
          progress?.end();
          ctx.log(l);
        },
        onProgress: progress ? (p) => progress.update(p) : undefined,
      }).finally(() => progress?.end());
      ctx.log(
        `${dir}: ${result.status}` + (result.error ? ` (${result.error})` : "") +
          `; steps ${result.steps_done}, val loss ${result.step0_val_loss?.toFixed(4)} -> ${
            result.final_val_loss?.toFixed(4)
          }` +
          ` (val unigram entropy ${result.val_unigram_entropy?.toFixed(4)} nats), ${
            result.wall_s.toFixed(1)
          } s, ` +
          `${result.tokens_per_s} tokens/s`,
      );
      return { dir, id, trial, result };
    },
  }),
});
