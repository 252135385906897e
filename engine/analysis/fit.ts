import { hashString, mulberry32 } from "../core/random.ts";
/**
 * The scaling law of the optimal learning rate: per family (parameterization),
 * least squares of log2(eta*) on log2(scale), one slope per scale axis that
 * varies (multiple regression when several do):
 *
 *   log2 eta* = b0 + sum_j b_j log2 s_j,
 *
 * so eta* moves by x2^b_j per doubling of axis j. A seeded bootstrap over
 * seeds (resample seeds within each group, recompute every optimum and the
 * slopes) gives percentile intervals. The verdict: "transfers" when the
 * interval lies within the tolerance band |b| <= tol, "drifts" otherwise.
 */
import { DmodelError, show } from "../core/errors.ts";
import {
  baseGroup,
  type GroupOptimum,
  type Optima,
  optimumOfCurve,
  shortName,
  solve,
  weightedCurve,
} from "./optimum.ts";

/** Options of `fitScaling`. */
export interface FitOptions {
  /** Scale axes to regress on. Default: the optima's scale axes that vary within each family. */
  scale?: string[];
  /** Tolerance band on |slope| for "transfers". Default 0.1. */
  tolerance?: number;
  /** Bootstrap resamples. Default 500 (0: no intervals). */
  resamples?: number;
  /** Seed of the bootstrap's random generator. Default 0. */
  bootstrapSeed?: number;
  /** Confidence level of the intervals. Default 0.95. */
  level?: number;
  /** Fit only bracketed optima (an edge optimum is only a bound). Default true. */
  onlyBracketed?: boolean;
}

/** One slope of a fitted scaling law. */
export interface Coefficient {
  /** The scale axis (a dotted column, e.g. `model.width`). */
  scale: string;
  /** Exponent b: eta* proportional to scale^b. */
  slope: number;
  /** Bootstrap percentile interval of the slope; null without resamples or with one seed. */
  slope_ci: [number, number] | null;
  /** True when the interval (or, without one, the slope) lies within +-tolerance. */
  transfers: boolean;
  /** The verdict in words. */
  verdict: string;
}

/** The fitted law of one family. */
export interface ScalingFit {
  family: string;
  family_keys: Record<string, string | number>;
  /** Regression axes (empty when no fit could be made; see `note`). */
  scales: string[];
  /** b0: log2 eta* at scale 1 on every axis. */
  intercept: number;
  coefficients: Coefficient[];
  /** Coefficient of determination of the fit in log2 space; NaN when eta* does not vary. */
  r2: number;
  /** Groups used. */
  n_groups: number;
  /** Labels of groups left out (not bracketed, or no finite loss). */
  excluded: string[];
  /** The family's base scale (smallest), used for axes a prediction leaves out. */
  base: Record<string, number>;
  level: number;
  tolerance: number;
  /** Valid bootstrap resamples. */
  n_resamples: number;
  /** Bootstrap coefficient vectors [b0, b1, ...], for prediction intervals. */
  boot: number[][];
  /** Why there is no fit, when there is none. */
  note?: string;
}

/** A predicted optimal LR at a new scale. */
export interface Prediction {
  family: string;
  scale: Record<string, number>;
  eta_star: number;
  /** Bootstrap interval (NaN without resamples). */
  eta_lo: number;
  eta_hi: number;
}

/** Linear-interpolated quantile of sorted values. */
export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const p = (sorted.length - 1) * q, i = Math.floor(p), f = p - i;
  return i + 1 < sorted.length ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

/**
 * Ordinary least squares of y on [1, X]. Returns [b0, b1, ...] and R^2, or
 * null when the design is singular (axes that vary together).
 *
 * @example
 * ```ts
 * leastSquares([[6], [7], [8]], [-3, -3.5, -4]).coef; // [0, -0.5]
 * ```
 */
