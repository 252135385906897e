/**
 * The family's scaling law from every finished trial at once (the verdict's
 * estimator; ./fit.ts's two-stage fit is kept as a cross-check):
 *
 *   log2 eta*(s) = b0 + sum_j b_j log2 s_j,
 *   loss(x, s) = c_s + B_s(x - log2 eta*(s)) + seed offset + noise,   x = log2 lr,
 *
 * where B_s is a local basin with its minimum at 0 whose shape is free per
 * scale (so it may change with width). The law's coefficients are fitted
 * jointly: each scale's points near its optimum constrain where the law puts
 * that scale's minimum, weighted by their noise.
 *
 * 1. Cells. Per (scale, LR): each seed's loss minus its seed offset (the
 *    median, over the LRs where every seed finished, of its difference from
 *    the seed mean; a median so one seed's jump does not move the offset);
 *    the cell value is a Huber mean of those (k = 1.5 sd of the noise model),
 *    so with 3 seeds a single jump near the wall is mostly ignored.
 * 2. Noise: ./noise.ts (sd growing with the distance above the optimum, one
 *    model per family, each cell's variance shrunk towards it). A cell's
 *    weight is finished seeds / variance; cells near the cliff, or whose
 *    seeds disagree, weigh little.
 * 3. Local basins (./joint_basins.ts). Three models of B, each fitted within a window of the
 *    scale's grid arg-min x^ (stopping at an LR where every seed diverged,
 *    or whose loss is more than `CLIFF` nats above the arg-min's: over the
 *    cliff, not the basin; against such a wall the window is widened on the
 *    open side to 3 LRs and the minimum kept within half a step of x^):
 *    a cubic a u^2 + d u^3 (a >= 0) over +-2 octaves (asymmetric basins), a
 *    quadratic over +-1 octave (the bottom only), and a two-sided quadratic
 *    a_L / a_R over +-2 octaves. For a given minimum m each is linear in its
 *    coefficients, so each scale gives a profile chi^2_s(m) (weighted RSS
 *    with the coefficients refitted), tabulated for m within one grid step
 *    of x^ (the optimum cannot be farther from the arg-min of a curve).
 * 4. Joint fit: the coefficients b minimize sum_s chi^2_s(b0 + b . log2 s)
 *    (Nelder-Mead from the weighted regression of the per-scale minima), per
 *    model. The estimate is the mean of the three models' coefficients.
 * 5. Uncertainty, on the law itself (not per scale, so a basin-model bias
 *    common to all scales, which cancels in the slope, is not counted as if
 *    independent per scale):
 *    - statistical: a parametric bootstrap of everything above: new cell
 *      values = fitted cubic (inside the window; the observed mean outside)
 *      + normal noise of the cell's variance; arg-min, windows, the three
 *      models and the joint fit redone per draw;
 *    - lack of fit: each scale's own optimum (the mean of the three models'
 *      profile minima) is compared with the law; when their chi^2 (against
 *      their bootstrap sd and their basin-model spread / sqrt(12), with dof =
 *      scales - coefficients) exceeds its dof, the draws are widened about
 *      their median by the Birge ratio sqrt(chi^2 / dof) (the optima scatter
 *      about the power law more than the noise and the models explain: a
 *      one-seed prior that is too small, or shapes that change with scale);
 *    - basin model: the three models' slopes differ by how the basin's
 *      asymmetry changes with scale; each draw gets normal(0, u_model)
 *      added, u_model = their range / sqrt(12) (uniform over the range), at
 *      least `MODEL_FLOOR` octaves per doubling;
 *    - grid resolution: a basin model's bias depends on where the optimum
 *      falls between two grid LRs (its phase), with an amplitude taken as
 *      `RESOLUTION` grid steps. The bias cancels in the slope when every
 *      scale has the same phase (slope 0, or one grid step per doubling);
 *      otherwise it shifts the slope by the regression slope of the biases,
 *      whose rms over the unknown phase (`resolutionSlopeSd`, at the
 *      estimated slope) is added to each draw.
 *    The interval is the percentile interval of the draws; the verdict is
 *    ./fit.ts's `judge` on it. Calibrated on realistic synthetic sweeps by
 *    tests/analysis_calibration.test.ts and `deno task calibrate-analysis`
 *    (tests/fixtures/calibrate.ts).
 * 6. One seed: the noise is a stated prior (./noise.ts), widened by the lack
 *    of fit; the verdict says so.
 * 7. Per scale: the recommended LR is the law's value there (its interval
 *    from the draws); the cost of transfer is the scale's fitted cubic at the
 *    law's eta* of the base scale minus at the law's eta* of this scale, from the
 *    fitted curves (not an arg-min), with its percentile interval, when the
 *    base eta* lies inside the scale's window (else it is not extrapolated).
 */
