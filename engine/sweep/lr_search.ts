/**
 * Bracket-and-refine learning-rate search: the `lr_search:` of a sweep, an
 * alternative to an `optimizer.lr` grid axis that spends trials where the
 * optimum is.
 *
 *   lr_search: {mode: bracket, range: {log2: [-12, -2]}, start_step: 1, resolution: 0.5,
 *               basin_points: 5, center: predict}
 *
 * Per group (every other axis fixed, all seeds together), LRs lie on the
 * lattice log2 eta = lo + k * resolution of `range`:
 *
 * 1. coarse: `start_points` LRs `start_step` apart around the centre;
 * 2. extend: while the lowest seed-mean loss is at an edge of what has run,
 *    add the next LR `start_step` beyond it on that side; at the end of
 *    `range` stop and flag the optimum as a range edge;
 * 3. refine: once bracketed (a worse or diverged LR on both sides), add the
 *    nearest unrun lattice LR on each side of the basin (the run of finished,
 *    stable lattice LRs around the minimum) until it holds `basin_points`
 *    LRs, or both walls are diverged (or the range's ends);
 * 4. until decided (`until_decided:`, optional): once every group is done,
 *    rounds of trials where they shrink each family's slope interval most,
 *    until every verdict is decided or the budget is spent (the rule
 *    ./answer.ts, the planning ./answer_plan.ts, the words ./answer_render.ts;
 *    `untilDecided` below runs the rounds).
 *
 * The centre: `center: <lr>` a given LR; otherwise the first scale of a
 * family starts at the base config's `optimizer.lr`, and a larger one waits
 * for the smaller ones and starts at the eta* of the family's smallest scale
 * (`base`) or at the eta* that the analysis library's fit of the finished
 * scales predicts for it (`predict`: optimalLR -> fitScaling -> predictLR).
 *
 * The plan is a pure function of the finished results: `planSearch` replays
 * the waves from the start (wave w+1 = f(results of waves 0..w)) and stops at
 * the first wave with unfinished trials, so a killed sweep resumes to the
 * same trials, with the same indices in trials.json.
 */
import * as aq from "arquero";
import { z } from "zod";
import { checkTrial, getPath, trialDirName, trialId } from "../core/config.ts";
import { DmodelError } from "../core/errors.ts";
import { fitScaling, optimalLR, predictLR, SCALE_CANDIDATES } from "../analysis/mod.ts";
import type { TrialResult } from "../train/result.ts";
import { fmtFlops, trialFlops } from "./compute.ts";
import { type PlannedTrial, trialCost } from "./grid.ts";
import { resultRow } from "./results.ts";
import { readJSON } from "../core/fs.ts";
import {
  type AnswerReport,
  type AnswerRound,
  budgetOf,
  budgetText,
  type Compute,
  type FamilyAnswer,
  type FamilyDecision,
  isDecided,
  moreTrials,
  type SlopeEstimator,
  UntilDecidedSchema,
} from "./answer.ts";
import { jointEstimator } from "./answer_estimator.ts";
import { answerParagraphs, answerStatusLines } from "./answer_render.ts";
import {
  type HalfLattice,
  nearCount,
  type PlanAction,
  planFamilyWave,
  type PlanGroup,
} from "./answer_plan.ts";

const EPS = 1e-9;
const isMultiple = (a: number, b: number) => Math.abs(a / b - Math.round(a / b)) < EPS;

