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
 *     lr_search: {range: {log2: [-12, -2]}, resolution: 0.5, basin_points: 5, center: predict}
 *     reuse: [runs/nugpt-width]                    # copy in trials these sweeps finished with the same config
 *
 * `lr_search:` replaces an `optimizer.lr` grid axis with a bracket-and-refine
 * search per group (engine/sweep/lr_search.ts), run in waves.
 */
import { z } from "zod";
import { canonicalJSON, setPath } from "../../engine/core/config.ts";
import { zodIssue } from "../../engine/core/errors.ts";
import { build, checkComponent, listComponents, register } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";
import type {} from "../../engine/sweep/executor.ts"; // declares the executor product of build()
import { expandGrid, GridSchema, gridSize, maxTrials, type PlannedTrial } from "../../engine/sweep/grid.ts";
import {
  adoptExistingDirs,
  problemLines,
  readPlan,
  summarize,
  summaryLine,
} from "../../engine/sweep/plan.ts";
import { runSweep } from "../../engine/sweep/run.ts";
import { type PlanContext, planSearch, type SearchPlan } from "../../engine/sweep/lr_search.ts";
import { scaleAxes, type SearchGroup, searchGroups } from "../../engine/sweep/lr_search_groups.ts";
import { LrSearchSchema, outsideRange } from "../../engine/sweep/lr_search_options.ts";
import { searchStatusLines } from "../../engine/sweep/lr_search_render.ts";
import type { GroupReport } from "../../engine/sweep/lr_search_state.ts";
import { readJSON, writeFileAtomic } from "../../engine/core/fs.ts";
import { type AnswerReport, memoEstimator } from "../../engine/sweep/answer.ts";
import { jointEstimator } from "../../engine/sweep/answer_estimator.ts";
import type { TrialResult } from "../../engine/train/result.ts";
import { DmodelError } from "../../engine/core/errors.ts";

const SweepSchema = z.object({
  base: z.record(z.string(), z.unknown()),
  ...GridSchema,
  workers: z.number().int().positive().default(navigator.hardwareConcurrency ?? 1),
  executor: z.looseObject({ name: z.string() }).default({ name: "local" }),
  /** Val loss above this marks a trial diverged (default: above its step-0 loss). */
  divergence_threshold: z.number().positive().optional(),
  max_failures: z.number().int().positive().default(3),
  /** Bracket-and-refine LR search instead of an optimizer.lr axis. */
  lr_search: LrSearchSchema.optional(),
  /**
   * Sweep directories (from the working directory) whose finished trials with the same resolved config
   * (the same trial id) are copied in instead of being run again; a missing one is noted and skipped.
   */
  reuse: z.array(z.string().min(1)).default([]),
  /** Refuse a grid of more trials than this (default 100,000; `--max-trials N` overrides it). */
  max_trials: z.number().int().positive().optional(),
}).strict().transform((o, ctx) => {
  // Counted by multiplication before expanding: a 2-million-point grid would exhaust memory first.
  const { size, factors } = gridSize(o);
  const limit = maxTrials(o.max_trials);
  if (size > limit) {
    ctx.addIssue({
      code: "custom",
      message:
        `the grid has ${size.toLocaleString("en-US")} trials (${factors}), more than max_trials ${limit} ` +
        `(raise it with max_trials: or --max-trials N)`,
      path: ["grid"],
    });
    return z.NEVER;
  }
  const base = structuredClone(o.base);
  if (o.divergence_threshold !== undefined) {
    setPath(base, ["train", "divergence_threshold"], o.divergence_threshold);
  }
  const { trials, issues } = expandGrid(base, o);
  let search: { groups: SearchGroup[]; by: string[]; scale: string[] } | undefined;
  if (o.lr_search) {
    const axes = [...Object.keys(o.grid), ...o.zip.flatMap((z) => Object.keys(z))];
    // A zip row may set optimizer.lr as its group's starting LR (center: row); any other LR axis is refused.
    if ("optimizer.lr" in o.grid) {
      ctx.addIssue({
        code: "custom",
        message: "optimizer.lr cannot be a grid axis together with lr_search (the search chooses the LRs)",
        path: ["grid", "optimizer.lr"],
      });
    } else if (axes.includes("optimizer.lr") && o.lr_search.center !== "row") {
      ctx.addIssue({
        code: "custom",
        message: `optimizer.lr in a zip sets where each group's search starts: it needs center: row ` +
          `(got center: ${o.lr_search.center})`,
        path: ["lr_search", "center"],
      });
    } else {
      // A row's start must lie in the search's range, as a given centre must (lr_search_options.ts).
      o.zip.forEach((z, zi) =>
        ((z["optimizer.lr"] ?? []) as unknown[]).forEach((lr, j) => {
          const why = outsideRange(Number(lr), o.lr_search!.range.log2, "lr_search.range");
          if (why) ctx.addIssue({ code: "custom", message: why, path: ["zip", zi, "optimizer.lr", j] });
        })
      );
    }
    o.lr_search.scale?.forEach((a, i) => {
      if (!axes.includes(a)) {
        ctx.addIssue({
          code: "custom",
          message: `${JSON.stringify(a)} is not a grid or zip axis (axes: ${axes.join(", ") || "none"})`,
          path: ["lr_search", "scale", i],
        });
      }
    });
    const scale = scaleAxes(axes, o.lr_search.scale);
    if (o.lr_search.until_decided && scale.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message: `needs exactly one scale axis, found ${scale.length} (${scale.join(", ") || "none"}): ` +
          `name it in lr_search.scale`,
        path: ["lr_search", "until_decided"],
      });
    }
    const by = axes.filter((a) => !scale.includes(a) && a !== "optimizer.lr");
    search = { groups: searchGroups(trials, scale), by, scale };
  }
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
  return { ...o, executor, trials, search };
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
      const replan = o.lr_search && o.search ? searchPlanner(dir, o.lr_search, o.search) : undefined;
      if (ctx.flags.status) {
        const plan = replan ? await replan.plan() : undefined;
        const trials = plan?.trials ?? await readPlan(dir).catch(() => o.trials);
        if (!plan) await adoptExistingDirs(dir, trials); // trials restored under an earlier naming
        const summary = await summarize(dir, trials);
        console.log(summaryLine(summary));
        for (const line of await problemLines(dir, trials)) console.log(line);
        if (plan) { for (const line of searchStatusLines(plan)) console.log(line); }
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
        replan: replan && (async () => (await replan.write(await replan.plan(), ctx.log)).trials),
        fresh: Boolean(ctx.flags.fresh),
        retryFailed: Boolean(ctx.flags.retryFailed),
        reuse: o.reuse,
        detach: Boolean(ctx.flags.detach),
        pipeline: ctx.flags.pipelineRaw,
        plugins: ctx.plugins,
        log: ctx.log,
      });
      const trials = replan ? await readPlan(dir) : o.trials;
      return { dir, trials, summary, detached: summary.detached };
    },
  }),
});

