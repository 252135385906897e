/**
 * The bracket-and-refine rule of one group of an LR search (./lr_search.ts):
 * from the finished LRs of a group (lattice point -> seed-mean loss) and its
 * centre, what to run next. LRs lie on the lattice log2 eta = lo + k *
 * resolution of the search's `range`:
 *
 * 1. coarse: `start_points` LRs `start_step` apart around the centre;
 * 2. extend: while the lowest seed-mean loss is at an edge of what has run,
 *    add the next LR `start_step` beyond it on that side; at the end of
 *    `range` stop and flag the optimum as a range edge;
 * 3. refine: once bracketed (a worse or diverged LR on both sides), add the
 *    nearest unrun lattice LR on each side of the basin (the run of finished,
 *    stable lattice LRs around the minimum) until it holds `basin_points`
 *    LRs, or both walls are diverged (or the range's ends).
 *
 * A pure function of its inputs, so a replay of the search gives the same plan.
 */
import type { TrialResult } from "../train/result.ts";

/** One finished LR of a group: the seed-mean loss over its ok seeds, as the analysis computes it. */
export interface LrPoint {
  /** Mean final val loss over the seeds that finished ok (NaN when none did). */
  loss: number;
  /** Seeds that finished ok. */
  n_ok: number;
  /** Seeds that diverged. */
  n_diverged: number;
  /** Seeds that failed. */
  n_failed: number;
  /** Some seed ok and none diverged: it may be the optimum. */
  candidate: boolean;
}

/** What the search does next for a group. */
export interface SearchStep {
  /** coarse (the first LRs), extend (the best is at an edge), refine (bracketed, filling the basin), done. */
  phase: "coarse" | "extend" | "refine" | "done";
  /** Lattice points to run in the next wave. */
  next: number[];
  /** Lattice point of the lowest seed-mean loss (null before any stable LR). */
  best: number | null;
  /** A worse or diverged LR has run on both sides of `best`. */
  bracketed: boolean;
  /** The optimum sits at an end of `range`: only a bound. */
  range_edge: "low" | "high" | null;
  /** Finished stable LRs at resolution spacing around `best`. */
  basin: number;
  /** Why the group stopped (when done). */
  why: string;
}

/** Sizes a search step needs. */
export interface StepSizes {
  /** Lattice size. */
  n: number;
  /** start_step in lattice units. */
  step: number;
  /** Coarse LRs per group. */
  start_points: number;
  /** Stable LRs around the minimum before a group stops. */
  basin_points: number;
}

/** The coarse start: `start_points` lattice points `step` apart around `center`, shifted inside the range. */
export function coarsePoints(center: number, s: StepSizes): number[] {
  const span = s.step * (s.start_points - 1);
  let first = center - s.step * Math.floor((s.start_points - 1) / 2);
  first = Math.max(0, Math.min(first, s.n - 1 - span));
  const out: number[] = [];
  for (let j = 0; j < s.start_points; j++) {
    const k = first + j * s.step;
    if (k >= 0 && k < s.n) out.push(k);
  }
  return out;
}

/**
 * The next step of one group's search from its finished LRs (lattice point ->
 * outcome) and its centre: a pure function, so replaying it gives the same plan.
 *
 * @example
 * ```ts
 * const pts = new Map([[3, p(5.1)], [5, p(4.9)], [7, p(5.0)]]); // bracketed at 5
 * searchStep(pts, 5, { n: 21, step: 2, start_points: 3, basin_points: 5 }).next; // [4, 6]
 * ```
 */
export function searchStep(points: Map<number, LrPoint>, center: number, s: StepSizes): SearchStep {
  const step = (o: Partial<SearchStep>): SearchStep => ({
    phase: "done",
    next: [],
    best: null,
    bracketed: false,
    range_edge: null,
    basin: 0,
    why: "",
    ...o,
  });
  if (!points.size) return step({ phase: "coarse", next: coarsePoints(center, s) });
  const run = [...points.keys()].sort((a, b) => a - b);
  let best: number | null = null;
  for (const k of run) {
    const p = points.get(k)!;
    if (p.candidate && (best === null || p.loss < points.get(best)!.loss)) best = k;
  }
  if (best === null) {
    // Every LR that ran diverged or failed: look lower.
    if (run[0] === 0) return step({ range_edge: "low", why: "no stable LR in range" });
    return step({ phase: "extend", next: [Math.max(0, run[0] - s.step)] });
  }
  const below = run[0] < best, above = run[run.length - 1] > best;
  if (!below && best === 0) return step({ best, range_edge: "low", why: "optimum at the low end of range" });
  if (!above && best === s.n - 1) {
    return step({ best, range_edge: "high", why: "optimum at the high end of range" });
  }
  if (!below || !above) {
    const next: number[] = [];
    if (!below) next.push(Math.max(0, best - s.step));
    if (!above) next.push(Math.min(s.n - 1, best + s.step));
    return step({ phase: "extend", next, best });
  }
  // Bracketed: grow the basin (consecutive stable lattice LRs around best) one LR per side per wave.
  const stable = (k: number) => points.get(k)?.candidate === true;
  let lo = best, hi = best;
  while (stable(lo - 1)) lo--;
  while (stable(hi + 1)) hi++;
  const basin = hi - lo + 1;
  if (basin >= s.basin_points) return step({ best, bracketed: true, basin, why: "basin_points reached" });
  const next = [lo - 1, hi + 1].filter((k) => k >= 0 && k < s.n && !points.has(k));
  if (!next.length) return step({ best, bracketed: true, basin, why: "walls diverged" });
  return step({ phase: "refine", next, best, bracketed: true, basin });
}

/** Folds the seeds' results at one LR into a point (ok with a non-finite loss counts as diverged). */
export function lrPoint(results: TrialResult[]): LrPoint {
  let sum = 0, n_ok = 0, n_diverged = 0, n_failed = 0;
  for (const r of results) {
    const loss = r.final_val_loss;
    if (r.status === "ok" && loss !== null && Number.isFinite(loss)) {
      sum += loss;
      n_ok++;
    } else if (r.status === "failed") n_failed++;
    else n_diverged++;
  }
  return {
    loss: n_ok ? sum / n_ok : NaN,
    n_ok,
    n_diverged,
    n_failed,
    candidate: n_ok > 0 && n_diverged === 0,
  };
}