/** The `lr_search:` options of a sweep stage. */
export const LrSearchSchema = z.object({
  mode: z.literal("bracket").default("bracket"),
  /** The LRs the search may try: 2^lo .. 2^hi. */
  range: z.object({ log2: z.tuple([z.number(), z.number()]) }).strict(),
  /** Spacing (log2) of the coarse LRs and of the extension steps. */
  start_step: z.number().positive().default(1),
  /** How many coarse LRs to start a group with. */
  start_points: z.number().int().positive().default(3),
  /** Spacing (log2) of the refinement: the lattice every LR lies on. */
  resolution: z.number().positive().default(0.5),
  /** Finished stable LRs at `resolution` spacing around the minimum before a group stops. */
  basin_points: z.number().int().min(3).default(5),
  /** Where a group starts: `predict` (the fitted law), `base` (the smallest scale's eta*) or an LR. */
  center: z.union([z.enum(["predict", "base"]), z.number().positive()]).default("predict"),
  /** The scale axes (grid or zip paths); default: the axes among model.width, model.depth, train.steps, ... */
  scale: z.array(z.string()).min(1).optional(),
  /** After bracketing, add trials until every family's verdict is decided or the budget is spent (./answer.ts). */
  until_decided: UntilDecidedSchema.optional(),
}).strict().superRefine((o, ctx) => {
  const [lo, hi] = o.range.log2;
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: "custom", path, message });
  if (!(lo < hi)) issue(["range", "log2"], `[${lo}, ${hi}]: the low end must be below the high end`);
  else if (!isMultiple(hi - lo, o.resolution)) {
    issue(
      ["range", "log2"],
      `[${lo}, ${hi}]: the span ${hi - lo} must be a multiple of resolution ${o.resolution}`,
    );
  }
  if (!isMultiple(o.start_step, o.resolution)) {
    issue(["start_step"], `${o.start_step} must be a multiple of resolution ${o.resolution}`);
  }
  if (typeof o.center === "number") {
    const x = Math.log2(o.center);
    if (x < lo - EPS || x > hi + EPS) {
      issue(["center"], `${o.center} (2^${x.toFixed(2)}) is outside range 2^${lo}..2^${hi}`);
    }
  }
  if (o.until_decided && o.scale && o.scale.length !== 1) {
    issue(["until_decided"], `needs one scale axis, got ${o.scale.length} (${o.scale.join(", ")})`);
  }
});

/** The resolved `lr_search:` options. */
export type LrSearchOptions = z.infer<typeof LrSearchSchema>;

/** The LR lattice of a search: log2 eta_k = lo + k * resolution, k = 0 .. n - 1. */
export class Lattice {
  readonly lo: number;
  readonly res: number;
  /** Number of lattice LRs (the dense grid's size). */
  readonly n: number;
  /** start_step in lattice units. */
  readonly step: number;
  constructor(o: LrSearchOptions) {
    [this.lo] = o.range.log2;
    this.res = o.resolution;
    this.n = Math.round((o.range.log2[1] - this.lo) / this.res) + 1;
    this.step = Math.round(o.start_step / this.res);
  }
  log2(k: number): number {
    return this.lo + k * this.res;
  }
  /** The LR of lattice point k, computed as a log2 grid axis computes it (so the trials match a dense grid's). */
  lr(k: number): number {
    return Math.pow(2, this.lo + k * this.res);
  }
  /** The nearest lattice point to log2 eta, inside the range. */
  index(log2: number): number {
    return Math.min(this.n - 1, Math.max(0, Math.round((log2 - this.lo) / this.res)));
  }
}

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

/** A group of the search: one grid point without LR, its trials (one per seed) at the base LR. */
export interface SearchGroup {
  /** "model.width=32, parameterization.name=ngpt". */
  label: string;
  /** Values of the family axes joined by "/" ("all" without any). */
  family: string;
  /** Values of the scale axes. */
  scale: Record<string, number>;
  /** One template trial per seed (the base config's LR). */
  seeds: PlannedTrial[];
  /** Relative cost of one trial: scales run smallest first. */
  cost: number;
}

/** The scale axes of a sweep: the given ones, or the grid / zip paths among the usual scale columns. */
export function scaleAxes(axes: string[], given?: string[]): string[] {
  return given ?? SCALE_CANDIDATES.filter((c) => axes.includes(c));
}

/** An axis value in a group label: objects (a zipped `model: {...}`) as JSON, so distinct ones stay apart. */
const axisValue = (v: unknown) => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));

