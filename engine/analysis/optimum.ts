// deno-lint-ignore-file no-explicit-any -- arquero parses row expressions from source; rows are untyped.
/**
 * The optimal learning rate eta* of each group of trials (one family at one
 * scale), with its uncertainty. Per group:
 *
 * 1. Seed offsets. A seed shifts the whole curve (init, data order): the
 *    offset s_k of seed k is its mean difference from the seed-mean over the
 *    LRs where every seed finished; the curve is the mean over finished seeds
 *    of loss - s_k, so an LR where one seed diverged is not biased by which
 *    seed survived. Its finished seeds are kept (weight = their number).
 * 2. The optimum: `fitBasin` (./basin.ts): the midpoint of a two-sided
 *    quadratic over the arg-min +-`window` LRs and the 3-point parabola, with
 *    their spread as the basin-model uncertainty; flags for the grid edge, a
 *    divergence wall, too few points.
 * 3. Noise, from the data, pooled over the groups of a family and weighted
 *    by degrees of freedom: the seed-to-seed scatter (seed x LR interaction
 *    residuals at LRs where every seed finished, (J-1)(K-1) dof per group)
 *    and the within-curve residuals of the basin fits (RSS, points - 4 dof),
 *    which also catch a curve the model does not fit.
 * 4. Statistical uncertainty: a parametric bootstrap of the whole curve fit:
 *    `resamples` curves = fitted basin (the observed means outside the
 *    window) + normal noise of sd sigma / sqrt(n_j) at each LR, each refitted
 *    from scratch (arg-min, window, both estimators) with the same diverged
 *    cells.
 * 5. Resolution (systematic) uncertainty, never below what the grid allows.
 *    The two estimators bracket the optimum on asymmetric basins (the
 *    parabola is pulled to the shallow side, the two-sided fit the other
 *    way when a wing is not quadratic), so the optimum is taken as uniform
 *    over [E1, E2] (GUM type B): u_sys = max(spread / sqrt(12), h / 20), h
 *    the grid step. With one estimator, a wall fit or the grid arg-min,
 *    u_sys = h / sqrt(12) (uniform over one grid step). Each bootstrap draw
 *    gets an independent normal(0, u_sys) added; the eta* interval is the
 *    percentile interval of these draws, so it is never narrower than
 *    +-1.96 u_sys.
 * 6. Cost of transfer (./transfer.ts): the fitted loss at the base scale's
 *    eta* minus the fitted loss at the group's own eta*, with a percentile
 *    interval from the same bootstrap draws (base and group redrawn together).
 *
 * Trials that diverged or failed are counted; an LR at which any seed
 * diverged is not a candidate for the grid arg-min but its finished seeds
 * are data.
 */
import * as aq from "arquero";
import { op } from "arquero";
import type { ColumnTable } from "arquero";
import { DmodelError, show } from "../core/errors.ts";
import { hashString, mulberry32 } from "../core/random.ts";
import { detectScales, requireColumns } from "./load.ts";
import { leastSquares } from "../core/least_squares.ts";
import { type BasinFit, type BasinModel, type BasinPoint, basinValue, fitBasin } from "./basin.ts";
import { familyName, familySeedKey, scaleLabel } from "./naming.ts";
import { normalSampler, quantile, robustSd } from "./statistics.ts";
import { addTransferCost } from "./transfer.ts";

/** Options of `optimalLR`. Column names are dotted config paths of `results.csv`. */
export interface OptimaOptions {
  /** Family keys: one fitted trend per family. Default `["parameterization.name"]` when present. */
  by?: string[];
  /** Scale axes (each a group key). Default: the columns of `SCALE_CANDIDATES` that vary. */
  scale?: string[];
  /** Learning-rate column. Default `optimizer.lr`. */
  lr?: string;
  /** Loss column. Default `final_val_loss`. */
  loss?: string;
  /** Seed column. Default `train.seed` (absent: one seed). */
  seed?: string;
  /** Grid LRs on each side of the arg-min used by the two-sided fit. Default 2. */
  window?: number;
  /** Parametric-bootstrap curves per group. Default 400 (0: no statistical uncertainty). */
  resamples?: number;
  /** Seed of the bootstrap's random generator. Default 0. */
  bootstrapSeed?: number;
  /** Confidence level of the intervals. Default 0.95. */
  level?: number;
}

