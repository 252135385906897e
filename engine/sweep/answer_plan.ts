/**
 * Where the sequential search (./answer.ts) puts its next trials: in the
 * groups where they shrink the family's slope interval most per trial, and in
 * each such group next to its optimum, never out on the divergence cliff.
 *
 * The gain of a group. The slope of the weighted law log2 eta*_g = b0 + b x_g
 * (x_g = log2 scale, weights w_g = 1 / u_g^2, u_g the standard uncertainty of
 * the group's eta*) has variance
 *
 *   Var(b) = 1 / sum_g w_g (x_g - xbar_w)^2,   xbar_w = sum_g w_g x_g / sum_g w_g
 *
 * (the weighted least-squares slope variance). m more trials near the
 * optimum of a group with n there now shrink the statistical part of u_g^2
 * to u_stat^2 n / (n + m) (an average over more trials); new seeds leave the
 * floor the estimator reports (resolution, basin model) as it is, half-steps
 * of the grid are counted as shrinking both. The gain of an action is Var(b)
 * minus the variance with the new weight, divided by the action's trials:
 * the extreme scales with the widest optima win. Without a group's
 * uncertainty (an estimator that does not give it), u_g^2 = 1 / n: each trial
 * near the optimum counts the same, and the extreme scales share the trials.
 *
 * Per trial, not per FLOP: the budget bounds the FLOPs, but a gain per FLOP
 * (n_g proportional to 1 / sqrt(cost_g)) starves the costliest scale. On the
 * simulated studies (tests/fixtures/search_sim.ts) the widest scale's optimum
 * carries an error that more seeds there shrink (one-sided seed jumps and
 * a steeper, closer cliff bias its basin fit low) and that no number of
 * trials at the cheap scales offsets: priced per FLOP, hundreds of
 * smallest-scale trials left the +0.15 law's interval stuck at
 * [0.09, 0.20] and the budget spent in 42% of searches.
 *
 * The action in a group: first the half-steps of the LR lattice around its
 * eta* (the two points resolution / 2 either side, with the group's seeds):
 * the basin's resolution; then, each later wave, one new seed at the
 * `seed_points` finished stable LRs nearest eta*. No LR is ever added at or
 * above a point where some seed diverged or failed, nor more than one
 * `resolution` step above eta*.
 */
import type { Compute, FamilyAnswer } from "./answer.ts";

/** The half-lattice of a search: log2 eta = lo + h * resolution / 2 (even h: the lattice itself). */
export interface HalfLattice {
  lo: number;
  /** resolution / 2. */
  half: number;
  /** Number of half-lattice points (2 n - 1 for a lattice of n). */
  n: number;
}

/** One LR of a group as the planner sees it. */
export interface PlanPoint {
  /** Seeds run there (finished or planned). */
  seeds: Set<number>;
  /** Seeds finished ok. */
  ok: number;
  /** Some seed diverged or failed: a wall. */
  unstable: boolean;
}

/** One group of a family, for planning. */
export interface PlanGroup {
  label: string;
  /** The group's value on the scale axis. */
  scale: number;
  /** Cost of one more trial (full steps). */
  cost: Compute;
  /** Half-lattice index -> what ran there. */
  points: Map<number, PlanPoint>;
  /** The seeds of the pipeline (every lattice point runs them). */
  baseSeeds: number[];
}

/** Trials the planner adds to one group. */
export interface PlanAction {
  group: string;
  kind: "half-steps" | "seed";
  trials: { h: number; seed: number }[];
  cost: Compute;
  /** Reduction of Var(b) the action is expected to bring. */
  gain: number;
}

/** Finished ok trials of a group within one `resolution` step (2 half-steps) of its optimum at half-index hx. */
export function nearCount(g: PlanGroup, hx: number): number {
  let n = 0;
  for (const [h, p] of g.points) if (Math.abs(h - hx) <= 2 + 1e-9) n += p.ok;
  return n;
}

/** The first half-index above hx where some seed diverged or failed (Infinity when none). */
function wallAbove(g: PlanGroup, hx: number): number {
  let wall = Infinity;
  for (const [h, p] of g.points) if (p.unstable && h > hx && h < wall) wall = h;
  return wall;
}

/**
 * The next action of one group with its optimum at half-index hx: the unrun
 * odd half-points less than one resolution step from it, the nearest on
 * each side (with the pipeline's seeds),
 * else a new seed at the `seedPoints` stable points nearest it; null when
 * neither is possible.
 */
export function groupAction(
  g: PlanGroup,
  hx: number,
  hl: HalfLattice,
  seedPoints: number,
): Omit<PlanAction, "gain"> | null {
  const wall = Math.min(wallAbove(g, hx), hx + 2 + 1e-9);
  const allowed = (h: number) => h >= 0 && h < hl.n && h < wall;
  const half: number[] = [];
  for (let h = Math.floor(hx - 1.5); h <= Math.ceil(hx + 1.5); h++) {
    if (h % 2 !== 0 && Math.abs(h - hx) < 2 - 1e-9 && allowed(h) && !g.points.has(h)) half.push(h);
  }
  const scaleCost = (m: number) => ({ flops: m * g.cost.flops, hours: m * g.cost.hours });
  if (half.length) {
    const trials = half.flatMap((h) => g.baseSeeds.map((seed) => ({ h, seed })));
    return { group: g.label, kind: "half-steps", trials, cost: scaleCost(trials.length) };
  }
  const stable = [...g.points].filter(([h, p]) => !p.unstable && p.ok > 0 && allowed(h)).map(([h]) => h)
    .sort((a, b) => Math.abs(a - hx) - Math.abs(b - hx) || a - b).slice(0, seedPoints);
  if (!stable.length) return null;
  let seed = 0;
  for (const p of g.points.values()) for (const s of p.seeds) seed = Math.max(seed, s + 1);
  const trials = stable.sort((a, b) => a - b).map((h) => ({ h, seed }));
  return { group: g.label, kind: "seed", trials, cost: scaleCost(trials.length) };
}