export function leastSquares(x: number[][], y: number[]): { coef: number[]; r2: number } | null {
  const k = (x[0]?.length ?? 0) + 1;
  const m: number[][] = Array.from({ length: k }, () => new Array(k + 1).fill(0));
  for (let i = 0; i < y.length; i++) {
    const row = [1, ...x[i]];
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) m[r][c] += row[r] * row[c];
      m[r][k] += row[r] * y[i];
    }
  }
  const coef = solve(m);
  if (coef.some((c) => !Number.isFinite(c))) return null;
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  let ssRes = 0, ssTot = 0;
  for (let i = 0; i < y.length; i++) {
    const pred = coef[0] + x[i].reduce((s, v, j) => s + v * coef[j + 1], 0);
    ssRes += (y[i] - pred) ** 2;
    ssTot += (y[i] - mean) ** 2;
  }
  return { coef, r2: ssTot > 1e-18 ? 1 - ssRes / ssTot : NaN };
}

/** Formats a number with 2 decimals, "-0.00" shown as "0.00". */
const f2 = (v: number) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);

/**
 * The verdict in words for one slope.
 *
 * @example
 * ```ts
 * verdictText("model.width", -0.5, [-0.53, -0.47], 0.1, 0.95);
 * // "eta* moves by x2^-0.50 per doubling of width (95% CI [-0.53, -0.47]): drifts"
 * ```
 */
export function verdictText(
  scale: string,
  slope: number,
  ci: [number, number] | null,
  tolerance: number,
  level = 0.95,
): string {
  const ok = transfers(slope, ci, tolerance);
  const interval = ci
    ? `${Math.round(level * 100)}% CI [${f2(ci[0])}, ${f2(ci[1])}]`
    : "no CI: one seed per group";
  return `eta* moves by x2^${f2(slope)} per doubling of ${shortName(scale)} (${interval}): ${
    ok ? "transfers" : "drifts"
  }`;
}

function transfers(slope: number, ci: [number, number] | null, tol: number): boolean {
  return ci ? ci[0] >= -tol && ci[1] <= tol : Math.abs(slope) <= tol;
}

/**
 * Fits log2(eta*) against log2(scale) per family, with bootstrap intervals
 * and a verdict per slope.
 *
 * @example
 * ```ts
 * const fits = fitScaling(optimalLR(await loadResults("runs/width-transfer")));
 * for (const f of fits) console.log(f.family, f.coefficients.map((c) => c.verdict));
 * ```
 */
