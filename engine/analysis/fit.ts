/**
 * The scaling law of the optimal learning rate, per family, with intervals
 * that carry every group's uncertainty:
 *
 *   log2 eta* = b0 + sum_j b_j log2 s_j,
 *
 * so eta* moves by x2^b_j per doubling of axis j.
 *
 * - Fit: weighted least squares, weight 1 / u_g^2 per group, u_g the total
 *   standard uncertainty of the group's log2 eta* (./optimum.ts: parametric
 *   bootstrap of the curve fit and the resolution floor). Groups whose
 *   optimum is at the grid edge are bounds, not estimates: left out.
 * - Intervals: a bootstrap of the whole pipeline: draw b refits the law to
 *   every group's b-th bootstrap optimum (which includes its resolution
 *   term), same weights; percentile intervals at `level`. When the law fits
 *   worse than the uncertainties allow (chi^2 / dof > 1, with dof = groups -
 *   coefficients >= 1), the draws are widened about the estimate by the
 *   Birge ratio sqrt(chi^2 / dof), so unmodelled scatter of the optima
 *   widens the interval instead of being ignored.
 * - Verdict per slope, with tolerance t (default 0.1): "transfers" when the
 *   whole interval lies within [-t, t]; "drifts" when it lies entirely
 *   beyond -t or beyond +t; otherwise "inconclusive", with the reason.
 * - Paired comparison of two families: the difference of their slope draws
 *   (independent trials, so the draws pair freely).
 * - Predictions: the law's draws evaluated at the new scale (so the interval
 *   widens with the distance from the measured scales), with a warning past
 *   2x the largest (or below half the smallest) measured scale.
 *
 * Checked for coverage on synthetic sweeps with a known law in
 * tests/analysis_coverage.test.ts.
 */
import { DmodelError, show } from "../core/errors.ts";
import { hashString, mulberry32 } from "../core/random.ts";
import { leastSquares } from "../core/least_squares.ts";
import type { GroupOptimum, Optima } from "./optimum.ts";
import { baseGroup } from "./transfer.ts";
import { familyKeys, familySeedKey, groupsByFamily, shortName } from "./naming.ts";
import { centralSd, normalSampler, quantile } from "./statistics.ts";

/** Options of `fitScaling`. */
export interface FitOptions {
  /** Scale axes to regress on. Default: the optima's scale axes that vary within each family. */
  scale?: string[];
  /** Tolerance band on |slope| for "transfers". Default 0.1. */
  tolerance?: number;
  /** Pipeline bootstrap draws. Default: the optima's resamples (at least 200). */
  resamples?: number;
  /** Seed of the draws for groups without bootstrap draws. Default 0. */
  bootstrapSeed?: number;
  /** Confidence level of the intervals. Default: the optima's (0.95). */
  level?: number;
  /** Fit only bracketed optima (an edge optimum is only a bound). Default true. */
  onlyBracketed?: boolean;
}

/** The three verdicts. */
export type Call = "transfers" | "drifts" | "inconclusive";

/** One slope of a fitted scaling law. */
export interface Coefficient {
  /** The scale axis (a dotted column, e.g. `model.width`). */
  scale: string;
  /** Exponent b: eta* proportional to scale^b. */
  slope: number;
  /** Standard error of the slope (weighted fit, widened by the Birge ratio). */
  slope_se: number;
  /** Percentile interval of the slope at `level`; null when there is none. */
  slope_ci: [number, number] | null;
  /** The verdict. */
  call: Call;
  /** True when the call is "transfers". */
  transfers: boolean;
  /** Why, in words. */
  reason: string;
  /** The verdict as one sentence: slope, interval, call and reason. */
  verdict: string;
}

/** The fitted law of one family. */
export interface ScalingFit {
  /** The family's name: its `by` keys as `key=value` joined by "/" ("all" without keys). */
  family: string;
  /** Values of the family's `by` keys. */
  family_keys: Record<string, string | number>;
  /** Regression axes (empty when no fit could be made; see `note`). */
  scales: string[];
  /** b0: log2 eta* at scale 1 on every axis. */
  intercept: number;
  /** One slope per regression axis, in the order of `scales`. */
  coefficients: Coefficient[];
  /** Weighted coefficient of determination in log2 space; NaN when eta* does not vary. */
  r2: number;
  /** Weighted chi^2 of the law against the optima. */
  chi2: number;
  /** Degrees of freedom of chi2: groups used - coefficients. */
  dof: number;
  /** Birge ratio max(1, sqrt(chi2 / dof)) that widens the draws and the slope se (1 when dof < 1). */
  birge: number;
  /** Groups used. */
  n_groups: number;
  /** Labels of groups left out (not bracketed, or no finite loss). */
  excluded: string[];
  /** The family's base scale (smallest), used for axes a prediction leaves out. */
  base: Record<string, number>;
  /** Smallest and largest measured value per axis (groups used). */
  range: Record<string, [number, number]>;
  /** Confidence level of the intervals (e.g. 0.95). */
  level: number;
  /** Tolerance band t on |slope|: the verdict is "transfers" when the whole interval lies within [-t, t]. */
  tolerance: number;
  /** Pipeline draws. */
  n_resamples: number;
  /** Draws of the coefficient vector [b0, b1, ...] (widened by the Birge ratio), for intervals. */
  boot: number[][];
  /** How the intervals were made, in words. */
  method: string;
  /** Why there is no fit, when there is none. */
  note?: string;
}