/** One learning rate of a group: the seed-adjusted mean loss over its finished seeds and the trial counts. */
export interface CurvePoint {
  /** The learning rate. */
  lr: number;
  /** log2 of the learning rate. */
  log2_lr: number;
  /** Mean over the finished seeds of loss minus the seed's offset; NaN when none finished. */
  loss: number;
  /** Plain mean of the finished seeds' losses (NaN when none). */
  loss_raw: number;
  /** Seeds that finished ok at this LR. */
  n_ok: number;
  /** Seeds that diverged at this LR. */
  n_diverged: number;
  /** Seeds whose trial failed (an error, not divergence) at this LR. */
  n_failed: number;
  /** True when some seed finished ok and none diverged: the LR may be the grid optimum. */
  candidate: boolean;
  /** Each finished seed's loss at this LR (for figures). */
  seed_losses: { seed: string | number; loss: number }[];
}

/** One seed's trials in a group, indexed like the group's LR grid. */
export interface SeedCells {
  /** The seed's value in the seed column. */
  seed: string | number;
  /** Sum of the ok losses at each LR (one trial per cell, so the loss itself). */
  sum: Float64Array;
  /** Finished (ok) trials of the seed at each LR (0 or 1). */
  ok: Int32Array;
  /** Diverged trials of the seed at each LR (0 or 1). */
  diverged: Int32Array;
  /** The seed's offset s_k (0 with one seed). */
  offset: number;
}

/** The optimum of one group (family x scale). */
export interface GroupOptimum {
  /** Values of the family and scale keys. */
  keys: Record<string, string | number>;
  /** The family's name: its `by` keys as `key=value` joined by "/" ("all" without keys; naming.ts). */
  family: string;
  /** The scale values, by axis. */
  scale: Record<string, number>;
  /** Short label of the scale ("256", or "width=256, depth=4"). */
  label: string;
  /** Estimated optimal LR, 2^log2_eta; the grid arg-min when not refined. */
  eta_star: number;
  /** log2 eta*. */
  log2_eta: number;
  /** Total standard uncertainty of log2 eta* (statistical and resolution, in quadrature). */
  log2_eta_se: number;
  /** Bootstrap (statistical) part of log2_eta_se. */
  u_stat: number;
  /** Resolution (basin model and grid) part of log2_eta_se. */
  u_sys: number;
  /** Percentile interval of eta* at `level` (NaN without resamples). */
  eta_ci: [number, number];
  /** Arg-min of the seed-adjusted mean loss over the LR grid. */
  eta_star_grid: number;
  /** Seed-adjusted mean loss at the grid arg-min. */
  loss_star: number;
  /** Fitted basin's loss at eta* (loss_star when not refined). */
  loss_star_fit: number;
  /** True when the optimum has an LR (finished or diverged) on both sides. */
  bracketed: boolean;
  /** True when eta* is a fitted (sub-grid) optimum. */
  refined: boolean;
  /** How eta* was found. */
  model: BasinModel;
  /** Vertex of the two-sided quadratic, E1 (log2 LR; NaN when not fitted). */
  x_two_sided: number;
  /** Vertex of the 3-point parabola, E2 (log2 LR; NaN when not fitted). */
  x_parabola: number;
  /** What limits this optimum, in words ("optimum at the low edge of the LR grid", ...). */
  flags: string[];
  /** Trials of the group: n_ok + n_diverged + n_failed. */
  n_trials: number;
  /** Trials that finished ok. */
  n_ok: number;
  /** Trials that diverged. */
  n_diverged: number;
  /** Trials that failed (an error, not divergence). */
  n_failed: number;
  /** Distinct seeds in the group. */
  n_seeds: number;
  /** Trial-noise sd used by the bootstrap (pooled over the family; NaN when it cannot be estimated). */
  noise_sd: number;
  /** The grid LR of the base group (smallest scale) of the family. */
  base_eta_star: number;
  /** Seed-adjusted mean loss at base_eta_star (linear in log2 LR between grid points); Infinity where it diverged. */
  loss_at_base_lr: number;
  /** Observed cost of transferring the base grid LR: loss_at_base_lr - loss_star. */
  transfer_cost: number;
  /** Fitted cost: basin loss at the base group's eta* minus the basin loss at this group's eta*. */
  transfer_cost_fit: number;
  /** Percentile interval of transfer_cost_fit (NaN where not available). */
  transfer_cost_ci: [number, number];
  /** The loss-vs-LR curve over the group's LR grid. */
  curve: CurvePoint[];
  /** Per-seed cells. */
  seeds: SeedCells[];
  /** The basin fit (null when no LR finished). */
  fit: BasinFit | null;
  /** Bootstrap draws of log2 eta* including the resolution term (empty without resamples). */
  draws: Float64Array;
  /** Bootstrap draws of log2 eta* without the resolution term (for the cost). */
  drawsStat: Float64Array;
  /** The basin fit of each draw in `drawsStat` (null where it could not be fitted). */
  drawFits: (BasinFit | null)[];
}

