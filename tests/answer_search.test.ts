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
import {
  type AnswerReport,
  budgetOf,
  type FamilyAnswer,
  memoEstimator,
  moreTrials,
  UntilDecidedSchema,
} from "../engine/sweep/answer.ts";
import type { TrialConfig } from "../engine/core/config.ts";
import "../components/mod.ts";
import { parsePipeline } from "../engine/core/pipeline.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { sweepCommand, tinyCorpus } from "./helpers.ts";
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
import { type SimStudy, simulateSearch, trueVerdict } from "./fixtures/search_sim.ts";
import { jointEstimator } from "../engine/sweep/answer_estimator.ts";

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
  // A diverged seed at 20 below eta* + one step: nothing at 21 or 22 (stable by luck), though both are near eta*.
  const lucky = group("k", 64, [8, 9, 11], { walls: [10] });
  lucky.points.set(19, { seeds: new Set([0, 1]), ok: 2, unstable: false });
  a = groupAction(lucky, 19.5, hl, 5)!;
  assert.deepEqual([a.kind, a.trials.map((t) => t.h)], ["seed", [16, 18, 19]]);
  const low = group("l", 64, [8, 9, 10, 11, 12, 13, 14]);
  assert(groupAction(low, 16, hl, 5)!.trials.every((t) => t.h <= 18));
});

Deno.test("until_decided plan: the group that shrinks Var(b) most per trial, checked by brute force", () => {
  const hl: HalfLattice = { lo: -10, half: 0.25, n: 37 };
  const widths = [32, 64, 128, 256];
  const se = [0.06, 0.1, 0.1, 0.15];
  const flops = [1, 4, 16, 64];
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
    return (v0 - slopeVariance(xs, u2)) / 4;
  });
  const best = rates.indexOf(Math.max(...rates));
  assert.equal(acts[0].group, `w${widths[best]}`);
  assert(Math.abs(acts[0].gain - rates[best] * 4) < 1e-12);
  // Priced per FLOP the cheapest scale would win: the costliest one's wide optimum would be left as it is.
  const perFlop = rates.map((r, i) => r / flops[i]);
  assert.notEqual(perFlop.indexOf(Math.max(...perFlop)), best);
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

