/**
 * The `alignment-study` stage: trains the variants (the same model at
 * several widths) with the `alignment` probe, fits alpha, omega, nu per
 * matrix role and step as the slope of log(ratio) against log(width)
 * (components/probe/alignment_exponents.ts, REFERENCE.md section 3), and writes `exponents.csv`,
 * `local.csv` (each width's single-width estimates) and `exponents.png` /
 * `.svg` (fitted exponents against step, one line per role; dashed 1/2 and 1
 * are the independent and fully aligned limits).
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";
import { alignmentAcrossWidths, readProbeCSV } from "../probe/alignment_exponents.ts";
import { lineChartSpec, toCSV, writeFigure } from "../../engine/analysis/charts.ts";
import { resolveStudy, runStudy, StudyOptions, withProbe } from "../../engine/train/study.ts";
import { writeFileAtomic } from "../../engine/core/fs.ts";

const schema = StudyOptions.extend({
  /** Measure every this many steps. */
  every: z.number().int().positive().default(10),
  /** Sequences of the probe batch used as matrix inputs. */
  sequences: z.number().int().positive().default(4),
}).strict().transform(resolveStudy);

register("stage", "alignment-study", {
  describe: "alignment exponents alpha/omega/nu vs step, fitted across widths (exponents.csv, exponents.png)",
  schema,
  create: (o: z.output<typeof schema>): Stage => ({
    async run(ctx) {
      const trials = withProbe(o.trials, { name: "alignment", every: o.every, sequences: o.sequences });
      const runs = await runStudy(ctx, o.variants, trials);
      const ok = runs.filter((r) => r.result.status === "ok");
      const fits = await alignmentAcrossWidths(ok.map((r) => r.dir));
      await writeFileAtomic(
        `${ctx.outDir}/exponents.csv`,
        toCSV(fits as unknown as Record<string, unknown>[]),
      );
      const local: Record<string, unknown>[] = [];
      for (const r of ok) {
        const { columns, rows } = await readProbeCSV(`${r.dir}/probes/alignment.csv`);
        for (const row of rows) {
          columns.forEach((c, i) => {
            const [e, ...role] = c.split(".");
            if (["alpha", "omega", "nu"].includes(e) && Number.isFinite(row[i])) {
              local.push({
                width: r.trial.model.width,
                step: row[0],
                exponent: e,
                role: role.join("."),
                value: row[i],
              });
            }
          });
        }
      }
      await writeFileAtomic(`${ctx.outDir}/local.csv`, toCSV(local));
      const widths = ok.map((r) => r.trial.model.width).join(", ");
      const png = await writeFigure(
        `${ctx.outDir}/exponents`,
        lineChartSpec({
          rows: fits.map((f) => ({ ...f })),
          x: "step",
          y: "value",
          color: "role",
          column: "exponent",
          points: true,
          independentY: false,
          columnOrder: ["alpha", "omega", "nu"],
          title: "Alignment exponents (slope of log ratio vs log width)",
          subtitle: `${o.trials[0].model.block} / ${
            o.trials[0].parameterization.name
          }, widths ${widths}; 0.5 = independent, 1 = aligned`,
          yTitle: "exponent",
          width: 220,
          height: 180,
        }),
      );
      ctx.log(`alignment study: ${ctx.outDir}/exponents.csv, ${png}`);
      return { fits, figure: png };
    },
  }),
});