/** Result of `optimalLR`: the optima and how they were computed. */
export interface Optima {
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
  /** Grid LRs on each side of the arg-min used by the two-sided fit. */
  window: number;
  /** Parametric-bootstrap curves per group (0: no statistical uncertainty). */
  resamples: number;
  /** Confidence level of the intervals (e.g. 0.95). */
  level: number;
  /** One optimum per family x scale, sorted by family then scale. */
  groups: GroupOptimum[];
  /** Rows of the results table analysed. */
  n_trials: number;
  /** Noise estimates per family: trial sd from seed-to-seed scatter and from fit residuals, with dof. */
  noise: Record<string, NoiseEstimate>;
}

/** How the trial noise of a family was estimated. */
export interface NoiseEstimate {
  /** sd of the seed x LR interaction (NaN with one seed). */
  seed_sd: number;
  /** Degrees of freedom of seed_sd, summed over the family's groups. */
  seed_dof: number;
  /** sd of the basin fits' residuals (NaN without residual dof). */
  fit_sd: number;
  /** Degrees of freedom of fit_sd, summed over the family's groups. */
  fit_dof: number;
  /** The sd used: both pooled, weighted by their degrees of freedom. */
  sd: number;
  /** sd of the seed offsets (NaN with one seed). */
  offset_sd: number;
}

/** A point of a loss curve for `curveOptimum`. */
export interface LossPoint {
  /** log2 of the learning rate. */
  x: number;
  /** Loss; NaN when unknown. */
  loss: number;
  /** The LR diverged: worse than any finite loss. */
  diverged?: boolean;
}

/** What `curveOptimum` finds. */
export interface CurveOptimum {
  /** Index of the arg-min in the points given. */
  index: number;
  /** Refined log2 LR (the grid's when not refined). */
  x: number;
  xGrid: number;
  loss: number;
  lossFit: number;
  bracketed: boolean;
  refined: boolean;
  model: BasinModel;
}

/**
 * Least-squares parabola y = a x^2 + b x + c through the points; returns its
 * coefficients and the vertex -b / (2 a). Exact for three points.
 *
 * @example
 * ```ts
 * quadraticVertex([-3, -2, -1], [4.1, 4, 4.1]).vertex; // -2
 * ```
 */
export function quadraticVertex(
  xs: number[],
  ys: number[],
): { a: number; b: number; c: number; vertex: number } {
  if (xs.length < 3 || xs.length !== ys.length) {
    throw new DmodelError(`quadraticVertex: need 3 or more points, got ${xs.length}`);
  }
  const x0 = xs[0];
  const r = leastSquares(xs.map((x) => [(x - x0) ** 2, x - x0]), ys);
  const [c, a, b] = r ? r.coef : [NaN, NaN, NaN];
  // Back from u = x - x0 to x.
  return { a, b: b - 2 * a * x0, c: a * x0 * x0 - b * x0 + c, vertex: x0 - b / (2 * a) };
}

/**
 * Optimum of one loss-vs-log2(LR) curve with one trial per LR (`fitBasin`
 * with weight 1 per point). Points with unknown loss that did not diverge
 * carry no information and are skipped. Null when no loss is finite.
 *
 * @example
 * ```ts
 * const pts = [-4, -3, -2, -1].map((x) => ({ x, loss: (x + 2.3) ** 2 }));
 * curveOptimum(pts)!.x; // -2.3
 * ```
 */
export function curveOptimum(points: LossPoint[], window = 2): CurveOptimum | null {
  const f = fitBasin(
    points.map((p) => ({
      x: p.x,
      y: p.diverged ? NaN : p.loss,
      n: Number.isFinite(p.loss) && !p.diverged ? 1 : 0,
      diverged: p.diverged ? 1 : 0,
    })),
    window,
  );
  if (!f) return null;
  return {
    index: points.findIndex((p) => p.x === f.xGrid),
    x: f.x,
    xGrid: f.xGrid,
    loss: f.yGrid,
    lossFit: f.model === "grid" ? f.yGrid : basinValue(f, f.x),
    bracketed: f.bracketed,
    refined: f.model !== "grid",
    model: f.model,
  };
}