/** Var(b) of the weighted slope fit over points (x, u^2); Infinity with fewer than two distinct x. */
export function slopeVariance(xs: number[], u2: number[]): number {
  let sw = 0, swx = 0;
  xs.forEach((x, i) => (sw += 1 / u2[i], swx += x / u2[i]));
  const xbar = swx / sw;
  let s = 0;
  xs.forEach((x, i) => (s += (x - xbar) ** 2 / u2[i]));
  return s > 0 ? 1 / s : Infinity;
}

/** u_g^2 after an action's m trials: the statistical part / (1 + m / n); half-steps shrink the floor too. */
function shrunk(c: { u2: number; floor2: number; n: number }, act: Omit<PlanAction, "gain">): number {
  const f = c.n / (c.n + act.trials.length);
  return act.kind === "seed" ? c.floor2 + (c.u2 - c.floor2) * f : c.u2 * f;
}

/**
 * The actions of the next wave for one undecided family: greedily the group
 * with the largest Var(b) reduction per trial among the actions that fit
 * `left`, its expected variance and its points updated with the
 * planned trials (so a group may get a second action, the next seed), until
 * the wave has `perWave` actions and at least `trials` trials, within `left`
 * (the compute still allowed).
 *
 * @example
 * ```ts
 * const acts = planFamilyWave(groups, answer, hl, { seedPoints: 3, perWave: 2, trials: 0 }, { flops: 1e12, hours: Infinity });
 * acts.map((a) => `${a.group}: ${a.kind} x${a.trials.length}`);
 * ```
 */
export function planFamilyWave(
  groups: PlanGroup[],
  answer: FamilyAnswer,
  hl: HalfLattice,
  o: { seedPoints: number; perWave: number; trials: number },
  left: Compute,
): PlanAction[] {
  // Each group with an optimum: its x, u^2 and n near eta*; its points are copied, to take the planned trials.
  const est = new Map((answer.groups ?? []).map((e) => [e.scale, e]));
  const cands = groups.flatMap((g) => {
    const e = est.get(g.scale);
    if (!e || !Number.isFinite(e.log2_eta)) return [];
    const hx = (e.log2_eta - hl.lo) / hl.half;
    const points = new Map([...g.points].map(([h, p]) => [h, { ...p, seeds: new Set(p.seeds) }]));
    const n = Math.max(1, nearCount(g, hx));
    const known = Number.isFinite(e.se) && e.se > 0;
    const u2 = known ? e.se ** 2 : 1 / n;
    const floor2 = known ? Math.min(e.se_floor ?? 0, e.se) ** 2 : 0;
    return [{ g: { ...g, points }, hx, x: Math.log2(g.scale), u2, floor2, n }];
  });
  const out: PlanAction[] = [];
  let spent: Compute = { flops: 0, hours: 0 }, planned = 0;
  while (out.length < o.perWave || planned < o.trials) {
    const v = slopeVariance(cands.map((c) => c.x), cands.map((c) => c.u2));
    if (!Number.isFinite(v)) break;
    let best: { i: number; gain: number; rate: number; act: Omit<PlanAction, "gain"> } | null = null;
    cands.forEach((c, i) => {
      const act = groupAction(c.g, c.hx, hl, o.seedPoints);
      if (!act) return;
      if (spent.flops + act.cost.flops > left.flops || spent.hours + act.cost.hours > left.hours) return;
      const u2 = cands.map((d, j) => (j === i ? shrunk(d, act) : d.u2));
      const gain = v - slopeVariance(cands.map((d) => d.x), u2);
      const rate = gain / act.trials.length;
      if (gain > 0 && (!best || rate > best.rate)) best = { i, gain, rate, act };
    });
    if (!best) break;
    const { i, gain, act } = best as { i: number; gain: number; act: Omit<PlanAction, "gain"> };
    const c = cands[i];
    out.push({ ...act, gain });
    spent = { flops: spent.flops + act.cost.flops, hours: spent.hours + act.cost.hours };
    planned += act.trials.length;
    const m = act.trials.length;
    const u2 = shrunk(c, act);
    c.floor2 = act.kind === "seed" ? c.floor2 : c.floor2 * u2 / c.u2;
    c.u2 = u2;
    c.n += m;
    // The planned trials count as run (and ok) for the group's next action.
    for (const t of act.trials) {
      const p = c.g.points.get(t.h) ?? { seeds: new Set<number>(), ok: 0, unstable: false };
      p.seeds.add(t.seed), p.ok++;
      c.g.points.set(t.h, p);
    }
  }
  return out;
}
