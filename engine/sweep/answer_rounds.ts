/**
 * The rounds of the sequential search (`until_decided:`, ./answer.ts) after
 * the bracketing of an LR search (./lr_search.ts): each round estimates every
 * family's slope interval from the finished trials, stops the families whose
 * verdict is decided, and plans one wave of trials for the others where they
 * shrink the interval most (./answer_plan.ts), within the budget. Like the
 * bracketing, the rounds are replayed from the finished results after every
 * wave, and a resume replays the rounds recorded in search.json as they were
 * planned.
 */
import { DmodelError } from "../core/errors.ts";
import type { TrialResult } from "../train/result.ts";
import {
  type AnswerReport,
  type AnswerRound,
  budgetOf,
  budgetText,
  type Compute,
  type ExtraTrial,
  type FamilyAnswer,
  type FamilyDecision,
  isDecided,
  moreTrials,
  type SlopeEstimator,
  type UntilDecided,
} from "./answer.ts";
import { jointEstimator } from "./answer_estimator.ts";
import {
  type HalfLattice,
  nearCount,
  type PlanAction,
  planFamilyWave,
  type PlanGroup,
} from "./answer_plan.ts";
import type { PlannedTrial } from "./grid.ts";
import { lrTrial } from "./lr_search_groups.ts";
import type { Lattice } from "./lr_search_options.ts";
import {
  familyOf,
  groupReport,
  type GroupState,
  groupTrials,
  planGroup,
  spentOf,
} from "./lr_search_state.ts";
import { resultRow } from "./results.ts";

/** What the rounds need of the search's context (./lr_search.ts `PlanContext`). */
export interface RoundContext {
  /** Family axes (grid / zip paths that are not scale axes), for the analysis. */
  by: string[];
  /** The scale axes (the rounds need exactly one). */
  scale: string[];
  /** The finished result of a trial, or null (not run, running, or to be run again). */
  result: (t: PlannedTrial) => Promise<TrialResult | null>;
  /**
   * The sequential search's rounds recorded by an earlier run with these options (search.json): their trials
   * are replayed as recorded, so a resume after an update of the estimator runs the same trials.
   */
  rounds?: AnswerRound[];
  /** The slope estimator of `until_decided` (default: the analysis library's, ./answer_estimator.ts). */
  estimate?: SlopeEstimator;
}

/** The fixed parts of one search's rounds. */
interface Rounds {
  u: UntilDecided;
  scale: string;
  hl: HalfLattice;
  states: GroupState[];
  ctx: RoundContext;
}

/** Every family's answer from the finished trials, or why the estimator gave none. */
function estimateAll(r: Rounds): { answers: FamilyAnswer[]; failed: string } {
  const rows = r.states.flatMap((s) =>
    groupTrials(s).filter((t) => s.results.has(t.id)).map((t) => resultRow(t, s.results.get(t.id)!))
  );
  const estimate = r.ctx.estimate ?? jointEstimator;
  try {
    const o = { by: r.ctx.by, scale: r.scale, tolerance: r.u.tolerance, level: r.u.level };
    return { answers: estimate(rows, o), failed: "" };
  } catch (e) {
    if (!(e instanceof DmodelError)) throw e;
    // e.g. too few bracketed scales: nothing to decide on, said as the stop reason
    return { answers: [], failed: e.message };
  }
}

/** Where a family stands: its interval, its trials and compute, and the trials near its optima. */
function familyDecision(r: Rounds, a: FamilyAnswer, fam: GroupState[], groups: PlanGroup[]): FamilyDecision {
  const near = groups.reduce((n, g) => {
    const e = a.groups?.find((q) => q.scale === g.scale);
    return n + (e ? nearCount(g, (e.log2_eta - r.hl.lo) / r.hl.half) : 0);
  }, 0);
  const c = spentOf(fam);
  return {
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
    more: moreTrials(a, r.u.tolerance, near),
  };
}

/**
 * The next wave's actions for an undecided family within `left`; none marks it "budget spent" (an action
 * exists but does not fit) or "stopped" (no action would shrink the interval).
 */
function planFamily(
  r: Rounds,
  d: FamilyDecision,
  a: FamilyAnswer,
  groups: PlanGroup[],
  left: Compute,
): PlanAction[] {
  // A quarter of the trials the interval still needs, at most as many as ran near the optima: a long way
  // to go takes few waves (their size at most doubles the data), and the last waves stay small.
  const want = Math.min(Math.ceil((d.more ?? 0) / 4), d.near);
  const plan = { seedPoints: r.u.seed_points, perWave: r.u.actions_per_wave, trials: want };
  const acts = planFamilyWave(groups, a, r.hl, plan, left);
  if (acts.length) return acts;
  const unlimited = { flops: Infinity, hours: Infinity };
  const anyAction = planFamilyWave(groups, a, r.hl, { ...plan, perWave: 1, trials: 0 }, unlimited).length;
  d.state = anyAction ? "budget spent" : "stopped";
  if (!anyAction) {
    d.reason += "; no trial left that would shrink the interval (the groups' optima are limited by " +
      "the resolution or the basin model, not by noise, or none is bracketed)";
  }
  return acts;
}

/** One round's decisions, and the trials planned for the undecided families (none when the round is recorded). */
function decideRound(
  r: Rounds,
  answers: FamilyAnswer[],
  left: Compute,
  recorded: boolean,
): { families: FamilyDecision[]; actions: PlanAction[] } {
  const actions: PlanAction[] = [];
  const families = answers.map((a) => {
    const fam = r.states.filter((s) => familyOf(s, r.ctx.by) === a.family);
    const groups = fam.map((s) => planGroup(s, r.scale));
    const d = familyDecision(r, a, fam, groups);
    if (d.state === "undecided" && !recorded) {
      for (const x of planFamily(r, d, a, groups, left)) {
        actions.push(x);
        left = { flops: left.flops - x.cost.flops, hours: left.hours - x.cost.hours };
      }
    }
    return d;
  });
  return { families, actions };
}

