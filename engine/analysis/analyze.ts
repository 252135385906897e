/**
 * The whole analysis of a sweep directory: optima per group, fitted laws and
 * verdicts, predictions, figures; written next to the results as
 * `analysis.json`, `optima.csv`, `analysis.md` and `figures/*.svg|png`.
 */
import { join } from "node:path";
import type { ColumnTable } from "arquero";
import { DmodelError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/fs.ts";
import { loadMetrics, loadResults } from "./load.ts";
import { collectProvenance, type Provenance } from "./provenance.ts";
import {
  groupFields,
  type Optima,
  optimalLR,
  type OptimaOptions,
  optimaTable,
  shortName,
} from "./optimum.ts";
import {
  compareAll,
  type Comparison,
  type FitOptions,
  fitScaling,
  methodText,
  type Prediction,
  predictLR,
  type ScalingFit,
} from "./fit.ts";
import { type JointFit, jointMethodText, jointScaling } from "./joint.ts";
import { noiseText } from "./noise.ts";
import { plainAnswers } from "./answer.ts";
import {
  etaVsScaleSpec,
  lossVsLRSpec,
  renderPNG,
  renderSVG,
  trainingCurvesSpec,
  type TrainingPoint,
  type VegaLiteSpec,
} from "./plots.ts";

/** Options of `analyzeSweep`: those of `optimalLR` and `fitScaling`, plus output choices. */
export interface AnalyzeOptions extends OptimaOptions, Omit<FitOptions, "scale" | "resamples" | "level"> {
  /** Scales to extrapolate the fitted laws to, e.g. `[{ width: 4096 }]`. */
  predict?: Record<string, number>[];
  /** Render figures (SVG, and PNG when a font is available). Default true. */
  figures?: boolean;
  /** Also rasterize figures to PNG. Default true. */
  png?: boolean;
  /** Write the output files into the sweep directory. Default true. */
  write?: boolean;
  /** Progress and notices. */
  log?: (line: string) => void;
}

/** One rendered figure. */
export interface Figure {
  name: string;
  title: string;
  spec: VegaLiteSpec;
  svg: string;
  /** PNG path relative to the sweep dir, when rendered. */
  png?: string;
  pngBytes?: number;
}

/** The result of `analyzeSweep`. */
export interface Analysis {
  kind: "dmodel.analysis";
  dir: string;
  optima: Optima;
  /** The verdicts' laws: the joint fit of every trial per family (./joint.ts). */
  fits: JointFit[];
  /** The two-stage cross-check: per-scale optima, then a weighted regression (./fit.ts). */
  twoStage: ScalingFit[];
  /** Two or three plain sentences per family (./answer.ts). */
  answers: [string, string[]][];
  predictions: Prediction[];
  /** Paired comparisons of the families' slopes. */
  comparisons: Comparison[];
  /** What `--json` prints and `analysis.json` holds. */
  json: AnalysisJSON;
  markdown: string;
  figures: Figure[];
  /** Files written, relative to `dir`. */
  files: string[];
  notes: string[];
  /** Status counts over all trials. */
  counts: { ok: number; diverged: number; failed: number };
  /** Code, runtime, machine and compute behind the results. */
  provenance: Provenance;
}

/** The JSON summary of an analysis (NaN written as null). */
export interface AnalysisJSON {
  by: string[];
  scale: string[];
  lr: string;
  loss: string;
  seed: string | null;
  tolerance: number;
  level: number;
  /** How eta*, the intervals and the verdicts are computed, in words. */
  method: string;
  n_trials: number;
  /** Trial-noise estimates per family. */
  noise: Record<string, unknown>;
  groups: Record<string, unknown>[];
  /** One entry per family and scale axis: {family, scale, slope, slope_ci, r2, verdict, ...}. */
  fits: Record<string, unknown>[];
  /** The two-stage estimate (per-scale optima, then a regression), as a cross-check of `fits`. */
  fits_two_stage?: Record<string, unknown>[];
  /** Per family: the plain answer's sentences. */
  answers?: Record<string, string[]>;
  predictions: Record<string, unknown>[];
  /** Paired comparisons: {family, reference, scale, difference, ci, text}. */
  comparisons: Record<string, unknown>[];
  /** Code, runtime, machine and compute behind the results (from `analyzeSweep`). */
  provenance?: Provenance;
}

/** True for the value `analyzeSweep` returns (used by the report stage to reuse it). */
export function isAnalysis(v: unknown): v is Analysis {
  return typeof v === "object" && v !== null && (v as Analysis).kind === "dmodel.analysis";
}

/** NaN and infinities to null, for JSON. */
function clean(v: unknown): unknown {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (Array.isArray(v)) return v.map(clean);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clean(x)]));
  }
  return v;
}

