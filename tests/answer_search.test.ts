/**
 * The sequential LR search (`lr_search: {until_decided: ...}`, engine/sweep/answer*.ts): the stopping rule's
 * arithmetic, where the planner puts trials (against the weighted least-squares slope variance computed
 * independently), and whole searches against the simulated trial runner of tests/fixtures/search_surface.ts
 * (a known law, noise growing towards the cliff, seed jumps near it, basins that are not quadratic): the
 * right verdict within the dense grid's compute, deterministic, replayable from search.json's rounds. The
 * full figures (100 searches per slope): `deno run -A tests/fixtures/search_sim.ts`.
 */
import assert from "node:assert/strict";
import { leastSquares } from "../engine/core/least_squares.ts";
import { budgetOf, type FamilyAnswer, moreTrials, UntilDecidedSchema } from "../engine/sweep/answer.ts";
import {
  groupAction,
  type HalfLattice,
  planFamilyWave,
  type PlanGroup,
  type PlanPoint,
  slopeVariance,
} from "../engine/sweep/answer_plan.ts";
import { familyLine } from "../engine/sweep/answer_render.ts";
import { planSearch } from "../engine/sweep/lr_search.ts";
import { memoEstimator, type SimStudy, simulateSearch, trueVerdict } from "./fixtures/search_sim.ts";
import { analysisEstimator } from "../engine/sweep/answer_estimator.ts";

Deno.test("until_decided rule: budget, trials still needed, options", () => {
  const o = UntilDecidedSchema.parse({ budget: { dense: 0.5 } });
  assert.deepEqual(budgetOf(o, 1e12), { flops: 5e11, hours: Infinity });
  assert.deepEqual(budgetOf(UntilDecidedSchema.parse({ budget: { trial_hours: 2 } }), 1e12), {
    flops: Infinity,
    hours: 2,
  });
  assert.throws(() => UntilDecidedSchema.parse({ budget: { dense: 1, flops: 1e12 } }), /exactly one/);
  assert.throws(() => UntilDecidedSchema.parse({ budget: {} }), /exactly one/);
  // Half-width 0.15 at slope 0 must shrink to 0.1: (0.15 / 0.1)^2 = 2.25 times the 40 trials near eta*.
  const a = (slope: number, lo: number, hi: number): FamilyAnswer => ({
    family: "f",
    slope,
    lo,
    hi,
    verdict: "inconclusive",
    reason: "",
  });
  assert.equal(moreTrials(a(0, -0.15, 0.15), 0.1, 40), 50);
  // At slope 0.3 the half-width must reach 0.2 to clear +0.1: (0.25 / 0.2)^2 - 1 = 0.5625 of 16.
  assert.equal(moreTrials(a(0.3, 0.05, 0.55), 0.1, 16), 9);
  // On the band's edge no number of trials decides; decided needs none.
  assert.equal(moreTrials(a(0.1, -0.1, 0.3), 0.1, 40), null);
  assert.equal(moreTrials({ ...a(0, -0.05, 0.05), verdict: "transfers" }, 0.1, 40), null);
  const line = familyLine({
    family: "nugpt",
    state: "budget spent",
    verdict: "inconclusive",
    slope: 0.02,
    lo: -0.12,
    hi: 0.15,
    reason: "",
    trials: 120,
    flops: 3e12,
    hours: 0,
    near: 40,
    more: 33,
  });
  assert.equal(
    line,
    "nugpt: budget spent after 120 trials / 3.00e+12 FLOPs: the interval is 0.27 wide (+0.02 [-0.12, 0.15]), " +
      "about 33 more trials near eta* would be needed",
  );
});

Deno.test("until_decided plan: the slope variance is the weighted least-squares one", () => {
  const xs = [5, 6, 7, 8], u = [0.1, 0.3, 0.2, 0.15];
  const ls = leastSquares(xs.map((x) => [x]), [1, 2, 3, 4], u.map((s) => 1 / s ** 2))!;
  // leastSquares' covariance is (X' W X)^-1, exact with weights 1 / variance.
  assert(Math.abs(slopeVariance(xs, u.map((s) => s * s)) - ls.cov[1][1]) / ls.cov[1][1] < 1e-9);
  assert.equal(slopeVariance([5, 5], [1, 1]), Infinity);
});

