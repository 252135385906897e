/**
 * The optimum of one loss-vs-log2(LR) curve, from two estimators over the
 * basin (the arg-min and up to `window` grid LRs on each side, stopping at an
 * LR where every seed diverged):
 *
 * E1, a two-sided quadratic, by weighted least squares (weight = finished
 * seeds at the LR):
 *
 *   f(x) = c + a_L (x - m)^2   for x < m,
 *   f(x) = c + a_R (x - m)^2   for x >= m,        a_L, a_R >= 0.
 *
 * For a fixed vertex m the model is linear in (c, a_L, a_R); m is found by
 * profiling the residual sum of squares over [x_{i*-1}, x_{i*+1}] (24 values,
 * then golden section in the best cell). Needs 4 finished LRs.
 *
 * E2, the 3-point parabola through the arg-min and its two neighbours, its
 * vertex clamped to [x_{i*-1}, x_{i*+1}].
 *
 * The optimum is their midpoint, and their spread is reported (./optimum.ts
 * turns it into the resolution uncertainty, spread / sqrt(12)).
 *
 * Why: real basins are steeper on the high-LR side (towards divergence) than
 * on the low side. E2 puts its vertex on the shallow side, by up to half an
 * octave, by an amount that changes with where the grid falls; that bias
 * leaks into the width slope (the nuGPT case of the main job: a 3-point
 * parabola whose right neighbour sits on the divergence wall). E1 gives each
 * side its own curvature, which removes that bias, but over +-2 octaves the
 * low-LR wing flattens (loss is not quadratic in log LR there) and pulls E1
 * the other way. On noise-free asymmetric basins at every grid phase the two
 * bracket the optimum, their midpoint has about half E2's worst bias, and the
 * optimum lies within 1.96 spread / sqrt(12) of it (tests/analysis_coverage
 * .test.ts, "two-sided fit + parabola vs the 3-point parabola").
 *
 * Fallbacks, each flagged in `model`:
 * - "parabola" / "two-sided": only one estimator could be fitted (3 finished
 *   LRs, or a parabola that opens downwards);
 * - "wall": the LR next to the arg-min on one side diverged for every seed:
 *   the vertex of a parabola through the other side's points, kept within
 *   half a grid step of the arg-min;
 * - "grid": fewer points, or the arg-min at the edge of the grid: the grid
 *   arg-min itself (not bracketed when a side has no LR at all).
 */
import { leastSquares } from "../core/least_squares.ts";
import { DmodelError } from "../core/errors.ts";

/** One LR of a curve for `fitBasin`: the seed-adjusted mean loss of its finished seeds. */
export interface BasinPoint {
  /** log2 of the learning rate. */
  x: number;
  /** Mean loss over the finished seeds; NaN when none finished. */
  y: number;
  /** Finished (ok) seeds: the weight of the point. */
  n: number;
  /** Seeds that diverged at this LR. */
  diverged: number;
}

/** How the optimum of a curve was found. */
export type BasinModel = "two-sided+parabola" | "two-sided" | "parabola" | "wall" | "grid";

/** A fitted basin. */
export interface BasinFit {
  /** log2 LR of the optimum (the vertex m, or the grid arg-min for model "grid"). */
  x: number;
  /** log2 LR of the grid arg-min (over LRs where no seed diverged, when there is one). */
  xGrid: number;
  /** Index of the arg-min in the sorted points. */
  iGrid: number;
  /** Mean loss at the grid arg-min. */
  yGrid: number;
  /** Fitted loss at the vertex (c). */
  c: number;
  /** Curvature a_L of the two-sided quadratic left of the vertex (low LR), >= 0. */
  aL: number;
  /** Curvature a_R of the two-sided quadratic right of the vertex (high LR), >= 0. */
  aR: number;
  /** Which estimator or fallback gave `x`. */
  model: BasinModel;
  /** The arg-min has an LR (finished or diverged) on both sides. */
  bracketed: boolean;
  /** Which edge of the grid the arg-min sits on, if any. */
  edge: "low" | "high" | null;
  /** Indices (sorted points) of the LRs used by the fit. */
  used: number[];
  /** Weighted residual sum of squares of the fit. */
  rss: number;
  /** Degrees of freedom of `rss`: points - parameters. */
  dof: number;
  /** Mean spacing of the grid (log2) around the arg-min. */
  spacing: number;
  /** Some LR in the fit had a diverged seed (its finished seeds were used). */
  partial: boolean;
  /** Vertex of the two-sided quadratic over the window (E1); NaN when not fitted. */
  xTwoSided: number;
  /** Vertex of the 3-point parabola (E2), clamped to the neighbours; NaN when not fitted. */
  xParabola: number;
  /** |E1 - E2|: how much the optimum depends on the basin model (0 with one estimator). */
  spread: number;
  /** Centre of the two-sided curve (the curve is c + a (x - xc)^2 around xc). */
  xc: number;
}