import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import { DmodelError, show } from "../core/errors.ts";
import { hashString, mulberry32 } from "../core/random.ts";
import { leastSquares } from "../core/least_squares.ts";
import { type GroupOptimum, type Optima, optimalLR, type OptimaOptions } from "./optimum.ts";
import { baseGroup } from "./transfer.ts";
import { centralSd, normalSampler, quantile } from "./statistics.ts";
import { familyKeys, groupsByFamily } from "./naming.ts";
import { type Call, judge, type ScalingFit, unfittedLaw, verdictText } from "./fit.ts";
import {
  type Cell,
  type Local,
  localAt,
  type LocalModel,
  localValue,
  MODELS,
  ownMinimum,
  type Profile,
  profile,
  profileAt,
  type Scale,
} from "./joint_basins.ts";
import { cellVariance, fitNoiseModel, type NoiseCell, type NoiseModel, noiseSd } from "./noise.ts";

/**
 * Resolution: a basin model's bias on eta* depends on where the optimum falls between grid LRs (the phase),
 * with an amplitude taken as `RESOLUTION` grid steps (header, item 5).
 */
export const RESOLUTION = 0.2;

/**
 * The slope error a phase-dependent bias RESOLUTION h sin(2 pi phase) would cause for a law of slope b on
 * the centred log2 scales t: the rms over the unknown phase of the regression slope of that bias. Zero
 * when b = 0 (every scale has the same phase, the bias cancels), largest when the phase drifts by a
 * fraction of a step across the scales.
 */
export function resolutionSlopeSd(b: number, t: number[], h: number): number {
  const tt = t.reduce((a, v) => a + v * v, 0);
  if (!(tt > 0) || !(h > 0)) return 0;
  let acc = 0;
  for (let k = 0; k < 16; k++) {
    let s = 0;
    for (const v of t) s += v * Math.sin(2 * Math.PI * (k / 16 + b * v / h));
    acc += (s / tt) ** 2;
  }
  return RESOLUTION * h * Math.sqrt(acc / 16);
}

/** Smallest basin-model uncertainty of a slope (log2 per doubling). */
export const MODEL_FLOOR = 0.01;

/** Options of `jointScaling`. */
export interface JointOptions {
  /** Scale axes to regress on. Default: those that vary within the family. */
  scale?: string[];
  /** Tolerance band on |slope| for "transfers". Default 0.1. */
  tolerance?: number;
  /** Parametric-bootstrap draws. Default 200. */
  resamples?: number;
  /** Seed of the draws. Default 0. */
  bootstrapSeed?: number;
  /** Confidence level. Default: the optima's (0.95). */
  level?: number;
}

/** Nelder-Mead minimization of f from x0 with initial steps `step`. */
function nelderMead(f: (x: number[]) => number, x0: number[], step: number[], iters = 300): number[] {
  const n = x0.length;
  let pts = [x0, ...x0.map((_, i) => x0.map((v, j) => (i === j ? v + step[i] : v)))];
  let vals = pts.map(f);
  for (let it = 0; it < iters; it++) {
    const order = vals.map((_, i) => i).sort((a, b) => vals[a] - vals[b]);
    pts = order.map((i) => pts[i]);
    vals = order.map((i) => vals[i]);
    if (Math.abs(vals[n] - vals[0]) < 1e-9 * (1 + Math.abs(vals[0])) && it > 20) break;
    const cen = x0.map((_, j) => pts.slice(0, n).reduce((a, p) => a + p[j], 0) / n);
    const at = (t: number) => cen.map((c, j) => c + t * (pts[n][j] - c));
    const xr = at(-1), fr = f(xr);
    if (fr < vals[0]) {
      const xe = at(-2), fe = f(xe);
      [pts[n], vals[n]] = fe < fr ? [xe, fe] : [xr, fr];
    } else if (fr < vals[n - 1]) {
      [pts[n], vals[n]] = [xr, fr];
    } else {
      const xc = at(fr < vals[n] ? -0.5 : 0.5), fc = f(xc);
      if (fc < Math.min(fr, vals[n])) [pts[n], vals[n]] = [xc, fc];
      else {
        for (let i = 1; i <= n; i++) {
          pts[i] = pts[i].map((v, j) => pts[0][j] + 0.5 * (v - pts[0][j]));
          vals[i] = f(pts[i]);
        }
      }
    }
  }
  return pts[vals.indexOf(Math.min(...vals))];
}

