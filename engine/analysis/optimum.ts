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
 * 6. Cost of transfer: the fitted loss at the base scale's eta* minus the
 *    fitted loss at the group's own eta*, with a percentile interval from the
 *    same bootstrap draws (base and group redrawn together).
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
import { familyName, familySeedKey } from "./naming.ts";

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
  lr: number;
  log2_lr: number;
  /** Mean over the finished seeds of loss minus the seed's offset; NaN when none finished. */
  loss: number;
  /** Plain mean of the finished seeds' losses (NaN when none). */
  loss_raw: number;
  n_ok: number;
  n_diverged: number;
  n_failed: number;
  /** True when some seed finished ok and none diverged: the LR may be the grid optimum. */
  candidate: boolean;
  /** Each finished seed's loss at this LR (for figures). */
  seed_losses: { seed: string | number; loss: number }[];
}

/** One seed's trials in a group, indexed like the group's LR grid. */
export interface SeedCells {
  seed: string | number;
  /** Sum of the ok losses at each LR (one trial per cell, so the loss itself). */
  sum: Float64Array;
  ok: Int32Array;
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
  /** Vertices of the two estimators (log2; NaN when not fitted). */
  x_two_sided: number;
  x_parabola: number;
  /** What limits this optimum, in words ("optimum at the low edge of the LR grid", ...). */
  flags: string[];
  n_trials: number;
  n_ok: number;
  n_diverged: number;
  n_failed: number;
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
  /** Bootstrap draws of log2 eta* without the resolution term, and their basin fits (for the cost). */
  drawsStat: Float64Array;
  drawFits: (BasinFit | null)[];
}

/** Result of `optimalLR`: the optima and how they were computed. */
export interface Optima {
  by: string[];
  scale: string[];
  lr: string;
  loss: string;
  seed: string | null;
  window: number;
  resamples: number;
  level: number;
  groups: GroupOptimum[];
  n_trials: number;
  /** Noise estimates per family: trial sd from seed-to-seed scatter and from fit residuals, with dof. */
  noise: Record<string, NoiseEstimate>;
}