/** The trials of a recorded round; its undecided families that got none had their budget spent. */
function recordedTrials(r: Rounds, recorded: AnswerRound, families: FamilyDecision[]): ExtraTrial[] {
  const planned = new Set(recorded.trials.map((t) => {
    const s = r.states.find((q) => q.g.label === t.group);
    return s && familyOf(s, r.ctx.by);
  }));
  for (const d of families) {
    if (d.state === "undecided" && !planned.has(d.family)) d.state = "budget spent";
  }
  return recorded.trials;
}

/** The search's state and stop reason when a round plans no trial. */
function stopOf(
  u: UntilDecided,
  families: FamilyDecision[],
  answers: FamilyAnswer[],
  failed: string,
): { state: AnswerReport["state"]; stop: string } {
  if (failed || !answers.length) {
    return {
      state: "stopped",
      stop: `the estimator gives no slope: ${failed || "no family has finished trials"}`,
    };
  }
  const open = families.filter((d) => d.state !== "decided");
  if (!open.length) return { state: "decided", stop: "every family's verdict is decided" };
  if (open.some((d) => d.state === "budget spent")) {
    return {
      state: "budget spent",
      stop: `budget spent (${budgetText(u)}): ${open.map((d) => d.family).join(", ")} undecided`,
    };
  }
  return {
    state: "stopped",
    stop: `no trial left to add: ${open.map((d) => `${d.family} (${d.reason})`).join("; ")}`,
  };
}

/** Adds a round's trials to their groups and to `trials`; returns those not finished yet. */
async function addWave(r: Rounds, specs: ExtraTrial[], trials: PlannedTrial[]): Promise<PlannedTrial[]> {
  const wave: { s: GroupState; trial: PlannedTrial }[] = [];
  for (const spec of specs) {
    const s = r.states.find((q) => q.g.label === spec.group);
    if (!s) throw new DmodelError(`lr_search: search.json names an unknown group ${spec.group}`);
    const h = Math.round((spec.log2_lr - r.hl.lo) / r.hl.half);
    const t = lrTrial(s.g.seeds[0], Math.pow(2, r.hl.lo + h * r.hl.half), trials.length, spec.seed);
    if (groupTrials(s).some((q) => q.id === t.id)) continue;
    s.extra.push({ h, seed: spec.seed, trial: t });
    trials.push(t);
    wave.push({ s, trial: t });
  }
  const todo: PlannedTrial[] = [];
  for (const w of wave) {
    const res = await r.ctx.result(w.trial);
    if (res) w.s.results.set(w.trial.id, res);
    else todo.push(w.trial);
  }
  return todo;
}

/**
 * The sequential search after bracketing (./answer.ts): rounds of (estimate every family's slope interval;
 * stop a family when its verdict is decided; plan trials for the others where they shrink the interval most,
 * within the budget), one wave per round, replayed from the finished results like the bracketing. Appends
 * its trials to `trials`.
 */
export async function untilDecided(
  u: UntilDecided,
  lat: Lattice,
  states: GroupState[],
  ctx: RoundContext,
  trials: PlannedTrial[],
  waves0: number,
): Promise<{ answer: AnswerReport; todo: PlannedTrial[]; waves: number }> {
  const r: Rounds = {
    u,
    scale: ctx.scale[0],
    hl: { lo: lat.lo, half: lat.res / 2, n: 2 * lat.n - 1 },
    states,
    ctx,
  };
  // The dense grid as the report prices it (the lattice LRs that ran at their cost, the others at full steps).
  const budget = budgetOf(u, states.reduce((a, s) => a + groupReport(s, lat).dense_flops, 0));
  const rounds: AnswerRound[] = [];
  let waves = waves0, todo: PlannedTrial[] = [], families: FamilyDecision[] = [];
  let state: AnswerReport["state"] = "running", stop = "";
  for (let round = 0;; round++) {
    const { answers, failed } = estimateAll(r);
    const spent = spentOf(states);
    const left: Compute = { flops: budget.flops - spent.flops, hours: budget.hours - spent.hours };
    const recorded = ctx.rounds?.[round];
    const decided = decideRound(r, answers, left, !!recorded);
    families = decided.families;
    const specs = recorded
      ? recordedTrials(r, recorded, families)
      : decided.actions.flatMap((x) =>
        x.trials.map((t) => ({ group: x.group, log2_lr: r.hl.lo + t.h * r.hl.half, seed: t.seed }))
      );
    if (!specs.length) {
      ({ state, stop } = stopOf(u, families, answers, failed));
      rounds.push({ wave: waves, families, trials: [] });
      break;
    }
    waves++;
    rounds.push({ wave: waves, families, trials: specs });
    todo = await addWave(r, specs, trials);
    if (todo.length) {
      stop = `waiting for wave ${waves} (${todo.length} trials)`;
      break;
    }
  }
  const spent = spentOf(states);
  const answer: AnswerReport = {
    tolerance: u.tolerance,
    level: u.level,
    budget_stated: budgetText(u),
    budget,
    spent: { flops: spent.flops, hours: spent.hours },
    state: todo.length ? "running" : state,
    stop,
    families,
    rounds,
  };
  return { answer, todo, waves };
}