/** The joint fit of one model: coefficients (centred t), chi^2, dof, per-scale profiles. */
interface JointModelFit {
  coef: number[];
  chi2: number;
  dof: number;
  profiles: Profile[];
}

/** Joint fit of the law for one model over the usable scales (header, item 4). */
function jointFit(
  scales: Scale[],
  cellsOf: Cell[][],
  model: LocalModel,
  p: number,
  fallback: number[] = [],
): JointModelFit | null {
  const profiles: Profile[] = [];
  const ts: number[][] = [];
  for (let i = 0; i < scales.length; i++) {
    const pr = profile(scales[i], cellsOf[i], model, fallback[i] ?? -1);
    if (!pr) return null;
    profiles.push(pr);
    ts.push(scales[i].t);
  }
  // Start: weighted regression of each scale's own minimum (weight: the profile's curvature there).
  const mins = profiles.map((pr) => {
    let j = 0;
    for (let i = 1; i < pr.chi2.length; i++) if (pr.chi2[i] < pr.chi2[j]) j = i;
    const jl = Math.max(0, j - 5), jr = Math.min(pr.chi2.length - 1, j + 5);
    const dm = pr.m[jr] - pr.m[jl];
    const curv = Math.max(1e-3, (pr.chi2[jl] + pr.chi2[jr] - 2 * pr.chi2[j]) / ((dm / 2) ** 2 || 1));
    return { m: pr.m[j], w: curv };
  });
  const ls = leastSquares(ts, mins.map((v) => v.m), mins.map((v) => v.w));
  const start = ls ? ls.coef : [mins.reduce((a, v) => a + v.m, 0) / mins.length, ...new Array(p).fill(0)];
  const F = (b: number[]) =>
    profiles.reduce(
      (a, pr, i) => a + profileAt(pr, b[0] + ts[i].reduce((s, t, j) => s + b[j + 1] * t, 0)),
      0,
    );
  let coef = nelderMead(F, start, start.map((_, j) => (j === 0 ? 0.2 : 0.1)));
  coef = nelderMead(F, coef, coef.map(() => 0.02));
  const nPts = profiles.reduce((a, pr) => a + pr.used.length, 0);
  const nPar = profiles.reduce((a, pr) => a + pr.k, 0) + p + 1;
  return { coef, chi2: F(coef), dof: nPts - nPar, profiles };
}

/** Per-scale results of the joint fit. */
export interface JointScale {
  /** Short label of the scale ("256", or "width=256, depth=4"). */
  label: string;
  /** The scale values, by axis. */
  scale: Record<string, number>;
  /** The law's log2 eta* at this scale. */
  log2_eta: number;
  /** Percentile interval of log2_eta at the fit's level; null with under 20 draws. */
  log2_eta_ci: [number, number] | null;
  /** This scale's own profile minimum (cubic model), for the two-stage comparison. */
  log2_eta_own: number;
  /**
   * Cost of transfer from the fitted curves (header, item 7), in units of the loss column;
   * NaN when not inside the window.
   */
  cost: number;
  /** Percentile interval of `cost` ([0, 0] at the base scale); null without a cost or under 20 draws. */
  cost_ci: [number, number] | null;
  /** The base scale's eta* lies outside this scale's fitted window (so the cost is not extrapolated). */
  cost_outside: boolean;
  /** Arg-min at the grid's edge, or too few LRs: left out of the law. */
  excluded: boolean;
}

/** A family's joint law: a `ScalingFit` (so predictions, comparisons and figures use it) plus its details. */
export interface JointFit extends ScalingFit {
  /** The noise model of the family. */
  noise: NoiseModel;
  /** Seeds per scale (the smallest). */
  n_seeds: number;
  /** Slopes of the three basin models, per axis. */
  model_slopes: Record<string, number[]>;
  /** Model uncertainty of each slope: the range of `model_slopes` / sqrt(12), with a floor. */
  u_model: number[];
  /** Statistical sd of each slope (bootstrap, widened by the Birge ratio), before the model term. */
  u_stat: number[];
  /** Resolution (grid phase) sd of each slope at its estimate. */
  u_res: number[];
  /** Median grid step of the family's scales (log2). */
  grid_step: number;
  /** Per-scale recommended LRs and costs of transfer. */
  per_scale: JointScale[];
}

