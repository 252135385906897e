/** The nuGPT claims' verdict rules (engine/analysis/claims/) on synthetic intervals and optima. */
import assert from "node:assert/strict";
import * as aq from "arquero";
import { optimalLR } from "../engine/analysis/optimum.ts";
import { fitScaling } from "../engine/analysis/fit.ts";
import { etaVsScaleSpec } from "../engine/analysis/figure_specs.ts";
import { comparableTrials } from "../tasks/reproductions/nugpt/alignment.ts";
import { agreement, alignmentVerdict } from "../engine/analysis/claims/alignment.ts";
import { depthVerdict, transfersInPractice } from "../engine/analysis/claims/depth.ts";
import { horizonVerdict } from "../engine/analysis/claims/horizon.ts";
import { localExponents } from "../engine/analysis/claims/segments.ts";
import { widthVerdict } from "../engine/analysis/claims/width.ts";
import { hiddenDepthFactor } from "../tasks/reproductions/nugpt/depth.ts";
import "../components/mod.ts";

const near = (a: number, b: number, tol: number) => assert(Math.abs(a - b) <= tol, `${a} vs ${b}`);

const ci = (lo: number, hi: number) => ({ mean: (lo + hi) / 2, lo, hi, n: 3 });

Deno.test("alignment: agreement of an interval with a target and its tolerance band", () => {
  assert.equal(agreement(ci(0.7, 0.8), 0.75, 0.1), "agrees"); // contains it
  assert.equal(agreement(ci(0.66, 0.7), 0.75, 0.1), "agrees"); // inside 0.75 +- 0.1
  assert.equal(agreement(ci(0.5, 0.6), 0.75, 0.1), "excludes"); // wholly below 0.65
  assert.equal(agreement(ci(0.9, 1.0), 0.75, 0.1), "excludes"); // wholly above 0.85
  assert.equal(agreement(ci(0.6, 0.7), 0.75, 0.1), "undecided"); // crosses 0.65
  assert.equal(agreement({ mean: 0.75, lo: NaN, hi: NaN, n: 1 }, 0.75, 0.1), "undecided");
});

Deno.test("alignment: the verdict rule", () => {
  assert.equal(alignmentVerdict(ci(0.45, 0.55), ci(0.7, 0.8)).verdict, "reproduced");
  assert.equal(alignmentVerdict(ci(0.45, 0.55), ci(0.5, 0.6)).verdict, "partly");
  assert.equal(alignmentVerdict(ci(0.45, 0.55), ci(0.6, 0.7)).verdict, "partly");
  assert.equal(alignmentVerdict(ci(0.7, 0.8), ci(0.5, 0.6)).verdict, "not reproduced");
  assert.deepEqual(alignmentVerdict(ci(0.7, 0.8), ci(0.74, 0.76)), {
    verdict: "partly",
    omega: "excludes",
    maxAlphaNu: "agrees",
  });
});

Deno.test("segments: local exponents and their intervals from paired draws", () => {
  // eta* = 2^-5 at 125 steps, falling as steps^-0.75 to 500 and steps^-0.4 to 2000.
  const l125 = -5, l500 = l125 - 0.75 * 2, l2000 = l500 - 0.4 * 2;
  const draws = (c: number, sd: number) => Array.from({ length: 201 }, (_, k) => c + sd * (k / 100 - 1));
  const segs = localExponents([
    { scale: 2000, log2_eta: l2000, draws: draws(l2000, 0.2) },
    { scale: 125, log2_eta: l125, draws: draws(l125, 0.1) },
    { scale: 500, log2_eta: l500, draws: draws(l500, 0.1) },
  ]);
  assert.deepEqual(segs.map((s) => [s.from, s.to]), [[125, 500], [500, 2000]]);
  near(segs[0].exponent, -0.75, 1e-12);
  near(segs[1].exponent, -0.4, 1e-12);
  // Paired draws: the difference's spread is (0.2 - 0.1) / 2 per unit of k, over a 2-octave span.
  const half = 0.95 * (0.2 - 0.1) / 2;
  near(segs[1].ci![0], -0.4 - half, 1e-9);
  near(segs[1].ci![1], -0.4 + half, 1e-9);
  assert.equal(
    localExponents([{ scale: 500, log2_eta: -5, draws: [] }, { scale: 1000, log2_eta: -5.5, draws: [] }])[0]
      .ci,
    null,
  );
});

Deno.test("horizon: the paper's test on the uncorrected exponent, and what the correction leaves over", () => {
  const seg = (ci: [number, number] | null) => ({ from: 2000, to: 4000, exponent: 0, ci });
  const r = horizonVerdict({ slope: -0.3, ci: [-0.5, -0.1] }, []);
  assert.equal(r.verdict, "reproduced");
  near(r.residual.value, -0.3 + 1 / 3, 1e-12);
  near(r.residual.ci![0], -0.5 + 1 / 3, 1e-12);
  // Misses -1/3 but falls: partly.
  assert.equal(horizonVerdict({ slope: -0.61, ci: [-0.84, -0.37] }, [seg([-0.9, -0.6])]).verdict, "partly");
  // Misses -1/3, does not fall, but the longest segment is at -1/3: partly.
  const late = horizonVerdict({ slope: -0.1, ci: [-0.2, 0.05] }, [seg([-0.5, -0.2])]);
  assert.equal(late.verdict, "partly");
  assert(late.lastSegmentThird && !late.falls);
  assert.equal(
    horizonVerdict({ slope: -0.1, ci: [-0.2, 0.05] }, [seg([-0.2, 0.1])]).verdict,
    "not reproduced",
  );
  assert.equal(horizonVerdict(null, []).verdict, "not reproduced");
});