/** Groups the LR-less expansion of a sweep (base x grid x zip x seeds) by everything but the seed. */
export function searchGroups(templates: PlannedTrial[], scale: string[]): SearchGroup[] {
  const groups = new Map<string, SearchGroup>();
  for (const t of templates) {
    const keys = Object.entries(t.point).filter(([k]) => k !== "train.seed").sort(([a], [b]) =>
      a.localeCompare(b)
    );
    const label = keys.map(([k, v]) => `${k}=${axisValue(v)}`).join(", ") || "all";
    let g = groups.get(label);
    if (!g) {
      const fam = keys.filter(([k]) => !scale.includes(k)).map(([, v]) => axisValue(v));
      g = {
        label,
        family: fam.join("/") || "all",
        scale: Object.fromEntries(scale.map((a) => [a, Number(getPath(t.config, a.split(".")))])),
        seeds: [],
        cost: trialCost(t.config),
      };
      groups.set(label, g);
    }
    g.seeds.push(t);
  }
  return [...groups.values()];
}

/**
 * The trial of a template at another LR (the same config a dense `optimizer.lr` axis would make), and with
 * another seed when `seed` is given (the sequential search's extra seeds).
 */
export function lrTrial(tpl: PlannedTrial, lr: number, index: number, seed?: number): PlannedTrial {
  // A replay asks for the same trials again and again: resolve each (template, LR, seed) once.
  let memo = lrTrialMemo.get(tpl);
  if (!memo) lrTrialMemo.set(tpl, memo = new Map());
  const key = `${lr}/${seed ?? ""}`;
  const known = memo.get(key);
  if (known) return { ...known, index };
  const made = makeLrTrial(tpl, lr, index, seed);
  memo.set(key, made);
  return made;
}

const lrTrialMemo = new WeakMap<PlannedTrial, Map<string, PlannedTrial>>();

function makeLrTrial(tpl: PlannedTrial, lr: number, index: number, seed?: number): PlannedTrial {
  const raw = structuredClone(tpl.config) as unknown as {
    optimizer: { lr: number };
    train: { seed: number };
  };
  raw.optimizer.lr = lr;
  if (seed !== undefined) raw.train.seed = seed;
  const r = checkTrial(raw);
  if (!r.trial) throw new DmodelError(`lr_search: lr ${lr} makes an invalid trial: ${r.issues[0]?.message}`);
  const id = trialId(r.trial);
  return {
    index,
    id,
    dir: trialDirName(r.trial, id),
    point: { ...tpl.point, "optimizer.lr": lr, ...(seed !== undefined ? { "train.seed": seed } : {}) },
    config: r.trial,
  };
}

/** Where one group stands, for --status, search.json and the report. */
export interface GroupReport {
  group: string;
  family: string;
  scale: Record<string, number>;
  state: "waiting" | "running" | "done";
  phase: SearchStep["phase"] | "waiting";
  /** LRs with every seed finished. */
  lrs_run: number;
  /** LRs planned so far (run or running). */
  lrs_planned: number;
  trials: number;
  center_lr: number | null;
  /** How the centre was chosen. */
  center_from: string;
  best_lr: number | null;
  bracketed: boolean;
  range_edge: "low" | "high" | null;
  basin: number;
  why: string;
  /** FLOPs of the finished trials (steps run x model FLOPs per step). */
  flops: number;
  /** FLOPs of the dense grid at `resolution` over `range` (the LRs that ran at their cost, the rest at full steps). */
  dense_flops: number;
  dense_trials: number;
}

/** The plan of an adaptive sweep at this point of its finished results. */
export interface SearchPlan {
  /** Every trial planned so far, by index (trials.json). */
  trials: PlannedTrial[];
  /** The unfinished trials of the current wave (empty when the search is over). */
  todo: PlannedTrial[];
  /** Waves planned (the current one included). */
  waves: number;
  done: boolean;
  groups: GroupReport[];
  flops: number;
  dense_flops: number;
  dense_trials: number;
  /** The sequential search after bracketing (`until_decided`): each round's decisions and the stop reason. */
  answer?: AnswerReport;
}

/** What planSearch needs besides the options and groups. */
export interface PlanContext {
  /** Family axes (grid / zip paths that are not scale axes), for the analysis. */
  by: string[];
  scale: string[];
  /** The finished result of a trial, or null (not run, running, or to be run again). */
  result: (t: PlannedTrial) => Promise<TrialResult | null>;
  /**
   * Centres chosen by an earlier run of this search (group label -> LR, from search.json): reused, so that
   * a resume after an update of the analysis library's estimator still replays the same trials.
   */
  centers?: Map<string, { lr: number; from: string }>;
  /**
   * The sequential search's rounds recorded by an earlier run with these options (search.json): their trials
   * are replayed as recorded, so a resume after an update of the estimator runs the same trials.
   */
  rounds?: AnswerRound[];
  /** The slope estimator of `until_decided` (default: the analysis library's, ./answer_estimator.ts). */
  estimate?: SlopeEstimator;
}