/** A predicted optimal LR at a new scale. */
export interface Prediction {
  /** The family whose law is evaluated. */
  family: string;
  /** The scale predicted at, by axis (axes not given take the family's base value). */
  scale: Record<string, number>;
  /** Predicted optimal LR: 2^(b0 + sum_j b_j log2 s_j). */
  eta_star: number;
  /** Lower end of the percentile interval of eta* at the fit's level (NaN without draws). */
  eta_lo: number;
  /** Upper end of that interval (NaN without draws). */
  eta_hi: number;
  /** Standard uncertainty of log2 eta* at this scale. */
  log2_se: number;
  /** How far beyond the measured scales, as a factor (1 inside the range). */
  extrapolation: number;
  /** Set when extrapolating more than 2x beyond the measured scales. */
  warning?: string;
}

/** Formats a number with 2 decimals, "-0.00" shown as "0.00". */
const f2 = (v: number) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);

/**
 * The three-way call on a slope interval and the reason in words.
 *
 * @example
 * ```ts
 * judge([-0.62, -0.38], 0.1).call; // "drifts"
 * ```
 */
export function judge(
  ci: [number, number] | null,
  tolerance: number,
  slope = NaN,
): { call: Call; reason: string } {
  const t = f2(tolerance);
  if (!ci) {
    return {
      call: "inconclusive",
      reason: Number.isFinite(slope)
        ? "no interval: no bootstrap draws (resamples 0), so the noise of the optima is unknown"
        : "no slope could be fitted",
    };
  }
  const [lo, hi] = ci;
  if (lo >= -tolerance && hi <= tolerance) {
    return { call: "transfers", reason: `the whole interval lies within the tolerance band ±${t}` };
  }
  if (hi < -tolerance || lo > tolerance) {
    return {
      call: "drifts",
      reason: `the whole interval lies beyond ${hi < -tolerance ? "-" : "+"}${t}: eta* ${
        hi < -tolerance ? "falls" : "rises"
      } by more than the tolerance`,
    };
  }
  if (lo > 0 || hi < 0) {
    return {
      call: "inconclusive",
      reason:
        `the interval excludes 0 but reaches into ±${t}: eta* moves, perhaps by less than the tolerance`,
    };
  }
  if (hi - lo > 2 * tolerance) {
    return {
      call: "inconclusive",
      reason: `the interval is wider than the ±${t} band: more scales, seeds or a finer LR grid are needed`,
    };
  }
  return { call: "inconclusive", reason: `the interval straddles the edge of the ±${t} band` };
}

/**
 * The verdict in words for one slope.
 *
 * @example
 * ```ts
 * verdictText("model.width", -0.5, [-0.62, -0.38], 0.1, 0.95);
 * // "eta* moves by x2^-0.50 per doubling of width (95% CI [-0.62, -0.38]): drifts (the whole interval ...)"
 * ```
 */
export function verdictText(
  scale: string,
  slope: number,
  ci: [number, number] | null,
  tolerance: number,
  level = 0.95,
): string {
  const { call, reason } = judge(ci, tolerance, slope);
  const interval = ci ? `${Math.round(level * 100)}% CI [${f2(ci[0])}, ${f2(ci[1])}]` : "no CI";
  return `eta* moves by x2^${f2(slope)} per doubling of ${
    shortName(scale)
  } (${interval}): ${call} (${reason})`;
}