/** A group's seed-adjusted curve and the seed x LR interaction sum of squares with its degrees of freedom. */
interface SeedAdjusted {
  points: BasinPoint[];
  ss: number;
  dof: number;
}

/** Seed offsets and the seed-adjusted curve of a group; the interaction sum of squares for the noise. */
function seedAdjust(lrs: number[], seeds: SeedCells[]): SeedAdjusted {
  const K = seeds.length, J = lrs.length;
  const complete: number[] = [];
  for (let j = 0; j < J; j++) if (seeds.every((s) => s.ok[j] === 1)) complete.push(j);
  for (const s of seeds) s.offset = 0;
  let ss = 0, dof = 0;
  if (K > 1 && complete.length > 0) {
    const mean = complete.map((j) => seeds.reduce((a, s) => a + s.sum[j], 0) / K);
    for (const s of seeds) {
      s.offset = complete.reduce((a, j, i) => a + s.sum[j] - mean[i], 0) / complete.length;
    }
    complete.forEach((j, i) => {
      for (const s of seeds) ss += (s.sum[j] - mean[i] - s.offset) ** 2;
    });
    dof = (complete.length - 1) * (K - 1);
  }
  const points = lrs.map((lr, j) => {
    let sum = 0, n = 0, div = 0;
    for (const s of seeds) {
      div += s.diverged[j];
      if (s.ok[j] === 1) {
        sum += s.sum[j] - s.offset;
        n++;
      }
    }
    return { x: Math.log2(lr), y: n > 0 ? sum / n : NaN, n, diverged: div };
  });
  return { points, ss, dof };
}

/** The flags of a basin fit, in words. */
function basinFlags(f: BasinFit | null): string[] {
  if (!f) return ["no LR finished"];
  const out: string[] = [];
  if (f.edge) out.push(`optimum at the ${f.edge} edge of the LR grid (a bound, not an estimate)`);
  if (f.model === "grid" && !f.edge) out.push("too few finished LRs around the optimum to fit (grid value)");
  if (f.model === "parabola") out.push("3 finished LRs in the basin: 3-point parabola only");
  if (f.model === "wall") out.push("the next LR up (or down) diverged: optimum against a divergence wall");
  if (f.model === "two-sided") out.push("3-point parabola not defined: two-sided fit only");
  if (f.partial) out.push("an LR in the basin diverged for some seeds (its finished seeds are used)");
  return out;
}

/** Resolution uncertainty of a basin fit (module header, item 5). */
export function resolutionSd(f: BasinFit): number {
  const h = f.spacing;
  return f.model === "two-sided+parabola" ? Math.max(f.spread / Math.sqrt(12), h / 20) : h / Math.sqrt(12);
}

/** The options of `optimalLR` with their defaults filled in. */
type OptimaSettings =
  & Pick<Optima, "by" | "scale" | "lr" | "loss" | "seed" | "window" | "resamples" | "level">
  & { bootstrapSeed: number };

/** The trials of one group (family x scale) as per-seed cells over the group's LR grid. */
interface GroupTrials {
  keys: Record<string, string | number>;
  family: string;
  scale: Record<string, number>;
  /** The group's LR grid, ascending. */
  lrs: number[];
  /** Failed trials at each LR. */
  fail: number[];
  seeds: SeedCells[];
}

/** A group's seed-adjusted curve (with its seed-scatter sums of squares) and its basin fit. */
interface GroupFit {
  trials: GroupTrials;
  adjusted: SeedAdjusted;
  fit: BasinFit | null;
}

/** The bootstrap draws of one group's optimum (module header, item 4). */
interface BootstrapDraws {
  /** log2 eta* per draw, with the resolution term added. */
  draws: number[];
  /** log2 eta* per draw, statistical only. */
  drawsStat: number[];
  drawFits: (BasinFit | null)[];
}

/**
 * Finds eta* per group (family keys x scale keys) of a results table, with
 * uncertainties (see the module header). Rows must be unique per (group,
 * LR, seed): otherwise some other config column varies, and the error names
 * it so it can be added to `by`.
 *
 * @example
 * ```ts
 * const optima = optimalLR(await loadResults("runs/width-transfer"));
 * for (const g of optima.groups) console.log(g.family, g.label, g.eta_star, g.eta_ci, g.flags);
 * ```
 */
