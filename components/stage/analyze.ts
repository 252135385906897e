/**
 * The `analyze` stage: eta* per group, the fitted scaling law per family with
 * bootstrap intervals and a verdict, predictions and figures, written into the
 * sweep directory (analysis.json, optima.csv, analysis.md, figures/).
 */
import { writeFileAtomic } from "../../engine/core/fs.ts";
import { z } from "zod";
import { join } from "node:path";
import { register } from "../../engine/core/registry.ts";
import type { Stage, StageContext } from "../../engine/core/stage.ts";
import { type Analysis, analyzeSweep } from "../../engine/analysis/analyze.ts";
import "../../engine/sweep/sweep_table.ts";

/** Options shared by the analyze and report stages. */
export const analysisSchema = z.object({
  /** Sweep directory (relative to the working directory); default: the pipeline's output dir. */
  dir: z.string().optional(),
  /** Family keys (default: parameterization.name). */
  by: z.array(z.string()).optional(),
  /** Scale axes (default: those of model.width, model.depth, train.steps, ... that vary). */
  scale: z.array(z.string()).optional(),
  /** Loss column (default final_val_loss). */
  loss: z.string().optional(),
  /** LR column (default optimizer.lr). */
  lr: z.string().optional(),
  /** Seed column (default train.seed when present). */
  seed: z.string().optional(),
  /** Status column (default status; its words as in engine/analysis/table.ts). */
  status: z.string().optional(),
  /** Tolerance band on |slope| for "transfers". */
  tolerance: z.number().nonnegative().default(0.1),
  /** Parametric-bootstrap curves per group (also the pipeline draws of the slope). */
  resamples: z.number().int().nonnegative().default(400),
  /** Seed of the bootstrap. */
  bootstrap_seed: z.number().int().default(0),
  /** Scales to extrapolate eta* to, e.g. [{width: 4096}]. */
  predict: z.array(z.record(z.string(), z.number().positive())).default([]),
  /** Render figures (SVG, PNG). */
  figures: z.boolean().default(true),
}).strict();

/** Validated options of the analyze stage. */
export type AnalysisStageOptions = z.infer<typeof analysisSchema>;

/**
 * Runs the analysis for a stage: the sweep dir defaults to `ctx.outDir`. The
 * pipeline file as written (comments, anchors) is kept beside the results as
 * `pipeline.source.yaml`, for the report.
 */
export async function runAnalysis(o: AnalysisStageOptions, ctx: StageContext): Promise<Analysis> {
  const dir = o.dir ?? ctx.outDir;
  if (ctx.pipelineFile) {
    try {
      const text = await Deno.readTextFile(ctx.pipelineFile);
      await Deno.mkdir(dir, { recursive: true });
      await writeFileAtomic(join(dir, "pipeline.source.yaml"), text);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return analyzeSweep(dir, {
    by: o.by,
    scale: o.scale,
    loss: o.loss,
    lr: o.lr,
    seed: o.seed,
    status: o.status,
    tolerance: o.tolerance,
    resamples: o.resamples,
    bootstrapSeed: o.bootstrap_seed,
    predict: o.predict,
    figures: o.figures,
    log: ctx.log,
  });
}

register("stage", "analyze", {
  describe: "optimal LR per scale, fitted scaling law with bootstrap CI, transfer verdict, figures",
  schema: analysisSchema,
  create: (o: AnalysisStageOptions): Stage => ({
    async run(ctx) {
      const a = await runAnalysis(o, ctx);
      for (const f of a.fits) {
        for (const c of f.coefficients) ctx.log(`analyze: ${f.family}: ${c.verdict}`);
        if (f.note) ctx.log(`analyze: ${f.family}: no fit: ${f.note}`);
      }
      ctx.log(`analyze: wrote ${a.files.join(", ")} in ${a.dir}`);
      return a;
    },
  }),
});