/** The method, in one sentence, for reports. */
export function methodText(tolerance: number, level: number): string {
  return `Per group: eta* = midpoint of a two-sided quadratic (own curvature each side, arg-min ±2 LRs) and the ` +
    `3-point parabola in log2 LR; uncertainty = parametric bootstrap of the curve fit (noise from seed-to-seed ` +
    `and fit residuals) plus a resolution term (the two fits' spread / sqrt(12), at least 1/20 of a grid step). ` +
    `Per family: weighted least squares of log2 eta* on log2 scale (weights 1/u^2), ${
      Math.round(level * 100)
    }% percentile interval from a bootstrap of the whole pipeline, widened by the Birge ratio when the law ` +
    `fits worse than the uncertainties. Verdict: transfers if the interval lies within ±${f2(tolerance)}, ` +
    `drifts if it lies entirely outside, inconclusive otherwise.`;
}

/**
 * A family's law before it is fitted: the groups it may use (`used`; the others are listed as
 * excluded), the scale axes that vary among them with their ranges, and NaN coefficients that a
 * fit fills in. Shared by the two-stage fit here and the joint fit (./joint.ts).
 */
export function unfittedLaw(
  family: string,
  family_keys: Record<string, string | number>,
  groups: GroupOptimum[],
  used: GroupOptimum[],
  axes: string[],
  o: { level: number; tolerance: number; method: string },
): ScalingFit {
  const range: Record<string, [number, number]> = {};
  for (const a of axes) {
    const v = used.map((g) => g.scale[a]);
    range[a] = [Math.min(...v), Math.max(...v)];
  }
  return {
    family,
    family_keys,
    scales: axes,
    intercept: NaN,
    coefficients: [],
    r2: NaN,
    chi2: NaN,
    dof: 0,
    birge: 1,
    n_groups: used.length,
    excluded: groups.filter((g) => !used.includes(g)).map((g) => g.label),
    base: groups.length ? { ...baseGroup(groups).scale } : {},
    range,
    level: o.level,
    tolerance: o.tolerance,
    n_resamples: 0,
    boot: [],
    method: o.method,
  };
}

/**
 * Fits log2(eta*) against log2(scale) per family, with pipeline-bootstrap
 * intervals and a three-way verdict per slope.
 *
 * @example
 * ```ts
 * const fits = fitScaling(optimalLR(await loadResults("runs/width-transfer")));
 * for (const f of fits) console.log(f.family, f.coefficients.map((c) => c.verdict));
 * ```
 */
export function fitScaling(optima: Optima, opts: FitOptions = {}): ScalingFit[] {
  const s = fitSettings(optima, opts);
  return [...groupsByFamily(optima.groups)].map(([family, groups]) => familyLaw(family, groups, optima, s));
}

/** The options of `fitScaling` with their defaults. */
interface FitSettings {
  scale: string[];
  tolerance: number;
  resamples: number;
  level: number;
  onlyBracketed: boolean;
  bootstrapSeed: number;
}

/** The options with their defaults; an error for a bad tolerance, resample count, level or scale axis. */
function fitSettings(optima: Optima, opts: FitOptions): FitSettings {
  const s: FitSettings = {
    scale: opts.scale ?? optima.scale,
    tolerance: opts.tolerance ?? 0.1,
    resamples: opts.resamples ?? Math.max(200, optima.resamples ?? 0),
    level: opts.level ?? optima.level ?? 0.95,
    onlyBracketed: opts.onlyBracketed ?? true,
    bootstrapSeed: opts.bootstrapSeed ?? 0,
  };
  if (!(s.tolerance >= 0)) {
    throw new DmodelError(`fitScaling: tolerance must be >= 0, got ${show(s.tolerance)}`);
  }
  if (!(Number.isInteger(s.resamples) && s.resamples >= 0)) {
    throw new DmodelError(`fitScaling: resamples must be an integer >= 0, got ${show(s.resamples)}`);
  }
  if (!(s.level > 0 && s.level < 1)) {
    throw new DmodelError(`fitScaling: level must be in (0, 1), got ${show(s.level)}`);
  }
  for (const a of opts.scale ?? []) {
    if (!optima.scale.includes(a)) {
      throw new DmodelError(
        `fitScaling: scale ${show(a)} is not a scale axis of the optima (${
          optima.scale.join(", ") || "none"
        })`,
      );
    }
  }
  return s;
}

/**
 * The law of one family: weighted least squares of its usable optima
 * (module header), the Birge ratio, the pipeline bootstrap and the slopes'
 * verdicts; a law with no scales and a note when too few optima are usable.
 */
