/**
 * The stopping rule of a sequential LR search (`lr_search: {until_decided: ...}`):
 * after the bracket-and-refine search (./lr_search.ts), keep adding trials
 * until every family's verdict on its slope is decided, or the compute budget
 * stated in the pipeline is spent.
 *
 *   until_decided: {budget: {dense: 1}, tolerance: 0.1, level: 0.95}
 *
 * - The answer comes from an estimator (`SlopeEstimator`: finished results ->
 *   per family the slope b of log2 eta* = b0 + b log2 scale, its interval
 *   [lo, hi] at `level`, and the verdict), by default the analysis library's
 *   (./answer_estimator.ts). The rule only reads the interval.
 * - Decided: the interval lies inside the band [-t, t] ("transfers") or wholly
 *   beyond it ("drifts"): the analysis's own three-way verdict (engine/analysis/
 *   fit.ts `judge`), so the search stops exactly when the report would say it.
 * - Budget: `flops` (trial steps x model FLOPs per step, ./compute.ts),
 *   `trial_hours` (the trials' wall time) or `dense` (a fraction of the FLOPs a
 *   dense grid at `resolution` over `range` with the pipeline's seeds costs).
 *   The bracketing's trials count against it; a wave that would overrun it is
 *   not started.
 * - When the budget is spent, the trials still needed are estimated from the
 *   interval's half-width h and the half-width h* that would decide at the
 *   current slope, h* = | t - |b| |: an interval shrinks as 1/sqrt(n) with the
 *   n trials near the optima, so about n ((h / h*)^2 - 1) more.
 *
 * Planning where the trials go is ./answer_plan.ts; running the rounds
 * ./answer_rounds.ts; the words for --status and the report are
 * ./answer_render.ts.
 */
import { z } from "zod";
import type { ResultRow } from "./results.ts";

/** The `until_decided:` options of an `lr_search:`. */
export const UntilDecidedSchema = z.object({
  /** Half-width t of the band [-t, t] inside which a slope "transfers". */
  tolerance: z.number().positive().default(0.1),
  /** Confidence level of the slope interval. */
  level: z.number().gt(0).lt(1).default(0.95),
  /** The compute the whole search may spend: exactly one of flops, trial_hours, dense (a fraction of the dense grid's FLOPs). */
  budget: z.object({
    flops: z.number().positive().optional(),
    trial_hours: z.number().positive().optional(),
    dense: z.number().positive().optional(),
  }).strict().refine(
    (b) => Object.values(b).filter((v) => v !== undefined).length === 1,
    "give exactly one of flops, trial_hours, dense",
  ),
  /** How many of the finished stable LRs nearest a group's optimum a new seed runs at. */
  seed_points: z.number().int().min(1).default(3),
  /**
   * Actions (a group's half-steps, or one new seed) per wave and family, at least, the best gain per trial
   * first; more while the interval is far from deciding (a quarter of the trials it still needs, at most as many
   * trials as ran near the optima, so the waves at most double the data and the last ones stay small).
   */
  actions_per_wave: z.number().int().positive().default(2),
}).strict();

/** The resolved `until_decided:` options. */
export type UntilDecided = z.infer<typeof UntilDecidedSchema>;

/** The three verdicts (as in engine/analysis/fit.ts). */
export type Verdict = "transfers" | "drifts" | "inconclusive";

/** One group's optimum as the estimator sees it: what the planner needs to weigh the groups. */
export interface GroupEstimate {
  /** The group's value on the scale axis. */
  scale: number;
  /** log2 eta*. */
  log2_eta: number;
  /** Its standard uncertainty (octaves); NaN when not known (the planner then takes 1 / trials near eta*). */
  se: number;
  /** The part of `se` that more seeds do not shrink (resolution, basin model); 0 when not known. */
  se_floor?: number;
}

/** An estimator's answer for one family. */
export interface FamilyAnswer {
  family: string;
  /** Slope b: eta* proportional to scale^b (NaN when none could be fitted). */
  slope: number;
  /** The interval of b at the level asked for (NaN when there is none). */
  lo: number;
  hi: number;
  verdict: Verdict;
  /** Why, in words (the estimator's reason). */
  reason: string;
  /** The groups' optima, when the estimator has them; without them the planner weighs groups by leverage and cost. */
  groups?: GroupEstimate[];
}

/** What an estimator is asked. */
export interface EstimatorOptions {
  /** Family axes. */
  by: string[];
  /** The scale axis (one). */
  scale: string;
  tolerance: number;
  level: number;
}

/** Finished results (results.csv rows) -> one answer per family. */
export type SlopeEstimator = (rows: ResultRow[], o: EstimatorOptions) => FamilyAnswer[];

