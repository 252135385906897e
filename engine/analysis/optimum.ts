// deno-lint-ignore-file no-explicit-any -- arquero parses row expressions from source; rows are untyped.
/**
 * The optimal learning rate eta* of each group of trials (one parameterization
 * at one scale): average the final validation loss over seeds, take the
 * arg-min over the LR grid, and refine it with the vertex of a parabola fitted
 * to loss against log2(LR) over the arg-min and its neighbours.
 *
 * Trials that diverged or failed are dropped from the fit but counted. An LR
 * at which any seed diverged is not a candidate optimum (it is unstable), but
 * it still brackets the optimum: it counts as worse than every finite loss.
 */
import * as aq from "arquero";
import { op } from "arquero";
import type { ColumnTable } from "arquero";
import { DmodelError, show } from "../core/errors.ts";
import { detectScales, requireColumns } from "./load.ts";

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
  /** Seed column, averaged over. Default `train.seed` (absent: one seed). */
  seed?: string;
  /** Neighbours on each side of the arg-min used by the quadratic refinement. Default 1. */
  window?: number;
}

/** One learning rate of a group: the mean loss over its ok seeds and the trial counts. */
export interface CurvePoint {
  lr: number;
  log2_lr: number;
  /** Mean loss over the seeds that finished ok; NaN when none did. */
  loss: number;
  n_ok: number;
  n_diverged: number;
  n_failed: number;
  /** True when some seed finished ok and none diverged: the LR may be the optimum. */
  candidate: boolean;
}

/** One seed's trials in a group, indexed like the group's LR grid (for the bootstrap). */
export interface SeedCells {
  seed: string | number;
  /** Sum of the ok losses at each LR (one trial per cell, so the loss itself). */
  sum: Float64Array;
  ok: Int32Array;
  diverged: Int32Array;
}

/** The optimum of one group (family x scale). */
export interface GroupOptimum {
  /** Values of the family and scale keys. */
  keys: Record<string, string | number>;
  /** The family: values of the `by` keys joined by "/" ("all" without keys). */
  family: string;
  /** The scale values, by axis. */
  scale: Record<string, number>;
  /** Short label of the scale ("256", or "width=256, depth=4"). */
  label: string;
  /** Refined optimal LR (2^vertex); the grid arg-min when not refined. */
  eta_star: number;
  /** Arg-min of the seed-mean loss over the LR grid. */
  eta_star_grid: number;
  /** Seed-mean loss at the grid arg-min. */
  loss_star: number;
  /** Fitted parabola's value at its vertex (loss_star when not refined). */
  loss_star_fit: number;
  /** True when the optimum has a worse (or diverged) LR on both sides. */
  bracketed: boolean;
  /** True when the quadratic refinement was applied. */
  refined: boolean;
  n_trials: number;
  n_ok: number;
  n_diverged: number;
  n_failed: number;
  n_seeds: number;
  /** The grid LR a user would carry over: the family's base group (smallest scale) grid optimum. */
  base_eta_star: number;
  /** Seed-mean loss at base_eta_star (linear in log2 LR between grid points); NaN where unstable. */
  loss_at_base_lr: number;
  /** Cost of transferring: loss_at_base_lr - loss_star (0 for the base group; Infinity where the base LR diverges). */
  transfer_cost: number;
  /** The loss-vs-LR curve over the group's LR grid. */
  curve: CurvePoint[];
  /** Per-seed cells, for resampling seeds. */
  seeds: SeedCells[];
}

/** Result of `optimalLR`: the optima and how they were computed. */
export interface Optima {
  by: string[];
  scale: string[];
  lr: string;
  loss: string;
  seed: string | null;
  window: number;
  groups: GroupOptimum[];
  n_trials: number;
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
}

/**
 * Least-squares parabola y = a (x - x0)^2 + b (x - x0) + c through the points
 * (x0 = the first x, for conditioning); returns its coefficients in x and the
 * vertex -b' / (2 a). Exact for three points.
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
  // Normal equations of [u^2 u 1] with u = x - x0.
  const m = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
  for (let i = 0; i < xs.length; i++) {
    const u = xs[i] - x0;
    const row = [u * u, u, 1];
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) m[r][c] += row[r] * row[c];
      m[r][3] += row[r] * ys[i];
    }
  }
  const [a, b, c] = solve(m);
  // Back to x: a (x-x0)^2 + b (x-x0) + c.
  const vertexU = -b / (2 * a);
  return { a, b: b - 2 * a * x0, c: a * x0 * x0 - b * x0 + c, vertex: x0 + vertexU };
}

/**
 * Gaussian elimination with partial pivoting on an augmented n x (n+1)
 * matrix; all NaN when the matrix is singular (pivot below 1e-10 of its scale).
 */