/** A group with lattice points (even half-indices) 2k for k in ks, `seeds` ok seeds each, walls where asked. */
function group(
  label: string,
  scale: number,
  ks: number[],
  o: { walls?: number[]; flops?: number } = {},
): PlanGroup {
  const points = new Map<number, PlanPoint>();
  for (const k of ks) points.set(2 * k, { seeds: new Set([0, 1]), ok: 2, unstable: false });
  for (const k of o.walls ?? []) points.set(2 * k, { seeds: new Set([0, 1]), ok: 0, unstable: true });
  return { label, scale, cost: { flops: o.flops ?? 1, hours: 0 }, points, baseSeeds: [0, 1] };
}

Deno.test("until_decided plan: half-steps next to eta*, then new seeds at the nearest stable LRs, never on the cliff", () => {
  const hl: HalfLattice = { lo: -10, half: 0.25, n: 37 };
  // eta* at half-index 20.6 (lattice points 8..12 = half-indices 16..24 ran, a wall at 13 = 26).
  const g = group("w", 64, [8, 9, 10, 11, 12], { walls: [13] });
  let a = groupAction(g, 20.6, hl, 3)!;
  assert.equal(a.kind, "half-steps");
  assert.deepEqual(a.trials, [{ h: 19, seed: 0 }, { h: 19, seed: 1 }, { h: 21, seed: 0 }, {
    h: 21,
    seed: 1,
  }]);
  for (const h of [19, 21]) g.points.set(h, { seeds: new Set([0, 1]), ok: 2, unstable: false });
  a = groupAction(g, 20.6, hl, 3)!;
  assert.equal(a.kind, "seed");
  assert.deepEqual(a.trials, [{ h: 20, seed: 2 }, { h: 21, seed: 2 }, { h: 22, seed: 2 }]);
  // Next to a wall: nothing at or above a diverged LR, nothing more than one resolution step above eta*.
  const c = group("c", 64, [8, 9, 10], { walls: [11] });
  c.points.set(21, { seeds: new Set([0, 1]), ok: 1, unstable: true }); // one seed diverged at 21
  a = groupAction(c, 19.8, hl, 5)!;
  assert.deepEqual(a.trials, [{ h: 19, seed: 0 }, { h: 19, seed: 1 }]);
  c.points.set(19, { seeds: new Set([0, 1]), ok: 2, unstable: false });
  a = groupAction(c, 19.8, hl, 5)!;
  assert.deepEqual(a.trials.map((t) => t.h), [16, 18, 19, 20]); // 21 is a wall: stable points below it
  const low = group("l", 64, [8, 9, 10, 11, 12, 13, 14]);
  assert(groupAction(low, 16, hl, 5)!.trials.every((t) => t.h <= 18));
});

Deno.test("until_decided plan: the group that shrinks Var(b) most per FLOP, checked by brute force", () => {
  const hl: HalfLattice = { lo: -10, half: 0.25, n: 37 };
  const widths = [32, 64, 128, 256];
  const se = [0.3, 0.1, 0.1, 0.12];
  const flops = [1, 2, 4, 8];
  const answer: FamilyAnswer = {
    family: "f",
    slope: 0,
    lo: -0.2,
    hi: 0.2,
    verdict: "inconclusive",
    reason: "",
    groups: widths.map((w, i) => ({ scale: w, log2_eta: -5, se: se[i] })),
  };
  const groups = () => widths.map((w, i) => group(`w${w}`, w, [8, 9, 10, 11, 12], { flops: flops[i] }));
  const acts = planFamilyWave(groups(), answer, hl, { seedPoints: 3, perWave: 1, trials: 0 }, {
    flops: Infinity,
    hours: Infinity,
  });
  assert.equal(acts.length, 1);
  // Brute force: each group's half-steps (4 trials at 19 and 21; n = 6 ok trials at 18, 20, 22, within one
  // resolution step of eta* = half-index 20).
  const xs = widths.map(Math.log2);
  const v0 = slopeVariance(xs, se.map((s) => s * s));
  const rates = widths.map((_, i) => {
    const u2 = se.map((s, j) => s * s * (j === i ? 6 / 10 : 1));
    return (v0 - slopeVariance(xs, u2)) / (4 * flops[i]);
  });
  const best = rates.indexOf(Math.max(...rates));
  assert.equal(acts[0].group, `w${widths[best]}`);
  assert(Math.abs(acts[0].gain - rates[best] * 4 * flops[best]) < 1e-12);
  // A budget below the best action's cost moves the choice to an affordable one, or to none.
  const cheap = planFamilyWave(groups(), answer, hl, { seedPoints: 3, perWave: 1, trials: 0 }, {
    flops: 4 * flops[best] - 1,
    hours: Infinity,
  });
  assert(cheap.every((a) => a.cost.flops < 4 * flops[best]));
  assert.deepEqual(
    planFamilyWave(groups(), answer, hl, { seedPoints: 3, perWave: 1, trials: 0 }, {
      flops: 1,
      hours: Infinity,
    }),
    [],
  );
  // A wave asked for 20 trials stacks actions: the same group may get its half-steps and then a new seed.
  const many = planFamilyWave(groups(), answer, hl, { seedPoints: 3, perWave: 1, trials: 20 }, {
    flops: Infinity,
    hours: Infinity,
  });
  assert(many.reduce((n, a) => n + a.trials.length, 0) >= 20);
  const seeds = many.filter((a) => a.kind === "seed").map((a) => `${a.group}/${a.trials[0].seed}`);
  assert.equal(new Set(seeds).size, seeds.length, "each new seed once per group");
});