interface GroupState {
  g: SearchGroup;
  center: number | null;
  center_from: string;
  /** Lattice point -> the seeds' trials. */
  planned: Map<number, PlannedTrial[]>;
  points: Map<number, LrPoint>;
  results: Map<string, TrialResult>;
  step: SearchStep | null;
  done: boolean;
  /** The sequential search's trials (half-lattice index h: log2 eta = lo + h resolution / 2). */
  extra: { h: number; seed: number; trial: PlannedTrial }[];
}

/** eta* of each finished group of a family, and the family's fitted law, from the analysis library. */
function familyOptima(states: GroupState[], ctx: PlanContext) {
  const rows = states.flatMap((s) =>
    [...s.planned.values()].flat().map((t) => resultRow(t, s.results.get(t.id)!))
  );
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const table = aq.table(Object.fromEntries(columns.map((c) => [c, rows.map((r) => r[c] ?? null)])));
  // No bootstrap: only the point estimates centre the search (the analysis of the sweep gives the intervals).
  const opts = { by: ctx.by, scale: ctx.scale, resamples: 0 };
  const optima = optimalLR(table, opts);
  return { optima, fit: fitScaling(optima, { resamples: 0 })[0] };
}

/** The centre of a group that starts now, from the finished groups of its family (cheapest first). */
function chooseCenter(
  o: LrSearchOptions,
  lat: Lattice,
  s: GroupState,
  finished: GroupState[],
  ctx: PlanContext,
): { center: number; from: string } {
  const at = (lr: number, from: string) => ({ center: lat.index(Math.log2(lr)), from });
  if (typeof o.center === "number") return at(o.center, "given");
  const baseLR = Number(s.g.seeds[0].config.optimizer.lr);
  if (!finished.length) return at(baseLR, "the base config's optimizer.lr (smallest scale)");
  try {
    const { optima, fit } = familyOptima(finished, ctx);
    const etaOf = (st: GroupState) =>
      optima.groups.find((q) => ctx.scale.every((a) => q.scale[a] === st.g.scale[a]))?.eta_star;
    if (o.center === "predict" && fit?.scales.length) {
      const p = predictLR(fit, s.g.scale);
      if (Number.isFinite(p.eta_star) && p.eta_star > 0) {
        return at(p.eta_star, `predict (${fit.n_groups} scales)`);
      }
    }
    const ref = o.center === "base" ? finished[0] : finished[finished.length - 1];
    const eta = etaOf(ref);
    if (eta && Number.isFinite(eta)) return at(eta, `eta* of ${ref.g.label}`);
  } catch (e) {
    if (!(e instanceof DmodelError)) throw e;
  }
  return at(baseLR, "the base config's optimizer.lr (no optimum of a smaller scale)");
}

/**
 * Replays the search from the finished results: every wave's trials, in
 * order, up to and including the first wave with unfinished trials.
 */
