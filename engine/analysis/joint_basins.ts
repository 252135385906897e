/**
 * The local basins of the joint fit (./joint.ts, module header items 3-4):
 * per scale, three models of the loss near its grid arg-min (a cubic, a
 * quadratic, a two-sided quadratic), each linear in its coefficients for a
 * given minimum m, so each scale gives a profile chi^2_s(m) tabulated within
 * one grid step of the arg-min.
 */
import type { GroupOptimum } from "./optimum.ts";

/** A local basin model (module header, item 3). */
export interface LocalModel {
  name: "cubic" | "quadratic" | "two-sided";
  /** Half-width of the window (octaves). */
  half: number;
}
export const MODELS: LocalModel[] = [
  { name: "cubic", half: 2 },
  { name: "quadratic", half: 1 },
  { name: "two-sided", half: 2 },
];

/** One cell of a scale's curve. */
export interface Cell {
  x: number;
  /** Robust mean of the finished seeds' adjusted losses (NaN when none). */
  y: number;
  n: number;
  diverged: number;
  /** Variance of y (one trial's variance / n). */
  var: number;
}

/** One scale of a family, ready for the joint fit. */
export interface Scale {
  g: GroupOptimum;
  /** log2 of each scale axis, centred on the family's mean. */
  t: number[];
  cells: Cell[];
  /** Grid step (log2). */
  h: number;
}

/** A scale's profile for one model. */
export interface Profile {
  /** m values (log2 LR) and chi^2 there. */
  m: Float64Array;
  chi2: Float64Array;
  /** Window cells used. */
  used: Cell[];
  /** Number of linear coefficients of the model (with the constant). */
  k: number;
  /** The model actually fitted (a cubic with too few points falls back to a quadratic). */
  model: LocalModel["name"];
  /** Index of the arg-min cell the window is centred on. */
  i0: number;
}

/** The coefficients of a local model at minimum m: loss = c + basin(u). */
export interface Local {
  m: number;
  c: number;
  a: number;
  d: number;
  aL: number;
  aR: number;
  model: LocalModel["name"];
}

/** Value of a local basin at x. */
export function localValue(f: Local, x: number): number {
  const u = x - f.m;
  if (f.model === "two-sided") return f.c + (u < 0 ? f.aL : f.aR) * u * u;
  return f.c + f.a * u * u + f.d * u * u * u;
}

/** Solves the k x k (k <= 3) symmetric system A b = r by Cramer's rule; null when singular. */
function solveSmall(A: number[], r: number[], k: number): number[] | null {
  if (k === 1) return A[0] > 0 ? [r[0] / A[0]] : null;
  if (k === 2) {
    const det = A[0] * A[3] - A[1] * A[2];
    if (!(Math.abs(det) > 1e-14 * Math.abs(A[0] * A[3]))) return null;
    return [(r[0] * A[3] - A[1] * r[1]) / det, (A[0] * r[1] - A[2] * r[0]) / det];
  }
  const [a, b, c, d, e, f, g, h, i] = A;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  if (!(Math.abs(det) > 1e-14 * Math.abs(a * e * i))) return null;
  return [
    (r[0] * (e * i - f * h) - b * (r[1] * i - f * r[2]) + c * (r[1] * h - e * r[2])) / det,
    (a * (r[1] * i - f * r[2]) - r[0] * (d * i - f * g) + c * (d * r[2] - r[1] * g)) / det,
    (a * (e * r[2] - r[1] * h) - b * (d * r[2] - r[1] * g) + r[0] * (d * h - e * g)) / det,
  ];
}

/**
 * Weighted LS of y on up to 3 basis functions of u (index = basis id), by
 * the normal equations; returns the coefficients and the weighted RSS.
 */
