/**
 * The `collapse-study` stage: trains each variant with the `collapse` probe
 * (per-layer rank-collapse residual, effective and stable rank, token
 * cosine, attention entropy), then writes `collapse.csv` (one row per
 * variant x measured step x layer) and `collapse.png` / `.svg` (metrics
 * against layer, one line per variant, at init and at the end). Dong et al.'s
 * configurations are attnstack variants (docs/reference.md section 6).
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";
import { readProbeCSV } from "../../engine/train/probe.ts";
import { lineChartSpec } from "../../engine/analysis/line_chart.ts";
import { writeFigure } from "../../engine/analysis/render.ts";
import { toCSV } from "../../engine/core/csv.ts";
import { resolveStudy, runStudy, StudyOptions, withProbe } from "../../engine/train/study.ts";
import type { TrialConfig } from "../../engine/core/config.ts";
import { writeFileAtomic } from "../../engine/core/fs.ts";

const schema = StudyOptions.extend({
  /** Measure every this many steps (default: only at init and at the end). */
  every: z.number().int().positive().optional(),
  /** Sequences of the probe batch to measure. */
  sequences: z.number().int().positive().default(4),
  /** Metrics drawn in the figure. */
  plot: z.array(
    z.enum(["residual", "effective_rank", "stable_rank", "cosine", "rank", "rank_excess", "entropy"]),
  )
    .default(["residual", "effective_rank", "cosine", "entropy"]),
}).strict().transform(resolveStudy);

/** One row of collapse.csv. */
export interface CollapseRow {
  config: string;
  step: number;
  layer: number;
  residual: number;
  effective_rank: number;
  stable_rank: number;
  cosine: number;
  rank: number;
  rank_excess: number;
  entropy: number;
}

const METRICS = [
  "residual",
  "effective_rank",
  "stable_rank",
  "cosine",
  "rank",
  "rank_excess",
  "entropy",
] as const;

/** Per-layer rows of one trial's probes/collapse.csv. */
export async function collapseRows(dir: string, config: string): Promise<CollapseRow[]> {
  const { columns, rows } = await readProbeCSV(`${dir}/probes/collapse.csv`);
  const out: CollapseRow[] = [];
  for (const r of rows) {
    const at = (c: string) => (columns.includes(c) ? r[columns.indexOf(c)] : NaN);
    for (let l = 0; columns.includes(`L${l}.residual`); l++) {
      const row = { config, step: r[0], layer: l } as CollapseRow;
      for (const m of METRICS) row[m] = at(`L${l}.${m}`);
      out.push(row);
    }
  }
  return out;
}

register("stage", "collapse-study", {
  describe: "representational collapse vs layer for several configurations (collapse.csv, collapse.png)",
  schema,
  create: (o: z.output<typeof schema>): Stage => ({
    async run(ctx) {
      const every = (t: TrialConfig) => o.every ?? t.train.steps; // default: at the end only
      const trials = withProbe(o.trials, { name: "collapse", every, sequences: o.sequences });
      const runs = await runStudy(ctx, o.variants, trials);
      const rows: CollapseRow[] = [];
      for (const r of runs) if (r.result.status === "ok") rows.push(...(await collapseRows(r.dir, r.label)));
      await writeFileAtomic(
        `${ctx.outDir}/collapse.csv`,
        toCSV(rows as unknown as Record<string, unknown>[]),
      );
      // Figure: init and last measured step of each config.
      const long: Record<string, unknown>[] = [];
      for (const run of runs) {
        const mine = rows.filter((r) => r.config === run.label);
        const steps = [...new Set(mine.map((r) => r.step))];
        const last = Math.max(...steps);
        for (const r of mine) {
          if (r.step !== 0 && r.step !== last) continue;
          for (const m of o.plot) {
            long.push({
              config: r.config,
              phase: r.step === 0 ? "at init" : `after ${last} steps`,
              layer: r.layer,
              metric: m,
              value: r[m],
            });
          }
        }
      }
      const base = o.trials[0];
      const png = await writeFigure(
        `${ctx.outDir}/collapse`,
        lineChartSpec({
          rows: long,
          x: "layer",
          y: "value",
          color: "config",
          column: "metric",
          row: "phase",
          points: true,
          title: "Representational collapse vs layer",
          subtitle:
            `width ${base.model.width}, depth ${base.model.depth}, T = ${base.data.seq_len}; layer 0 = embedding`,
          colorOrder: o.variants.map((v) => v.label),
          columnOrder: o.plot,
          rowOrder: [...new Set(long.map((r) => r.phase as string))].sort((
            a,
            b,
          ) => (a === "at init" ? -1 : b === "at init" ? 1 : 0)),
          yTitle: "",
          width: 170,
          height: 130,
        }),
      );
      ctx.log(`collapse study: ${ctx.outDir}/collapse.csv, ${png}`);
      return {
        rows,
        figure: png,
        runs: runs.map((r) => ({ label: r.label, dir: r.dir, status: r.result.status })),
      };
    },
  }),
});