export async function planSearch(
  o: LrSearchOptions,
  groups: SearchGroup[],
  ctx: PlanContext,
): Promise<SearchPlan> {
  const lat = new Lattice(o);
  const sizes: StepSizes = {
    n: lat.n,
    step: lat.step,
    start_points: o.start_points,
    basin_points: o.basin_points,
  };
  // Cheapest first (stable), so a larger scale sees its family's smaller scales finish in the same pass.
  const states: GroupState[] = groups.map((g, i) => ({ g, i })).sort((a, b) =>
    a.g.cost - b.g.cost || a.i - b.i
  )
    .map(({ g }) => ({
      g,
      center: null,
      center_from: "",
      planned: new Map(),
      points: new Map(),
      results: new Map(),
      step: null,
      done: false,
      extra: [],
    }));
  const trials: PlannedTrial[] = [];
  let todo: PlannedTrial[] = [];
  let waves = 0;
  for (;;) {
    const wave: { s: GroupState; k: number; trials: PlannedTrial[] }[] = [];
    let index = trials.length;
    for (const s of states) {
      if (s.done) continue;
      const family = states.filter((q) => q.g.family === s.g.family && q.g.cost < s.g.cost);
      if (typeof o.center !== "number" && family.some((q) => !q.done)) continue; // smaller scales first
      if (s.center === null) {
        const known = ctx.centers?.get(s.g.label);
        const c = known
          ? { center: lat.index(Math.log2(known.lr)), from: known.from }
          : chooseCenter(o, lat, s, family, ctx);
        s.center = c.center, s.center_from = c.from;
      }
      s.step = searchStep(s.points, s.center, sizes);
      if (s.step.phase === "done") {
        s.done = true;
        continue;
      }
      for (const k of s.step.next) {
        const ts = s.g.seeds.map((tpl) => lrTrial(tpl, lat.lr(k), index++));
        s.planned.set(k, ts);
        wave.push({ s, k, trials: ts });
      }
    }
    if (!wave.length) break;
    waves++;
    for (const w of wave) trials.push(...w.trials);
    const unfinished: PlannedTrial[] = [];
    for (const w of wave) {
      for (const t of w.trials) {
        const r = await ctx.result(t);
        if (r) w.s.results.set(t.id, r);
        else unfinished.push(t);
      }
    }
    if (unfinished.length) {
      todo = unfinished;
      break;
    }
    for (const w of wave) w.s.points.set(w.k, lrPoint(w.trials.map((t) => w.s.results.get(t.id)!)));
  }
  let answer: AnswerReport | undefined;
  if (o.until_decided && !todo.length) {
    const r = await untilDecided(o, lat, states, ctx, trials, waves);
    answer = r.answer, todo = r.todo, waves = r.waves;
  }
  const reports = states.map((s) => groupReport(s, lat));
  return {
    trials,
    todo,
    waves,
    done: !todo.length,
    ...(answer ? { answer } : {}),
    groups: reports,
    flops: reports.reduce((a, r) => a + r.flops, 0),
    dense_flops: reports.reduce((a, r) => a + r.dense_flops, 0),
    dense_trials: reports.reduce((a, r) => a + r.dense_trials, 0),
  };
}

/** Every trial a group planned: the bracketing's, then the sequential search's. */
const groupTrials = (s: GroupState) => [...[...s.planned.values()].flat(), ...s.extra.map((e) => e.trial)];

/** Compute of the finished trials of some groups: FLOPs of the steps run, and wall time. */
function spentOf(states: GroupState[]): Compute & { trials: number } {
  let flops = 0, hours = 0, trials = 0;
  for (const s of states) {
    for (const t of groupTrials(s)) {
      const r = s.results.get(t.id);
      if (!r) continue;
      flops += trialFlops(t.config, r.steps_done), hours += (r.wall_s ?? 0) / 3600, trials++;
    }
  }
  return { flops, hours, trials };
}

/** The family of a group as the analysis names it: the values of the `by` axes, in their order, joined by "/". */
const familyOf = (s: GroupState, by: string[]) =>
  by.map((k) => String(getPath(s.g.seeds[0].config, k.split(".")))).join("/") || "all";

/** A group as the planner of the sequential search sees it (./answer_plan.ts). */
function planGroup(s: GroupState, scale: string): PlanGroup {
  const points = new Map<number, { seeds: Set<number>; ok: number; unstable: boolean }>();
  const add = (h: number, t: PlannedTrial) => {
    const p = points.get(h) ?? { seeds: new Set<number>(), ok: 0, unstable: false };
    points.set(h, p);
    p.seeds.add(t.config.train.seed);
    const r = s.results.get(t.id);
    if (!r) return;
    const loss = r.final_val_loss;
    if (r.status === "ok" && loss !== null && Number.isFinite(loss)) p.ok++;
    else p.unstable = true;
  };
  for (const [k, ts] of s.planned) for (const t of ts) add(2 * k, t);
  for (const e of s.extra) add(e.h, e.trial);
  const tpl = s.g.seeds[0].config;
  const walls = groupTrials(s).map((t) => s.results.get(t.id)).filter((r) => r?.status === "ok")
    .map((r) => r!.wall_s ?? 0);
  return {
    label: s.g.label,
    scale: s.g.scale[scale],
    cost: {
      flops: trialFlops(tpl, tpl.train.steps),
      hours: walls.length ? walls.reduce((a, b) => a + b, 0) / walls.length / 3600 : 0,
    },
    points,
    baseSeeds: s.g.seeds.map((t) => t.config.train.seed),
  };
}