/** Huber mean of values with scale s (k = 1.5 s). */
function huberMean(v: number[], s: number): number {
  if (v.length < 3 || !(s > 0)) return v.reduce((a, b) => a + b, 0) / v.length;
  let mu = v.slice().sort((a, b) => a - b)[v.length >> 1];
  for (let it = 0; it < 20; it++) {
    let num = 0, den = 0;
    for (const x of v) {
      const r = Math.abs(x - mu), w = r <= 1.5 * s ? 1 : 1.5 * s / r;
      num += w * x;
      den += w;
    }
    const next = num / den;
    if (Math.abs(next - mu) < 1e-12) break;
    mu = next;
  }
  return mu;
}

/** Seed-adjusted losses per cell of a group (offsets by medians, header item 1). */
function adjusted(g: GroupOptimum): { x: number; vals: number[]; diverged: number }[] {
  const J = g.curve.length, seeds = g.seeds;
  const complete: number[] = [];
  for (let j = 0; j < J; j++) if (seeds.every((s) => s.ok[j] === 1)) complete.push(j);
  const off = seeds.map(() => 0);
  if (seeds.length > 1 && complete.length) {
    const means = complete.map((j) => seeds.reduce((a, s) => a + s.sum[j], 0) / seeds.length);
    seeds.forEach((s, k) => {
      const d = complete.map((j, i) => s.sum[j] - means[i]).sort((a, b) => a - b);
      off[k] = quantile(d, 0.5);
    });
    const mo = off.reduce((a, b) => a + b, 0) / off.length;
    for (let k = 0; k < off.length; k++) off[k] -= mo;
  }
  return g.curve.map((p, j) => ({
    x: p.log2_lr,
    vals: seeds.flatMap((s, k) => (s.ok[j] === 1 ? [s.sum[j] - off[k]] : [])),
    diverged: p.n_diverged,
  }));
}

/** Sample variance. */
function variance(v: number[]): number {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
}

/** The three-way verdict of a slope interval, with the one-seed and no-interval cases spelled out. */
function verdictOf(
  scale: string,
  slope: number,
  ci: [number, number] | null,
  tolerance: number,
  level: number,
  noise: NoiseModel,
): { call: Call; reason: string; verdict: string } {
  const j = judge(ci, tolerance, slope);
  let verdict = verdictText(scale, slope, ci, tolerance, level);
  if (noise.source === "prior") {
    verdict += " [one seed: noise from a stated prior, widened by the lack of fit]";
  }
  return { ...j, verdict };
}

/** The options of `jointScaling` with their defaults. */
interface JointSettings {
  /** Candidate scale axes (those that vary within a family are regressed on). */
  scale: string[];
  tolerance: number;
  resamples: number;
  level: number;
  bootstrapSeed: number;
}

/** The fits of the three basin models (`MODELS`, in order) at the family's estimate. */
type ModelFits = JointModelFit[];

/** One bootstrap draw of the joint fit: the model-averaged coefficients, each scale's own minimum and fitted cubic. */
interface JointDraw {
  cb: number[];
  own: number[];
  loc: Local[];
}

/**
 * The joint law per family (module header), as `ScalingFit`s with the
 * details of `JointFit`.
 *
 * @example
 * ```ts
 * const fits = jointScaling(optimalLR(await loadResults("runs/width-transfer"), { resamples: 0 }));
 * for (const f of fits) console.log(f.family, f.coefficients.map((c) => c.verdict));
 * ```
 */
export function jointScaling(optima: Optima, opts: JointOptions = {}): JointFit[] {
  const s = jointSettings(optima, opts);
  return [...groupsByFamily(optima.groups)].map(([family, groups]) =>
    familyJointFit(family, groups, optima, s)
  );
}

/** The options with their defaults; an error for a negative tolerance or a bad resample count. */
function jointSettings(optima: Optima, opts: JointOptions): JointSettings {
  const s: JointSettings = {
    scale: opts.scale ?? optima.scale,
    tolerance: opts.tolerance ?? 0.1,
    resamples: opts.resamples ?? 200,
    level: opts.level ?? optima.level ?? 0.95,
    bootstrapSeed: opts.bootstrapSeed ?? 0,
  };
  if (!(s.tolerance >= 0)) {
    throw new DmodelError(`jointScaling: tolerance must be >= 0, got ${show(s.tolerance)}`);
  }
  if (!(Number.isInteger(s.resamples) && s.resamples >= 0)) {
    throw new DmodelError(`jointScaling: resamples must be an integer >= 0, got ${show(s.resamples)}`);
  }
  return s;
}