function wls(
  basis: ((u: number) => number)[],
  us: number[],
  ys: number[],
  ws: number[],
): { b: number[]; rss: number } | null {
  const k = basis.length, n = us.length;
  if (n < k) return null;
  const A = new Array(k * k).fill(0), r = new Array(k).fill(0), phi = new Array(k);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < k; a++) phi[a] = basis[a](us[i]);
    const w = ws[i], y = ys[i];
    for (let a = 0; a < k; a++) {
      r[a] += w * phi[a] * y;
      for (let c = a; c < k; c++) A[a * k + c] += w * phi[a] * phi[c];
    }
  }
  for (let a = 0; a < k; a++) for (let c = 0; c < a; c++) A[a * k + c] = A[c * k + a];
  const b = solveSmall(A, r, k);
  if (!b) return null;
  // RSS from the residuals (the normal-equation shortcut cancels badly when the fit is tight).
  let rss = 0;
  for (let i = 0; i < n; i++) {
    let f = 0;
    for (let a = 0; a < k; a++) f += b[a] * basis[a](us[i]);
    rss += ws[i] * (ys[i] - f) ** 2;
  }
  return { b, rss };
}

const ONE = () => 1, SQ = (u: number) => u * u, CUBE = (u: number) => u * u * u;
const SQ_L = (u: number) => (u < 0 ? u * u : 0), SQ_R = (u: number) => (u >= 0 ? u * u : 0);

/** The best local model with its minimum at m (curvatures >= 0), and its chi^2. */
export function localAt(
  name: LocalModel["name"],
  xs: number[],
  ys: number[],
  ws: number[],
  m: number,
): { f: Local; chi2: number } {
  const u = xs.map((x) => x - m);
  const fit = (basis: ((u: number) => number)[]) => wls(basis, u, ys, ws);
  const none = { f: { m, c: NaN, a: 0, d: 0, aL: 0, aR: 0, model: name }, chi2: Infinity };
  if (name === "cubic") {
    const r = fit([ONE, SQ, CUBE]);
    if (r && r.b[1] >= 0) {
      return { f: { m, c: r.b[0], a: r.b[1], d: r.b[2], aL: 0, aR: 0, model: name }, chi2: r.rss };
    }
    const r2 = fit([ONE, CUBE]);
    return r2 ? { f: { m, c: r2.b[0], a: 0, d: r2.b[1], aL: 0, aR: 0, model: name }, chi2: r2.rss } : none;
  }
  if (name === "quadratic") {
    const r = fit([ONE, SQ]);
    if (r && r.b[1] >= 0) {
      return { f: { m, c: r.b[0], a: r.b[1], d: 0, aL: 0, aR: 0, model: name }, chi2: r.rss };
    }
    const r0 = fit([ONE]);
    return r0 ? { f: { m, c: r0.b[0], a: 0, d: 0, aL: 0, aR: 0, model: name }, chi2: r0.rss } : none;
  }
  let best = none;
  const consider = (basis: ((u: number) => number)[], map: (b: number[]) => [number, number, number]) => {
    const r = fit(basis);
    if (!r) return;
    const [c, aL, aR] = map(r.b);
    if (aL < 0 || aR < 0 || r.rss >= best.chi2) return;
    best = { f: { m, c, a: 0, d: 0, aL, aR, model: name }, chi2: r.rss };
  };
  const hasL = u.some((v) => v < 0), hasR = u.some((v) => v > 0);
  if (hasL && hasR) consider([ONE, SQ_L, SQ_R], (b) => [b[0], b[1], b[2]]);
  if (best.chi2 < Infinity) return best;
  if (hasL) consider([ONE, SQ_L], (b) => [b[0], b[1], 0]);
  if (hasR) consider([ONE, SQ_R], (b) => [b[0], 0, b[1]]);
  consider([ONE], (b) => [b[0], 0, 0]);
  return best;
}

/** Grid arg-min of a scale's cells over LRs where no seed diverged (else over all finished). */
function argMin(cells: Cell[]): number {
  for (const strict of [true, false]) {
    let best = -1;
    cells.forEach((c, i) => {
      if (
        c.n > 0 && Number.isFinite(c.y) && (!strict || c.diverged === 0) && (best < 0 || c.y < cells[best].y)
      ) {
        best = i;
      }
    });
    if (best >= 0) return best;
  }
  return -1;
}

/** Rise above the arg-min's loss (nats) beyond which an LR is over the cliff, not in the basin. */
export const CLIFF = 1.5;

/** Steps of the m table within one grid step of the arg-min. */
const TABLE = 40;

/**
 * The profile chi^2 of one scale for one model (header, item 3); null when
 * the arg-min is at the grid edge or too few LRs finished around it.
 */