/** The adaptive sweep's planner over the files of `dir`: plans from the finished results, writes search.json. */
function searchPlanner(
  dir: string,
  o: z.infer<typeof LrSearchSchema>,
  s: { groups: SearchGroup[]; by: string[]; scale: string[] },
) {
  const ctx: PlanContext = {
    by: s.by,
    scale: s.scale,
    // The plan is replayed after every wave: each round's estimate is made once per sweep process.
    estimate: memoEstimator(jointEstimator),
    result: async (t) => {
      const r = await readJSON<TrialResult & { requeue?: boolean }>(`${dir}/${t.dir}/result.json`).catch(() =>
        null
      );
      return r && !r.requeue ? r : null; // a trial the scheduler killed runs again
    },
  };
  let last = "";
  return {
    async plan() {
      // The centres an earlier run chose with these same options (a resume replays them, whatever the estimator).
      const prev = await readJSON<{ options: unknown; groups: GroupReport[]; answer?: AnswerReport }>(
        `${dir}/search.json`,
      ).catch(() => null);
      ctx.centers = new Map();
      ctx.rounds = undefined;
      if (prev && canonicalJSON(prev.options) === canonicalJSON(o)) {
        for (const g of prev.groups) {
          if (g.center_lr !== null) ctx.centers.set(g.group, { lr: g.center_lr, from: g.center_from });
        }
        // The sequential search's rounds replay as recorded (the last one is re-decided when it added nothing).
        ctx.rounds = prev.answer?.rounds.filter((r) => r.trials.length);
      }
      return await planSearch(o, s.groups, ctx);
    },
    /** Writes search.json and logs the per-group lines when they changed. */
    async write(plan: SearchPlan, log: (l: string) => void): Promise<SearchPlan> {
      await Deno.mkdir(dir, { recursive: true });
      const { trials: _t, todo: _d, ...rest } = plan;
      await writeFileAtomic(`${dir}/search.json`, JSON.stringify({ options: o, ...rest }, null, 1));
      const lines = searchStatusLines(plan).join("\n");
      if (lines !== last) log(lines);
      last = lines;
      return plan;
    },
  };
}