function familyLaw(family: string, groups: GroupOptimum[], optima: Optima, s: FitSettings): ScalingFit {
  const family_keys = familyKeys(optima.by, groups[0]);
  const used = groups.filter((g) =>
    Number.isFinite(g.log2_eta) && (g.bracketed || !s.onlyBracketed) && g.log2_eta_se > 0
  );
  const axes = s.scale.filter((a) => new Set(used.map((g) => g.scale[a])).size > 1);
  const fit = unfittedLaw(family, family_keys, groups, used, axes, {
    level: s.level,
    tolerance: s.tolerance,
    method: methodText(s.tolerance, s.level),
  });
  if (!axes.length || used.length < axes.length + 1) {
    fit.scales = [];
    fit.note = !optima.scale.length
      ? "no scale axis varies"
      : `not enough ${
        s.onlyBracketed ? "bracketed " : ""
      }optima to fit a trend (${used.length} of ${groups.length} groups usable)`;
    return fit;
  }
  const X = used.map((g) => axes.map((a) => Math.log2(g.scale[a])));
  const w = used.map((g) => 1 / g.log2_eta_se ** 2);
  const ls = leastSquares(X, used.map((g) => g.log2_eta), w);
  if (!ls) {
    throw new DmodelError(
      `fitScaling: in family ${show(family)} the scale axes ${
        axes.join(", ")
      } vary together; fit one at a time (--scale)`,
    );
  }
  fit.intercept = ls.coef[0];
  fit.r2 = ls.r2;
  fit.chi2 = ls.chi2;
  fit.dof = used.length - ls.coef.length;
  fit.birge = fit.dof >= 1 ? Math.max(1, Math.sqrt(ls.chi2 / fit.dof)) : 1;
  const normal = normalSampler(
    mulberry32((s.bootstrapSeed ^ hashString(familySeedKey(optima.by, family_keys))) >>> 0),
  );
  fit.boot = pipelineDraws(used, X, w, ls.coef, fit.birge, s.resamples, normal);
  fit.n_resamples = fit.boot.length;
  fit.coefficients = lawCoefficients(fit, ls, s);
  return fit;
}

/**
 * Bootstrap of the whole pipeline (module header): draw b refits the law to
 * every group's b-th bootstrap optimum (a normal draw about eta* where a group
 * has none), same weights, widened about the estimate by the Birge ratio.
 */
function pipelineDraws(
  used: GroupOptimum[],
  X: number[][],
  w: number[],
  coef: number[],
  birge: number,
  resamples: number,
  normal: () => number,
): number[][] {
  const boot: number[][] = [];
  const groupDraws = used.map((g) => g.draws.filter(Number.isFinite));
  for (let b = 0; b < resamples; b++) {
    const yb = used.map((g, i) => {
      const d = groupDraws[i];
      return d.length ? d[b % d.length] : g.log2_eta + g.log2_eta_se * normal();
    });
    if (yb.some((v) => !Number.isFinite(v))) continue;
    const r = leastSquares(X, yb, w);
    if (r) boot.push(r.coef.map((c, j) => coef[j] + birge * (c - coef[j])));
  }
  return boot;
}

/** Each slope of a fitted law with its se (widened by the Birge ratio), percentile interval and verdict. */
function lawCoefficients(
  fit: ScalingFit,
  ls: { coef: number[]; cov: number[][] },
  s: FitSettings,
): Coefficient[] {
  const lo = (1 - s.level) / 2;
  return fit.scales.map((scale, j) => {
    const slope = ls.coef[j + 1];
    const draws = fit.boot.map((b) => b[j + 1]).sort((a, b) => a - b);
    const ci: [number, number] | null = draws.length >= 20
      ? [quantile(draws, lo), quantile(draws, 1 - lo)]
      : null;
    const { call, reason } = judge(ci, s.tolerance, slope);
    return {
      scale,
      slope,
      slope_se: Math.sqrt(ls.cov[j + 1][j + 1]) * fit.birge,
      slope_ci: ci,
      call,
      transfers: call === "transfers",
      reason,
      verdict: verdictText(scale, slope, ci, s.tolerance, s.level),
    };
  });
}

/** The paired comparison of two families' slopes on one axis. */
export interface Comparison {
  /** The family compared. */
  family: string;
  /** The reference (baseline) family. */
  reference: string;
  /** The scale axis whose slopes are compared. */
  scale: string;
  /** slope(family) - slope(reference). */
  difference: number;
  /** Percentile interval of the difference at `family`'s level; null with under 20 paired draws. */
  ci: [number, number] | null;
  /** In words: "nugpt removes 0.30 ± 0.12 of ngpt's drift (...)". */
  text: string;
}

/**
 * Compares the slopes of two fitted families on one axis: the difference
 * with the percentile interval of the difference of their draws.
 *
 * @example
 * ```ts
 * const [ngpt, nugpt] = fitScaling(optima);
 * compareFits(nugpt, ngpt, "model.width").text; // "nugpt - ngpt: ..."
 * ```
 */