/** How the trial noise of a family was estimated. */
export interface NoiseEstimate {
  /** sd of the seed x LR interaction (NaN with one seed). */
  seed_sd: number;
  seed_dof: number;
  /** sd of the basin fits' residuals (NaN without residual dof). */
  fit_sd: number;
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

/** Short name of a dotted column: "model.width" -> "width". */
export function shortName(col: string): string {
  const i = col.lastIndexOf(".");
  return i < 0 ? col : col.slice(i + 1);
}

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

/** Linear-interpolated quantile of sorted values. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (!sorted.length) return NaN;
  const p = (sorted.length - 1) * q, i = Math.floor(p), f = p - i;
  return i + 1 < sorted.length ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

/** A normal(0, 1) sampler on a seeded uniform generator (Box-Muller). */
export function normalSampler(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Robust sd of draws: half the central 68.3% range. */
function robustSd(v: number[]): number {
  const s = v.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length > 2 ? (quantile(s, 0.8413) - quantile(s, 0.1587)) / 2 : NaN;
}

/** Seed offsets and the seed-adjusted curve of a group; the interaction sum of squares for the noise. */
function seedAdjust(lrs: number[], seeds: SeedCells[]): { points: BasinPoint[]; ss: number; dof: number } {
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
  const names = table.columnNames();
  const lrCol = opts.lr ?? "optimizer.lr";
  const lossCol = opts.loss ?? "final_val_loss";
  const seedCol = opts.seed ?? (names.includes("train.seed") ? "train.seed" : null);
  const by = opts.by ??
    (names.includes("parameterization.name") ? ["parameterization.name"] : []);
  const scale = opts.scale ?? detectScales(table);
  const window = opts.window ?? 2;
  const resamples = opts.resamples ?? 400;
  const level = opts.level ?? 0.95;
  if (!(Number.isInteger(window) && window >= 1)) {
    throw new DmodelError(`optimalLR: window must be an integer >= 1, got ${show(window)}`);
  }
  if (!(Number.isInteger(resamples) && resamples >= 0)) {
    throw new DmodelError(`optimalLR: resamples must be an integer >= 0, got ${show(resamples)}`);
  }
  if (!(level > 0 && level < 1)) {
    throw new DmodelError(`optimalLR: level must be in (0, 1), got ${show(level)}`);
  }
  requireColumns(table, [lrCol, lossCol, ...by, ...scale, ...(seedCol ? [seedCol] : [])], "analysis");
  for (const k of [...by, ...scale]) {
    if (k === lrCol || k === seedCol) {
      throw new DmodelError(`analysis: ${show(k)} cannot be a group key: it is the LR or seed column`);
    }
  }
  for (const s of scale) {
    const bad = (table.array(s) as unknown[]).find((v) => !(typeof v === "number" && v > 0));
    if (bad !== undefined) {
      throw new DmodelError(`analysis: scale column ${show(s)} has value ${show(bad)}; expected numbers > 0`);
    }
  }
  const badLr = (table.array(lrCol) as unknown[]).find((v) => !(typeof v === "number" && v > 0));
  if (badLr !== undefined) {
    throw new DmodelError(
      `analysis: LR column ${show(lrCol)} has value ${show(badLr)}; expected numbers > 0`,
    );
  }
  const keys = [...by, ...scale.filter((s) => !by.includes(s))];

  // The trials with canonical column names: status, lr, loss, seed.
  const t = table
    .params({ lossCol, lrCol, seedCol })
    .derive({
      _lr: (d: any, $: any) => d[$.lrCol],
      _seed: (d: any, $: any) => $.seedCol ? d[$.seedCol] : 0,
      _loss: (d: any, $: any) => d[$.lossCol],
    })
    .derive({
      _st: (d: any) => d.status === "ok" && !op.is_finite(d._loss) ? "failed" : d.status,
    });

  // One cell per (group, LR, seed).
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

  type Work = {
    keys: Record<string, string | number>;
    family: string;
    scale: Record<string, number>;
    lrs: number[];
    fail: number[];
    seeds: SeedCells[];
  };
  const groups = new Map<string, Work>();
  const rows = cells.objects() as Record<string, any>[];
  for (const c of rows) {
    const id = JSON.stringify(keys.map((k) => c[k]));
    let g = groups.get(id);
    if (!g) {
      const kv: Record<string, string | number> = {};
      for (const k of keys) kv[k] = c[k];
      const sc: Record<string, number> = {};
      for (const s of scale) sc[s] = c[s];
      g = {
        keys: kv,
        family: familyName(by, c),
        scale: sc,
        lrs: [],
        fail: [],
        seeds: [],
      };
      groups.set(id, g);
    }
    if (!g.lrs.includes(c._lr)) g.lrs.push(c._lr);
  }
  for (const g of groups.values()) {
    g.lrs.sort((a, b) => a - b);
    g.fail = new Array(g.lrs.length).fill(0);
  }
  for (const c of rows) {
    const g = groups.get(JSON.stringify(keys.map((k) => c[k])))!;
    const j = g.lrs.indexOf(c._lr);
    let s = g.seeds.find((x) => x.seed === c._seed);
    if (!s) {
      const n = g.lrs.length;
      s = {
        seed: c._seed,
        sum: new Float64Array(n),
        ok: new Int32Array(n),
        diverged: new Int32Array(n),
        offset: 0,
      };
      g.seeds.push(s);
    }
    s.sum[j] = c.sum;
    s.ok[j] = c.n_ok;
    s.diverged[j] = c.n_div;
    g.fail[j] += c.n_fail;
  }

  // Point estimates, and the noise pooled per family.
  const work = [...groups.values()].map((g) => {
    g.seeds.sort((a, b) => (a.seed < b.seed ? -1 : a.seed > b.seed ? 1 : 0));
    const adj = seedAdjust(g.lrs, g.seeds);
    const fit = fitBasin(adj.points, window);
    return { g, adj, fit };
  });
  const noise: Record<string, NoiseEstimate> = {};
  for (const { g, adj, fit } of work) {
    const n = noise[g.family] ??= { seed_sd: 0, seed_dof: 0, fit_sd: 0, fit_dof: 0, sd: NaN, offset_sd: 0 };
    n.seed_sd += adj.ss; // sums of squares until finalized below
    n.seed_dof += adj.dof;
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
    const offs = work.filter((w) => w.g.family === fam && w.g.seeds.length > 1)
      .flatMap((w) => w.g.seeds.map((s) => s.offset));
    n.offset_sd = offs.length > 1 ? Math.sqrt(offs.reduce((a, v) => a + v * v, 0) / (offs.length - 1)) : NaN;
  }

  const out: GroupOptimum[] = [];
  const lo = (1 - level) / 2;
  for (const { g, adj, fit } of work) {
    const curve: CurvePoint[] = g.lrs.map((lr, j) => {
      const seedLosses = g.seeds.filter((s) => s.ok[j] === 1).map((s) => ({ seed: s.seed, loss: s.sum[j] }));
      const p = adj.points[j];
      return {
        lr,
        log2_lr: p.x,
        loss: p.y,
        loss_raw: seedLosses.length ? seedLosses.reduce((a, s) => a + s.loss, 0) / seedLosses.length : NaN,
        n_ok: p.n,
        n_diverged: p.diverged,
        n_failed: g.fail[j],
        candidate: p.n > 0 && p.diverged === 0,
        seed_losses: seedLosses,
      };
    });
    const sd = noise[g.family].sd;
    // Parametric bootstrap of the whole curve fit (header, item 4).
    const drawsStat: number[] = [], drawFits: (BasinFit | null)[] = [], draws: number[] = [];
    const usys = fit && fit.bracketed ? resolutionSd(fit) : NaN;
    if (fit && fit.bracketed && resamples > 0) {
      const rand = mulberry32(
        (hashString(familySeedKey(by, g.keys) + "|" + JSON.stringify(g.scale)) ^
          (opts.bootstrapSeed ?? 0)) >>> 0,
      );
      const normal = normalSampler(rand);
      const sorted = adj.points.map((p, j) => ({ p, j })).filter(({ p }) =>
        (p.n > 0 && Number.isFinite(p.y)) || p.diverged > 0
      )
        .sort((a, b) => a.p.x - b.p.x);
      const inFit = new Set(fit.used.map((i) => sorted[i].j));
      const mu = adj.points.map((
        p,
        j,
      ) => (inFit.has(j) && fit.model !== "grid" ? basinValue(fit, p.x) : p.y));
      const noiseSd = Number.isFinite(sd) ? sd : 0;
      for (let b = 0; b < resamples; b++) {
        const pts = adj.points.map((p, j) => ({
          ...p,
          y: p.n > 0 ? mu[j] + (noiseSd / Math.sqrt(p.n)) * normal() : NaN,
        }));
        const f = fitBasin(pts, window);
        drawFits.push(f);
        // A draw whose arg-min moved to the grid edge keeps that edge LR: a bound, and a sign of a wide interval.
        const x = f ? f.x : NaN;
        drawsStat.push(x);
        draws.push(x + usys * normal());
      }
    }
    const finite = draws.filter(Number.isFinite).sort((a, b) => a - b);
    const ustat = robustSd(drawsStat);
    const x = fit ? fit.x : NaN;
    const eta_ci: [number, number] = finite.length > 10
      ? [2 ** quantile(finite, lo), 2 ** quantile(finite, 1 - lo)]
      : [NaN, NaN];
    const nOk = curve.reduce((a, p) => a + p.n_ok, 0);
    const nDiv = curve.reduce((a, p) => a + p.n_diverged, 0);
    const nFail = curve.reduce((a, p) => a + p.n_failed, 0);
    const flags = basinFlags(fit);
    if (!Number.isFinite(sd)) {
      flags.push("trial noise not estimable (one seed and no residual degrees of freedom)");
    }
    out.push({
      keys: g.keys,
      family: g.family,
      scale: g.scale,
      label: scaleLabel(g.scale),
      eta_star: 2 ** x,
      log2_eta: x,
      log2_eta_se:
        Math.sqrt((Number.isFinite(ustat) ? ustat ** 2 : 0) + (Number.isFinite(usys) ? usys ** 2 : 0)) ||
        NaN,
      u_stat: ustat,
      u_sys: usys,
      eta_ci,
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
      n_seeds: g.seeds.length,
      noise_sd: sd,
      base_eta_star: NaN,
      loss_at_base_lr: NaN,
      transfer_cost: NaN,
      transfer_cost_fit: NaN,
      transfer_cost_ci: [NaN, NaN],
      curve,
      seeds: g.seeds,
      fit,
      draws: Float64Array.from(draws),
      drawsStat: Float64Array.from(drawsStat),
      drawFits,
    });
  }
  out.sort((a, b) =>
    a.family < b.family ? -1 : a.family > b.family ? 1 : compareScale(a.scale, b.scale, scale)
  );
  addTransferCost(out, scale, level);
  return {
    by,
    scale,
    lr: lrCol,
    loss: lossCol,
    seed: seedCol,
    window,
    resamples,
    level,
    groups: out,
    n_trials: table.numRows(),
    noise,
  };
}

function compareScale(a: Record<string, number>, b: Record<string, number>, axes: string[]) {
  for (const s of axes) if (a[s] !== b[s]) return a[s] - b[s];
  return 0;
}

/** "256" for one axis, "width=256, depth=4" for several. */
export function scaleLabel(scale: Record<string, number>): string {
  const axes = Object.keys(scale);
  if (axes.length === 1) return String(scale[axes[0]]);
  if (axes.length === 0) return "all";
  return axes.map((a) => `${shortName(a)}=${scale[a]}`).join(", ");
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
function addTransferCost(groups: GroupOptimum[], scale: string[], level: number): void {
  if (!scale.length) return;
  const families = new Map<string, GroupOptimum[]>();
  for (const g of groups) families.set(g.family, [...(families.get(g.family) ?? []), g]);
  const lo = (1 - level) / 2;
  for (const fam of families.values()) {
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