export function fitScaling(optima: Optima, opts: FitOptions = {}): ScalingFit[] {
  const tolerance = opts.tolerance ?? 0.1;
  const resamples = opts.resamples ?? 500;
  const level = opts.level ?? 0.95;
  const onlyBracketed = opts.onlyBracketed ?? true;
  if (!(tolerance >= 0)) throw new DmodelError(`fitScaling: tolerance must be >= 0, got ${show(tolerance)}`);
  if (!(Number.isInteger(resamples) && resamples >= 0)) {
    throw new DmodelError(`fitScaling: resamples must be an integer >= 0, got ${show(resamples)}`);
  }
  if (!(level > 0 && level < 1)) {
    throw new DmodelError(`fitScaling: level must be in (0, 1), got ${show(level)}`);
  }
  for (const s of opts.scale ?? []) {
    if (!optima.scale.includes(s)) {
      throw new DmodelError(
        `fitScaling: scale ${show(s)} is not a scale axis of the optima (${
          optima.scale.join(", ") || "none"
        })`,
      );
    }
  }
  const families = new Map<string, GroupOptimum[]>();
  for (const g of optima.groups) families.set(g.family, [...(families.get(g.family) ?? []), g]);

  const fits: ScalingFit[] = [];
  for (const [family, groups] of families) {
    const family_keys: Record<string, string | number> = {};
    for (const k of optima.by) family_keys[k] = groups[0].keys[k];
    const used = groups.filter((g) => Number.isFinite(g.eta_star) && (g.bracketed || !onlyBracketed));
    const excluded = groups.filter((g) => !used.includes(g)).map((g) => g.label);
    const axes = (opts.scale ?? optima.scale).filter((a) => new Set(used.map((g) => g.scale[a])).size > 1);
    const fit: ScalingFit = {
      family,
      family_keys,
      scales: axes,
      intercept: NaN,
      coefficients: [],
      r2: NaN,
      n_groups: used.length,
      excluded,
      base: groups.length ? { ...baseGroup(groups).scale } : {},
      level,
      tolerance,
      n_resamples: 0,
      boot: [],
    };
    fits.push(fit);
    if (!axes.length || used.length < axes.length + 1) {
      fit.scales = [];
      fit.note = !optima.scale.length
        ? "no scale axis varies"
        : `not enough ${
          onlyBracketed ? "bracketed " : ""
        }optima to fit a trend (${used.length} of ${groups.length} groups usable)`;
      continue;
    }
    const X = used.map((g) => axes.map((a) => Math.log2(g.scale[a])));
    const y = used.map((g) => Math.log2(g.eta_star));
    const ls = leastSquares(X, y);
    if (!ls) {
      throw new DmodelError(
        `fitScaling: in family ${show(family)} the scale axes ${
          axes.join(", ")
        } vary together; fit one at a time (--scale)`,
      );
    }
    fit.intercept = ls.coef[0];
    fit.r2 = ls.r2;

    // Bootstrap: resample seeds within each group, recompute optima and slopes.
    const rand = mulberry32(((opts.bootstrapSeed ?? 0) ^ hashString(family)) >>> 0);
    const oneSeed = used.every((g) => g.seeds.length < 2);
    for (let r = 0; r < (oneSeed ? 0 : resamples); r++) {
      const yr: number[] = [];
      for (const g of used) {
        const n = g.seeds.length;
        const w = new Array(n).fill(0);
        for (let i = 0; i < n; i++) w[Math.floor(rand() * n)]++;
        const o = optimumOfCurve(weightedCurve(g.curve.map((p) => p.lr), g.seeds, w), optima.window);
        yr.push(o ? o.x : NaN);
      }
      if (yr.some((v) => !Number.isFinite(v))) continue;
      const b = leastSquares(X, yr);
      if (b) fit.boot.push(b.coef);
    }
    fit.n_resamples = fit.boot.length;
    const lo = (1 - level) / 2;
    fit.coefficients = axes.map((scale, j) => {
      const slope = ls.coef[j + 1];
      const draws = fit.boot.map((b) => b[j + 1]).sort((a, b) => a - b);
      const ci: [number, number] | null = draws.length
        ? [quantile(draws, lo), quantile(draws, 1 - lo)]
        : null;
      return {
        scale,
        slope,
        slope_ci: ci,
        transfers: transfers(slope, ci, tolerance),
        verdict: verdictText(scale, slope, ci, tolerance, level),
      };
    });
  }
  return fits;
}

/**
 * Extrapolates a fitted law to a new scale: eta* = 2^(b0 + sum b_j log2 s_j),
 * with the bootstrap percentile interval. Axes may be named in full
 * (`model.width`) or by their last part (`width`); axes left out take the
 * family's base value.
 *
 * @example
 * ```ts
 * const [fit] = fitScaling(optima);
 * const p = predictLR(fit, { width: 4096 });
 * console.log(p.eta_star, p.eta_lo, p.eta_hi);
 * ```
 */
export function predictLR(fit: ScalingFit, scale: Record<string, number>): Prediction {
  if (!fit.scales.length) {
    throw new DmodelError(`predictLR: family ${show(fit.family)} has no fitted law (${fit.note})`);
  }
  const s: Record<string, number> = {};
  for (const a of fit.scales) s[a] = fit.base[a];
  for (const [k, v] of Object.entries(scale)) {
    const axis = fit.scales.find((a) => a === k || shortName(a) === k);
    if (!axis) {
      throw new DmodelError(
        `predict: ${show(k)} is not a fitted scale axis of ${show(fit.family)} (axes: ${
          fit.scales.join(", ")
        })`,
      );
    }
    if (!(typeof v === "number" && v > 0)) {
      throw new DmodelError(`predict: ${k}=${show(v)}: expected a number > 0`);
    }
    s[axis] = v;
  }
  const at = (b: number[]) => b[0] + fit.scales.reduce((acc, a, j) => acc + b[j + 1] * Math.log2(s[a]), 0);
  const coef = [fit.intercept, ...fit.coefficients.map((c) => c.slope)];
  const draws = fit.boot.map(at).sort((a, b) => a - b);
  const lo = (1 - fit.level) / 2;
  return {
    family: fit.family,
    scale: s,
    eta_star: 2 ** at(coef),
    eta_lo: draws.length ? 2 ** quantile(draws, lo) : NaN,
    eta_hi: draws.length ? 2 ** quantile(draws, 1 - lo) : NaN,
  };
}
