/**
 * The `sweep` stage: a grid of trials over scale x learning rate x
 * parameterization x seed, run in parallel by an executor, resumable.
 *
 *   with:
 *     base: {data: ..., model: ..., ...}          # a trial config
 *     grid: {optimizer.lr: {log2: [-10, -6], step: 1}, parameterization.name: [ngpt, nugpt]}
 *     zip: [{model.width: [32, 64], train.steps: [100, 200]}]
 *     seeds: [0, 1]
 *     workers: 2
 *     executor: {name: local}
 *     divergence_threshold: 7.0                    # default: above the step-0 loss
 *     max_failures: 3
 */
import { z } from "zod";
import { setPath } from "../../engine/core/config.ts";
import { zodIssue } from "../../engine/core/errors.ts";
import { build, checkComponent, listComponents, register } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";
import type {} from "../../engine/sweep/executor.ts"; // declares the executor product of build()
import { expandGrid, GridSchema, type PlannedTrial } from "../../engine/sweep/grid.ts";
import { readPlan, summarize, summaryLine } from "../../engine/sweep/plan.ts";
import { runSweep } from "../../engine/sweep/run.ts";
import { DmodelError } from "../../engine/core/errors.ts";

const SweepSchema = z.object({
  base: z.record(z.string(), z.unknown()),
  ...GridSchema,
  workers: z.number().int().positive().default(navigator.hardwareConcurrency ?? 1),
  executor: z.looseObject({ name: z.string() }).default({ name: "local" }),
  /** Val loss above this marks a trial diverged (default: above its step-0 loss). */
  divergence_threshold: z.number().positive().optional(),
  max_failures: z.number().int().positive().default(3),
}).strict().transform((o, ctx) => {
  const base = structuredClone(o.base);
  if (o.divergence_threshold !== undefined) {
    setPath(base, ["train", "divergence_threshold"], o.divergence_threshold);
  }
  const { trials, issues } = expandGrid(base, o);
  for (const i of issues) {
    ctx.addIssue(
      zodIssue(i, ["grid", "zip", "seeds"].includes(String(i.path[0])) ? i.path : ["base", ...i.path]),
    );
  }
  if (!issues.length && !trials.length) {
    ctx.addIssue({ code: "custom", message: "the grid has no trials", path: ["grid"] });
  }
  // The executor's own options, checked (and defaulted) here so that a mistake names its line.
  let executor = o.executor;
  const { name, ...eopts } = o.executor;
  const r = checkComponent("executor", name, eopts, ["executor"]);
  for (const i of r.issues) {
    ctx.addIssue({ code: "custom", message: i.message, path: i.path, input: i.value });
  }
  if (r.component) executor = { name, ...r.options };
  return { ...o, executor, trials };
});

/** The sweep stage's resolved options. */
export type SweepOptions = z.infer<typeof SweepSchema>;

/** What the sweep stage returns to later stages (analyze, report). */
export interface SweepOutput {
  dir: string;
  trials: PlannedTrial[];
  summary: Awaited<ReturnType<typeof summarize>>;
  detached?: boolean;
}

register("stage", "sweep", {
  describe: "a grid of trials (base x grid x zip x seeds) run in parallel by an executor; resumable",
  schema: SweepSchema,
  create: (o: SweepOptions): Stage => ({
    async run(ctx): Promise<SweepOutput> {
      const dir = ctx.outDir;
      if (ctx.flags.status) {
        const trials = await readPlan(dir).catch(() => o.trials);
        const summary = await summarize(dir, trials);
        console.log(summaryLine(summary));
        // What executors left running (a detached Slurm job): each says its own.
        for (const c of listComponents("executor")) {
          const ex = build("executor", { name: c.name });
          for (const line of (await ex.status?.(dir)) ?? []) console.log(line);
        }
        return { dir, trials, summary };
      }
      // --executor NAME keeps the pipeline's options for NAME, and takes defaults for another one.
      const flag = ctx.flags.executor ? String(ctx.flags.executor) : undefined;
      const executor = flag && flag !== o.executor.name ? { name: flag } : o.executor;
      const workers = ctx.flags.workers ? Number(ctx.flags.workers) : o.workers;
      if (!Number.isInteger(workers) || workers < 1) {
        throw new DmodelError(`--workers ${ctx.flags.workers}: a positive integer`);
      }
      const summary = await runSweep({
        dir,
        trials: o.trials,
        workers,
        executor,
        maxFailures: o.max_failures,
        fresh: Boolean(ctx.flags.fresh),
        detach: Boolean(ctx.flags.detach),
        pipeline: ctx.flags.pipelineRaw,
        log: ctx.log,
      });
      return { dir, trials: o.trials, summary, detached: summary.detached };
    },
  }),
});