/** Compute spent or allowed: FLOPs and trial-hours. */
export interface Compute {
  flops: number;
  hours: number;
}

/** Where one family's question stands after a round of the search. */
export interface FamilyDecision {
  family: string;
  /**
   * decided: the verdict is known; budget spent: it is not and no more trials fit; stopped: no trial would
   * shrink the interval (see `reason`); undecided: trials are planned.
   */
  state: "decided" | "budget spent" | "stopped" | "undecided";
  verdict: Verdict;
  slope: number;
  lo: number;
  hi: number;
  reason: string;
  /** Trials of the family finished so far, and their compute. */
  trials: number;
  flops: number;
  hours: number;
  /** Finished trials near the optima (within one `resolution` step of each group's eta*). */
  near: number;
  /** About how many more trials near eta* would decide (null: decided, no interval, or the slope sits on the band's edge). */
  more: number | null;
}

/** The budget of a search in FLOPs or trial-hours (whichever the pipeline states). */
export function budgetOf(o: UntilDecided, denseFlops: number): Compute {
  const b = o.budget;
  return {
    flops: b.flops ?? (b.dense !== undefined ? b.dense * denseFlops : Infinity),
    hours: b.trial_hours ?? Infinity,
  };
}

/** The verdict is known: the interval is inside the band or wholly beyond it. */
export function isDecided(a: Pick<FamilyAnswer, "verdict">): boolean {
  return a.verdict === "transfers" || a.verdict === "drifts";
}

/**
 * About how many more trials near eta* would decide, from n trials near it
 * now: the half-width h = (hi - lo) / 2 must shrink to h* = | t - |b| |, and
 * shrinks as 1 / sqrt(n), so n ((h / h*)^2 - 1). Null when decided, without an
 * interval, or when |b| is within 0.01 of t (no number of trials separates it
 * from the band's edge).
 *
 * @example
 * ```ts
 * moreTrials({ slope: 0, lo: -0.135, hi: 0.135, verdict: "inconclusive" }, 0.1, 40); // 33
 * ```
 */
export function moreTrials(
  a: Pick<FamilyAnswer, "slope" | "lo" | "hi" | "verdict">,
  tolerance: number,
  near: number,
): number | null {
  if (isDecided(a) || !Number.isFinite(a.lo) || !Number.isFinite(a.hi) || !Number.isFinite(a.slope)) {
    return null;
  }
  const h = (a.hi - a.lo) / 2, target = Math.abs(tolerance - Math.abs(a.slope));
  if (target < 0.01) return null;
  return Math.max(1, Math.ceil(Math.max(1, near) * ((h / target) ** 2 - 1)));
}

/** One extra trial of the sequential search, as search.json records it (a resume replays these). */
export interface ExtraTrial {
  group: string;
  log2_lr: number;
  seed: number;
}

/** One round of the sequential search: where each family stood, and the trials it added. */
export interface AnswerRound {
  /** The wave its trials ran in (the bracketing's waves come first). */
  wave: number;
  families: FamilyDecision[];
  trials: ExtraTrial[];
}

/** The sequential search in search.json: every round's decisions and why it stopped. */
export interface AnswerReport {
  tolerance: number;
  level: number;
  /** The budget as stated ("dense: 1") and in FLOPs / trial-hours (Infinity where not limited). */
  budget_stated: string;
  budget: Compute;
  /** Compute of every finished trial of the search, bracketing included. */
  spent: Compute;
  /** running: trials are out; decided: every family is; budget spent: some family is not and no wave fits. */
  state: "running" | "decided" | "budget spent" | "stopped";
  /** Why it stopped (or what it waits for), in words. */
  stop: string;
  /** Where each family stands now (the last round's decisions). */
  families: FamilyDecision[];
  rounds: AnswerRound[];
}

/** "dense: 1" / "flops: 2.00e+15" / "trial_hours: 3". */
export function budgetText(o: UntilDecided): string {
  const [k, v] = Object.entries(o.budget).find(([, v]) => v !== undefined)!;
  return `${k}: ${k === "flops" ? (v as number).toExponential(2) : v}`;
}

/**
 * An estimator that remembers its answers by the finished trials it was given: the plan of a sequential search
 * is replayed from the start after every wave, so without it each wave would re-estimate every earlier round.
 *
 * @example
 * ```ts
 * const estimate = memoEstimator(jointEstimator); // one per sweep, kept across plans
 * ```
 */
export function memoEstimator(est: SlopeEstimator): SlopeEstimator {
  const memo = new Map<string, FamilyAnswer[]>();
  return (rows, o) => {
    const key = rows.map((r) => String(r.trial_id)).sort().join(",") + JSON.stringify(o);
    let a = memo.get(key);
    if (!a) memo.set(key, a = est(rows, o));
    return a;
  };
}