export function solve(aug: number[][]): number[] {
  const n = aug.length;
  const m = aug.map((r) => r.slice());
  const scale = Math.max(...m.flatMap((r) => r.slice(0, n).map(Math.abs)));
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i][k]) > Math.abs(m[p][k])) p = i;
    [m[k], m[p]] = [m[p], m[k]];
    if (!(Math.abs(m[k][k]) > 1e-10 * scale)) return new Array(n).fill(NaN);
    for (let i = k + 1; i < n; i++) {
      const f = m[i][k] / m[k][k];
      for (let j = k; j <= n; j++) m[i][j] -= f * m[k][j];
    }
  }
  const x = new Array(n).fill(0);
  for (let k = n - 1; k >= 0; k--) {
    let s = m[k][n];
    for (let j = k + 1; j < n; j++) s -= m[k][j] * x[j];
    x[k] = s / m[k][k];
  }
  return x;
}

/**
 * Optimum of one loss-vs-log2(LR) curve: arg-min of the finite losses, then
 * the vertex of a parabola fitted over the arg-min and `window` neighbours on
 * each side (when both sides have finite losses and the parabola opens up),
 * clamped to the neighbours' span. Bracketed = the arg-min has a grid point
 * on each side (finite or diverged). Points with unknown loss that did not
 * diverge carry no information and are skipped. Null when no loss is finite.
 *
 * @example
 * ```ts
 * const pts = [-4, -3, -2, -1].map((x) => ({ x, loss: (x + 2.3) ** 2 }));
 * curveOptimum(pts)!.x; // -2.3
 * ```
 */
export function curveOptimum(points: LossPoint[], window = 1): CurveOptimum | null {
  const grid = points
    .filter((p) => Number.isFinite(p.loss) || p.diverged)
    .map((p) => ({ ...p, finite: Number.isFinite(p.loss) && !p.diverged }))
    .sort((a, b) => a.x - b.x);
  let best = -1;
  for (let i = 0; i < grid.length; i++) {
    if (grid[i].finite && (best < 0 || grid[i].loss < grid[best].loss)) best = i;
  }
  if (best < 0) return null;
  const bracketed = best > 0 && best < grid.length - 1;
  const xGrid = grid[best].x;
  const out: CurveOptimum = {
    index: points.indexOf(points.find((p) => p.x === xGrid)!),
    x: xGrid,
    xGrid,
    loss: grid[best].loss,
    lossFit: grid[best].loss,
    bracketed,
    refined: false,
  };
  if (!bracketed) return out;
  const lo = Math.max(0, best - window), hi = Math.min(grid.length - 1, best + window);
  const near = grid.slice(lo, hi + 1).filter((p) => p.finite);
  const left = near.some((p) => p.x < xGrid), right = near.some((p) => p.x > xGrid);
  if (near.length < 3 || !left || !right) return out;
  const q = quadraticVertex(near.map((p) => p.x), near.map((p) => p.loss));
  if (!(q.a > 0) || !Number.isFinite(q.vertex)) return out;
  // Clamp to the grid around the arg-min (eq.: vertex in [x_{i-1}, x_{i+1}]).
  const x = Math.min(grid[best + 1].x, Math.max(grid[best - 1].x, q.vertex));
  out.x = x;
  out.lossFit = q.a * x * x + q.b * x + q.c;
  out.refined = true;
  return out;
}

/**
 * Loss-vs-LR curve of a group with each seed weighted by `weights` (how many
 * times a bootstrap resample drew it; all ones for the plain estimate).
 */
export function weightedCurve(
  lrs: number[],
  seeds: SeedCells[],
  weights?: number[],
): CurvePoint[] {
  return lrs.map((lr, j) => {
    let sum = 0, ok = 0, div = 0;
    seeds.forEach((s, k) => {
      const w = weights ? weights[k] : 1;
      sum += w * s.sum[j];
      ok += w * s.ok[j];
      div += w * s.diverged[j];
    });
    return {
      lr,
      log2_lr: Math.log2(lr),
      loss: ok > 0 ? sum / ok : NaN,
      n_ok: ok,
      n_diverged: div,
      n_failed: 0,
      candidate: ok > 0 && div === 0,
    };
  });
}

