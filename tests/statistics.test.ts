/** The analysis' general statistics (engine/analysis/statistics.ts) against their definitions. */
import assert from "node:assert/strict";
import { centralSd, normalSampler, quantile, robustSd } from "../engine/analysis/statistics.ts";
import { mulberry32 } from "../engine/core/random.ts";

Deno.test("quantile interpolates linearly between order statistics", () => {
  const v = [1, 2, 4, 8];
  // Position (n - 1) q: 0.5 -> 1.5, between 2 and 4.
  assert.equal(quantile(v, 0.5), 3);
  assert.equal(quantile(v, 0), 1);
  assert.equal(quantile(v, 1), 8);
  assert.ok(Math.abs(quantile(v, 0.9) - (4 + 0.7 * (8 - 4))) < 1e-12);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

Deno.test("normalSampler draws mean 0, sd 1; centralSd and robustSd recover the sd", () => {
  const normal = normalSampler(mulberry32(7));
  const v = Array.from({ length: 20000 }, () => 3 * normal());
  const mean = v.reduce((a, x) => a + x, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / (v.length - 1));
  assert.ok(Math.abs(mean) < 0.1, `mean ${mean}`);
  assert.ok(Math.abs(sd - 3) < 0.1, `sd ${sd}`);
  // Half the central 68.3% range of a normal is its sd; a few wild draws do not move it.
  const wild = [...v, 1e9, -1e9, Infinity, NaN];
  assert.ok(Math.abs(robustSd(wild) - 3) < 0.1, `robust sd ${robustSd(wild)}`);
  assert.equal(centralSd(v.slice().sort((a, b) => a - b)), robustSd(v));
  assert.ok(Number.isNaN(centralSd([1, 2])));
});