Deno.test("figures: etaVsScaleSpec's minSpan keeps at least that many octaves on the y axis", () => {
  const t = aq.fromCSV(Deno.readTextFileSync(new URL("./fixtures/quickstart_results.csv", import.meta.url)));
  const optima = optimalLR(t, { resamples: 20 });
  const fits = fitScaling(optima);
  const span = (spec: Record<string, unknown>) => {
    const layer = (spec.layer as { encoding: { y: { scale: { domain: [number, number] } } } }[])[0];
    const [lo, hi] = layer.encoding.y.scale.domain;
    return hi - lo;
  };
  const tight = span(etaVsScaleSpec(optima, fits, "model.width"));
  assert(tight < 6, `fixture's own span ${tight}`);
  near(span(etaVsScaleSpec(optima, fits, "model.width", { minSpan: 6 })), 6, 1e-9);
  // Never shrinks: a span below the data's leaves it as it is.
  near(span(etaVsScaleSpec(optima, fits, "model.width", { minSpan: 0.1 })), tight, 1e-9);
});

Deno.test("depth: transfer in practice and the verdict rule", () => {
  const g = (depth: number, log2: number, cost: number) => ({
    depth,
    eta_star_grid: 2 ** log2,
    transfer_cost: cost,
  });
  assert(transfersInPractice([g(2, -5, 0), g(4, -5, 0.004), g(8, -5, 0)]));
  assert(!transfersInPractice([g(2, -5, 0), g(8, -4.5, 0)]), "the grid optimum moved");
  assert(!transfersInPractice([g(2, -5, 0), g(8, -5, 0.03)]), "a cost above the noise");
  assert(!transfersInPractice([g(2, -5, 0)]), "one depth says nothing");
  const inc = { call: "inconclusive", practical: true };
  assert.deepEqual(depthVerdict(inc, inc, { call: "inconclusive", slope: 0.02 }), {
    verdict: "partly",
    ngpt: "supported in practice",
    nugpt: "supported in practice",
    depthMuP: "not supported",
  });
  assert.equal(
    depthVerdict(inc, { call: "transfers", practical: false }, { call: "drifts", slope: 0.4 }).verdict,
    "reproduced",
  );
  assert.equal(depthVerdict(inc, inc, { call: "drifts", slope: -0.4 }).verdict, "partly");
  assert.equal(
    depthVerdict({ call: "inconclusive", practical: false }, inc, { call: "inconclusive", slope: 0.3 })
      .verdict,
    "not reproduced",
  );
});

Deno.test("alignment page: unfinished seeds are compared at the widths they all have", () => {
  const t = (seed: number, width: number) => ({ seed, width });
  const run = [t(0, 16), t(0, 32), t(0, 64), t(0, 128), t(1, 16), t(1, 32), t(2, 16), t(2, 32)];
  assert.deepEqual(comparableTrials(run), [t(0, 16), t(0, 32), t(1, 16), t(1, 32), t(2, 16), t(2, 32)]);
  // Fewer than two common widths: the seeds that have the most.
  const early = [t(0, 16), t(0, 32), t(0, 64), t(1, 16)];
  assert.deepEqual(comparableTrials(early), [t(0, 16), t(0, 32), t(0, 64)]);
  const done = [0, 1, 2].flatMap((s) => [16, 32].map((w) => t(s, w)));
  assert.deepEqual(comparableTrials(done), done);
});

Deno.test("width: the verdict rule over the two readings and the paired difference", () => {
  assert.equal(widthVerdict("drifts", "transfers", [0.3, 0.7]).verdict, "reproduced");
  // nuGPT drifts, but significantly less than nGPT: partly; not significantly less: not reproduced
  assert.equal(widthVerdict("drifts", "drifts", [0.1, 0.4]).verdict, "partly");
  assert.equal(widthVerdict("drifts", "drifts", [-0.1, 0.4]).verdict, "not reproduced");
  assert.equal(widthVerdict("drifts", "drifts", null).verdict, "not reproduced");
  // an inconclusive reading is partly, whatever the difference
  assert.equal(widthVerdict("inconclusive", "transfers", [-0.1, 0.2]).verdict, "partly");
  assert.equal(widthVerdict("drifts", "inconclusive", null).verdict, "partly");
  // nGPT transfers: the claim's premise fails
  assert.deepEqual(widthVerdict("transfers", "transfers", [-0.1, 0.1]), {
    verdict: "not reproduced",
    reasons: ["nGPT transfers, nuGPT transfers"],
    numbers: { differs: false },
  });
  assert.equal(widthVerdict(null, "transfers", null).verdict, "not reproduced");
  // the boundary: an interval touching 0 does not exclude it
  assert.equal(widthVerdict("drifts", "drifts", [0, 0.4]).verdict, "not reproduced");
});

Deno.test("depth: the depth-muP factor on eta_hidden is asked of the registered nuGPT rule", () => {
  near(hiddenDepthFactor(8, 2, 0.5), (8 / 2) ** -0.5, 1e-12);
  near(hiddenDepthFactor(16, 2, 0.5), 1 / Math.sqrt(8), 1e-12);
  near(hiddenDepthFactor(8, 2, 1), 0.25, 1e-12);
  near(hiddenDepthFactor(4, 4, 0.5), 1, 1e-12);
  near(hiddenDepthFactor(8, 2, 0), 1, 1e-12);
});