export function compareFits(a: ScalingFit, ref: ScalingFit, scale: string): Comparison {
  const ja = a.scales.indexOf(scale), jr = ref.scales.indexOf(scale);
  if (ja < 0 || jr < 0) {
    throw new DmodelError(
      `compare: ${show(scale)} is not fitted in both ${show(a.family)} and ${show(ref.family)}`,
    );
  }
  const sa = a.coefficients[ja].slope, sr = ref.coefficients[jr].slope;
  const n = Math.min(a.boot.length, ref.boot.length);
  const d: number[] = [];
  for (let b = 0; b < n; b++) d.push(a.boot[b][ja + 1] - ref.boot[b][jr + 1]);
  d.sort((x, y) => x - y);
  const lo = (1 - a.level) / 2;
  const ci: [number, number] | null = d.length >= 20 ? [quantile(d, lo), quantile(d, 1 - lo)] : null;
  const diff = sa - sr;
  const name = shortName(scale);
  const pct = `${Math.round(a.level * 100)}% CI`;
  let text =
    `${a.family} - ${ref.family}: slope difference ${diff >= 0 ? "+" : ""}${
      f2(diff)
    } per doubling of ${name}` +
    (ci ? ` (${pct} [${f2(ci[0])}, ${f2(ci[1])}])` : " (no CI)");
  if (ci) {
    const half = (ci[1] - ci[0]) / 2;
    const sameSide = Math.sign(diff) === -Math.sign(sr) && Math.abs(sr) > 0;
    if (ci[0] > 0 || ci[1] < 0) {
      text += sameSide
        ? `: ${a.family} removes ${f2(Math.abs(diff))} ± ${f2(half)} of ${ref.family}'s drift (x2^${
          f2(sr)
        } per doubling)`
        : `: ${a.family} drifts ${f2(Math.abs(diff))} ± ${f2(half)} more than ${ref.family}`;
    } else text += `: no significant difference between ${a.family} and ${ref.family}`;
  }
  return { family: a.family, reference: ref.family, scale, difference: diff, ci, text };
}

/**
 * Every pair of fitted families on every shared axis; the reference of a
 * pair is the family whose slope is farther from 0 (the one that drifts more).
 */
export function compareAll(fits: ScalingFit[]): Comparison[] {
  const out: Comparison[] = [];
  const ok = fits.filter((f) => f.coefficients.length);
  for (let i = 0; i < ok.length; i++) {
    for (let j = i + 1; j < ok.length; j++) {
      for (const s of ok[i].scales.filter((s) => ok[j].scales.includes(s))) {
        const si = Math.abs(ok[i].coefficients[ok[i].scales.indexOf(s)].slope);
        const sj = Math.abs(ok[j].coefficients[ok[j].scales.indexOf(s)].slope);
        out.push(si > sj ? compareFits(ok[j], ok[i], s) : compareFits(ok[i], ok[j], s));
      }
    }
  }
  return out;
}

/**
 * Extrapolates a fitted law to a new scale: eta* = 2^(b0 + sum b_j log2 s_j),
 * with the percentile interval of the law's draws there (wider the farther
 * from the measured scales), and a warning beyond 2x the measured range.
 * Axes may be named in full (`model.width`) or by their last part
 * (`width`); axes left out take the family's base value.
 *
 * @example
 * ```ts
 * const [fit] = fitScaling(optima);
 * const p = predictLR(fit, { width: 4096 });
 * console.log(p.eta_star, p.eta_lo, p.eta_hi, p.warning);
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
  let extrapolation = 1;
  const far: string[] = [];
  for (const a of fit.scales) {
    const [mn, mx] = fit.range[a];
    const f = Math.max(s[a] / mx, mn / s[a], 1);
    if (f > extrapolation) extrapolation = f;
    if (f > 2) {
      far.push(`${shortName(a)}=${s[a]} is ${f.toFixed(f < 10 ? 1 : 0)}x beyond the measured ${mn}..${mx}`);
    }
  }
  const sd = centralSd(draws);
  return {
    family: fit.family,
    scale: s,
    eta_star: 2 ** at(coef),
    eta_lo: draws.length ? 2 ** quantile(draws, lo) : NaN,
    eta_hi: draws.length ? 2 ** quantile(draws, 1 - lo) : NaN,
    log2_se: sd,
    extrapolation,
    ...(far.length
      ? { warning: `extrapolating: ${far.join("; ")}; the interval assumes the power law holds that far` }
      : {}),
  };
}