/** Value of a fitted basin at log2 LR x (the two-sided model; the grid loss for model "grid"). */
export function basinValue(f: BasinFit, x: number): number {
  const u = x - f.xc;
  return f.c + (u < 0 ? f.aL : f.aR) * u * u;
}

/**
 * For a fixed vertex m: the best (c, a_L, a_R >= 0) and the weighted RSS.
 * Normal equations of [1, L, R] with L = (x-m)^2 left of m, R = (x-m)^2 right
 * of m; L and R never overlap, so the 3x3 system is solved in closed form.
 */
function atVertex(
  xs: number[],
  ys: number[],
  ws: number[],
  m: number,
): { c: number; aL: number; aR: number; rss: number } {
  let sw = 0, sy = 0, sL = 0, sR = 0, sLL = 0, sRR = 0, sLy = 0, sRy = 0;
  for (let i = 0; i < xs.length; i++) {
    const u = xs[i] - m, q = u * u, w = ws[i], y = ys[i];
    sw += w;
    sy += w * y;
    if (u < 0) {
      sL += w * q;
      sLL += w * q * q;
      sLy += w * q * y;
    } else {
      sR += w * q;
      sRR += w * q * q;
      sRy += w * q * y;
    }
  }
  // The RSS from the residuals themselves (no cancellation: the vertex is resolved to ~1e-12).
  const rss = (c: number, aL: number, aR: number) => {
    let r = 0;
    for (let i = 0; i < xs.length; i++) {
      const u = xs[i] - m;
      r += ws[i] * (ys[i] - c - (u < 0 ? aL : aR) * u * u) ** 2;
    }
    return r;
  };
  // With aL, aR free: eliminate c = (sy - aL sL - aR sR) / sw; the L and R equations decouple but for c.
  const dL = sLL - sL * sL / sw, dR = sRR - sR * sR / sw, eL = sLy - sL * sy / sw, eR = sRy - sR * sy / sw;
  const x = -sL * sR / sw; // cross term of the reduced system
  let best = { c: sy / sw, aL: 0, aR: 0, rss: rss(sy / sw, 0, 0) };
  const consider = (aL: number, aR: number) => {
    if (!(aL >= 0 && aR >= 0)) return;
    const c = (sy - aL * sL - aR * sR) / sw;
    const r = rss(c, aL, aR);
    if (r < best.rss) best = { c, aL, aR, rss: r };
  };
  const det = dL * dR - x * x;
  if (Math.abs(det) > 1e-14 * (Math.abs(dL * dR) + 1e-300)) {
    consider((eL * dR - x * eR) / det, (dL * eR - x * eL) / det);
  }
  if (dL > 1e-14) consider(eL / dL, 0);
  if (dR > 1e-14) consider(0, eR / dR);
  return best;
}