const study = (slope: number, rng: number, sigma = 0.01): SimStudy => ({
  law: { slope, x0: -5, w0: 32, rng, sigma },
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
    // Twice the basin noise: the bracketing alone does not decide, rounds of trials follow. The +0.15 law
    // 0.05 from the band's edge: decided only when the widest scale gets its share of the trials (priced per
    // FLOP, this study spent the budget on the cheap scales, undecided).
    for (const [slope, rng, sigma] of [[-0.5, 1, 0.01], [0, 1, 0.01], [0, 1001, 0.02], [0.15, 1000, 0.01]]) {
      const o = await simulateSearch(study(slope, rng, sigma));
      const a = o.plan.answer!;
      assert.equal(o.verdict, trueVerdict(slope), `slope ${slope} rng ${rng}: ${a.stop}`);
      assert.equal(a.state, "decided");
      assert(o.flops <= o.dense_flops, `${o.flops} > ${o.dense_flops}`);
      // Every round is recorded; the last one decided and added nothing; the decision is the estimator's.
      const last = a.rounds[a.rounds.length - 1];
      assert.deepEqual([last.trials.length, last.families[0].state], [0, "decided"]);
      assert(a.rounds.slice(0, -1).every((r) => r.trials.length && r.families[0].state === "undecided"));
      const direct = jointEstimator(o.rows, {
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
      if (sigma === 0.02) assert(extras.length > 0, "not decided by the bracketing alone");
      // Deterministic: the same study gives the same trials.
      const again = await simulateSearch(study(slope, rng, sigma));
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
    const o = await simulateSearch(study(0, 1001, 0.02));
    const rounds = o.plan.answer!.rounds.filter((r) => r.trials.length);
    assert(rounds.length >= 1);
    // An estimator that would decide at once: the recorded rounds still run, then it decides.
    const eager = memoEstimator((rows, opts) =>
      jointEstimator(rows, opts).map((a) => ({ ...a, verdict: "transfers" as const }))
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
    // An estimator that cannot answer (too few scales, say) stops the search with its reason, adding nothing.
    const failing = await simulateSearch({
      ...study(0, 1),
      estimator: () => {
        throw new DmodelError("fitScaling: not enough scales");
      },
    });
    const fa = failing.plan.answer!;
    assert.deepEqual([fa.state, fa.stop], [
      "stopped",
      "the estimator gives no slope: fitScaling: not enough scales",
    ]);
    assert.deepEqual(fa.rounds.map((r) => r.trials.length), [0]);
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

const dec = new TextDecoder();
const root = new URL("..", import.meta.url).pathname;

function decidedYaml(corpus: string, budget: string): string {
  return `name: until-decided-test
plugins: [${root}tests/fixtures/search_executor.ts]
base: &base
  data: {corpus: ${corpus}, tokenizer: {name: byte}, seq_len: 16}
  model: {block: ngpt, width: 32, depth: 2, head_dim: 8}
  parameterization: {name: ngpt, base_width: 32, base_depth: 2, base_steps: 100}
  optimizer: {name: adam, lr: 0.01}
  train: {steps: 100, batch_size: 4, eval_every: 50, eval_batches: 1, log_every: 10}
stages:
  sweep:
    uses: sweep
    with:
      base: *base
      grid:
        parameterization.name: [ngpt, nugpt]
        model.width: [32, 64, 128]
      seeds: [0, 1]
      executor: {name: simulated, laws: {ngpt: -0.5, nugpt: 0}, sigma: 0.02, rng: 3}
      lr_search:
        range: {log2: [-10, -1]}
        resolution: 0.5
        until_decided: {budget: ${budget}}
  report:
    uses: report
    needs: [sweep]
`;
}

async function sweepRun(file: string, out: string, extra: string[] = []) {
  const r = await sweepCommand(file, out, extra).output();
  const o = { stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
  assert.equal(r.code, 0, o.stderr);
  return o;
}

Deno.test({
  name:
    "until_decided sweep: decisions and the stop reason in search.json, --status and the report; a rerun adds nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dmodel-decided-" });
    const file = `${dir}/s.yaml`, out = `${dir}/out`;
    // A budget of 40% of the dense grid: the bracketing spends about a quarter, rounds of trials follow.
    await Deno.writeTextFile(file, decidedYaml(await tinyCorpus(), "{dense: 0.4}"));
    const run = await sweepRun(file, out);
    const search = JSON.parse(await Deno.readTextFile(`${out}/search.json`));
    const a = search.answer as AnswerReport;
    assert(a.state === "decided" || a.state === "budget spent", a.stop);
    assert(
      a.spent.flops <= 0.4 * search.dense_flops * (1 + 1e-9),
      `${a.spent.flops} vs ${search.dense_flops}`,
    );
    assert.equal(a.spent.flops, search.flops);
    const fam = Object.fromEntries(a.families.map((d) => [d.family, d]));
    assert.deepEqual([fam.ngpt.state, fam.ngpt.verdict], ["decided", "drifts"]);
    assert(fam.nugpt.verdict !== "drifts", JSON.stringify(fam.nugpt));
    assert(a.rounds.some((r) => r.trials.length > 0), "some trials after bracketing");
    // Each round is recorded: the families' states, and its trials for the undecided ones only.
    for (const r of a.rounds) {
      const open = new Set(r.families.filter((d) => d.state === "undecided").map((d) => d.family));
      assert(r.trials.every((t) => open.has(t.group.match(/parameterization\.name=(\w+)/)![1])));
    }
    assert.equal(a.rounds.at(-1)!.trials.length, 0);
    // The trials it added are in trials.json, each ran once; new seeds go beyond the pipeline's.
    const trials = JSON.parse(await Deno.readTextFile(`${out}/trials.json`)) as {
      id: string;
      config: TrialConfig;
    }[];
    const ran = (await Deno.readTextFile(`${out}/simulated-runs.log`)).trim().split("\n");
    assert.equal(new Set(ran).size, trials.length);
    const extra = a.rounds.reduce((n, r) => n + r.trials.length, 0);
    assert.equal(
      trials.length,
      extra + search.groups.reduce((n: number, g: { lrs_planned: number }) => n + 2 * g.lrs_planned, 0),
    );
    assert(
      trials.some((t) => t.config.train.seed >= 2) ||
        a.rounds.every((r) => r.trials.every((t) => t.seed < 2)),
    );
    assert.match(run.stderr, /lr_search until decided \(band ±0\.10, 95% intervals; budget dense: 0\.4 = /);
    const st = await sweepRun(file, out, ["--status"]);
    assert.match(
      st.stdout,
      /^ {2}ngpt: drifts, decided after \d+ trials \/ [\d.]+e\+\d+ FLOPs: slope -0\.\d\d \[/m,
    );
    assert.match(
      st.stdout,
      a.state === "decided"
        ? /^ {2}nugpt: transfers, decided after \d+ trials/m
        : /^ {2}nugpt: budget spent after \d+ trials \/ [\d.e+]+ FLOPs: the interval is [\d.]+ wide \([-+][\d.]+ \[[-\d.]+, [-\d.]+\]\)(, about \d+ more trials near eta\* would be needed|; the slope sits)/m,
    );
    assert.match(await Deno.readTextFile(`${out}/report.html`), /Sequential search until decided/);
    // A rerun replays the same plan: nothing new runs.
    await sweepRun(file, out);
    assert.equal(
      (await Deno.readTextFile(`${out}/simulated-runs.log`)).trim().split("\n").length,
      ran.length,
    );
    assert.deepEqual(
      JSON.parse(await Deno.readTextFile(`${out}/trials.json`)).map((t: { id: string }) => t.id),
      trials.map((t) => t.id),
    );

    // A budget the bracketing alone exceeds: no round adds trials; the undecided are "budget spent".
    await Deno.writeTextFile(file, decidedYaml(await tinyCorpus(), "{flops: 1.0e+9}"));
    await sweepRun(file, out);
    const small = JSON.parse(await Deno.readTextFile(`${out}/search.json`)).answer as AnswerReport;
    assert.deepEqual(small.rounds.map((r) => r.trials.length), [0]);
    for (const d of small.families) assert(d.state === "decided" || d.state === "budget spent", d.state);
  },
});

Deno.test("until_decided: bad options are refused at load time, naming file, line and key", async () => {
  const corpus = await tinyCorpus();
  const cases: [string, RegExp][] = [
    [
      decidedYaml(corpus, "{dense: 1, flops: 1.0e+12}"),
      /s\.yaml:\d+: stages\.sweep\.with\.lr_search\.until_decided\.budget: give exactly one of flops, trial_hours, dense/,
    ],
    [decidedYaml(corpus, "{dense: -1}"), /lr_search\.until_decided\.budget\.dense/],
    [
      decidedYaml(corpus, "{dense: 1}").replace(
        "model.width: [32, 64, 128]",
        "model.width: [32, 64, 128]\n        train.steps: [100, 200]",
      ),
      /stages\.sweep\.with\.lr_search\.until_decided: needs exactly one scale axis, found 2 \(model\.width, train\.steps\)/,
    ],
  ];
  for (const [text, re] of cases) {
    try {
      await parsePipeline(text, "s.yaml");
      assert.fail(`no error for ${re}`);
    } catch (e) {
      assert(e instanceof DmodelError, String(e));
      assert.match(e.message, re);
    }
  }
});