export function optimalLR(table: ColumnTable, opts: OptimaOptions = {}): Optima {
  const s = optimaSettings(table, opts);
  checkColumns(table, s);
  const keys = [...s.by, ...s.scale.filter((a) => !s.by.includes(a))];
  const fits = groupTrials(trialCells(table, s, keys), keys, s).map((trials): GroupFit => {
    trials.seeds.sort((a, b) => (a.seed < b.seed ? -1 : a.seed > b.seed ? 1 : 0));
    const adjusted = seedAdjust(trials.lrs, trials.seeds);
    return { trials, adjusted, fit: fitBasin(adjusted.points, s.window) };
  });
  const noise = pooledNoise(fits);
  const groups = fits.map((f) => groupOptimum(f, noise[f.trials.family].sd, s));
  groups.sort((a, b) =>
    a.family < b.family ? -1 : a.family > b.family ? 1 : compareScale(a.scale, b.scale, s.scale)
  );
  addTransferCost(groups, s.scale, s.level);
  return {
    by: s.by,
    scale: s.scale,
    lr: s.lr,
    loss: s.loss,
    seed: s.seed,
    window: s.window,
    resamples: s.resamples,
    level: s.level,
    groups,
    n_trials: table.numRows(),
    noise,
  };
}

/** The options with their defaults; an error for a window, resample count or level out of range. */
function optimaSettings(table: ColumnTable, opts: OptimaOptions): OptimaSettings {
  const names = table.columnNames();
  const s: OptimaSettings = {
    lr: opts.lr ?? "optimizer.lr",
    loss: opts.loss ?? "final_val_loss",
    seed: opts.seed ?? (names.includes("train.seed") ? "train.seed" : null),
    by: opts.by ?? (names.includes("parameterization.name") ? ["parameterization.name"] : []),
    scale: opts.scale ?? detectScales(table),
    window: opts.window ?? 2,
    resamples: opts.resamples ?? 400,
    level: opts.level ?? 0.95,
    bootstrapSeed: opts.bootstrapSeed ?? 0,
  };
  if (!(Number.isInteger(s.window) && s.window >= 1)) {
    throw new DmodelError(`optimalLR: window must be an integer >= 1, got ${show(s.window)}`);
  }
  if (!(Number.isInteger(s.resamples) && s.resamples >= 0)) {
    throw new DmodelError(`optimalLR: resamples must be an integer >= 0, got ${show(s.resamples)}`);
  }
  if (!(s.level > 0 && s.level < 1)) {
    throw new DmodelError(`optimalLR: level must be in (0, 1), got ${show(s.level)}`);
  }
  return s;
}

/** An error unless the columns exist, no group key is the LR or seed column, and scales and LRs are numbers > 0. */
function checkColumns(table: ColumnTable, s: OptimaSettings): void {
  requireColumns(table, [s.lr, s.loss, ...s.by, ...s.scale, ...(s.seed ? [s.seed] : [])], "analysis");
  for (const k of [...s.by, ...s.scale]) {
    if (k === s.lr || k === s.seed) {
      throw new DmodelError(`analysis: ${show(k)} cannot be a group key: it is the LR or seed column`);
    }
  }
  const notPositive = (col: string) =>
    (table.array(col) as unknown[]).find((v) => !(typeof v === "number" && v > 0));
  for (const a of s.scale) {
    const bad = notPositive(a);
    if (bad !== undefined) {
      throw new DmodelError(`analysis: scale column ${show(a)} has value ${show(bad)}; expected numbers > 0`);
    }
  }
  const badLr = notPositive(s.lr);
  if (badLr !== undefined) {
    throw new DmodelError(
      `analysis: LR column ${show(s.lr)} has value ${show(badLr)}; expected numbers > 0`,
    );
  }
}

/**
 * One row per (group, LR, seed) cell: its trial count, ok / diverged / failed
 * counts and the sum of its ok losses (a finished trial with a non-finite
 * loss counts as failed); an error when a cell holds several trials.
 */
