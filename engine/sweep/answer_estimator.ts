/**
 * The default `SlopeEstimator` of the sequential search (./answer.ts): the
 * analysis library's own estimate, so the search stops exactly when
 * `deno task analyze` would report the verdict: eta* per group with its
 * bootstrap (engine/analysis/optimum.ts `optimalLR`), the weighted law and its
 * pipeline-bootstrap interval and verdict (engine/analysis/fit.ts `fitScaling`).
 * Deterministic: the bootstraps draw from fixed seeds.
 */
import * as aq from "arquero";
import { fitScaling, optimalLR } from "../analysis/mod.ts";
import type { EstimatorOptions, FamilyAnswer } from "./answer.ts";
import type { ResultRow } from "./results.ts";

/** Bootstrap draws per group and for the law (the analysis's default is 400; 200 gives the same decisions to the second decimal). */
const RESAMPLES = 200;

/**
 * The analysis library's answer per family from finished results rows.
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
