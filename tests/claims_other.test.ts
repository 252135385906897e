/**
 * The other papers' verdict rules (engine/analysis/claims/: collapse, MLP
 * directions, entropy, head-channel fiber, PG-OP, layer-wise, affine rank) on
 * synthetic numbers, boundaries included.
 */
import assert from "node:assert/strict";
import {
  COLLAPSE_RULE,
  collapseVerdict,
  ENTROPY_RULE,
  entropyVerdict,
  mlpDirectionsVerdict,
} from "../engine/analysis/claims/collapse.ts";
import {
  type FiberCounts,
  headFiberVerdict,
  PGOP_RULE,
  pgopVerdict,
} from "../engine/analysis/claims/heads.ts";
import { beatsVerdict, welchDifference } from "../engine/analysis/claims/layerwise.ts";
import { affineRankVerdict } from "../engine/analysis/claims/affine_rank.ts";
import { excludesZero } from "../engine/analysis/claims/verdict.ts";

const doubly = { dexp_base: 2.5, dexp_r2: 0.99, exp_r2: 0.9 };

Deno.test("verdict: excludesZero", () => {
  assert.equal(excludesZero([0.1, 0.2]), true);
  assert.equal(excludesZero([-0.2, -0.1]), true);
  assert.equal(excludesZero([-0.1, 0.1]), false);
  assert.equal(excludesZero([0, 0.1]), false);
  assert.equal(excludesZero(null), false);
});

Deno.test("collapse: four statements; partly when collapse and its prevention hold but not the rate or persistence", () => {
  const R = COLLAPSE_RULE;
  const collapsed = { init: 1e-4, end: 1e-3 }, kept = { init: 0.9, end: 0.8 };
  const all = collapseVerdict(collapsed, kept, doubly);
  assert.equal(all.verdict, "reproduced");
  assert.deepEqual(all.numbers, {
    collapsedAtInit: true,
    skipsKeep: true,
    doubly: true,
    collapsedAfterTraining: true,
  });
  // (3) fails: an exponential fit beats the doubly-exponential one, or the base sits at the threshold
  assert.equal(collapseVerdict(collapsed, kept, { ...doubly, exp_r2: 0.995 }).verdict, "partly");
  assert.equal(collapseVerdict(collapsed, kept, { ...doubly, dexp_base: R.doublyBase }).verdict, "partly");
  assert.equal(collapseVerdict(collapsed, kept, null).verdict, "partly");
  // (4) fails: training undoes the collapse; the boundary share itself is not collapsed
  assert.equal(collapseVerdict({ init: 1e-4, end: R.collapsedShare }, kept, doubly).verdict, "partly");
  // (1) fails: collapsed after training only is not collapse with depth at init
  assert.equal(collapseVerdict({ init: 0.2, end: 1e-3 }, kept, doubly).verdict, "not reproduced");
  // (2) fails: skips must keep over half at init and after training (the boundary does not count)
  assert.equal(collapseVerdict(collapsed, { init: 0.9, end: R.keptShare }, doubly).verdict, "not reproduced");
  assert.equal(collapseVerdict(null, kept, doubly).verdict, "not yet run");
  // NaN shares (a layer missing) never count as collapsed
  assert.equal(collapseVerdict({ init: NaN, end: NaN }, kept, doubly).verdict, "not reproduced");
});

Deno.test("collapse: the MLP adds directions beyond the embeddings that attention does not", () => {
  assert.equal(mlpDirectionsVerdict({ oneHead: 0, mlpOneHead: 3, fourHeads: 0 }).verdict, "reproduced");
  assert.equal(mlpDirectionsVerdict({ oneHead: 0, mlpOneHead: 3, fourHeads: 2 }).verdict, "partly");
  assert.equal(mlpDirectionsVerdict({ oneHead: 0, mlpOneHead: 3, fourHeads: NaN }).verdict, "partly");
  assert.equal(mlpDirectionsVerdict({ oneHead: 1, mlpOneHead: 3, fourHeads: 0 }).verdict, "not reproduced");
  assert.equal(mlpDirectionsVerdict({ oneHead: 0, mlpOneHead: 0, fourHeads: 0 }).verdict, "not reproduced");
  assert.equal(mlpDirectionsVerdict({ oneHead: NaN, mlpOneHead: 3, fourHeads: 0 }).verdict, "not yet run");
});

