/**
 * The `skipless-study` stage: trains each variant (pre-norm, norm-free with
 * skips, vanilla E-SPA / shaped / naive, ...; docs/reference.md section 5) and
 * writes `curves.csv` (every logged row of every variant), `summary.csv`
 * (final and best val loss, wall time, and the val loss at each
 * `compare_at` step) and `curves.png` / `.svg` (val loss against step, one
 * line per variant).
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";
import { lineChartSpec } from "../../engine/analysis/line_chart.ts";
import { writeFigure } from "../../engine/analysis/render.ts";
import { toCSV } from "../../engine/core/csv.ts";
import { readMetrics, resolveStudy, runStudy, StudyOptions } from "../../engine/train/study.ts";
import { writeFileAtomic } from "../../engine/core/fs.ts";

const schema = StudyOptions.extend({
  /** Steps at which summary.csv reports each variant's val loss (default: every variant's step count). */
  compare_at: z.array(z.number().int().positive()).default([]),
  /** Log-scale step axis. */
  log_steps: z.boolean().default(false),
}).strict().transform(resolveStudy);

register("stage", "skipless-study", {
  describe: "loss curves of skipless / norm-free / pre-norm variants (curves.csv, summary.csv, curves.png)",
  schema,
  create: (o: z.output<typeof schema>): Stage => ({
    async run(ctx) {
      const runs = await runStudy(ctx, o.variants, o.trials);
      const compare = o.compare_at.length
        ? o.compare_at
        : [...new Set(o.trials.map((t) => t.train.steps))].sort((a, b) => a - b);
      const curves: Record<string, unknown>[] = [], summary: Record<string, unknown>[] = [];
      for (const r of runs) {
        const m = await readMetrics(r.dir).catch(() => []);
        for (const row of m) curves.push({ config: r.label, ...row });
        const s: Record<string, unknown> = {
          config: r.label,
          status: r.result.status,
          steps: r.trial.train.steps,
          step0_val_loss: r.result.step0_val_loss,
          final_val_loss: r.result.final_val_loss,
          best_val_loss: r.result.best_val_loss,
          wall_s: +r.result.wall_s.toFixed(1),
        };
        for (const at of compare) {
          s[`val_loss@${at}`] = m.find((x) => x.step === at && Number.isFinite(x.val_loss))?.val_loss ?? null;
        }
        summary.push(s);
      }
      await writeFileAtomic(
        `${ctx.outDir}/curves.csv`,
        toCSV(curves, ["config", "step", "train_loss", "val_loss", "lr", "tokens", "elapsed"]),
      );
      await writeFileAtomic(`${ctx.outDir}/summary.csv`, toCSV(summary));
      const base = o.trials[0];
      const floor = runs.find((r) => r.result.val_unigram_entropy !== null)?.result.val_unigram_entropy ??
        null;
      const png = await writeFigure(
        `${ctx.outDir}/curves`,
        lineChartSpec({
          rows: curves.filter((c) => Number.isFinite(c.val_loss as number)),
          x: "step",
          y: "val_loss",
          color: "config",
          points: true,
          logX: o.log_steps,
          title: "Training without shortcuts",
          subtitle:
            `val loss; width ${base.model.width}, depth ${base.model.depth}, batch ${base.train.batch_size} x ${base.data.seq_len} tokens`,
          yTitle: "val loss (nats)",
          colorOrder: o.variants.map((v) => v.label),
          rules: floor === null ? [] : [{ y: floor, label: `val unigram entropy ${floor.toFixed(3)}` }],
          width: 420,
          height: 260,
        }),
      );
      ctx.log(`skipless study: ${ctx.outDir}/summary.csv, ${png}`);
      for (const s of summary) ctx.log(`  ${JSON.stringify(s)}`);
      return { summary, figure: png };
    },
  }),
});
