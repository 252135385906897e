/**
 * The cost of transferring the base scale's learning rate to each group of a
 * family (module header of ./optimum.ts, item 6): the base group, the loss of
 * a curve between grid LRs, and the observed and fitted costs.
 */
import { type BasinFit, basinValue } from "./basin.ts";
import type { CurvePoint, GroupOptimum } from "./optimum.ts";
import { quantile } from "./statistics.ts";
import { groupsByFamily } from "./naming.ts";

/**
 * Loss of a curve at log2 LR x, linear in log2 LR between adjacent grid LRs;
 * Infinity when one of them diverged, NaN off the grid.
 */
export function interpolateLoss(curve: CurvePoint[], x: number): number {
  const pts = curve.filter((p) => p.n_ok > 0 || p.n_diverged > 0);
  const value = (p: CurvePoint) => (p.candidate ? p.loss : Infinity);
  for (let i = 0; i < pts.length; i++) {
    const p = pts[i];
    if (Math.abs(p.log2_lr - x) < 1e-9) return value(p);
    const q = pts[i + 1];
    if (q && p.log2_lr < x && x < q.log2_lr) {
      if (!p.candidate || !q.candidate) return Math.max(value(p), value(q));
      const t = (x - p.log2_lr) / (q.log2_lr - p.log2_lr);
      return p.loss + t * (q.loss - p.loss);
    }
  }
  return NaN;
}

/**
 * The base group of a family: the one at the smallest value of every scale
 * axis, or else the smallest sum of log2 scales.
 */
export function baseGroup<G extends { scale: Record<string, number> }>(groups: G[]): G {
  const axes = Object.keys(groups[0].scale);
  const allMin = groups.find((g) => axes.every((a) => groups.every((h) => g.scale[a] <= h.scale[a])));
  if (allMin) return allMin;
  const size = (g: G) => axes.reduce((s, a) => s + Math.log2(g.scale[a]), 0);
  return groups.reduce((m, g) => (size(g) < size(m) ? g : m));
}

/** True when x lies within the LRs a basin fit used (the fitted curve is not extrapolated). */
function withinFit(f: BasinFit | null, curve: CurvePoint[], x: number): boolean {
  if (!f || f.model === "grid") return false;
  const xs = curve.filter((p) => (p.n_ok > 0 && Number.isFinite(p.loss)) || p.n_diverged > 0).map((p) =>
    p.log2_lr
  )
    .sort((a, b) => a - b);
  const used = f.used.map((i) => xs[i]);
  return x >= Math.min(...used) - 1e-9 && x <= Math.max(...used) + 1e-9;
}

/**
 * Cost of transferring per group: observed (seed-adjusted loss at the base
 * scale's grid LR minus the group's best grid loss) and fitted (basin loss at
 * the base group's eta* minus the basin loss at the group's eta*, with a
 * bootstrap interval).
 */
export function addTransferCost(groups: GroupOptimum[], scale: string[], level: number): void {
  if (!scale.length) return;
  const lo = (1 - level) / 2;
  for (const fam of groupsByFamily(groups).values()) {
    const base = baseGroup(fam);
    for (const g of fam) {
      g.base_eta_star = base.eta_star_grid;
      if (!Number.isFinite(base.eta_star_grid)) continue;
      g.loss_at_base_lr = g === base ? g.loss_star : interpolateLoss(g.curve, Math.log2(base.eta_star_grid));
      g.transfer_cost = g === base ? 0 : g.loss_at_base_lr - g.loss_star;
      if (g === base) {
        g.transfer_cost_fit = 0;
        g.transfer_cost_ci = [0, 0];
        continue;
      }
      if (!base.bracketed || !g.bracketed || !withinFit(g.fit, g.curve, base.log2_eta)) continue;
      g.transfer_cost_fit = basinValue(g.fit!, base.log2_eta) - basinValue(g.fit!, g.log2_eta);
      const costs: number[] = [];
      for (let b = 0; b < Math.min(g.drawFits.length, base.drawsStat.length); b++) {
        const f = g.drawFits[b], xb = base.drawsStat[b];
        if (f && f.model !== "grid" && Number.isFinite(xb) && Number.isFinite(g.drawsStat[b])) {
          costs.push(basinValue(f, xb) - basinValue(f, g.drawsStat[b]));
        }
      }
      costs.sort((a, b) => a - b);
      if (costs.length > 10) g.transfer_cost_ci = [quantile(costs, lo), quantile(costs, 1 - lo)];
    }
  }
}