/** The joint law of one family: its usable scales, the three-model fit, the bootstrap, slopes and per-scale results. */
function familyJointFit(family: string, groups: GroupOptimum[], optima: Optima, s: JointSettings): JointFit {
  const family_keys = familyKeys(optima.by, groups[0]);
  const { noise, cells, xHat } = familyCells(groups);
  const { axes, mean, scales } = familyScales(groups, cells, xHat, s.scale);
  const p = axes.length;
  const h = quantile(scales.map((sc) => sc.h).sort((a, b) => a - b), 0.5);
  const fit: JointFit = {
    ...unfittedLaw(family, family_keys, groups, scales.map((sc) => sc.g), axes, {
      level: s.level,
      tolerance: s.tolerance,
      method: jointMethodText(s.tolerance, s.level),
    }),
    noise,
    n_seeds: Math.min(...groups.map((g) => g.n_seeds)),
    model_slopes: {},
    u_model: [],
    u_stat: [],
    u_res: [],
    grid_step: h,
    per_scale: [],
  };
  const fits0 = p ? MODELS.map((m) => jointFit(scales, scales.map((sc) => sc.cells), m, p)) : [];
  if (!p || scales.length < p + 1 || fits0.some((f) => f === null)) {
    fit.scales = [];
    fit.note = !optima.scale.length
      ? "no scale axis varies"
      : !p || scales.length < p + 1
      ? `not enough bracketed optima to fit a trend (${scales.length} of ${groups.length} groups usable)`
      : "too few finished LRs around an optimum for the basin models";
    return fit;
  }
  fitJointLaw(fit, groups, scales, fits0 as ModelFits, mean, s);
  return fit;
}

/**
 * A family's cells under its noise model (header items 1-2): per group and
 * LR, the Huber mean of the seed-adjusted losses and its variance; `xHat` is
 * each group's grid arg-min.
 */
function familyCells(groups: GroupOptimum[]): { noise: NoiseModel; cells: Cell[][]; xHat: number[] } {
  const raw = groups.map(adjusted);
  const xHat = groups.map((g) => (g.fit ? g.fit.xGrid : NaN));
  const noiseCells: NoiseCell[] = [];
  raw.forEach((cs, i) =>
    cs.forEach((c) => {
      if (c.vals.length >= 2 && Number.isFinite(xHat[i])) {
        noiseCells.push({ z: c.x - xHat[i], v: variance(c.vals), nu: c.vals.length - 1 });
      }
    })
  );
  const noise = fitNoiseModel(noiseCells);
  const cells: Cell[][] = raw.map((cs, i) =>
    cs.map((c) => {
      const z = c.x - xHat[i];
      const s2 = cellVariance(noise, z, c.vals.length >= 2 ? variance(c.vals) : NaN, c.vals.length - 1);
      return {
        x: c.x,
        y: c.vals.length ? huberMean(c.vals, noiseSd(noise, z)) : NaN,
        n: c.vals.length,
        diverged: c.diverged,
        var: c.vals.length ? s2 / c.vals.length : NaN,
      };
    })
  );
  return { noise, cells, xHat };
}

/**
 * The family's usable scales (bracketed optimum with a basin fit), the axes
 * that vary among them, and the mean log2 scale the axes are centred on.
 */
function familyScales(
  groups: GroupOptimum[],
  cells: Cell[][],
  xHat: number[],
  scaleAxes: string[],
): { axes: string[]; mean: number[]; scales: Scale[] } {
  const axesAll = scaleAxes.filter((a) => new Set(groups.map((g) => g.scale[a])).size > 1);
  const steps = (cs: Cell[]) => {
    const d = cs.slice(1).map((c, i) => c.x - cs[i].x).sort((a, b) => a - b);
    return d.length ? d[d.length >> 1] : 1;
  };
  const usable = groups.map((g, i) => Number.isFinite(xHat[i]) && g.bracketed && g.fit !== null);
  const idx = groups.map((_, i) => i).filter((i) => usable[i]);
  const axes = axesAll.filter((a) => new Set(idx.map((i) => groups[i].scale[a])).size > 1);
  const mean = axes.map((a) =>
    idx.reduce((s, i) => s + Math.log2(groups[i].scale[a]), 0) / (idx.length || 1)
  );
  const scales: Scale[] = idx.map((i) => ({
    g: groups[i],
    t: axes.map((a, j) => Math.log2(groups[i].scale[a]) - mean[j]),
    cells: cells[i],
    h: steps(cells[i]),
  }));
  return { axes, mean, scales };
}

/** Element-wise mean of coefficient vectors. */
function meanCoef(cs: number[][]): number[] {
  return cs[0].map((_, j) => cs.reduce((a, c) => a + c[j], 0) / cs.length);
}

/** A scale's own minimum: the mean of the three models' profile minima. */
function ownMean(fits: ModelFits, i: number): number {
  return fits.reduce((a, f) => a + ownMinimum(f.profiles[i]), 0) / fits.length;
}

