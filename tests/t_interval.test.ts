/** The Student-t interval across seeds (engine/analysis/t_interval.ts) against tabled quantiles and the formula. */
import assert from "node:assert/strict";
import { meanInterval, tQuantile975 } from "../engine/analysis/t_interval.ts";

const near = (a: number, b: number, tol: number) => assert(Math.abs(a - b) <= tol, `${a} vs ${b}`);

Deno.test("tQuantile975: the tabled values and the large-df expansion", () => {
  assert.equal(tQuantile975(1), 12.706);
  assert.equal(tQuantile975(2), 4.303);
  assert.equal(tQuantile975(10), 2.228);
  // Beyond the table: t_{0.975,40} = 2.0211, t_{0.975,120} = 1.9799 (standard tables).
  near(tQuantile975(40), 2.0211, 1e-3);
  near(tQuantile975(120), 1.9799, 1e-3);
  // Continuous across the table's end: t_{0.975,31} = 2.0395.
  near(tQuantile975(31), 2.0395, 1e-3);
  assert(Number.isNaN(tQuantile975(0)) && Number.isNaN(tQuantile975(2.5)));
});

Deno.test("meanInterval: mean +- t s / sqrt(n), NaN bounds with one value, non-finite values dropped", () => {
  const ci = meanInterval([0.6, 0.7, 0.8, NaN]);
  near(ci.mean, 0.7, 1e-12);
  // s = 0.1, n = 3: half-width 4.303 * 0.1 / sqrt(3).
  near(ci.hi - ci.mean, 4.303 * 0.1 / Math.sqrt(3), 1e-12);
  near(ci.mean - ci.lo, 4.303 * 0.1 / Math.sqrt(3), 1e-12);
  assert.equal(ci.n, 3);
  const one = meanInterval([0.5]);
  assert.equal(one.mean, 0.5);
  assert(Number.isNaN(one.lo) && Number.isNaN(one.hi));
});