function trialCells(table: ColumnTable, s: OptimaSettings, keys: string[]): Record<string, any>[] {
  // The trials with canonical column names: status, lr, loss, seed.
  const t = table
    .params({ lossCol: s.loss, lrCol: s.lr, seedCol: s.seed })
    .derive({
      _lr: (d: any, $: any) => d[$.lrCol],
      _seed: (d: any, $: any) => $.seedCol ? d[$.seedCol] : 0,
      _loss: (d: any, $: any) => d[$.lossCol],
    })
    .derive({
      _st: (d: any) => d.status === "ok" && !op.is_finite(d._loss) ? "failed" : d.status,
    });
  const cells = t
    .groupby(...keys, "_lr", "_seed")
    .rollup({
      n: op.count(),
      n_ok: (d: any) => op.sum(d._st === "ok" ? 1 : 0),
      n_div: (d: any) => op.sum(d._st === "diverged" ? 1 : 0),
      n_fail: (d: any) => op.sum(d._st === "failed" ? 1 : 0),
      sum: (d: any) => op.sum(d._st === "ok" ? d._loss : 0),
    })
    .orderby(...keys, "_lr", "_seed");
  const dup = cells.filter((d: any) => d.n > 1);
  if (dup.numRows() > 0) throw duplicateError(t, dup.object(0) as Record<string, unknown>, keys);
  return cells.objects() as Record<string, any>[];
}

/** The cells gathered per group (in order of first appearance): the LR grid, the per-seed cells, failures per LR. */
function groupTrials(cells: Record<string, any>[], keys: string[], s: OptimaSettings): GroupTrials[] {
  const groups = new Map<string, GroupTrials>();
  const idOf = (c: Record<string, any>) => JSON.stringify(keys.map((k) => c[k]));
  for (const c of cells) {
    let g = groups.get(idOf(c));
    if (!g) {
      const kv: Record<string, string | number> = {};
      for (const k of keys) kv[k] = c[k];
      const sc: Record<string, number> = {};
      for (const a of s.scale) sc[a] = c[a];
      g = { keys: kv, family: familyName(s.by, c), scale: sc, lrs: [], fail: [], seeds: [] };
      groups.set(idOf(c), g);
    }
    if (!g.lrs.includes(c._lr)) g.lrs.push(c._lr);
  }
  for (const g of groups.values()) {
    g.lrs.sort((a, b) => a - b);
    g.fail = new Array(g.lrs.length).fill(0);
  }
  for (const c of cells) {
    const g = groups.get(idOf(c))!;
    const j = g.lrs.indexOf(c._lr);
    let seed = g.seeds.find((x) => x.seed === c._seed);
    if (!seed) {
      const n = g.lrs.length;
      seed = {
        seed: c._seed,
        sum: new Float64Array(n),
        ok: new Int32Array(n),
        diverged: new Int32Array(n),
        offset: 0,
      };
      g.seeds.push(seed);
    }
    seed.sum[j] = c.sum;
    seed.ok[j] = c.n_ok;
    seed.diverged[j] = c.n_div;
    g.fail[j] += c.n_fail;
  }
  return [...groups.values()];
}

/**
 * The trial noise of each family (module header, item 3): the seed x LR
 * interaction and the basin fits' residuals, each pooled over the family's
 * groups, then both pooled by their degrees of freedom; and the sd of the
 * seed offsets.
 */
function pooledNoise(fits: GroupFit[]): Record<string, NoiseEstimate> {
  const noise: Record<string, NoiseEstimate> = {};
  for (const { trials, adjusted, fit } of fits) {
    const n = noise[trials.family] ??= {
      seed_sd: 0,
      seed_dof: 0,
      fit_sd: 0,
      fit_dof: 0,
      sd: NaN,
      offset_sd: 0,
    };
    n.seed_sd += adjusted.ss; // sums of squares until finalized below
    n.seed_dof += adjusted.dof;
    if (fit && fit.dof > 0) {
      n.fit_sd += fit.rss;
      n.fit_dof += fit.dof;
    }
  }
  for (const [fam, n] of Object.entries(noise)) {
    n.seed_sd = n.seed_dof > 0 ? Math.sqrt(n.seed_sd / n.seed_dof) : NaN;
    n.fit_sd = n.fit_dof > 0 ? Math.sqrt(n.fit_sd / n.fit_dof) : NaN;
    // Pooled by degrees of freedom: a fit residual with 1 dof must not outweigh 20 dof of seed scatter.
    const dof = n.seed_dof + n.fit_dof;
    n.sd = dof > 0
      ? Math.sqrt(
        ((n.seed_dof ? n.seed_dof * n.seed_sd ** 2 : 0) + (n.fit_dof ? n.fit_dof * n.fit_sd ** 2 : 0)) / dof,
      )
      : NaN;
    const offs = fits.filter((f) => f.trials.family === fam && f.trials.seeds.length > 1)
      .flatMap((f) => f.trials.seeds.map((seed) => seed.offset));
    n.offset_sd = offs.length > 1 ? Math.sqrt(offs.reduce((a, v) => a + v * v, 0) / (offs.length - 1)) : NaN;
  }
  return noise;
}

