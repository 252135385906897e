/** The JSON summary of an analysis (`analysis.json`). */
import type { Optima } from "./optimum.ts";
import { groupFields } from "./optimum.ts";
import { type Comparison, methodText, type Prediction, type ScalingFit } from "./fit.ts";
import { type JointFit, jointMethodText } from "./joint.ts";
import type { Provenance } from "./provenance.ts";

/** The JSON summary of an analysis (NaN written as null). */
export interface AnalysisJSON {
  /** Family key columns. */
  by: string[];
  /** Scale axis columns. */
  scale: string[];
  /** Learning-rate column. */
  lr: string;
  /** Loss column. */
  loss: string;
  /** Seed column (null: one seed). */
  seed: string | null;
  /** Tolerance band t on |slope|: the verdict is "transfers" when the whole interval lies within [-t, t]. */
  tolerance: number;
  /** Confidence level of the intervals (e.g. 0.95). */
  level: number;
  /** How eta*, the intervals and the verdicts are computed, in words. */
  method: string;
  /** Rows of the results table analysed. */
  n_trials: number;
  /** Trial-noise estimates per family. */
  noise: Record<string, unknown>;
  /** One entry per group (family x scale): its keys, family and optimum with intervals and flags. */
  groups: Record<string, unknown>[];
  /** One entry per family and scale axis: {family, scale, slope, slope_ci, r2, verdict, ...}. */
  fits: Record<string, unknown>[];
  /** The two-stage estimate (per-scale optima, then a regression), as a cross-check of `fits`. */
  fits_two_stage?: Record<string, unknown>[];
  /** Per family: the plain answer's sentences. */
  answers?: Record<string, string[]>;
  /** Predicted optimal LRs: {family, scale, eta_star, eta_lo, eta_hi, log2_se, extrapolation, warning?}. */
  predictions: Record<string, unknown>[];
  /** Paired comparisons: {family, reference, scale, difference, ci, text}. */
  comparisons: Record<string, unknown>[];
  /** Code, runtime, machine and compute behind the results (from `analyzeSweep`). */
  provenance?: Provenance;
  /** The sweep directories and results files analysed (from `analyzeSweep`). */
  inputs?: string[];
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