/**
 * The JSON summary: groups with their keys and optimum, one fit entry per
 * family and scale axis (a family without a fit gets one entry whose verdict
 * says why), predictions.
 *
 * @example
 * ```ts
 * console.log(JSON.stringify(analysisJSON(optima, fits, []), null, 2));
 * ```
 */
export function analysisJSON(
  optima: Optima,
  fits: ScalingFit[],
  predictions: Prediction[],
  tolerance = 0.1,
  comparisons: Comparison[] = [],
  provenance?: Provenance,
  twoStage?: ScalingFit[],
  answers?: [string, string[]][],
): AnalysisJSON {
  const joint = fits.some((f) => "per_scale" in f);
  return clean({
    by: optima.by,
    scale: optima.scale,
    lr: optima.lr,
    loss: optima.loss,
    seed: optima.seed,
    tolerance,
    level: optima.level,
    method: joint ? jointMethodText(tolerance, optima.level) : methodText(tolerance, optima.level),
    n_trials: optima.n_trials,
    noise: optima.noise,
    groups: optima.groups.map((g) => ({ ...g.keys, family: g.family, ...groupFields(g) })),
    fits: fitEntries(fits),
    ...(twoStage ? { fits_two_stage: fitEntries(twoStage) } : {}),
    ...(answers ? { answers: Object.fromEntries(answers) } : {}),
    predictions: predictions.map((p) => ({ ...p })),
    comparisons: comparisons.map((c) => ({ ...c })),
    ...(provenance ? { provenance } : {}),
  }) as AnalysisJSON;
}

/** The JSON entries of fitted laws: one per family and scale axis (or one saying why there is none). */
function fitEntries(fits: ScalingFit[]): Record<string, unknown>[] {
  return fits.flatMap((f): Record<string, unknown>[] =>
    f.coefficients.length
      ? f.coefficients.map((c, j) => ({
        family: f.family,
        scale: c.scale,
        slope: c.slope,
        slope_ci: c.slope_ci,
        r2: f.r2,
        verdict: c.verdict,
        call: c.call,
        reason: c.reason,
        transfers: c.transfers,
        slope_se: c.slope_se,
        intercept: f.intercept,
        chi2: f.chi2,
        dof: f.dof,
        birge: f.birge,
        n_groups: f.n_groups,
        n_resamples: f.n_resamples,
        excluded: f.excluded,
        ...("per_scale" in f
          ? {
            u_stat: (f as JointFit).u_stat[j],
            u_model: (f as JointFit).u_model[j],
            u_res: (f as JointFit).u_res[j],
            model_slopes: (f as JointFit).model_slopes[c.scale],
            noise_model: (f as JointFit).noise,
            per_scale: (f as JointFit).per_scale,
          }
          : {}),
      }))
      : [{
        family: f.family,
        scale: null,
        slope: null,
        slope_ci: null,
        r2: null,
        verdict: `no fit: ${f.note}`,
        call: "inconclusive",
        reason: f.note,
        transfers: null,
        n_groups: f.n_groups,
        excluded: f.excluded,
      }]
  );
}

