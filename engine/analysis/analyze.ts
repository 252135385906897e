/**
 * The whole analysis of a sweep directory or results file(s): optima per
 * group, fitted laws and verdicts, predictions, figures; written as
 * `analysis.json`, `optima.csv`, `analysis.md` and `figures/*.svg|png` into
 * the sweep directory, or for a results file into `<name>-analysis/` beside
 * it (see {@link outputDir}).
 */
import { basename, dirname, extname, join } from "node:path";
import type { ColumnTable } from "arquero";
import { DmodelError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/fs.ts";
import { loadMetrics } from "./load.ts";
import { type ColumnMap, loadResults } from "./table.ts";
import { collectProvenance, type Provenance } from "./provenance.ts";
import { groupFields, type Optima, optimalLR, type OptimaOptions, optimaTable } from "./optimum.ts";
import { baseGroup } from "./transfer.ts";
import { familyName, scaleLabel, shortName } from "./naming.ts";
import type { z } from "zod";
import { has, resolve } from "../core/registry.ts";
import { objectShape } from "../core/suggest.ts";
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
import { etaVsScaleSpec, lossVsLRSpec, trainingCurvesSpec, type TrainingPoint } from "./figure_specs.ts";
import { cropToContent, renderPNG, renderSVG, type VegaLiteSpec } from "./render.ts";

/** Options of `analyzeSweep`: those of `optimalLR` and `fitScaling`, plus output choices. */
export interface AnalyzeOptions extends OptimaOptions, Omit<FitOptions, "scale" | "resamples" | "level"> {
  /** Status column (see ./table.ts for the words it may hold). Default `status` when present. */
  status?: string;
  /** Output directory. Default: the sweep directory, or `<name>-analysis/` beside a results file. */
  out?: string;
  /** Scales to extrapolate the fitted laws to, e.g. `[{ width: 4096 }]`. */
  predict?: Record<string, number>[];
  /** Render figures (SVG, and PNG when a font is available). Default true. */
  figures?: boolean;
  /** Also rasterize figures to PNG. Default true. */
  png?: boolean;
  /** Write the output files into the output directory. Default true. */
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
  /** The output directory (the sweep directory for one sweep). */
  dir: string;
  /** The sweep directories and results files analysed. */
  inputs: string[];
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
  /** Every trial of the results table, for the report's table of trials. */
  trials?: TrialRow[];
  /** Per family: its base scale here, and the rule's own base where the config names one. */
  bases?: FamilyBase[];
}

/** One trial in the report's table of trials. */
export interface TrialRow {
  family: string;
  /** Its scale, as the groups label it ("16", "width=256, depth=4"). */
  label: string;
  lr: number;
  seed: number | null;
  status: string;
  /** The analysed loss (optima.loss); NaN when there is none. */
  loss: number;
  /** Its folder inside the sweep directory, when results.csv names it. */
  dir: string | null;
}

/** The base scale a family's costs of transfer are measured from. */
export interface FamilyBase {
  family: string;
  /** The family's smallest scale in this sweep, as key=value ("width=16"). */
  base: string;
  /** The rule's own base shape when the config names one that differs ("base_width=32"), else null. */
  own: string | null;
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
  /** The sweep directories and results files analysed (from `analyzeSweep`). */
  inputs?: string[];
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

/** What "n/a" means in the optima table, in one paragraph (the report also says it per cell). */
export const NA_TEXT =
  "n/a: not computed, because the optimum is at the edge of the LR grid (not bracketed: " +
  "no interval, no u_stat / u_sys, no fitted cost), because the base scale's eta* lies outside the LRs this " +
  "group's basin fit used (the fitted curve is not extrapolated), or because the base scale's grid LR is " +
  "outside this group's LR grid (no observed cost).";

/**
 * Why one cell of a group's optima row is "n/a" (the cost columns and the eta* interval), or null
 * when it has a value. `base` is the family's base group.
 */
export function naReason(
  g: Optima["groups"][number],
  base: Optima["groups"][number],
  column: "eta*" | "u_stat" | "u_sys" | "cost of transfer" | "cost (observed)",
): string | null {
  const edge = (h: typeof g, who: string) =>
    h.bracketed ? null : `${who} optimum is at the edge of the LR grid (not bracketed)`;
  switch (column) {
    case "eta*":
      return Number.isFinite(g.eta_star) ? null : "no finite loss at any LR of this group";
    case "u_stat":
    case "u_sys":
      return Number.isFinite(g[column]) ? null : edge(g, "this group's") ?? "no bootstrap draws";
    case "cost of transfer":
      if (Number.isFinite(g.transfer_cost_fit)) return null;
      if (!Number.isFinite(g.base_eta_star)) return "the base scale has no eta*";
      return edge(base, "the base scale's") ?? edge(g, "this group's") ??
        `the base scale's eta* (2^${base.log2_eta.toFixed(2)}) lies outside the LRs this group's basin fit ` +
          "used (the fitted curve is not extrapolated)";
    case "cost (observed)":
      if (Number.isFinite(g.transfer_cost) || g.transfer_cost === Infinity) return null;
      return Number.isFinite(g.base_eta_star)
        ? `the base scale's grid LR (2^${
          Math.log2(g.base_eta_star).toFixed(2)
        }) is outside this group's LR grid`
        : "the base scale has no eta*";
  }
}

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
        `${f.family}: ${c.verdict} (R^2 ${fmtNum(f.r2, 3)}, ${f.n_groups} groups${
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
  a: Pick<Analysis, "dir" | "optima" | "fits" | "predictions" | "counts" | "comparisons" | "bases"> & {
    inputs?: string[];
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
    ...(a.inputs && (a.inputs.length > 1 || a.inputs[0] !== a.dir)
      ? [`Results from ${a.inputs.join(", ")}.`, ""]
      : []),
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
        `${f.family}: trial noise ${fmtNum(f.u_stat[0] / f.birge, 3)}, scatter about the law x${
          f.birge.toFixed(2)
        }, basin models ${fmtNum(f.u_model[0], 3)} (slopes ${
          (f.model_slopes[f.scales[0]] ?? []).map((v) => v.toFixed(2)).join(" / ")
        } for cubic / quadratic / two-sided), grid resolution ${fmtNum(f.u_res[0], 3)}`
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
        `${f} ${fmtNum(n.sd)} (seed-to-seed ${fmtNum(n.seed_sd)} on ${n.seed_dof} dof, fit residuals ${
          fmtNum(n.fit_sd)
        } on ${n.fit_dof} dof)`
      ).join("; ") + ".",
    "",
    "## Optimal learning rate per group",
    "",
    `eta* (this scale alone) with its ${pct} interval; u_stat / u_sys: bootstrap and resolution parts of its ` +
      "uncertainty (log2). Cost of transfer: the scale's fitted curve at the law's eta* of the base scale minus " +
      "at its own (joint fit), with its interval; observed: seed-adjusted loss at the base scale's grid LR " +
      "minus the group's best. " +
      baseScaleText(a.bases ?? []) + " " + NA_TEXT,
    "",
    `| ${[...keyCols, ...OPTIMA_COLUMNS, "flags"].join(" | ")} |`,
    `|${[...keyCols, ...OPTIMA_COLUMNS, "flags"].map(() => "---").join("|")}|`,
    ...optima.groups.map((g) =>
      `| ${
        [
          ...keyCols.map((k) => String(g.keys[k])),
          fmtEta(g),
          fmtLR(g.eta_star_grid),
          fmtNum(g.u_stat, 3),
          fmtNum(g.u_sys, 3),
          fmtNum(g.loss_star),
          g.n_trials,
          g.n_diverged,
          g.n_failed,
          fmtWithCI(g.transfer_cost_fit, g.transfer_cost_ci),
          fmtNum(g.transfer_cost),
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

/** "width=16" for a group's scale (several axes: their label as it is). */
function scaleKV(scale: Record<string, number>): string {
  return Object.entries(scale).map(([k, v]) => `${shortName(k)}=${v}`).join(", ") || "all";
}

/**
 * Each family's base scale: its smallest scale in this sweep, which the costs of transfer start
 * from; and the rule's own base (`parameterization.base_width` for `model.width`, ...) when the
 * results table has it and it differs.
 */
export function familyBases(optima: Optima, table: ColumnTable): FamilyBase[] {
  const rows = table.objects() as Record<string, unknown>[];
  const cols = new Set(table.columnNames());
  const out: FamilyBase[] = [];
  for (const family of [...new Set(optima.groups.map((g) => g.family))]) {
    const groups = optima.groups.filter((g) => g.family === family);
    const base = baseGroup(groups);
    const row = rows.find((r) => familyName(optima.by, r) === family);
    const own = optima.scale.flatMap((a) => {
      const col = `parameterization.base_${shortName(a)}`;
      const v = row && cols.has(col) ? Number(row[col]) : NaN;
      const rule = String(row?.["parameterization.name"] ?? "");
      return Number.isFinite(v) && v !== base.scale[a] && ruleNeeds(rule, `base_${shortName(a)}`)
        ? [`base_${shortName(a)}=${v}`]
        : [];
    });
    out.push({ family, base: scaleKV(base.scale), own: own.length ? own.join(", ") : null });
  }
  return out;
}

/** True when the registered rule `rule` requires option `key` (nuGPT's base_width; nGPT ignores one). */
function ruleNeeds(rule: string, key: string): boolean {
  if (!has("parameterization", rule)) return false;
  const field = objectShape(resolve("parameterization", rule).schema as z.ZodType)?.[key];
  return Boolean(field) && !field!.safeParse(undefined).success;
}

/** One sentence naming the base scale of each family (and the rule's own base where it differs). */
export function baseScaleText(bases: FamilyBase[]): string {
  if (!bases.length) return "";
  const same = bases.every((b) => b.base === bases[0].base);
  const where = same
    ? `${bases[0].base} for every family`
    : bases.map((b) => `${b.family}: ${b.base}`).join("; ");
  const own = bases.filter((b) => b.own).map((b) => `${b.family}'s own ${b.own}`);
  return `The base scale is each family's smallest scale in this sweep (${where})` +
    (own.length ? `, not the rule's own base shape (${own.join("; ")})` : "") + ".";
}

/** The rows of the report's table of trials, from the results table. */
export function trialRows(optima: Optima, table: ColumnTable): TrialRow[] {
  const cols = new Set(table.columnNames());
  return (table.objects() as Record<string, unknown>[]).map((r) => {
    const scale: Record<string, number> = {};
    for (const a of optima.scale) scale[a] = Number(r[a]);
    return {
      family: familyName(optima.by, r),
      label: optima.scale.length ? scaleLabel(scale) : "all",
      lr: Number(r[optima.lr]),
      seed: optima.seed && r[optima.seed] != null ? Number(r[optima.seed]) : null,
      status: String(r.status),
      loss: typeof r[optima.loss] === "number" ? r[optima.loss] as number : NaN,
      dir: cols.has("trial_dir") && r.trial_dir ? String(r.trial_dir) : null,
    };
  }).sort((a, b) =>
    a.family.localeCompare(b.family) || a.label.localeCompare(b.label, undefined, { numeric: true }) ||
    a.lr - b.lr || (a.seed ?? 0) - (b.seed ?? 0)
  );
}

/**
 * Train and val loss points of every trial's metrics.csv, tagged with its
 * group's family and label. A trial's directory lies in `dir`, or, for a
 * table combined from several sweeps, in its row's `source`.
 */
export async function trainingPoints(
  dir: string,
  table: ColumnTable,
  optima: Optima,
): Promise<TrainingPoint[]> {
  if (!table.columnNames().includes("trial_dir")) return [];
  const combined = table.columnNames().includes("source");
  const keys = [...optima.by, ...optima.scale.filter((s) => !optima.by.includes(s))];
  const byKey = new Map(optima.groups.map((g) => [JSON.stringify(keys.map((k) => g.keys[k])), g]));
  const out: TrainingPoint[] = [];
  for (const r of table.objects() as Record<string, string | number>[]) {
    const g = byKey.get(JSON.stringify(keys.map((k) => r[k])));
    if (!g || r.status === "failed") continue;
    const m = await loadMetrics(combined ? String(r.source) : dir, String(r.trial_dir));
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

/** Creates an output directory, failing with one line that names it. */
async function makeDir(path: string): Promise<void> {
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (e) {
    throw new DmodelError(`${path}: cannot create the output directory (${(e as Error).message})`);
  }
}

/** True when `path` is a directory. */
async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Where an analysis writes: `out` when given; else the sweep directory of a
 * single sweep, or `<name>-analysis/` beside a single results file
 * (`runs/export.csv` -> `runs/export-analysis/`). Several inputs need `out`.
 *
 * @example
 * ```ts
 * await outputDir(["runs/export.csv"]); // "runs/export-analysis"
 * ```
 */
export async function outputDir(inputs: string[], out?: string): Promise<string> {
  if (out !== undefined) {
    if (!out.trim()) throw new DmodelError(`--out: empty path`);
    return out;
  }
  if (inputs.length !== 1) {
    throw new DmodelError(`analysis of ${inputs.length} inputs: name the output directory with --out DIR`);
  }
  const [p] = inputs;
  if (await isDirectory(p)) return p;
  return join(dirname(p), `${basename(p, extname(p))}-analysis`);
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
 * Analyzes a sweep directory, a results file of any trainer, or several of
 * them combined (./table.ts): finds eta* per group, fits the scaling law per
 * family with bootstrap intervals, extrapolates, renders the figures, and
 * writes `analysis.json`, `optima.csv`, `analysis.md` and `figures/` into
 * the output directory ({@link outputDir}). The table is loaded and checked
 * before anything is written: a bad cell leaves earlier outputs as they were.
 *
 * @example
 * ```ts
 * const a = await analyzeSweep("runs/width-transfer", { predict: [{ width: 4096 }] });
 * const b = await analyzeSweep("export.csv", { lr: "lr", loss: "val/loss", status: "State", scale: ["d_model"] });
 * console.log(a.markdown, b.dir);
 * ```
 */
export async function analyzeSweep(input: string | string[], opts: AnalyzeOptions = {}): Promise<Analysis> {
  const log = opts.log ?? (() => {});
  const inputs = typeof input === "string" ? [input] : input;
  const map: ColumnMap = {
    lr: opts.lr,
    loss: opts.loss,
    seed: opts.seed,
    status: opts.status,
    by: opts.by,
    scale: opts.scale,
  };
  const dir = await outputDir(inputs, opts.out);
  const table = await loadResults(inputs, map);
  // Trial directories (metrics.csv, result.json) live in the sweep directory analysed.
  const home = inputs.length === 1 && (await isDirectory(inputs[0])) ? inputs[0] : dir;
  const optima = optimalLR(table, opts);
  const twoStage = fitScaling(optima, { ...opts, resamples: undefined, level: undefined });
  const fits = jointScaling(optima, {
    tolerance: opts.tolerance,
    bootstrapSeed: opts.bootstrapSeed,
    resamples: opts.resamples === 0 ? 0 : undefined,
  });
  useJointCosts(optima, fits);
  const { predictions, notes } = predictScales(fits, opts.predict ?? []);
  const write = opts.write ?? true;
  if (write) await makeDir(dir);
  const out: SweepOutput = { dir, write, png: opts.png ?? true, files: [], notes };
  const figures = opts.figures ?? true
    ? await sweepFigures(out, await figureSpecs(home, table, optima, fits, notes))
    : [];
  const comparisons = compareAll(fits);
  const provenance = await collectProvenance(home, table);
  const stepsCol = table.columnNames().includes("train.steps")
    ? (table.array("train.steps") as unknown[]).filter((v): v is number => typeof v === "number")
    : [];
  const answers = plainAnswers(fits, {
    predictions,
    ...(stepsCol.length ? { steps: Math.max(...stepsCol) } : {}),
  });
  const json = {
    ...analysisJSON(
      optima,
      fits,
      predictions,
      opts.tolerance ?? 0.1,
      comparisons,
      provenance,
      twoStage,
      answers,
    ),
    inputs,
  };
  const analysis: Analysis = {
    kind: "dmodel.analysis",
    dir,
    inputs,
    optima,
    fits,
    twoStage,
    answers,
    predictions,
    comparisons,
    json,
    markdown: "",
    figures,
    files: out.files,
    notes,
    counts: statusCounts(table),
    provenance,
    trials: trialRows(optima, table),
    bases: familyBases(optima, table),
  };
  analysis.markdown = analysisMarkdown(analysis);
  if (write) await writeAnalysis(analysis);
  for (const n of notes) log(`analyze: ${n}`);
  for (const p of predictions) if (p.warning) log(`analyze: predict ${p.family}: warning: ${p.warning}`);
  return analysis;
}

/** Where an analysis writes (when it writes), whether PNGs are still rendered, and what it wrote and noted. */
interface SweepOutput {
  dir: string;
  write: boolean;
  png: boolean;
  files: string[];
  notes: string[];
}

/** Trials per status: ok, diverged, failed. */
function statusCounts(table: ColumnTable): Analysis["counts"] {
  const status = table.array("status") as string[];
  return {
    ok: status.filter((s) => s === "ok").length,
    diverged: status.filter((s) => s === "diverged").length,
    failed: status.filter((s) => s === "failed").length,
  };
}

/**
 * The law's eta* at each requested scale, per family with a fitted law. A
 * prediction needs a fitted law; without one (too few bracketed optima) it is
 * a note in the report, so the tables, figures and verdicts of a finished
 * sweep are still written.
 */
function predictScales(
  fits: ScalingFit[],
  scales: Record<string, number>[],
): { predictions: Prediction[]; notes: string[] } {
  const predictions: Prediction[] = [];
  const notes: string[] = [];
  for (const scale of scales) {
    for (const f of fits) {
      if (f.scales.length) predictions.push(predictLR(f, scale));
    }
    if (!fits.some((f) => f.scales.length)) {
      notes.push(
        `no prediction at ${
          Object.entries(scale).map(([k, v]) => `${k}=${v}`).join(", ")
        }: no family has a fitted law`,
      );
    }
  }
  return { predictions, notes };
}

/** The figures of a sweep: loss vs LR, eta* per scale axis, and the training curves when metrics exist. */
async function figureSpecs(
  home: string,
  table: ColumnTable,
  optima: Optima,
  fits: ScalingFit[],
  notes: string[],
): Promise<{ name: string; title: string; spec: VegaLiteSpec }[]> {
  const specs = [
    { name: "loss_vs_lr", title: "Loss vs learning rate", spec: lossVsLRSpec(optima) },
    ...optima.scale.map((axis) => ({
      name: `eta_vs_${shortName(axis)}`,
      title: `Optimal learning rate vs ${shortName(axis)}`,
      spec: etaVsScaleSpec(optima, fits, axis),
    })),
  ];
  const points = await trainingPoints(home, table, optima);
  if (points.length) {
    specs.push({
      name: "training_curves",
      title: "Training curves",
      spec: trainingCurvesSpec(points, {
        scaleTitle: optima.scale.length === 1 ? shortName(optima.scale[0]) : "scale",
      }),
    });
  } else notes.push("no training curves: no metrics.csv found");
  return specs;
}

/**
 * Renders each figure to SVG (cut to what is drawn when PNGs are wanted) and
 * PNG, writing both under `figures/`; without a font, PNGs are skipped with a
 * note.
 */
async function sweepFigures(
  out: SweepOutput,
  specs: { name: string; title: string; spec: VegaLiteSpec }[],
): Promise<Figure[]> {
  const figures: Figure[] = [];
  if (out.write) await makeDir(join(out.dir, "figures"));
  for (const s of specs) {
    const fig: Figure = { ...s, svg: await renderSVG(s.spec) };
    // Cut to what is drawn (Vega's estimated text widths leave blank margins); needs the PNG font.
    if (out.png) {
      fig.svg = await cropToContent(fig.svg).catch((
        e,
      ) => (e instanceof DmodelError ? fig.svg : Promise.reject(e)));
    }
    if (out.write) {
      await writeFileAtomic(join(out.dir, "figures", `${s.name}.svg`), fig.svg);
      out.files.push(`figures/${s.name}.svg`);
    }
    if (out.png && out.write) {
      try {
        const bytes = await renderPNG(fig.svg, { crop: false });
        await writeFileAtomic(join(out.dir, "figures", `${s.name}.png`), bytes);
        fig.png = `figures/${s.name}.png`;
        fig.pngBytes = bytes.length;
        out.files.push(fig.png);
      } catch (e) {
        if (!(e instanceof DmodelError)) throw e;
        out.notes.push(`PNG figures skipped: ${e.message}`);
        out.png = false;
      }
    }
    figures.push(fig);
  }
  return figures;
}

/** Writes analysis.json, optima.csv and analysis.md into the analysis' directory, listed first among its files. */
async function writeAnalysis(a: Analysis): Promise<void> {
  await writeFileAtomic(join(a.dir, "analysis.json"), JSON.stringify(a.json, null, 2) + "\n");
  await writeFileAtomic(join(a.dir, "optima.csv"), optimaTable(a.optima).toCSV());
  await writeFileAtomic(join(a.dir, "analysis.md"), a.markdown);
  a.files.unshift("analysis.json", "optima.csv", "analysis.md");
}