/**
 * The sequential search after bracketing (./answer.ts): rounds of (estimate every family's slope interval;
 * stop a family when its verdict is decided; plan trials for the others where they shrink the interval most,
 * within the budget), one wave per round, replayed from the finished results like the bracketing.
 */
async function untilDecided(
  o: LrSearchOptions,
  lat: Lattice,
  states: GroupState[],
  ctx: PlanContext,
  trials: PlannedTrial[],
  waves0: number,
): Promise<{ answer: AnswerReport; todo: PlannedTrial[]; waves: number }> {
  const u = o.until_decided!;
  const scale = ctx.scale[0];
  const hl: HalfLattice = { lo: lat.lo, half: lat.res / 2, n: 2 * lat.n - 1 };
  // The dense grid as the report prices it (the lattice LRs that ran at their cost, the others at full steps).
  const denseFlops = states.reduce((a, s) => a + groupReport(s, lat).dense_flops, 0);
  const budget = budgetOf(u, denseFlops);
  const estimate = ctx.estimate ?? jointEstimator;
  const rounds: AnswerRound[] = [];
  let waves = waves0;
  const todo: PlannedTrial[] = [];
  let families: FamilyDecision[] = [];
  let state: AnswerReport["state"] = "running", stop = "";
  for (let round = 0;; round++) {
    const rows = states.flatMap((s) =>
      groupTrials(s).filter((t) => s.results.has(t.id)).map((t) => resultRow(t, s.results.get(t.id)!))
    );
    let answers: FamilyAnswer[] = [], failed = "";
    try {
      answers = estimate(rows, { by: ctx.by, scale, tolerance: u.tolerance, level: u.level });
    } catch (e) {
      if (!(e instanceof DmodelError)) throw e;
      failed = e.message; // e.g. too few bracketed scales: nothing to decide on, said as the stop reason
    }
    const spent = spentOf(states);
    let left: Compute = { flops: budget.flops - spent.flops, hours: budget.hours - spent.hours };
    const recorded = ctx.rounds?.[round];
    const actions = new Map<string, PlanAction[]>();
    families = answers.map((a) => {
      const fam = states.filter((s) => familyOf(s, ctx.by) === a.family);
      const groups = fam.map((s) => planGroup(s, scale));
      const near = groups.reduce((n, g) => {
        const e = a.groups?.find((q) => q.scale === g.scale);
        return n + (e ? nearCount(g, (e.log2_eta - hl.lo) / hl.half) : 0);
      }, 0);
      const c = spentOf(fam);
      const d: FamilyDecision = {
        family: a.family,
        state: isDecided(a) ? "decided" : "undecided",
        verdict: a.verdict,
        slope: a.slope,
        lo: a.lo,
        hi: a.hi,
        reason: a.reason,
        trials: c.trials,
        flops: c.flops,
        hours: c.hours,
        near,
        more: moreTrials(a, u.tolerance, near),
      };
      if (d.state === "undecided" && !recorded) {
        // A quarter of the trials the interval still needs, at most as many as ran near the optima: a long way
        // to go takes few waves (their size at most doubles the data), and the last waves stay small.
        const want = Math.min(Math.ceil((d.more ?? 0) / 4), near);
        const plan = { seedPoints: u.seed_points, perWave: u.actions_per_wave, trials: want };
        const acts = planFamilyWave(groups, a, hl, plan, left);
        if (acts.length) {
          actions.set(a.family, acts);
          for (const x of acts) left = { flops: left.flops - x.cost.flops, hours: left.hours - x.cost.hours };
        } else {
          const anyAction = planFamilyWave(groups, a, hl, { ...plan, perWave: 1, trials: 0 }, {
            flops: Infinity,
            hours: Infinity,
          }).length;
          d.state = anyAction ? "budget spent" : "stopped";
          if (!anyAction) {
            d.reason += "; no trial left that would shrink the interval (the groups' optima are limited by " +
              "the resolution or the basin model, not by noise, or none is bracketed)";
          }
        }
      }
      return d;
    });
    // The wave: the recorded trials of this round, or the planned ones.
    const specs = recorded?.trials ??
      [...actions.values()].flat().flatMap((x) =>
        x.trials.map((t) => ({ group: x.group, log2_lr: hl.lo + t.h * hl.half, seed: t.seed }))
      );
    if (recorded) {
      const planned = new Set(recorded.trials.map((t) => {
        const s = states.find((q) => q.g.label === t.group);
        return s && familyOf(s, ctx.by);
      }));
      for (const d of families) {
        if (d.state === "undecided" && !planned.has(d.family)) d.state = "budget spent";
      }
    }
    if (!specs.length) {
      const open = families.filter((d) => d.state !== "decided");
      state = failed || !answers.length
        ? "stopped"
        : !open.length
        ? "decided"
        : open.some((d) => d.state === "budget spent")
        ? "budget spent"
        : "stopped";
      stop = failed || !answers.length
        ? `the estimator gives no slope: ${failed || "no family has finished trials"}`
        : state === "decided"
        ? "every family's verdict is decided"
        : state === "budget spent"
        ? `budget spent (${budgetText(u)}): ${open.map((d) => d.family).join(", ")} undecided`
        : `no trial left to add: ${open.map((d) => `${d.family} (${d.reason})`).join("; ")}`;
      rounds.push({ wave: waves, families, trials: [] });
      break;
    }
    waves++;
    rounds.push({ wave: waves, families, trials: specs });
    const wave: { s: GroupState; trial: PlannedTrial }[] = [];
    for (const spec of specs) {
      const s = states.find((q) => q.g.label === spec.group);
      if (!s) throw new DmodelError(`lr_search: search.json names an unknown group ${spec.group}`);
      const h = Math.round((spec.log2_lr - hl.lo) / hl.half);
      const t = lrTrial(s.g.seeds[0], Math.pow(2, hl.lo + h * hl.half), trials.length, spec.seed);
      if (groupTrials(s).some((q) => q.id === t.id)) continue;
      s.extra.push({ h, seed: spec.seed, trial: t });
      trials.push(t);
      wave.push({ s, trial: t });
    }
    for (const w of wave) {
      const r = await ctx.result(w.trial);
      if (r) w.s.results.set(w.trial.id, r);
      else todo.push(w.trial);
    }
    if (todo.length) {
      stop = `waiting for wave ${waves} (${todo.length} trials)`;
      break;
    }
  }
  const spent = spentOf(states);
  return {
    answer: {
      tolerance: u.tolerance,
      level: u.level,
      budget_stated: budgetText(u),
      budget,
      spent: { flops: spent.flops, hours: spent.hours },
      state: todo.length ? "running" : state,
      stop,
      families,
      rounds,
    },
    todo,
    waves,
  };
}

