/**
 * Property tests of "layer normalisation is precisely affine-rank-neutral"
 * (arXiv 2604.23681; components/probe/affine_rank.ts): on random token sets and on
 * adversarial ones (lines, flats containing the direction 1, more tokens
 * than features, collapsed sets), with random gains and biases.
 */
import assert from "node:assert/strict";
import {
  affineRank,
  centerTokens,
  flatTokens,
  layerNorm,
  linearRank,
  rmsNormTokens,
} from "../components/probe/affine_rank.ts";
import { normals } from "../engine/nn/init.ts";

const f64 = (n: number, seed: number) => Float64Array.from(normals(n, seed));

/** A gain with entries in [0.5, 1.5] (no zero: the gain is invertible) and a bias. */
function gainBias(d: number, seed: number) {
  const g = f64(d, seed).map((v) => 1 + 0.5 * Math.tanh(v)), b = f64(d, seed + 1);
  return { gain: g, bias: b };
}

/** rank(P X), P = I - 1 1^T / d the centering of each token over its features. */
function centeredFeaturesRank(x: Float64Array, T: number, d: number): number {
  const y = new Float64Array(x.length);
  for (let t = 0; t < T; t++) {
    let m = 0;
    for (let j = 0; j < d; j++) m += x[t * d + j] / d;
    for (let j = 0; j < d; j++) y[t * d + j] = x[t * d + j] - m;
  }
  return linearRank(y, T, d);
}

Deno.test("affine rank: known sets", () => {
  assert.equal(affineRank([1, 0, 2, 0, 3, 0], 3, 2), 1); // a line
  assert.equal(affineRank([1, 1, 1, 1, 1, 1], 3, 2), 0); // collapsed
  assert.equal(affineRank([1, 0, 0, 1, 1, 0], 3, 2), 1); // two distinct points, not through 0
  assert.equal(linearRank([1, 0, 0, 1, 1, 0], 3, 2), 2);
  assert.equal(affineRank([0, 0, 1, 0, 0, 1], 3, 2), 2); // a triangle
  assert.deepEqual(Array.from(centerTokens([1, 2, 3, 4], 2, 2)), [-1, -1, 1, 1]);
  assert.deepEqual(Array.from(layerNorm([1, 3], 1, 2)), [-1, 1]);
  const r = rmsNormTokens([3, 4], 1, 2);
  assert(Math.abs(r[0] - 3 / Math.sqrt(12.5)) < 1e-15 && Math.abs(r[1] - 4 / Math.sqrt(12.5)) < 1e-15);
});

Deno.test("LayerNorm keeps the affine rank of generic token sets with T < d (random gain and bias)", () => {
  for (const [T, d] of [[3, 8], [5, 8], [7, 8], [10, 16], [15, 16]]) {
    for (let seed = 0; seed < 3; seed++) {
      const x = f64(T * d, 100 * T + seed), o = gainBias(d, seed);
      const before = affineRank(x, T, d);
      assert.equal(before, T - 1);
      assert.equal(affineRank(layerNorm(x, T, d, o), T, d), before, `T=${T} d=${d} seed=${seed}`);
      // zero bias: the matrix rank is kept too
      assert.equal(linearRank(layerNorm(x, T, d, { gain: o.gain }), T, d), linearRank(x, T, d));
    }
  }
});

Deno.test("LayerNorm, exact: rank LN(X) = rank(P X) and rank(P X) - 1 <= affine rank LN(X) <= rank(P X)", () => {
  const d = 8, one = new Float64Array(d).fill(1);
  const cases: [string, Float64Array, number][] = [];
  for (const T of [3, 8, 9, 14]) cases.push([`random T=${T}`, f64(T * d, T), T]);
  const B = f64(3 * d, 7);
  cases.push(["3-flat", flatTokens(10, d, B, 3, f64(d, 8), 9), 10]);
  cases.push(["3-subspace", flatTokens(10, d, B, 3, new Float64Array(d), 10), 10]);
  const B1 = Float64Array.from([...B.subarray(0, 2 * d), ...one]);
  cases.push(["3-flat containing 1", flatTokens(10, d, B1, 3, f64(d, 11), 12), 10]);
  cases.push(["line", flatTokens(5, d, f64(d, 13), 1, f64(d, 14), 15), 5]);
  cases.push(["collapsed", flatTokens(6, d, f64(d, 16), 0, f64(d, 17), 18), 6]);
  for (const [name, x, T] of cases) {
    for (let seed = 0; seed < 2; seed++) {
      const o = gainBias(d, 50 + seed);
      const pr = centeredFeaturesRank(x, T, d);
      assert.equal(linearRank(layerNorm(x, T, d, { gain: o.gain }), T, d), pr, `${name}: linear rank`);
      const a = affineRank(layerNorm(x, T, d, o), T, d);
      assert(a >= pr - 1 && a <= pr, `${name}: affine rank ${a}, rank(PX) ${pr}`);
      // RMSNorm keeps the linear rank exactly
      assert.equal(linearRank(rmsNormTokens(x, T, d, { gain: o.gain }), T, d), linearRank(x, T, d), name);
    }
  }
});

Deno.test("LayerNorm's affine rank is not invariant on adversarial sets (and RMSNorm's neither)", () => {
  const d = 8;
  // T >= d generic tokens: affine rank d; LN centers onto the (d-1)-dim hyperplane 1^T y = 0.
  for (const T of [9, 12, 20]) {
    const x = f64(T * d, 200 + T);
    assert.equal(affineRank(x, T, d), d);
    assert.equal(affineRank(layerNorm(x, T, d), T, d), d - 1, `LN, T=${T}`);
    assert.equal(affineRank(rmsNormTokens(x, T, d), T, d), d, `RMSNorm, T=${T}`);
  }
  // A line of tokens with different spreads: the per-token scale bends it into a plane.
  const line = flatTokens(5, d, f64(d, 21), 1, f64(d, 22), 23);
  assert.equal(affineRank(line, 5, d), 1);
  assert.equal(affineRank(layerNorm(line, 5, d), 5, d), 2);
  assert.equal(affineRank(rmsNormTokens(line, 5, d), 5, d), 2);
  // A line through the origin is kept by RMSNorm (2 points +-u) and by LN.
  const ray = flatTokens(5, d, f64(d, 24), 1, new Float64Array(d), 25);
  assert.equal(affineRank(rmsNormTokens(ray, 5, d), 5, d), 1);
  assert.equal(affineRank(layerNorm(ray, 5, d), 5, d), 1);
  // A collapsed set stays collapsed under both.
  const same = flatTokens(6, d, f64(d, 26), 0, f64(d, 27), 28);
  assert.equal(affineRank(layerNorm(same, 6, d), 6, d), 0);
  assert.equal(affineRank(rmsNormTokens(same, 6, d), 6, d), 0);
  // A flat containing the direction 1: LN loses that direction, RMSNorm does not (and bends the flat).
  const B = f64(2 * d, 29), B1 = Float64Array.from([...B, ...new Float64Array(d).fill(1)]);
  const x1 = flatTokens(10, d, B1, 3, f64(d, 30), 31);
  assert.equal(affineRank(x1, 10, d), 3);
  assert.equal(affineRank(layerNorm(x1, 10, d), 10, d), 3); // rank(PX) = 3, one up from the bend
  assert.equal(affineRank(rmsNormTokens(x1, 10, d), 10, d), 4);
});
