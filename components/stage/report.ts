/**
 * The `report` stage: a self-contained `report.html` in the sweep directory
 * (verdicts, figures, optima, the resolved pipeline). Reuses the analysis of
 * an earlier `analyze` stage when there is one, else runs it.
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";
import { isAnalysis } from "../../engine/analysis/analyze.ts";
import { writeReport } from "../../engine/analysis/report.ts";
import { analysisSchema, runAnalysis } from "./analyze.ts";
import { searchSections } from "../../engine/sweep/lr_search_render.ts";

const schema = analysisSchema.extend({
  /** Page title. */
  title: z.string().optional(),
}).strict();

register("stage", "report", {
  describe: "self-contained HTML report of a sweep: verdicts, figures, optima, pipeline",
  schema,
  create: (o: z.infer<typeof schema>): Stage => ({
    async run(ctx) {
      const dir = o.dir ?? ctx.outDir;
      const prev = [...ctx.inputs.values()].reverse().find((v) => isAnalysis(v) && v.dir === dir);
      const a = isAnalysis(prev) ? prev : await runAnalysis(o, ctx);
      // An adaptive sweep's search.json: what the LR search spent against the dense grid.
      const sections = await searchSections(dir);
      const path = await writeReport(a, { title: o.title, sections });
      ctx.log(`report: ${path}`);
      return { report: path, analysis: a };
    },
  }),
});