function groupReport(s: GroupState, lat: Lattice): GroupReport {
  let flops = 0, dense = 0;
  const ran = new Map<string, number>(); // `${k}/${seed index}` -> FLOPs it cost
  for (const [k, ts] of s.planned) {
    ts.forEach((t, j) => {
      const r = s.results.get(t.id);
      if (!r) return;
      const f = trialFlops(t.config, r.steps_done);
      flops += f;
      ran.set(`${k}/${j}`, f);
    });
  }
  for (const e of s.extra) {
    const r = s.results.get(e.trial.id);
    if (r) flops += trialFlops(e.trial.config, r.steps_done);
  }
  for (let k = 0; k < lat.n; k++) {
    s.g.seeds.forEach((tpl, j) => {
      dense += ran.get(`${k}/${j}`) ?? trialFlops(tpl.config, tpl.config.train.steps);
    });
  }
  const step = s.step;
  return {
    group: s.g.label,
    family: s.g.family,
    scale: s.g.scale,
    state: s.done ? "done" : s.center === null ? "waiting" : "running",
    phase: s.done ? "done" : step?.phase ?? "waiting",
    lrs_run: s.points.size,
    lrs_planned: s.planned.size,
    trials: groupTrials(s).length,
    center_lr: s.center === null ? null : lat.lr(s.center),
    center_from: s.center_from,
    best_lr: step?.best != null ? lat.lr(step.best) : null,
    bracketed: step?.bracketed ?? false,
    range_edge: step?.range_edge ?? null,
    basin: step?.basin ?? 0,
    why: step?.why ?? "",
    flops,
    dense_flops: dense,
    dense_trials: lat.n * s.g.seeds.length,
  };
}