/** The curve's optimum as a LossPoint search (candidates finite, diverged LRs worse). */
export function optimumOfCurve(curve: CurvePoint[], window = 1): CurveOptimum | null {
  return curveOptimum(
    curve.map((p) => ({
      x: p.log2_lr,
      loss: p.candidate ? p.loss : NaN,
      diverged: p.n_diverged > 0,
    })),
    window,
  );
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

/**
 * Finds eta* per group (family keys x scale keys) of a results table. Rows
 * must be unique per (group, LR, seed): otherwise some other config column
 * varies, and the error names it so it can be added to `by`.
 *
 * @example
 * ```ts
 * const optima = optimalLR(await loadResults("runs/width-transfer"));
 * for (const g of optima.groups) console.log(g.family, g.label, g.eta_star, g.bracketed);
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
  const window = opts.window ?? 1;
  if (!(Number.isInteger(window) && window >= 1)) {
    throw new DmodelError(`optimalLR: window must be an integer >= 1, got ${show(window)}`);
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

  // Group the cells into curves.
  const groups = new Map<string, GroupOptimum & { _lrs: number[]; _fail: number[] }>();
  for (const c of cells.objects() as Record<string, any>[]) {
    const kv: Record<string, string | number> = {};
    for (const k of keys) kv[k] = c[k];
    const id = JSON.stringify(keys.map((k) => c[k]));
    let g = groups.get(id);
    if (!g) {
      const sc: Record<string, number> = {};
      for (const s of scale) sc[s] = c[s];
      g = {
        keys: kv,
        family: by.length ? by.map((k) => String(c[k])).join("/") : "all",
        scale: sc,
        label: scaleLabel(sc),
        seeds: [],
        _lrs: [],
        _fail: [],
      } as unknown as GroupOptimum & { _lrs: number[]; _fail: number[] };
      groups.set(id, g);
    }
    if (!g._lrs.includes(c._lr)) g._lrs.push(c._lr);
  }
  for (const g of groups.values()) {
    g._lrs.sort((a, b) => a - b);
    g._fail = new Array(g._lrs.length).fill(0);
  }
  // Seed matrices over each group's LR grid.
  for (const c of cells.objects() as Record<string, any>[]) {
    const g = groups.get(JSON.stringify(keys.map((k) => c[k])))!;
    const j = g._lrs.indexOf(c._lr);
    let s = g.seeds.find((x) => x.seed === c._seed);
    if (!s) {
      const n = g._lrs.length;
      s = {
        seed: c._seed,
        sum: new Float64Array(n),
        ok: new Int32Array(n),
        diverged: new Int32Array(n),
      };
      g.seeds.push(s);
    }
    s.sum[j] = c.sum;
    s.ok[j] = c.n_ok;
    s.diverged[j] = c.n_div;
    g._fail[j] += c.n_fail;
  }

  const out: GroupOptimum[] = [];
  for (const g of groups.values()) {
    g.seeds.sort((a, b) => (a.seed < b.seed ? -1 : a.seed > b.seed ? 1 : 0));
    const curve = weightedCurve(g._lrs, g.seeds);
    curve.forEach((p, j) => (p.n_failed = g._fail[j]));
    const o = optimumOfCurve(curve, window);
    const nOk = curve.reduce((a, p) => a + p.n_ok, 0);
    const nDiv = curve.reduce((a, p) => a + p.n_diverged, 0);
    const nFail = curve.reduce((a, p) => a + p.n_failed, 0);
    const { _lrs: _l, _fail: _f, ...rest } = g;
    out.push({
      ...rest,
      eta_star: o ? 2 ** o.x : NaN,
      eta_star_grid: o ? 2 ** o.xGrid : NaN,
      loss_star: o ? o.loss : NaN,
      loss_star_fit: o ? o.lossFit : NaN,
      bracketed: o ? o.bracketed : false,
      refined: o ? o.refined : false,
      n_trials: nOk + nDiv + nFail,
      n_ok: nOk,
      n_diverged: nDiv,
      n_failed: nFail,
      n_seeds: g.seeds.length,
      base_eta_star: NaN,
      loss_at_base_lr: NaN,
      transfer_cost: NaN,
      curve,
    });
  }
  out.sort((a, b) =>
    a.family < b.family ? -1 : a.family > b.family ? 1 : compareScale(a.scale, b.scale, scale)
  );
  addTransferCost(out, scale);
  return {
    by,
    scale,
    lr: lrCol,
    loss: lossCol,
    seed: seedCol,
    window,
    groups: out,
    n_trials: table.numRows(),
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

/** Cost of transferring: at each scale, loss at the base scale's best grid LR minus the scale's own best loss. */
function addTransferCost(groups: GroupOptimum[], scale: string[]): void {
  if (!scale.length) return;
  const families = new Map<string, GroupOptimum[]>();
  for (const g of groups) families.set(g.family, [...(families.get(g.family) ?? []), g]);
  for (const fam of families.values()) {
    const base = baseGroup(fam);
    for (const g of fam) {
      g.base_eta_star = base.eta_star_grid;
      if (!Number.isFinite(base.eta_star_grid)) continue;
      g.loss_at_base_lr = g === base ? g.loss_star : interpolateLoss(g.curve, Math.log2(base.eta_star_grid));
      g.transfer_cost = g === base ? 0 : g.loss_at_base_lr - g.loss_star;
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
  return aq.from(optima.groups.map((g) => ({ ...g.keys, ...groupFields(g) })));
}

/** The per-group numbers reported in analysis.json and optima.csv. */
export function groupFields(g: GroupOptimum) {
  return {
    eta_star: g.eta_star,
    eta_star_grid: g.eta_star_grid,
    loss_star: g.loss_star,
    bracketed: g.bracketed,
    refined: g.refined,
    n_trials: g.n_trials,
    n_diverged: g.n_diverged,
    n_failed: g.n_failed,
    n_seeds: g.n_seeds,
    base_eta_star: g.base_eta_star,
    loss_at_base_lr: g.loss_at_base_lr,
    transfer_cost: g.transfer_cost,
  };
}
