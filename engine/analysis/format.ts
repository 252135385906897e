/**
 * The numbers and verdicts of an analysis as text, shared by analysis.md
 * (./markdown.ts) and report.html (./report.ts): LRs, intervals, the optima
 * table's columns and why a cell is n/a, the verdict lines, the base scales.
 */
import type { Optima } from "./optimum.ts";
import type { Prediction, ScalingFit } from "./fit.ts";
import type { FamilyBase } from "./trials.ts";

/** A confidence level as a percentage: 0.95 -> "95%". */
export function fmtLevel(level: number): string {
  return `${Math.round(level * 100)}%`;
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