/** Formats an LR as "0.0312 (2^-5.00)". */
export function fmtLR(v: number): string {
  return Number.isFinite(v) ? `${v.toPrecision(3)} (2^${Math.log2(v).toFixed(2)})` : "n/a";
}

/** Formats a number with `d` decimals; Infinity (a diverged LR) as "diverged", NaN as "n/a". */
export function fmtNum(v: number, d = 4): string {
  return Number.isFinite(v) ? v.toFixed(d) : v === Infinity ? "diverged" : "n/a";
}
const fmt = fmtNum;

/** The value columns of the optima table, in the order analysis.md and the report show them. */
export const OPTIMA_COLUMNS = [
  "eta*",
  "eta* (grid)",
  "u_stat",
  "u_sys",
  "loss*",
  "trials",
  "diverged",
  "failed",
  "cost of transfer",
  "cost (observed)",
] as const;

/** A prediction's interval, "[lo, hi]", or why there is none. */
export function fmtInterval(p: Prediction): string {
  return Number.isFinite(p.eta_lo) ? `[${fmtLR(p.eta_lo)}, ${fmtLR(p.eta_hi)}]` : "no interval";
}

/** "0.0123 [0.0040, 0.0210]" for a value and its interval. */
export function fmtWithCI(v: number, ci: [number, number], d = 4): string {
  return Number.isFinite(ci[0]) ? `${fmtNum(v, d)} [${fmtNum(ci[0], d)}, ${fmtNum(ci[1], d)}]` : fmtNum(v, d);
}

/** The verdict lines, one per family and fitted axis. */
export function verdictLines(fits: ScalingFit[]): string[] {
  return fits.flatMap((f) =>
    f.coefficients.length
      ? f.coefficients.map((c) =>
        `${f.family}: ${c.verdict} (R^2 ${fmt(f.r2, 3)}, ${f.n_groups} groups${
          f.birge > 1 ? `, interval widened x${f.birge.toFixed(2)} for scatter about the law` : ""
        }${f.excluded.length ? `; left out, not bracketed: ${f.excluded.join(", ")}` : ""})`
      )
      : [`${f.family}: inconclusive: no fit: ${f.note}`]
  );
}

/** The call of each verdict line ("transfers" | "drifts" | "inconclusive"), for styling. */
export function verdictCalls(fits: ScalingFit[]): string[] {
  return fits.flatMap((f) => f.coefficients.length ? f.coefficients.map((c) => c.call) : ["inconclusive"]);
}

/** eta* with its interval: "0.0312 (2^-5.00) [2^-5.40, 2^-4.62]". */
export function fmtEta(g: { eta_star: number; eta_ci: [number, number] }): string {
  return Number.isFinite(g.eta_ci[0])
    ? `${fmtLR(g.eta_star)} [2^${Math.log2(g.eta_ci[0]).toFixed(2)}, 2^${Math.log2(g.eta_ci[1]).toFixed(2)}]`
    : fmtLR(g.eta_star);
}

/**
 * The Markdown summary (`analysis.md`): verdicts, method, paired
 * comparisons, the optima table with intervals and the cost of transfer,
 * predictions with their warnings.
 *
 * @example
 * ```ts
 * console.log(analysisMarkdown(analysis));
 * ```
 */