/** The fitted local model of scale i at the joint solution b (for the bootstrap and the cost of transfer). */
function fittedLocal(scales: Scale[], jf: JointModelFit, b: number[], i: number): Local {
  const pr = jf.profiles[i];
  const m = b[0] + scales[i].t.reduce((s, t, j) => s + b[j + 1] * t, 0);
  const mm = Math.min(pr.m[pr.m.length - 1], Math.max(pr.m[0], m));
  return localAt(
    pr.model,
    pr.used.map((c) => c.x),
    pr.used.map((c) => c.y),
    pr.used.map((c) => 1 / c.var),
    mm,
  ).f;
}

/**
 * Fills in a fitted family's law: the model-averaged coefficients with the
 * model uncertainty (header item 4), the bootstrap widened by the Birge ratio
 * (item 5), the slopes' verdicts and the per-scale results (item 7).
 */
function fitJointLaw(
  fit: JointFit,
  groups: GroupOptimum[],
  scales: Scale[],
  f0: ModelFits,
  mean: number[],
  s: JointSettings,
): void {
  const axes = fit.scales;
  const coef = meanCoef(f0.map((f) => f.coef));
  fit.u_model = axes.map((_, j) => {
    const v = f0.map((f) => f.coef[j + 1]);
    return Math.max(MODEL_FLOOR, (Math.max(...v) - Math.min(...v)) / Math.sqrt(12));
  });
  fit.model_slopes = Object.fromEntries(axes.map((a, j) => [a, f0.map((f) => f.coef[j + 1])]));
  const locals = scales.map((_, i) => fittedLocal(scales, f0[0], f0[0].coef, i));
  const rand = mulberry32((s.bootstrapSeed ^ hashString("joint|" + fit.family)) >>> 0);
  const normal = normalSampler(rand);
  const rawDraws = jointDraws(scales, f0, locals, s.resamples, normal);
  const { own, pred } = lackOfFit(fit, scales, f0, coef, rawDraws);
  // Deviations about the draws' median (the bootstrap data come from the cubic, so their centre may differ
  // from the three-model estimate), widened by the Birge ratio, plus the basin-model term.
  const centre = coef.map((_, j) => quantile(rawDraws.map((d) => d.cb[j]).sort((a, b) => a - b), 0.5));
  fit.u_res = axes.map((_, j) => resolutionSlopeSd(coef[j + 1], scales.map((sc) => sc.t[j]), fit.grid_step));
  fit.u_stat = axes.map((_, j) =>
    fit.birge * centralSd(rawDraws.map((d) => d.cb[j + 1]).sort((a, b) => a - b))
  );
  const drawCoef = rawDraws.map((d) =>
    d.cb.map((v, j) => {
      const wide = coef[j] + fit.birge * (v - centre[j]);
      return j === 0 ? wide : wide + Math.hypot(fit.u_model[j - 1], fit.u_res[j - 1]) * normal();
    })
  );
  // Back from centred t to log2 scale: b0_abs = b0 - sum_j b_j mean_j.
  const toAbs = (c: number[]) => [c[0] - c.slice(1).reduce((a, v, j) => a + v * mean[j], 0), ...c.slice(1)];
  fit.intercept = toAbs(coef)[0];
  fit.boot = drawCoef.map(toAbs);
  fit.n_resamples = fit.boot.length;
  // R^2 of the law against the scales' own minima (descriptive).
  const my = own.reduce((a, v) => a + v, 0) / own.length;
  const tss = own.reduce((a, v) => a + (v - my) ** 2, 0);
  fit.r2 = tss > 0 ? 1 - own.reduce((a, v, i) => a + (v - pred[i]) ** 2, 0) / tss : NaN;
  fit.coefficients = slopeCoefficients(fit, coef, s);
  fit.per_scale = perScale(fit, groups, scales, {
    absCoef: toAbs(coef),
    own,
    cubic: f0[0],
    locals,
    drawLocals: rawDraws.map((d) => d.loc),
  });
}

/**
 * Parametric bootstrap of the joint fit (header item 5): each draw is every
 * scale's fitted cubic (the observed means outside its fitted LRs) plus
 * normal noise of the cell's sd, refitted by the three models from the same
 * starting cells; a draw where a model cannot be fitted is dropped.
 */
