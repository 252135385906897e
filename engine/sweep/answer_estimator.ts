/**
 * The `SlopeEstimator`s of the sequential search (./answer.ts), both the
 * analysis library's, so the search stops exactly when `deno task analyze`
 * would report the verdict; deterministic (the bootstraps draw from fixed
 * seeds):
 *
 * - `jointEstimator` (the default): the verdicts' estimator, the joint fit of
 *   the law to every finished trial (engine/analysis/joint.ts `familySlopes`);
 *   it gives no per-scale uncertainty, so the planner weighs the scales by
 *   their trials near the optimum.
 * - `analysisEstimator`: the two-stage cross-check: eta* per group with its
 *   bootstrap (engine/analysis/optimum.ts `optimalLR`), then the weighted law
 *   and its pipeline-bootstrap interval (engine/analysis/fit.ts `fitScaling`).
 */
import * as aq from "arquero";
import { familySlopes, fitScaling, optimalLR } from "../analysis/mod.ts";
import type { EstimatorOptions, FamilyAnswer } from "./answer.ts";
import type { ResultRow } from "./results.ts";

/** Bootstrap draws per group and for the law (the analysis's default is 400; 200 gives the same decisions to the second decimal). */
const RESAMPLES = 200;

/**
 * The joint estimator's answer per family from finished results rows.
 *
 * @example
 * ```ts
 * const [a] = jointEstimator(rows, { by: ["parameterization.name"], scale: "model.width", tolerance: 0.1, level: 0.95 });
 * a.verdict; // "transfers" | "drifts" | "inconclusive"
 * ```
 */
export function jointEstimator(rows: ResultRow[], o: EstimatorOptions): FamilyAnswer[] {
  if (!rows.length) return [];
  const slopes = familySlopes(rows, {
    by: o.by,
    scale: [o.scale],
    tolerance: o.tolerance,
    level: o.level,
    resamples: RESAMPLES,
  });
  return slopes.map((s) => ({
    family: s.family,
    slope: s.slope,
    lo: s.ci?.[0] ?? NaN,
    hi: s.ci?.[1] ?? NaN,
    verdict: s.call,
    reason: s.reason,
    // Each scale's own optimum places its trials; its uncertainty is not reported (NaN: weighed by trials).
    groups: s.fit.per_scale.filter((p) => !p.excluded).map((p) => ({
      scale: p.scale[o.scale],
      log2_eta: Number.isFinite(p.log2_eta_own) ? p.log2_eta_own : p.log2_eta,
      se: NaN,
    })),
  }));
}

/**
 * The two-stage estimator's answer per family from finished results rows.
 *
 * @example
 * ```ts
 * const [a] = analysisEstimator(rows, { by: ["parameterization.name"], scale: "model.width", tolerance: 0.1, level: 0.95 });
 * a.verdict; // "transfers" | "drifts" | "inconclusive"
 * ```
 */
export function analysisEstimator(rows: ResultRow[], o: EstimatorOptions): FamilyAnswer[] {
  if (!rows.length) return [];
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const table = aq.table(Object.fromEntries(columns.map((c) => [c, rows.map((r) => r[c] ?? null)])));
  const optima = optimalLR(table, { by: o.by, scale: [o.scale], resamples: RESAMPLES, level: o.level });
  return fitScaling(optima, { tolerance: o.tolerance, level: o.level, scale: [o.scale] }).map((f) => {
    const c = f.coefficients[0];
    const groups = optima.groups.filter((g) => g.family === f.family && !f.excluded.includes(g.label))
      .map((g) => ({ scale: g.scale[o.scale], log2_eta: g.log2_eta, se: g.log2_eta_se, se_floor: g.u_sys }));
    return {
      family: f.family,
      slope: c?.slope ?? NaN,
      lo: c?.slope_ci?.[0] ?? NaN,
      hi: c?.slope_ci?.[1] ?? NaN,
      verdict: c?.call ?? "inconclusive",
      reason: c?.reason ?? f.note ?? "no slope could be fitted",
      groups,
    };
  });
}