export function analysisMarkdown(
  a: Pick<Analysis, "dir" | "optima" | "fits" | "predictions" | "counts" | "comparisons"> & {
    answers?: [string, string[]][];
    twoStage?: ScalingFit[];
  },
): string {
  const { optima, fits } = a;
  const keyCols = [...optima.by, ...optima.scale.filter((s) => !optima.by.includes(s))];
  const pct = `${Math.round(optima.level * 100)}%`;
  const tol = fits[0]?.tolerance ?? 0.1;
  const lines = [
    `# Learning-rate transfer: ${a.dir}`,
    "",
    `${optima.n_trials} trials (${a.counts.ok} ok, ${a.counts.diverged} diverged, ${a.counts.failed} failed); ` +
    `families by ${optima.by.join(", ") || "(none)"}; scale axes ${optima.scale.join(", ") || "(none)"}; ` +
    `loss ${optima.loss}, seed offsets removed (${optima.seed ?? "one seed"}).`,
    "",
    ...(a.answers?.length
      ? ["## Answer", "", ...a.answers.map(([fam, ss]) => `- **${fam}.** ${ss.join(" ")}`), ""]
      : []),
    "## Verdicts",
    "",
    `Tolerance: |slope| <= ${tol} (eta* moving by less than x2^${tol} per doubling counts as transfer); ` +
    `${pct} intervals.`,
    "",
    ...verdictLines(fits).map((l) => `- ${l}`),
    "",
  ];
  if (a.comparisons.length) {
    lines.push("## Paired comparisons", "", ...a.comparisons.map((c) => `- ${c.text}`), "");
  }
  const joint = a.fits.filter((f): f is JointFit => "per_scale" in f);
  lines.push(
    "## Method",
    "",
    joint.length ? jointMethodText(tol, optima.level) : methodText(tol, optima.level),
    "",
  );
  if (joint.length) {
    lines.push(
      "Trial noise model per family: " + joint.map((f) => `${f.family}: ${noiseText(f.noise)}`).join("; ") +
        ".",
      "",
      "Slope uncertainty per family (1 sd, per doubling): " + joint.filter((f) =>
        f.coefficients.length
      ).map((f) =>
        `${f.family}: trial noise ${fmt(f.u_stat[0] / f.birge, 3)}, scatter about the law x${
          f.birge.toFixed(2)
        }, basin models ${fmt(f.u_model[0], 3)} (slopes ${
          (f.model_slopes[f.scales[0]] ?? []).map((v) => v.toFixed(2)).join(" / ")
        } for cubic / quadratic / two-sided), grid resolution ${fmt(f.u_res[0], 3)}`
      ).join("; ") + ".",
      "",
    );
  }
  if (a.twoStage?.length) {
    lines.push(
      "Cross-check, two-stage estimate (per-scale optima, then a weighted regression): " +
        verdictLines(a.twoStage).join("; ") + ".",
      "",
    );
  }
  lines.push(
    "Trial noise (sd, nats) per family, pooled for the per-group optima: " +
      Object.entries(optima.noise).map(([f, n]) =>
        `${f} ${fmt(n.sd)} (seed-to-seed ${fmt(n.seed_sd)} on ${n.seed_dof} dof, fit residuals ${
          fmt(n.fit_sd)
        } on ${n.fit_dof} dof)`
      ).join("; ") + ".",
    "",
    "## Optimal learning rate per group",
    "",
    `eta* (this scale alone) with its ${pct} interval; u_stat / u_sys: bootstrap and resolution parts of its ` +
      "uncertainty (log2). Cost of transfer: the scale's fitted curve at the law's eta* of the base scale minus " +
      "at its own (joint fit), with its interval; observed: seed-adjusted loss at the base scale's grid LR " +
      "minus the group's best.",
    "",
    `| ${[...keyCols, ...OPTIMA_COLUMNS, "flags"].join(" | ")} |`,
    `|${[...keyCols, ...OPTIMA_COLUMNS, "flags"].map(() => "---").join("|")}|`,
    ...optima.groups.map((g) =>
      `| ${
        [
          ...keyCols.map((k) => String(g.keys[k])),
          fmtEta(g),
          fmtLR(g.eta_star_grid),
          fmt(g.u_stat, 3),
          fmt(g.u_sys, 3),
          fmt(g.loss_star),
          g.n_trials,
          g.n_diverged,
          g.n_failed,
          fmtWithCI(g.transfer_cost_fit, g.transfer_cost_ci),
          fmt(g.transfer_cost),
          g.flags.join("; ") || "-",
        ].join(" | ")
      } |`
    ),
    "",
  );
  if (a.predictions.length) {
    lines.push(
      "## Predictions",
      "",
      `| family | scale | eta* | ${pct} interval | warning |`,
      "|---|---|---|---|---|",
    );
    for (const p of a.predictions) {
      const sc = Object.entries(p.scale).map(([k, v]) => `${shortName(k)}=${v}`).join(", ");
      lines.push(`| ${p.family} | ${sc} | ${fmtLR(p.eta_star)} | ${fmtInterval(p)} | ${p.warning ?? "-"} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** Train and val loss points of every trial's metrics.csv, tagged with its group's family and label. */
export async function trainingPoints(
  dir: string,
  table: ColumnTable,
  optima: Optima,
): Promise<TrainingPoint[]> {
  if (!table.columnNames().includes("trial_dir")) return [];
  const keys = [...optima.by, ...optima.scale.filter((s) => !optima.by.includes(s))];
  const byKey = new Map(optima.groups.map((g) => [JSON.stringify(keys.map((k) => g.keys[k])), g]));
  const out: TrainingPoint[] = [];
  for (const r of table.objects() as Record<string, string | number>[]) {
    const g = byKey.get(JSON.stringify(keys.map((k) => r[k])));
    if (!g || r.status === "failed") continue;
    const m = await loadMetrics(dir, String(r.trial_dir));
    if (!m) continue;
    const names = m.columnNames();
    const steps = m.array("step") as number[];
    for (const split of ["train", "val"] as const) {
      if (!names.includes(`${split}_loss`)) continue;
      const v = m.array(`${split}_loss`) as number[];
      for (let i = 0; i < steps.length; i++) {
        if (typeof v[i] === "number" && !Number.isNaN(v[i])) {
          out.push({
            family: g.family,
            label: g.label,
            trial_id: String(r.trial_id),
            log2_lr: Math.log2(Number(r[optima.lr])),
            step: steps[i],
            split,
            loss: v[i],
            diverged: r.status === "diverged",
          });
        }
      }
    }
  }
  return out;
}

/**
 * The per-group cost of transfer from the joint law's fitted curves (./joint.ts, item 7) in place of the
 * per-group basin fits' (whose base LR is one scale's own noisy optimum).
 */
function useJointCosts(optima: Optima, fits: JointFit[]): void {
  for (const f of fits) {
    for (const s of f.per_scale) {
      const g = optima.groups.find((g) => g.family === f.family && g.label === s.label);
      if (!g) continue;
      g.transfer_cost_fit = s.cost;
      g.transfer_cost_ci = s.cost_ci ?? [NaN, NaN];
    }
  }
}

/**
 * Analyzes a sweep directory: loads `results.csv`, finds eta* per group, fits
 * the scaling law per family with bootstrap intervals, extrapolates, renders
 * the figures, and writes `analysis.json`, `optima.csv`, `analysis.md` and
 * `figures/` into the directory.
 *
 * @example
 * ```ts
 * const a = await analyzeSweep("runs/width-transfer", { predict: [{ width: 4096 }] });
 * console.log(a.markdown);
 * ```
 */
export async function analyzeSweep(dir: string, opts: AnalyzeOptions = {}): Promise<Analysis> {
  const log = opts.log ?? (() => {});
  const table = await loadResults(dir);
  const optima = optimalLR(table, opts);
  const twoStage = fitScaling(optima, { ...opts, resamples: undefined, level: undefined });
  const fits = jointScaling(optima, {
    tolerance: opts.tolerance,
    bootstrapSeed: opts.bootstrapSeed,
    resamples: opts.resamples === 0 ? 0 : undefined,
  });
  useJointCosts(optima, fits);
  const predictions: Prediction[] = [];
  // A prediction needs a fitted law; without one (too few bracketed optima) it is a note in the
  // report, so the tables, figures and verdicts of a finished sweep are still written.
  const noPrediction: string[] = [];
  for (const scale of opts.predict ?? []) {
    for (const f of fits) {
      if (f.scales.length) predictions.push(predictLR(f, scale));
    }
    if (!fits.some((f) => f.scales.length)) {
      noPrediction.push(
        `no prediction at ${
          Object.entries(scale).map(([k, v]) => `${k}=${v}`).join(", ")
        }: no family has a fitted law`,
      );
    }
  }
  const status = table.array("status") as string[];
  const counts = {
    ok: status.filter((s) => s === "ok").length,
    diverged: status.filter((s) => s === "diverged").length,
    failed: status.filter((s) => s === "failed").length,
  };
  const notes: string[] = [...noPrediction];
  const files: string[] = [];
  const figures: Figure[] = [];
  const write = opts.write ?? true;

  if (opts.figures ?? true) {
    const specs: { name: string; title: string; spec: VegaLiteSpec }[] = [
      { name: "loss_vs_lr", title: "Loss vs learning rate", spec: lossVsLRSpec(optima) },
      ...optima.scale.map((axis) => ({
        name: `eta_vs_${shortName(axis)}`,
        title: `Optimal learning rate vs ${shortName(axis)}`,
        spec: etaVsScaleSpec(optima, fits, axis),
      })),
    ];
    const points = await trainingPoints(dir, table, optima);
    if (points.length) {
      specs.push({
        name: "training_curves",
        title: "Training curves",
        spec: trainingCurvesSpec(points, {
          scaleTitle: optima.scale.length === 1 ? shortName(optima.scale[0]) : "scale",
        }),
      });
    } else notes.push("no training curves: no metrics.csv found");
    let png = opts.png ?? true;
    if (write) await Deno.mkdir(join(dir, "figures"), { recursive: true });
    for (const s of specs) {
      const fig: Figure = { ...s, svg: await renderSVG(s.spec) };
      if (write) {
        await writeFileAtomic(join(dir, "figures", `${s.name}.svg`), fig.svg);
        files.push(`figures/${s.name}.svg`);
      }
      if (png && write) {
        try {
          const bytes = await renderPNG(fig.svg);
          await writeFileAtomic(join(dir, "figures", `${s.name}.png`), bytes);
          fig.png = `figures/${s.name}.png`;
          fig.pngBytes = bytes.length;
          files.push(fig.png);
        } catch (e) {
          if (!(e instanceof DmodelError)) throw e;
          notes.push(`PNG figures skipped: ${e.message}`);
          png = false;
        }
      }
      figures.push(fig);
    }
  }

  const comparisons = compareAll(fits);
  const provenance = await collectProvenance(dir, table);
  const stepsCol = table.columnNames().includes("train.steps")
    ? (table.array("train.steps") as unknown[]).filter((v): v is number => typeof v === "number")
    : [];
  const answers = plainAnswers(fits, {
    predictions,
    ...(stepsCol.length ? { steps: Math.max(...stepsCol) } : {}),
  });
  const json = analysisJSON(
    optima,
    fits,
    predictions,
    opts.tolerance ?? 0.1,
    comparisons,
    provenance,
    twoStage,
    answers,
  );
  const analysis: Analysis = {
    kind: "dmodel.analysis",
    dir,
    optima,
    fits,
    twoStage,
    answers,
    predictions,
    comparisons,
    json,
    markdown: "",
    figures,
    files,
    notes,
    counts,
    provenance,
  };
  analysis.markdown = analysisMarkdown(analysis);
  if (write) {
    await writeFileAtomic(join(dir, "analysis.json"), JSON.stringify(json, null, 2) + "\n");
    await writeFileAtomic(join(dir, "optima.csv"), optimaTable(optima).toCSV());
    await writeFileAtomic(join(dir, "analysis.md"), analysis.markdown);
    files.unshift("analysis.json", "optima.csv", "analysis.md");
  }
  for (const n of notes) log(`analyze: ${n}`);
  for (const p of predictions) if (p.warning) log(`analyze: predict ${p.family}: warning: ${p.warning}`);
  return analysis;
}