function jointDraws(
  scales: Scale[],
  f0: ModelFits,
  locals: Local[],
  resamples: number,
  normal: () => number,
): JointDraw[] {
  const cubic = f0[0], p = scales[0].t.length;
  const draws: JointDraw[] = [];
  for (let b = 0; b < resamples; b++) {
    const cellsB = scales.map((s, i) => {
      const used = new Set(cubic.profiles[i].used);
      return s.cells.map((c) => {
        if (!(c.n > 0 && Number.isFinite(c.y))) return c;
        const mu = used.has(c) ? localValue(locals[i], c.x) : c.y;
        return { ...c, y: mu + Math.sqrt(c.var) * normal() };
      });
    });
    const fb = MODELS.map((m, k) => jointFit(scales, cellsB, m, p, f0[k].profiles.map((pr) => pr.i0)));
    if (fb.some((f) => f === null)) continue;
    const fbs = fb as ModelFits;
    draws.push({
      cb: meanCoef(fbs.map((f) => f.coef)),
      own: scales.map((_, i) => ownMean(fbs, i)),
      loc: scales.map((_, i) => fittedLocal(scales, fbs[0], fbs[0].coef, i)),
    });
  }
  return draws;
}

/**
 * Scatter of the scales' own minima about the law against their bootstrap
 * sd (header item 5): sets chi^2, dof and the Birge ratio; returns the own
 * minima and the law's prediction at each scale.
 */
function lackOfFit(
  fit: JointFit,
  scales: Scale[],
  f0: ModelFits,
  coef: number[],
  draws: JointDraw[],
): { own: number[]; pred: number[] } {
  const own = scales.map((_, i) => ownMean(f0, i));
  const ownSd = scales.map((_, i) => {
    const v = draws.map((d) => d.own[i]).sort((a, b) => a - b);
    const mins = f0.map((f) => ownMinimum(f.profiles[i]));
    // The scale's basin-model spread is part of its optimum's uncertainty (it is in the slope's model term).
    const uMod = (Math.max(...mins) - Math.min(...mins)) / Math.sqrt(12);
    return Math.max(
      RESOLUTION * scales[i].h / 4,
      Math.hypot((quantile(v, 0.8413) - quantile(v, 0.1587)) / 2, uMod),
    );
  });
  const pred = scales.map((s) => coef[0] + s.t.reduce((a, t, j) => a + coef[j + 1] * t, 0));
  fit.chi2 = own.reduce((a, v, i) => a + ((v - pred[i]) / ownSd[i]) ** 2, 0);
  fit.dof = scales.length - fit.scales.length - 1;
  fit.birge = fit.dof >= 1 && draws.length > 2 ? Math.max(1, Math.sqrt(fit.chi2 / fit.dof)) : 1;
  return { own, pred };
}

/** Each slope with its bootstrap sd, percentile interval and verdict. */
function slopeCoefficients(fit: JointFit, coef: number[], s: JointSettings): JointFit["coefficients"] {
  const lo = (1 - s.level) / 2;
  return fit.scales.map((scale, j) => {
    const slope = coef[j + 1];
    const d = fit.boot.map((c) => c[j + 1]).sort((a, b) => a - b);
    const ci: [number, number] | null = d.length >= 20 ? [quantile(d, lo), quantile(d, 1 - lo)] : null;
    const v = verdictOf(scale, slope, ci, s.tolerance, s.level, fit.noise);
    return {
      scale,
      slope,
      slope_se: centralSd(d),
      slope_ci: ci,
      call: v.call,
      transfers: v.call === "transfers",
      reason: v.reason,
      verdict: v.verdict,
    };
  });
}

/**
 * Per scale: the law's eta* with its interval, and the cost of transfer from
 * the base scale on the fitted curves (header item 7), not extrapolated past
 * the LRs the scale's cubic used.
 */
function perScale(
  fit: JointFit,
  groups: GroupOptimum[],
  scales: Scale[],
  law: { absCoef: number[]; own: number[]; cubic: JointModelFit; locals: Local[]; drawLocals: Local[][] },
): JointScale[] {
  const lo = (1 - fit.level) / 2;
  const base = baseGroup(groups);
  const at = (c: number[], sc: Record<string, number>) =>
    c[0] + fit.scales.reduce((a, ax, j) => a + c[j + 1] * Math.log2(sc[ax]), 0);
  return groups.map((g) => {
    const i = scales.findIndex((s) => s.g === g);
    const x = at(law.absCoef, g.scale), xb = at(law.absCoef, base.scale);
    const xs = fit.boot.map((c) => at(c, g.scale)).sort((a, b) => a - b);
    const row: JointScale = {
      label: g.label,
      scale: g.scale,
      log2_eta: x,
      log2_eta_ci: xs.length >= 20 ? [quantile(xs, lo), quantile(xs, 1 - lo)] : null,
      log2_eta_own: i >= 0 ? law.own[i] : NaN,
      cost: NaN,
      cost_ci: null,
      cost_outside: false,
      excluded: i < 0,
    };
    if (g === base) return { ...row, cost: 0, cost_ci: [0, 0] as [number, number] };
    if (i < 0) return row;
    const used = law.cubic.profiles[i].used.map((c) => c.x);
    if (xb < Math.min(...used) - 1e-9 || xb > Math.max(...used) + 1e-9) {
      return { ...row, cost_outside: true };
    }
    row.cost = localValue(law.locals[i], xb) - localValue(law.locals[i], x);
    const costs = fit.boot.map((c, b) => {
      const f = law.drawLocals[b][i];
      return localValue(f, at(c, base.scale)) - localValue(f, at(c, g.scale));
    }).filter(Number.isFinite).sort((a, b) => a - b);
    if (costs.length >= 20) row.cost_ci = [quantile(costs, lo), quantile(costs, 1 - lo)];
    return row;
  });
}

