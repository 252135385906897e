/**
 * Bracket-and-refine learning-rate search: the `lr_search:` of a sweep, an
 * alternative to an `optimizer.lr` grid axis that spends trials where the
 * optimum is. This file is the plan; the options and the LR lattice are
 * ./lr_search_options.ts, the groups and their trials ./lr_search_groups.ts,
 * the rule of one group ./lr_search_rule.ts, a group's state while replayed
 * ./lr_search_state.ts, the words ./lr_search_render.ts.
 *
 * Per group (every other axis fixed, all seeds together), the rule brackets
 * the optimum on the lattice and refines the basin around it; then, with
 * `until_decided:` (optional), once every group is done, rounds of trials
 * where they shrink each family's slope interval most, until every verdict is
 * decided or the budget is spent (./answer_rounds.ts runs the rounds: the
 * rule ./answer.ts, the planning ./answer_plan.ts, the words
 * ./answer_render.ts).
 *
 * The centre: `center: <lr>` a given LR; `center: row` each group's own
 * `optimizer.lr` (a zip axis may set it per row); otherwise the first scale of a
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
import { DmodelError } from "../core/errors.ts";
import { fitScaling, optimalLR, predictLR } from "../analysis/mod.ts";
import type { AnswerReport } from "./answer.ts";
import { type RoundContext, untilDecided } from "./answer_rounds.ts";
import type { PlannedTrial } from "./grid.ts";
import { lrTrial, type SearchGroup } from "./lr_search_groups.ts";
import { Lattice, type LrSearchOptions } from "./lr_search_options.ts";
import { lrPoint, searchStep, type StepSizes } from "./lr_search_rule.ts";
import { type GroupReport, groupReport, type GroupState, newGroupState } from "./lr_search_state.ts";
import { resultRow } from "./results.ts";

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
export interface PlanContext extends RoundContext {
  /**
   * Centres chosen by an earlier run of this search (group label -> LR, from search.json): reused, so that
   * a resume after an update of the analysis library's estimator still replays the same trials.
   */
  centers?: Map<string, { lr: number; from: string }>;
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
  if (o.center === "row") return at(baseLR, "its row's optimizer.lr");
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

/** The trials of one LR of a group in a wave of the bracketing. */
interface WaveItem {
  s: GroupState;
  k: number;
  trials: PlannedTrial[];
}

/**
 * The bracketing's next wave: the rule's next LRs of every group not done whose family's smaller scales are
 * done (a group's centre is chosen when it starts); groups the rule finishes are marked done.
 */
function nextWave(
  o: LrSearchOptions,
  lat: Lattice,
  sizes: StepSizes,
  states: GroupState[],
  ctx: PlanContext,
  index: number,
): WaveItem[] {
  const wave: WaveItem[] = [];
  const fixed = typeof o.center === "number" || o.center === "row"; // a centre the pipeline gives
  for (const s of states) {
    if (s.done) continue;
    const family = states.filter((q) => q.g.family === s.g.family && q.g.cost < s.g.cost);
    if (!fixed && family.some((q) => !q.done)) continue; // smaller scales first
    if (s.center === null) {
      // A centre computed from results is remembered (search.json); one the pipeline gives is read from it.
      const known = fixed ? undefined : ctx.centers?.get(s.g.label);
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
  return wave;
}

/** The results of a wave's trials; when all are finished, each LR's point. Returns the unfinished trials. */
async function collectWave(wave: WaveItem[], ctx: PlanContext): Promise<PlannedTrial[]> {
  const unfinished: PlannedTrial[] = [];
  for (const w of wave) {
    for (const t of w.trials) {
      const r = await ctx.result(t);
      if (r) w.s.results.set(t.id, r);
      else unfinished.push(t);
    }
  }
  if (unfinished.length) return unfinished;
  for (const w of wave) w.s.points.set(w.k, lrPoint(w.trials.map((t) => w.s.results.get(t.id)!)));
  return [];
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
  const states = groups.map((g, i) => ({ g, i })).sort((a, b) => a.g.cost - b.g.cost || a.i - b.i)
    .map(({ g }) => newGroupState(g));
  const trials: PlannedTrial[] = [];
  let todo: PlannedTrial[] = [];
  let waves = 0;
  for (;;) {
    const wave = nextWave(o, lat, sizes, states, ctx, trials.length);
    if (!wave.length) break;
    waves++;
    for (const w of wave) trials.push(...w.trials);
    todo = await collectWave(wave, ctx);
    if (todo.length) break;
  }
  let answer: AnswerReport | undefined;
  if (o.until_decided && !todo.length) {
    const r = await untilDecided(o.until_decided, lat, states, ctx, trials, waves);
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
