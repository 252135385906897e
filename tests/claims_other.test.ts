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
import { type FiberCounts, headFiberVerdict, pgopVerdict } from "../engine/analysis/claims/heads.ts";
import { beatsVerdict } from "../engine/analysis/claims/layerwise.ts";
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

Deno.test("collapse: attention-only collapses at both steps, doubly exponentially, skips keep the residual", () => {
  const R = COLLAPSE_RULE;
  const collapsed = { init: 1e-4, end: 1e-3 }, kept = { init: 0.9, end: 0.8 };
  assert.equal(collapseVerdict(collapsed, kept, doubly).verdict, "reproduced");
  // an exponential fit that beats the doubly-exponential one, or a base at the threshold: partly
  assert.equal(collapseVerdict(collapsed, kept, { ...doubly, exp_r2: 0.995 }).verdict, "partly");
  assert.equal(collapseVerdict(collapsed, kept, { ...doubly, dexp_base: R.doublyBase }).verdict, "partly");
  assert.equal(collapseVerdict(collapsed, kept, null).verdict, "partly");
  // collapsed at init only; the boundary share itself does not count as collapsed
  assert.equal(collapseVerdict({ init: 1e-4, end: R.collapsedShare }, kept, doubly).verdict, "partly");
  // skips that do not keep the residual: the contrast fails at both steps
  assert.equal(collapseVerdict(collapsed, { init: R.keptShare, end: 0.1 }, doubly).verdict, "not reproduced");
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

Deno.test("collapse: attention entropy falls in the collapsing run, not in the stable one", () => {
  const t = ENTROPY_RULE.collapsedShare;
  assert.equal(entropyVerdict({ stable: 0.8, collapsing: 0.1 }).verdict, "reproduced");
  assert.equal(entropyVerdict({ stable: 0.8, collapsing: t }).verdict, "partly"); // the boundary is not below
  assert.equal(entropyVerdict({ stable: 0.8, collapsing: 0.5 }).verdict, "partly");
  assert.equal(entropyVerdict({ stable: 0.5, collapsing: 0.8 }).verdict, "not reproduced");
  assert.equal(entropyVerdict({ stable: 0.1, collapsing: 0.1 }).verdict, "not reproduced");
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

Deno.test("heads: PG-OP from the counts and the trained gates", () => {
  assert.equal(pgopVerdict([counts()], true).verdict, "partly"); // shrinks the constant fiber only
  assert.equal(pgopVerdict([counts()], null).verdict, "partly"); // no trained run read
  assert.equal(pgopVerdict([counts()], false).verdict, "not reproduced"); // trained gates did nothing
  assert.equal(pgopVerdict([counts({ sharedPgop: 4 })], true).verdict, "reproduced");
  assert.equal(pgopVerdict([counts(), counts({ constPgop: 2 })], true).verdict, "not reproduced");
});

Deno.test("layer-wise: beats the encoder-decoder over seeds", () => {
  const ed = { mean: 0.2, min: 0.19, max: 0.21 };
  assert.equal(beatsVerdict({ mean: 0.3, min: 0.28, max: 0.32 }, ed).verdict, "reproduced");
  assert.equal(beatsVerdict({ mean: 0.3, min: 0.21, max: 0.32 }, ed).verdict, "partly"); // worst = best: not beyond
  assert.equal(beatsVerdict({ mean: 0.2, min: 0.18, max: 0.22 }, ed).verdict, "not reproduced");
  assert.equal(beatsVerdict(undefined, ed).verdict, "not yet run");
});

Deno.test("affine rank: LayerNorm keeps it in every case, in the generic cases only, or not", () => {
  const g = { rank: 4, rankLN: 4, generic: true }, bent = { rank: 1, rankLN: 2, generic: false };
  assert.equal(affineRankVerdict([g, { ...bent, rankLN: 1 }]).verdict, "reproduced");
  assert.equal(affineRankVerdict([g, bent]).verdict, "partly");
  assert.equal(affineRankVerdict([{ ...g, rankLN: 3 }, bent]).verdict, "not reproduced");
});