/** The joint method in one paragraph, for reports. */
export function jointMethodText(tolerance: number, level: number): string {
  return `Per family, one joint fit over every finished trial: log2 eta* = b0 + b log2(scale), each scale's ` +
    `basin free in shape (a cubic over ±2 octaves, a quadratic over ±1, a two-sided quadratic over ±2; their ` +
    `mean, their spread as a model uncertainty); cells weighted by a noise model that grows towards the ` +
    `divergence cliff (seed-to-seed scatter, robust to a single seed's jump). ${Math.round(level * 100)}% ` +
    `percentile interval from a parametric bootstrap of the whole fit, widened by the lack of fit. Verdict: ` +
    `transfers if the interval lies within ±${
      tolerance.toFixed(2)
    }, drifts if entirely outside, inconclusive ` +
    `otherwise. The two-stage estimate (per-scale optima, then a regression) is kept as a cross-check.`;
}

/** Options of `familySlopes`: those of `optimalLR` (columns, family keys) and `jointScaling`. */
export type FamilySlopeOptions = Omit<OptimaOptions, "resamples" | "bootstrapSeed" | "level"> & JointOptions;

/** A family's slope and verdict, for the sequential search. */
export interface FamilySlope {
  /** The family's name: its `by` keys as `key=value` joined by "/" ("all" without keys). */
  family: string;
  /** The scale axis (the first fitted one); null without a fit. */
  scale: string | null;
  /** Exponent b of the first fitted axis: eta* proportional to scale^b (NaN without a fit). */
  slope: number;
  /** Percentile interval at `level`; null without one. */
  ci: [number, number] | null;
  /** ci[1] - ci[0] (Infinity without an interval). */
  width: number;
  /** The verdict: "transfers", "drifts" or "inconclusive" ("inconclusive" without a fit). */
  call: Call;
  /** Why, in words. */
  reason: string;
  /** The verdict as one sentence: slope, interval, call and reason. */
  verdict: string;
  /** Trials of the family in the table (ok, diverged and failed). */
  n_trials: number;
  /** Smallest number of seeds of a scale. */
  n_seeds: number;
  /** The whole joint fit. */
  fit: JointFit;
}

/**
 * Each family's slope estimate, percentile interval and verdict from trial
 * rows in the results.csv format (`status`, `final_val_loss`,
 * `optimizer.lr`, `train.seed`, scale and family columns). The estimator of
 * the verdicts (module header); stable signature for the sequential search.
 *
 * @example
 * ```ts
 * const [s] = familySlopes(rows, { resamples: 100 });
 * console.log(s.family, s.slope, s.ci, s.call);
 * ```
 */
export function familySlopes(
  rows: ColumnTable | Record<string, unknown>[],
  opts: FamilySlopeOptions = {},
): FamilySlope[] {
  const table = Array.isArray(rows) ? aq.from(rows) : rows;
  const optima = optimalLR(table, { ...opts, resamples: 0 });
  return jointScaling(optima, opts).map((f) => {
    const c = f.coefficients[0];
    const n = optima.groups.filter((g) => g.family === f.family).reduce((a, g) => a + g.n_trials, 0);
    return {
      family: f.family,
      scale: c ? c.scale : null,
      slope: c ? c.slope : NaN,
      ci: c ? c.slope_ci : null,
      width: c?.slope_ci ? c.slope_ci[1] - c.slope_ci[0] : Infinity,
      call: c ? c.call : "inconclusive",
      reason: c ? c.reason : f.note ?? "no fit",
      verdict: c ? c.verdict : `no fit: ${f.note}`,
      n_trials: n,
      n_seeds: f.n_seeds,
      fit: f,
    };
  });
}