const study = (slope: number, rng: number): SimStudy => ({
  law: { slope, x0: -5, w0: 32, rng },
  widths: [32, 64, 128, 256],
  seeds: [0, 1],
  range: [-10, -1],
  resolution: 0.5,
});

Deno.test({
  name:
    "until_decided search on the simulated runner: the right verdict within the dense grid's compute, deterministic",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    for (const [slope, rng] of [[-0.5, 1], [0, 1], [0, 2]]) {
      const o = await simulateSearch(study(slope, rng));
      const a = o.plan.answer!;
      assert.equal(o.verdict, trueVerdict(slope), `slope ${slope} rng ${rng}: ${a.stop}`);
      assert.equal(a.state, "decided");
      assert(o.flops <= o.dense_flops, `${o.flops} > ${o.dense_flops}`);
      // Every round is recorded; the last one decided and added nothing; the decision is the estimator's.
      const last = a.rounds[a.rounds.length - 1];
      assert.deepEqual([last.trials.length, last.families[0].state], [0, "decided"]);
      assert(a.rounds.slice(0, -1).every((r) => r.trials.length && r.families[0].state === "undecided"));
      const direct = analysisEstimator(o.rows, {
        by: ["parameterization.name"],
        scale: "model.width",
        tolerance: 0.1,
        level: 0.95,
      })[0];
      assert.deepEqual([direct.slope, direct.lo, direct.hi], [o.slope, o.lo, o.hi]);
      // The interval decides: inside the band, or wholly beyond it.
      if (o.verdict === "transfers") assert(o.lo >= -0.1 && o.hi <= 0.1);
      else assert(o.hi < -0.1 || o.lo > 0.1);
      // The extra trials sit next to each group's optimum: within one resolution step below the cliff side.
      const extras = a.rounds.flatMap((r) => r.trials);
      for (const t of extras) {
        const w = Number(t.group.match(/model\.width=(\d+)/)![1]);
        const xs = -5 + slope * Math.log2(w / 32);
        assert(t.log2_lr <= xs + 1.5, `${t.group} at 2^${t.log2_lr}, eta* 2^${xs}`);
      }
      if (slope === 0) assert(extras.length > 0, "slope 0 is not decided by the bracketing alone");
      // Deterministic: the same study gives the same trials.
      const again = await simulateSearch(study(slope, rng));
      assert.deepEqual(again.plan.trials.map((t) => t.id), o.plan.trials.map((t) => t.id));
    }
  },
});

Deno.test({
  name:
    "until_decided search: a resume replays search.json's rounds as recorded, whatever the estimator says now",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const o = await simulateSearch(study(0, 1));
    const rounds = o.plan.answer!.rounds.filter((r) => r.trials.length);
    assert(rounds.length >= 1);
    // An estimator that would decide at once: the recorded rounds still run, then it decides.
    const eager = memoEstimator((rows, opts) =>
      analysisEstimator(rows, opts).map((a) => ({ ...a, verdict: "transfers" as const }))
    );
    // Re-run the plan with the finished results of the first search and the recorded rounds.
    const replay = await planSearch(o.options, o.groups, {
      by: ["parameterization.name"],
      scale: ["model.width"],
      result: (t) => Promise.resolve(o.results.get(t.id) ?? null),
      rounds,
      estimate: eager,
    });
    assert.deepEqual(replay.trials.map((t) => t.id), o.plan.trials.map((t) => t.id));
    assert(replay.done);
    // Without the recorded rounds the eager estimator stops right after bracketing.
    const fresh = await planSearch(o.options, o.groups, {
      by: ["parameterization.name"],
      scale: ["model.width"],
      result: (t) => Promise.resolve(o.results.get(t.id) ?? null),
      estimate: eager,
    });
    assert(fresh.trials.length < o.plan.trials.length);
  },
});