const fmtLog2 = (
  lr: number | null,
) => (lr === null ? "?" : `2^${Math.log2(lr).toFixed(2).replace(/\.?0+$/, "")}`);
const pct = (a: number, b: number) => (b > 0 ? `${(100 * a / b).toFixed(0)}%` : "?");

/** One line per group plus a total, for `deno task sweep --status` and the sweep log. */
export function searchStatusLines(p: SearchPlan): string[] {
  const lines = p.groups.map((g) => {
    const where = g.state === "waiting"
      ? "waiting for smaller scales"
      : g.range_edge
      ? `RANGE EDGE (${g.range_edge}) at ${fmtLog2(g.best_lr)}`
      : g.bracketed
      ? `bracketed at ${fmtLog2(g.best_lr)}, basin ${g.basin} LRs`
      : g.best_lr !== null
      ? `not yet bracketed (best so far ${fmtLog2(g.best_lr)})`
      : "not yet bracketed";
    const state = g.state === "done" ? `done: ${g.why}` : g.state === "running" ? `${g.phase}` : "";
    return `  ${g.group}: ${g.lrs_run} LRs run (${g.trials} trials planned), ${where}` +
      `${state ? `; ${state}` : ""}` +
      `${g.center_lr !== null ? `; started at ${fmtLog2(g.center_lr)} (${g.center_from})` : ""}`;
  });
  return [
    `lr_search: wave ${p.waves}, ${p.done ? "finished" : "running"}; compute ${fmtFlops(p.flops)}, ` +
    `a dense grid at the same resolution over the same range: ${p.dense_trials} trials, ` +
    `${fmtFlops(p.dense_flops)} (${pct(p.flops, p.dense_flops)} of it spent)`,
    ...lines,
    ...(p.answer ? answerStatusLines(p.answer) : []),
  ];
}

/** The search as a report section: compute spent against the dense grid, and one row per group. */
export function searchReportSection(p: Omit<SearchPlan, "trials" | "todo">): {
  title: string;
  paragraphs: string[];
  table: { header: string[]; rows: string[][] };
} {
  return {
    title: "LR search (bracket and refine)",
    paragraphs: [
      `${p.done ? "Finished" : "Still running"} after ${p.waves} wave(s). Compute spent: ${
        fmtFlops(p.flops)
      } ` +
      `(trial steps x model FLOPs per step); a dense grid at the same resolution over the same range ` +
      `(${p.dense_trials} trials) would cost ${fmtFlops(p.dense_flops)}: ${
        pct(p.flops, p.dense_flops)
      } of it spent.`,
      ...(p.answer ? answerParagraphs(p.answer) : []),
    ],
    table: {
      header: [
        "group",
        "LRs run",
        "trials",
        "started at",
        "from",
        "best LR",
        "bracketed",
        "basin",
        "state",
        "FLOPs",
      ],
      rows: p.groups.map((g) => [
        g.group,
        String(g.lrs_run),
        String(g.trials),
        fmtLog2(g.center_lr),
        g.center_from,
        fmtLog2(g.best_lr),
        g.range_edge ? `range edge (${g.range_edge})` : g.bracketed ? "yes" : "no",
        String(g.basin),
        g.state === "done" ? `done: ${g.why}` : g.state,
        g.flops.toExponential(2),
      ]),
    },
  };
}

/** The report sections of a sweep directory: the LR search's, when it has a search.json (none otherwise). */
export async function searchSections(dir: string): Promise<ReturnType<typeof searchReportSection>[]> {
  const search = await readJSON<Omit<SearchPlan, "trials" | "todo">>(`${dir}/search.json`).catch(() => null);
  return search ? [searchReportSection(search)] : [];
}