export function profile(s: Scale, cells: Cell[], model: LocalModel, fallback = -1): Profile | null {
  const finished = (c: Cell | undefined) => c !== undefined && c.n > 0 && Number.isFinite(c.y);
  const wall = (c: Cell | undefined) => c !== undefined && !finished(c) && c.diverged > 0;
  // A side may be empty only against a divergence wall (the next LR diverged for every seed).
  const usable = (i: number) =>
    i >= 0 && finished(cells[i]) && (finished(cells[i - 1]) || wall(cells[i - 1])) &&
    (finished(cells[i + 1]) || wall(cells[i + 1])) && (finished(cells[i - 1]) || finished(cells[i + 1]));
  let i0 = argMin(cells);
  if (!usable(i0)) i0 = fallback;
  if (!usable(i0)) return null;
  const x0 = cells[i0].x;
  const used: Cell[] = [cells[i0]];
  for (const dir of [-1, 1]) {
    for (let i = i0 + dir; i >= 0 && i < cells.length; i += dir) {
      const c = cells[i];
      if (Math.abs(c.x - x0) > model.half + 1e-9) break;
      if (!finished(c)) break; // every seed diverged: the wall
      if (c.y - cells[i0].y > CLIFF) break; // over the cliff: no longer the basin
      used.push(c);
    }
  }
  // Against a wall the window may hold too few LRs: widen it on the open side to 3.
  for (const dir of [-1, 1]) {
    let i = dir < 0
      ? Math.min(...used.map((c) => cells.indexOf(c))) - 1
      : Math.max(...used.map((c) => cells.indexOf(c))) + 1;
    while (used.length < 3 && finished(cells[i])) {
      used.push(cells[i]);
      i += dir;
    }
  }
  if (used.length < 3) return null;
  let name = model.name;
  if (name === "cubic" && used.length < 5) name = "quadratic";
  if (name === "two-sided" && used.length < 4) name = "quadratic";
  const k = name === "cubic" ? 3 : name === "two-sided" ? 3 : 2;
  used.sort((a, b) => a.x - b.x);
  const xs = used.map((c) => c.x), ys = used.map((c) => c.y), ws = used.map((c) => 1 / c.var);
  // The minimum lies within a grid step of the arg-min (half a step towards a wall that diverged for all seeds).
  const lo = x0 - (wall(cells[i0 - 1]) ? s.h / 2 : s.h), hi = x0 + (wall(cells[i0 + 1]) ? s.h / 2 : s.h);
  const m = new Float64Array(TABLE + 1), chi2 = new Float64Array(TABLE + 1);
  for (let i = 0; i <= TABLE; i++) {
    m[i] = lo + (hi - lo) * i / TABLE;
    chi2[i] = localAt(name, xs, ys, ws, m[i]).chi2;
  }
  return { m, chi2, used, k, model: name, i0 };
}

/** The m where a profile's chi^2 is least (the scale's own optimum under that model), refined by a parabola. */
export function ownMinimum(p: Profile): number {
  let j = 0;
  for (let k = 1; k < p.chi2.length; k++) if (p.chi2[k] < p.chi2[j]) j = k;
  if (j === 0 || j === p.chi2.length - 1) return p.m[j];
  const [a, b, c] = [p.chi2[j - 1], p.chi2[j], p.chi2[j + 1]], den = a - 2 * b + c;
  return den > 0 ? p.m[j] + 0.5 * (a - c) / den * (p.m[1] - p.m[0]) : p.m[j];
}

/** chi^2 of a profile at m, a Catmull-Rom spline between table points; a steep penalty outside its range. */
export function profileAt(p: Profile, m: number): number {
  const n = p.m.length - 1, lo = p.m[0], hi = p.m[n];
  if (m <= lo) return p.chi2[0] + 1e4 * (lo - m) ** 2 + 1e-6;
  if (m >= hi) return p.chi2[n] + 1e4 * (m - hi) ** 2 + 1e-6;
  const f = (m - lo) / (hi - lo) * n, i = Math.min(n - 1, Math.floor(f)), r = f - i;
  const y0 = p.chi2[Math.max(0, i - 1)], y1 = p.chi2[i], y2 = p.chi2[i + 1], y3 = p.chi2[Math.min(n, i + 2)];
  return y1 + 0.5 * r * (y2 - y0 + r * (2 * y0 - 5 * y1 + 4 * y2 - y3 + r * (3 * (y1 - y2) + y3 - y0)));
}
