/** The skipless claims' verdict rules (engine/analysis/claims/skipless.ts) on hand-made losses. */
import assert from "node:assert/strict";
import {
  crossingStep,
  provisionalVanilla,
  seedSpread,
  skipsVerdict,
  tunedLR,
  vanillaVerdict,
} from "../engine/analysis/claims/skipless.ts";

Deno.test("crossingStep: the first step at or below the target, in step order, skipping NaN", () => {
  const c = [{ step: 100, loss: 4.5 }, { step: 0, loss: 7 }, { step: 50, loss: NaN }, {
    step: 150,
    loss: 4.4,
  }];
  assert.equal(crossingStep(c, 4.6), 100);
  assert.equal(crossingStep(c, 4.5), 100);
  assert.equal(crossingStep(c, 4.45), 150);
  assert.equal(crossingStep(c, 4), null);
});

Deno.test("seedSpread: sample standard deviation, null for one seed", () => {
  assert.equal(seedSpread([1]), null);
  assert(Math.abs(seedSpread([1, 2, 3])! - 1) < 1e-15);
});

Deno.test("skips rule: within twice the seed noise of the difference is reproduced; 2% is the partly band", () => {
  // pre mean 4.65, sd 0.0141; nf mean 4.67, sd 0.0141: noise sqrt(2e-4/2 * 2) = 0.0141, 2 noise = 0.028
  const r = skipsVerdict([4.64, 4.66], [4.66, 4.68]);
  assert(Math.abs(r.diff - 0.02) < 1e-12 && Math.abs(r.noise! - Math.sqrt(0.0002 / 2 + 0.0002 / 2)) < 1e-12);
  assert.equal(r.verdict, "reproduced");
  assert.equal(skipsVerdict([4.64, 4.66], [4.70, 4.72]).verdict, "partly"); // 0.06 > 0.028, < 2% of 4.65
  assert.equal(skipsVerdict([4.64, 4.66], [4.80, 4.82]).verdict, "not reproduced");
  // one seed: no noise estimate, so only "at or below" reproduces
  assert.equal(skipsVerdict([4.641], [4.629]).verdict, "reproduced");
  assert.equal(skipsVerdict([4.641], [4.65]).verdict, "partly");
  assert.equal(skipsVerdict([4.641], [4.65]).noise, null);
  assert.throws(() => skipsVerdict([], [1]), /at least one seed/);
});

Deno.test("vanilla rule: paper constants within 5x reproduce, within 10x partly; another setting within 5x only partly", () => {
  const paper = (ratio: number | null) => ({ label: "E-SPA (paper)", paper: true, ratio });
  const other = (ratio: number | null) => ({ label: "E-SPA gamma_L=2", paper: false, ratio });
  assert.equal(vanillaVerdict([paper(5)]).verdict, "reproduced");
  assert.equal(vanillaVerdict([paper(5.5)]).verdict, "partly");
  assert.equal(vanillaVerdict([paper(10)]).verdict, "partly");
  assert.equal(vanillaVerdict([paper(10.5)]).verdict, "not reproduced");
  assert.equal(vanillaVerdict([paper(null), other(4.3)]).verdict, "partly");
  assert.equal(vanillaVerdict([paper(null), other(4.3)]).by?.label, "E-SPA gamma_L=2");
  assert.equal(vanillaVerdict([paper(null), other(6)]).verdict, "not reproduced");
  assert.equal(vanillaVerdict([paper(8), paper(3)]).by?.ratio, 3);
  assert.deepEqual(vanillaVerdict([]), { verdict: "not reproduced", by: null });
});

Deno.test("tunedLR: lowest seed-mean final among LRs whose every seed finished; its seed-mean curve", () => {
  const t = (lr: number, seed: number, final: number, c: [number, number][]) => ({
    lr,
    seed,
    final,
    curve: c.map(([step, loss]) => ({ step, loss })),
  });
  const r = tunedLR([
    t(1e-3, 0, 4.8, [[0, 7], [100, 4.8]]),
    t(1e-3, 1, 4.9, [[0, 7], [100, 4.9]]),
    t(3e-3, 0, 4.6, [[0, 7], [50, 5], [100, 4.6]]),
    t(3e-3, 1, 4.7, [[0, 7.2], [100, 4.7]]),
    t(1e-2, 0, 4.0, [[0, 7], [100, 4.0]]),
    t(1e-2, 1, NaN, [[0, 7], [100, NaN]]), // one seed diverged: the LR does not count
  ])!;
  assert.equal(r.lr, 3e-3);
  assert(Math.abs(r.mean - 4.65) < 1e-12);
  assert.deepEqual(r.finals, [4.6, 4.7]);
  assert(Math.abs(r.spread! - Math.sqrt(0.005)) < 1e-12);
  assert.deepEqual(r.curve.map((p) => p.step), [0, 100]); // step 50 only one seed logged
  assert(Math.abs(r.curve[0].loss - 7.1) < 1e-12);
  assert.equal(r.lrsRun, 3);
  assert.equal(r.lrsStable, 2);
  assert.equal(r.bracketed, true); // 1e-3 below, 1e-2 (diverged) above
  assert.equal(tunedLR([t(1e-3, 0, 4.8, []), t(3e-3, 0, 4.7, [])])!.bracketed, false); // best at the edge
  assert.equal(tunedLR([t(1e-3, 0, NaN, [])]), null);
});

Deno.test("vanilla rule while variants run: only reproduced is final", () => {
  assert.equal(provisionalVanilla("reproduced", true), "reproduced");
  assert.equal(provisionalVanilla("partly", true), "not yet run");
  assert.equal(provisionalVanilla("not reproduced", true), "not yet run");
  assert.equal(provisionalVanilla("partly", false), "partly");
});