/** The loss-vs-LR curve of a group over its LR grid, with each finished seed's loss. */
function groupCurve(trials: GroupTrials, adjusted: SeedAdjusted): CurvePoint[] {
  return trials.lrs.map((lr, j) => {
    const seedLosses = trials.seeds.filter((s) => s.ok[j] === 1).map((s) => ({
      seed: s.seed,
      loss: s.sum[j],
    }));
    const p = adjusted.points[j];
    return {
      lr,
      log2_lr: p.x,
      loss: p.y,
      loss_raw: seedLosses.length ? seedLosses.reduce((a, s) => a + s.loss, 0) / seedLosses.length : NaN,
      n_ok: p.n,
      n_diverged: p.diverged,
      n_failed: trials.fail[j],
      candidate: p.n > 0 && p.diverged === 0,
      seed_losses: seedLosses,
    };
  });
}

/**
 * Parametric bootstrap of a group's whole curve fit (module header, item 4):
 * each draw is the fitted basin (the observed means outside the fitted LRs)
 * plus normal noise of sd `sd / sqrt(n_j)`, refitted from scratch; the
 * resolution term `usys` is added to each draw's optimum. The generator is
 * seeded by the family's values, the group's scale and `bootstrapSeed`.
 */
function bootstrapOptimum(
  { trials, adjusted, fit }: GroupFit,
  sd: number,
  usys: number,
  s: OptimaSettings,
): BootstrapDraws {
  const out: BootstrapDraws = { draws: [], drawsStat: [], drawFits: [] };
  if (!fit || !fit.bracketed || s.resamples <= 0) return out;
  const rand = mulberry32(
    (hashString(familySeedKey(s.by, trials.keys) + "|" + JSON.stringify(trials.scale)) ^ s.bootstrapSeed) >>>
      0,
  );
  const normal = normalSampler(rand);
  const fitted = adjusted.points.map((p, j) => ({ p, j }))
    .filter(({ p }) => (p.n > 0 && Number.isFinite(p.y)) || p.diverged > 0)
    .sort((a, b) => a.p.x - b.p.x);
  const inFit = new Set(fit.used.map((i) => fitted[i].j));
  const mu = adjusted.points.map((
    p,
    j,
  ) => (inFit.has(j) && fit.model !== "grid" ? basinValue(fit, p.x) : p.y));
  const noiseSd = Number.isFinite(sd) ? sd : 0;
  for (let b = 0; b < s.resamples; b++) {
    const pts = adjusted.points.map((p, j) => ({
      ...p,
      y: p.n > 0 ? mu[j] + (noiseSd / Math.sqrt(p.n)) * normal() : NaN,
    }));
    const f = fitBasin(pts, s.window);
    out.drawFits.push(f);
    // A draw whose arg-min moved to the grid edge keeps that edge LR: a bound, and a sign of a wide interval.
    const x = f ? f.x : NaN;
    out.drawsStat.push(x);
    out.draws.push(x + usys * normal());
  }
  return out;
}

