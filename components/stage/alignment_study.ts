/**
 * The `alignment-study` stage: trains the variants (the same model at
 * several widths) with the `alignment` probe, fits alpha, omega, nu per
 * matrix role and step as the slope of log(ratio) against log(width)
 * (components/probe/alignment.ts, docs/reference.md section 3), and writes `exponents.csv`,
 * `local.csv` (each width's single-width estimates), `weighted.csv` (the
 * loss-decrease-weighted averages of alpha, omega, nu and max(alpha, nu) per
 * role, per width and across widths: `weightedAlignment`; one row per seed), `exponents_ci.csv` and
 * `weighted_ci.csv` (mean and 95% interval across seeds: components/probe/alignment_seeds.ts), `exponents.png` /
 * `.svg` (fitted exponents against step, one line per role) and `local.png`
 * (each width's single-model exponents, averaged over hidden roles).
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";
import { readProbeCSV } from "../../engine/train/probe.ts";
import { alignmentBySeed, exponentIntervals, weightedIntervals } from "../probe/alignment_seeds.ts";
import { lineChartSpec } from "../../engine/analysis/line_chart.ts";
import { writeFigure } from "../../engine/analysis/render.ts";
import { toCSV } from "../../engine/core/csv.ts";
import { resolveStudy, runStudy, StudyOptions, withProbe } from "../../engine/train/study.ts";
import { writeFileAtomic } from "../../engine/core/fs.ts";

const schema = StudyOptions.extend({
  /** Measure every this many steps. */
  every: z.number().int().positive().default(10),
  /** Sequences of the probe batch used as matrix inputs. */
  sequences: z.number().int().positive().default(4),
  /** Deltas from initialization (the paper's Def. 3.1) or from the previous measurement. */
  reference: z.enum(["init", "previous"]).default("init"),
}).strict().transform(resolveStudy);

register("stage", "alignment-study", {
  describe: "alignment exponents alpha/omega/nu vs step, fitted across widths (exponents.csv, exponents.png)",
  schema,
  create: (o: z.output<typeof schema>): Stage => ({
    async run(ctx) {
      const trials = withProbe(o.trials, { name: "alignment", every: o.every, sequences: o.sequences })
        .map((t) => ({
          ...t,
          probes: t.probes.map((p) => p.name === "alignment" ? { ...p, reference: o.reference } : p),
        }));
      const runs = await runStudy(ctx, o.variants, trials);
      const ok = runs.filter((r) => r.result.status === "ok");
      // Each seed fitted across its widths, then intervals across seeds.
      const seeds = await alignmentBySeed(ok.map((r) => r.dir));
      const fits = seeds.flatMap((s) => s.fits.map((f) => ({ seed: s.seed, ...f })));
      await writeFileAtomic(
        `${ctx.outDir}/exponents.csv`,
        toCSV(fits as unknown as Record<string, unknown>[]),
      );
      const fitCIs = exponentIntervals(seeds);
      await writeFileAtomic(
        `${ctx.outDir}/exponents_ci.csv`,
        toCSV(fitCIs as unknown as Record<string, unknown>[]),
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
                seed: r.trial.train.seed,
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
      const weighted = seeds.flatMap((s) => s.weighted.map((w) => ({ seed: s.seed, ...w })));
      await writeFileAtomic(
        `${ctx.outDir}/weighted.csv`,
        toCSV(weighted as unknown as Record<string, unknown>[]),
      );
      const weightedCIs = weightedIntervals(seeds);
      await writeFileAtomic(
        `${ctx.outDir}/weighted_ci.csv`,
        toCSV(weightedCIs as unknown as Record<string, unknown>[]),
      );
      for (const w of weightedCIs.filter((w) => w.role === "hidden" && w.quantity === "max_alpha_nu")) {
        ctx.log(
          `alignment: loss-weighted max(alpha, nu), hidden roles, ${
            w.method === "local" ? `w${w.width}` : "across widths"
          }: ${w.mean.toFixed(3)} [${w.lo.toFixed(3)}, ${w.hi.toFixed(3)}] over ${w.seeds} seeds`,
        );
      }
      const hiddenLocal = meanOverHidden(local);
      await writeFigure(
        `${ctx.outDir}/local`,
        lineChartSpec({
          rows: hiddenLocal,
          x: "step",
          y: "value",
          color: "width",
          column: "exponent",
          points: true,
          independentY: false,
          columnOrder: ["alpha", "omega", "nu"],
          title: "Single-model alignment exponents log(ratio) / log(d_in), mean over hidden roles and seeds",
          subtitle: `deltas from ${o.reference === "init" ? "initialization" : "the previous measurement"}`,
          yTitle: "exponent",
          width: 220,
          height: 180,
        }),
      );
      const widths = [...new Set(ok.map((r) => r.trial.model.width))].join(", ");
      const png = await writeFigure(
        `${ctx.outDir}/exponents`,
        lineChartSpec({
          rows: fitCIs.map((f) => ({ ...f })),
          x: "step",
          y: "mean",
          color: "role",
          column: "exponent",
          points: true,
          independentY: false,
          columnOrder: ["alpha", "omega", "nu"],
          band: { lo: "lo", hi: "hi" },
          title: "Alignment exponents (slope of log ratio vs log width), mean and 95% interval over seeds",
          subtitle:
            `${o.trials[0].model.block} / ${
              o.trials[0].parameterization.name
            }, widths ${widths}, ${seeds.length} seed(s); ` +
            "deltas from W(0), h(0): 0.5 = independent, 1 = aligned",
          yTitle: "exponent",
          width: 220,
          height: 180,
        }),
      );
      ctx.log(`alignment study: ${ctx.outDir}/exponents.csv, ${png}`);
      return { fits, weighted, intervals: weightedCIs, figure: png };
    },
  }),
});

/** Mean over the non-readout roles (and seeds) of each (width, step, exponent). */
function meanOverHidden(local: Record<string, unknown>[]): Record<string, unknown>[] {
  const acc = new Map<string, { width: unknown; step: unknown; exponent: unknown; s: number; n: number }>();
  for (const r of local) {
    if (r.role === "readout") continue;
    const k = `${r.width}|${r.step}|${r.exponent}`;
    const a = acc.get(k) ??
      acc.set(k, { width: r.width, step: r.step, exponent: r.exponent, s: 0, n: 0 }).get(k)!;
    a.s += r.value as number, a.n++;
  }
  return [...acc.values()].map((a) => ({
    width: String(a.width),
    step: a.step,
    exponent: a.exponent,
    value: a.s / a.n,
  }));
}