/** Minimizes the profile RSS(m) over [lo, hi]: a grid, then golden section in the best cell. */
function profileVertex(xs: number[], ys: number[], ws: number[], lo: number, hi: number) {
  const N = 24;
  let bi = 0, bv = Infinity;
  const vals: number[] = [];
  for (let i = 0; i <= N; i++) {
    const v = atVertex(xs, ys, ws, lo + (hi - lo) * i / N).rss;
    vals.push(v);
    if (v < bv) [bi, bv] = [i, v];
  }
  let a = lo + (hi - lo) * Math.max(0, bi - 1) / N, b = lo + (hi - lo) * Math.min(N, bi + 1) / N;
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = b - g * (b - a), x2 = a + g * (b - a);
  let f1 = atVertex(xs, ys, ws, x1).rss, f2 = atVertex(xs, ys, ws, x2).rss;
  for (let it = 0; it < 40 && b - a > 1e-10; it++) {
    if (f1 <= f2) {
      [b, x2, f2] = [x2, x1, f1];
      x1 = b - g * (b - a);
      f1 = atVertex(xs, ys, ws, x1).rss;
    } else {
      [a, x1, f1] = [x1, x2, f2];
      x2 = a + g * (b - a);
      f2 = atVertex(xs, ys, ws, x2).rss;
    }
  }
  const m = (a + b) / 2;
  const fit = atVertex(xs, ys, ws, m);
  return fit.rss <= bv
    ? { m, ...fit }
    : { m: lo + (hi - lo) * bi / N, ...atVertex(xs, ys, ws, lo + (hi - lo) * bi / N) };
}

/** Parabola through >= 3 points (weighted LS): y = A u^2 + B u + C, u = x - x0. */
function parabola(xs: number[], ys: number[], ws: number[]) {
  const x0 = xs[0];
  const r = leastSquares(xs.map((x) => [(x - x0) ** 2, x - x0]), ys, ws);
  if (!r) return null;
  const [C, A, B] = r.coef;
  const m = x0 - B / (2 * A);
  return { A, m, c: C - (B * B) / (4 * A) };
}

/**
 * Fits the basin of one curve (see the module header). Points are sorted by
 * x; an LR with no finished seed and no diverged seed carries no information
 * and is dropped. The arg-min is taken over LRs where no seed diverged (an
 * LR that diverges for some seed is not one to recommend), or over all
 * finished LRs when every LR had a divergence. Null when no LR finished.
 *
 * @example
 * ```ts
 * const pts = [-8, -7, -6, -5, -4].map((x) => ({ x, y: 3 + 0.1 * (x + 6.3) ** 2, n: 2, diverged: 0 }));
 * fitBasin(pts)!.x; // -6.3
 * ```
 */
export function fitBasin(points: BasinPoint[], window = 2): BasinFit | null {
  if (!(Number.isInteger(window) && window >= 1)) {
    throw new DmodelError(`fitBasin: window must be an integer >= 1, got ${window}`);
  }
  const pts = points.filter((p) => (p.n > 0 && Number.isFinite(p.y)) || p.diverged > 0)
    .slice().sort((a, b) => a.x - b.x);
  const best = gridArgMin(pts);
  if (best < 0) return null;
  const out = gridOptimum(pts, best);
  if (out.edge) return out;
  out.used = basinWindow(pts, best, window);
  out.partial = out.used.some((i) => pts[i].diverged > 0);
  fitEstimators(out, pts);
  combineEstimators(out, pts);
  return out;
}

/** A point with a finished trial and a finite loss. */
function finished(p: BasinPoint): boolean {
  return p.n > 0 && Number.isFinite(p.y);
}

/** Index of the lowest finished point where no seed diverged (else of any finished point); -1 when none. */
function gridArgMin(pts: BasinPoint[]): number {
  let best = -1;
  for (const strict of [true, false]) {
    for (let i = 0; i < pts.length; i++) {
      const p = pts[i];
      if (!finished(p) || (strict && p.diverged > 0)) continue;
      if (best < 0 || p.y < pts[best].y) best = i;
    }
    if (best >= 0) break;
  }
  return best;
}