Deno.test("entropy: collapse at the high LR with instability is reproduced; without instability partly", () => {
  const E = ENTROPY_RULE;
  const run = (init: number, end: number, maxRise = 0.01, diverged = false) => ({
    init,
    end,
    maxRise,
    diverged,
  });
  const stable = run(2.9, 2.8);
  assert.equal(entropyVerdict({ stable, collapsing: run(2.9, 0.6, 0.5) }).verdict, "reproduced");
  assert.equal(entropyVerdict({ stable, collapsing: run(2.9, 0.6, 0.01, true) }).verdict, "reproduced");
  // no spike above the threshold (the boundary does not count), no divergence: partly
  const calm = entropyVerdict({ stable, collapsing: run(2.9, 0.6, E.spike) });
  assert.equal(calm.verdict, "partly");
  assert.equal(calm.numbers!.collapsingShare, 0.6 / 2.9);
  // the stable run spikes too: no contrast of instability
  assert.equal(
    entropyVerdict({ stable: run(2.9, 2.8, 0.5), collapsing: run(2.9, 0.6, 0.5) }).verdict,
    "partly",
  );
  // the entropy contrast fails at its boundaries: not reproduced
  assert.equal(
    entropyVerdict({ stable, collapsing: run(2, 2 * E.collapsedShare, 0.5) }).verdict,
    "not reproduced",
  );
  assert.equal(
    entropyVerdict({ stable: run(2, 2 * E.keptShare), collapsing: run(2.9, 0.6, 0.5) }).verdict,
    "not reproduced",
  );
  assert.equal(entropyVerdict(null).verdict, "not yet run");
});

/** Counts of one shape where the paper's count holds in a shared space and a full-rank W_o removes it. */
const counts = (o: Partial<FiberCounts> = {}): FiberCounts => ({
  predicted: 8,
  shared: 8,
  sharedPgop: 8,
  full: 0,
  fullPgop: 0,
  constNone: 2,
  constPgop: 0,
  ...o,
});

Deno.test("heads: non-identifiability from the fiber counts", () => {
  assert.equal(
    headFiberVerdict([counts(), counts({ predicted: 24, shared: 24, sharedPgop: 24 })]).verdict,
    "partly",
  );
  assert.equal(headFiberVerdict([counts({ full: 4, fullPgop: 4 })]).verdict, "reproduced");
  assert.equal(headFiberVerdict([counts(), counts({ shared: 7 })]).verdict, "not reproduced");
});

Deno.test("heads: PG-OP from the counts and the trained gates' spread", () => {
  const m = PGOP_RULE.minSpread;
  assert.equal(pgopVerdict([counts()], { reduces: true, minSpread: 0.05 }).verdict, "reproduced");
  assert.equal(pgopVerdict([counts()], { reduces: true, minSpread: m }).verdict, "reproduced"); // at the bound
  assert.equal(pgopVerdict([counts()], { reduces: true, minSpread: m / 2 }).verdict, "partly"); // ill-conditioned
  assert.equal(pgopVerdict([counts()], null).verdict, "partly"); // random gates only
  assert.equal(pgopVerdict([counts()], { reduces: false, minSpread: 0.05 }).verdict, "not reproduced");
  assert.equal(
    pgopVerdict([counts(), counts({ constPgop: 2 })], { reduces: true, minSpread: 0.05 }).verdict,
    "not reproduced",
  );
});

Deno.test("layer-wise: Welch's interval of the difference of mean BLEU against a hand computation", () => {
  // a = 1, 2, 3 (mean 2, var 1); b = 0, 0, 3 (mean 1, var 3): se = sqrt(1/3 + 1) = sqrt(4/3),
  // Welch df = (4/3)^2 / ((1/3)^2 / 2 + 1 / 2) = 3.2 -> 3, t(0.975, 3) = 3.182
  const d = welchDifference([1, 2, 3], [0, 0, 3]);
  assert.equal(d.diff, 1);
  assert.equal(d.df, 3);
  const half = 3.182 * Math.sqrt(4 / 3);
  assert(Math.abs(d.ci![0] - (1 - half)) < 1e-3 && Math.abs(d.ci![1] - (1 + half)) < 1e-3, `${d.ci}`);
  assert.equal(welchDifference([1], [0, 1]).ci, null);
});

Deno.test("layer-wise: beats the encoder-decoder beyond the seed noise, within it, or not", () => {
  const ed = [20, 21, 22];
  assert.equal(beatsVerdict([30, 31, 32], ed).verdict, "reproduced");
  assert.equal(beatsVerdict([10, 31, 35], ed).verdict, "partly"); // mean 25.3 > 21, interval includes 0
  assert.equal(beatsVerdict([31], [21]).verdict, "partly"); // one seed a side: no interval
  assert.equal(beatsVerdict([20, 21, 22], ed).verdict, "not reproduced"); // equal means
  assert.equal(beatsVerdict([5, 30, 22], ed).verdict, "not reproduced");
  assert.equal(beatsVerdict([], ed).verdict, "not yet run");
});

Deno.test("affine rank: LayerNorm keeps it in every case, in the generic cases only, or not", () => {
  const g = { rank: 4, rankLN: 4, generic: true }, bent = { rank: 1, rankLN: 2, generic: false };
  assert.equal(affineRankVerdict([g, { ...bent, rankLN: 1 }]).verdict, "reproduced");
  assert.equal(affineRankVerdict([g, bent]).verdict, "partly");
  assert.equal(affineRankVerdict([{ ...g, rankLN: 3 }, bent]).verdict, "not reproduced");
});