/** The optimum of one group with its uncertainties and counts; the transfer costs are filled in later. */
function groupOptimum(groupFit: GroupFit, sd: number, s: OptimaSettings): GroupOptimum {
  const { trials, fit } = groupFit;
  const curve = groupCurve(trials, groupFit.adjusted);
  const usys = fit && fit.bracketed ? resolutionSd(fit) : NaN;
  const { draws, drawsStat, drawFits } = bootstrapOptimum(groupFit, sd, usys, s);
  const lo = (1 - s.level) / 2;
  const finite = draws.filter(Number.isFinite).sort((a, b) => a - b);
  const ustat = robustSd(drawsStat);
  const x = fit ? fit.x : NaN;
  const count = (k: "n_ok" | "n_diverged" | "n_failed") => curve.reduce((a, p) => a + p[k], 0);
  const nOk = count("n_ok"), nDiv = count("n_diverged"), nFail = count("n_failed");
  const flags = basinFlags(fit);
  if (!Number.isFinite(sd)) {
    flags.push("trial noise not estimable (one seed and no residual degrees of freedom)");
  }
  return {
    keys: trials.keys,
    family: trials.family,
    scale: trials.scale,
    label: scaleLabel(trials.scale),
    eta_star: 2 ** x,
    log2_eta: x,
    log2_eta_se:
      Math.sqrt((Number.isFinite(ustat) ? ustat ** 2 : 0) + (Number.isFinite(usys) ? usys ** 2 : 0)) ||
      NaN,
    u_stat: ustat,
    u_sys: usys,
    eta_ci: finite.length > 10 ? [2 ** quantile(finite, lo), 2 ** quantile(finite, 1 - lo)] : [NaN, NaN],
    eta_star_grid: fit ? 2 ** fit.xGrid : NaN,
    loss_star: fit ? fit.yGrid : NaN,
    loss_star_fit: fit ? (fit.model === "grid" ? fit.yGrid : basinValue(fit, fit.x)) : NaN,
    bracketed: fit ? fit.bracketed : false,
    refined: fit ? fit.model !== "grid" : false,
    model: fit ? fit.model : "grid",
    x_two_sided: fit ? fit.xTwoSided : NaN,
    x_parabola: fit ? fit.xParabola : NaN,
    flags,
    n_trials: nOk + nDiv + nFail,
    n_ok: nOk,
    n_diverged: nDiv,
    n_failed: nFail,
    n_seeds: trials.seeds.length,
    noise_sd: sd,
    base_eta_star: NaN,
    loss_at_base_lr: NaN,
    transfer_cost: NaN,
    transfer_cost_fit: NaN,
    transfer_cost_ci: [NaN, NaN],
    curve,
    seeds: trials.seeds,
    fit,
    draws: Float64Array.from(draws),
    drawsStat: Float64Array.from(drawsStat),
    drawFits,
  };
}

function compareScale(a: Record<string, number>, b: Record<string, number>, axes: string[]) {
  for (const s of axes) if (a[s] !== b[s]) return a[s] - b[s];
  return 0;
}

function duplicateError(
  t: ColumnTable,
  cell: Record<string, unknown>,
  keys: string[],
): DmodelError {
  const rows = (t.objects() as Record<string, unknown>[]).filter((r) =>
    [...keys, "_lr", "_seed"].every((k) => r[k] === cell[k])
  );
  const varying = Object.keys(rows[0]).filter((c) =>
    c.includes(".") && new Set(rows.map((r) => JSON.stringify(r[c]))).size > 1
  );
  const where = keys.map((k) => `${k}=${cell[k]}`).concat([`lr=${cell._lr}`, `seed=${cell._seed}`])
    .join(", ");
  return new DmodelError(
    `analysis: ${rows.length} trials share ${where}; ` +
      (varying.length
        ? `they differ in ${varying.join(", ")}: add it to --by or --scale`
        : `they have the same config (duplicate rows in results.csv?)`),
  );
}

/**
 * The optima as a flat arquero table (one row per group; curves left out),
 * for `optima.csv`.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("optima.csv", optimaTable(optima).toCSV());
 * ```
 */
export function optimaTable(optima: Optima): ColumnTable {
  return aq.from(optima.groups.map((g) => {
    const { flags, ...f } = groupFields(g);
    return { ...g.keys, ...f, flags: flags.join("; ") };
  }));
}

/** The per-group numbers reported in analysis.json and optima.csv. */
export function groupFields(g: GroupOptimum) {
  return {
    eta_star: g.eta_star,
    eta_lo: g.eta_ci[0],
    eta_hi: g.eta_ci[1],
    log2_eta: g.log2_eta,
    log2_eta_se: g.log2_eta_se,
    u_stat: g.u_stat,
    u_sys: g.u_sys,
    eta_star_grid: g.eta_star_grid,
    loss_star: g.loss_star,
    bracketed: g.bracketed,
    refined: g.refined,
    model: g.model,
    x_two_sided: g.x_two_sided,
    x_parabola: g.x_parabola,
    n_trials: g.n_trials,
    n_diverged: g.n_diverged,
    n_failed: g.n_failed,
    n_seeds: g.n_seeds,
    noise_sd: g.noise_sd,
    base_eta_star: g.base_eta_star,
    loss_at_base_lr: g.loss_at_base_lr,
    transfer_cost: g.transfer_cost,
    transfer_cost_fit: g.transfer_cost_fit,
    transfer_cost_lo: g.transfer_cost_ci[0],
    transfer_cost_hi: g.transfer_cost_ci[1],
    flags: g.flags,
  };
}