/** The grid optimum at index `best`: the fit before any model, with the grid step there and the edge it sits on. */
function gridOptimum(pts: BasinPoint[], best: number): BasinFit {
  const g = pts[best];
  const edge = best === 0 ? "low" : best === pts.length - 1 ? "high" : null;
  const spacing = pts.length > 1
    ? (pts[Math.min(pts.length - 1, best + 1)].x - pts[Math.max(0, best - 1)].x) /
      (Math.min(pts.length - 1, best + 1) - Math.max(0, best - 1))
    : 1;
  return {
    x: g.x,
    xGrid: g.x,
    iGrid: best,
    yGrid: g.y,
    c: g.y,
    aL: 0,
    aR: 0,
    model: "grid",
    bracketed: edge === null,
    edge,
    used: [best],
    rss: 0,
    dof: 0,
    spacing,
    partial: g.diverged > 0,
    xTwoSided: NaN,
    xParabola: NaN,
    spread: 0,
    xc: g.x,
  };
}

/** The window: up to `window` LRs each side of the arg-min, stopping at an LR where every seed diverged (the wall). */
function basinWindow(pts: BasinPoint[], best: number, window: number): number[] {
  const used = [best];
  for (const dir of [-1, 1]) {
    for (let k = 1; k <= window; k++) {
      const p = pts[best + dir * k];
      if (!p || !finished(p)) break;
      used.push(best + dir * k);
    }
  }
  return used.sort((a, b) => a - b);
}

/**
 * The two estimators (module header) over the window: E1 the two-sided
 * quadratic, E2 the 3-point parabola through the arg-min and its finished
 * neighbours (clamped to them).
 */
function fitEstimators(out: BasinFit, pts: BasinPoint[]): void {
  const best = out.iGrid, used = out.used;
  const xs = used.map((i) => pts[i].x), ys = used.map((i) => pts[i].y), ws = used.map((i) => pts[i].n);
  const left = used.filter((i) => i < best).length, right = used.filter((i) => i > best).length;
  if (left < 1 || right < 1) return;
  const lo = pts[best - 1].x, hi = pts[best + 1].x;
  if (used.length >= 4) {
    const f = profileVertex(xs, ys, ws, lo, hi);
    Object.assign(out, { c: f.c, aL: f.aL, aR: f.aR, xc: f.m, rss: f.rss, dof: used.length - 4 });
    out.xTwoSided = f.m;
  }
  const n3 = [best - 1, best, best + 1];
  const q = parabola(n3.map((i) => pts[i].x), n3.map((i) => pts[i].y), n3.map((i) => pts[i].n));
  if (q && q.A > 0) {
    out.xParabola = Math.min(hi, Math.max(lo, q.m));
    if (!Number.isFinite(out.xTwoSided)) Object.assign(out, { c: q.c, aL: q.A, aR: q.A, xc: q.m });
  }
}

/**
 * The optimum from the estimators: the midpoint of both (their spread kept),
 * the one there is, or against a wall on one side the vertex of the other
 * side's parabola within half a grid step of the arg-min.
 */
function combineEstimators(out: BasinFit, pts: BasinPoint[]): void {
  const est = [out.xTwoSided, out.xParabola].filter(Number.isFinite);
  const best = out.iGrid, used = out.used;
  const left = used.filter((i) => i < best).length, right = used.filter((i) => i > best).length;
  if (est.length === 2) {
    out.x = (est[0] + est[1]) / 2;
    out.spread = Math.abs(est[0] - est[1]);
    out.model = "two-sided+parabola";
  } else if (est.length === 1) {
    out.x = est[0];
    out.model = Number.isFinite(out.xTwoSided) ? "two-sided" : "parabola";
  } else if (used.length >= 3 && (left === 0 || right === 0)) {
    const q = parabola(used.map((i) => pts[i].x), used.map((i) => pts[i].y), used.map((i) => pts[i].n));
    if (q && q.A > 0) {
      const half = out.spacing / 2, g = out.xGrid;
      out.x = Math.min(g + half, Math.max(g - half, q.m));
      Object.assign(out, {
        c: q.c,
        aL: q.A,
        aR: q.A,
        xc: q.m,
        model: "wall",
        dof: Math.max(0, used.length - 3),
      });
    }
  }
}
