/** Fitting the rank-collapse rate in depth (components/probe/collapse_rate.ts) on curves with a known answer. */
import assert from "node:assert/strict";
import { fitCollapseRate, olsLine } from "../components/probe/collapse_rate.ts";

Deno.test("collapse rate: a doubly exponential curve res_l = exp(-0.05 3^l) has base 3", () => {
  const layers = [0, 1, 2, 3, 4, 5, 6];
  const res = layers.map((l) => Math.exp(-0.05 * 3 ** l));
  const f = fitCollapseRate(layers, res)!;
  // layer 0 is the embedding; layer 6 (exp(-36)) is below the float32 floor
  assert.equal(f.points, 5);
  assert(Math.abs(f.dexp_base - 3) < 1e-9 && Math.abs(f.dexp_r2 - 1) < 1e-12, JSON.stringify(f));
  assert(f.exp_r2 < 0.95, "not a straight line in log res");
});

Deno.test("collapse rate: an exponential curve res_l = 0.9 * 0.5^l has per-layer factor 0.5", () => {
  const layers = [1, 2, 3, 4, 5, 6, 7, 8];
  const f = fitCollapseRate(layers, layers.map((l) => 0.9 * 0.5 ** l))!;
  assert(Math.abs(f.per_layer_factor - 0.5) < 1e-12 && Math.abs(f.exp_r2 - 1) < 1e-12);
  assert(f.dexp_base < 1.5, `base ${f.dexp_base}`);
  assert.equal(fitCollapseRate([1, 2], [0.5, 0.25]), null);
  assert.equal(fitCollapseRate([1, 2, 3, 4], [1, 1, 1, 0.5]), null, "no collapse");
  const o = olsLine([0, 1, 2], [1, 3, 5]);
  assert.deepEqual([o.slope, o.intercept, o.r2], [2, 1, 1]);
});
