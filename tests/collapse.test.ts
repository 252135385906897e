/** Collapse metrics: singular values, effective / stable rank, residual, cosine, attention entropy. */
import assert from "node:assert/strict";
import {
  attentionEntropy,
  collapseResidual,
  effectiveRank,
  meanTokenCosine,
  numericalRankRel,
  singularValues,
  stableRank,
  tokenMetrics,
} from "../components/probe/collapse.ts";
import { normals } from "../engine/nn/init.ts";

/** A random n x n orthogonal matrix (Gram-Schmidt on normals). */
function orthogonal(n: number, seed: number): Float64Array {
  const v = Float64Array.from(normals(n * n, seed));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let k = 0; k < n; k++) dot += v[i * n + k] * v[j * n + k];
      for (let k = 0; k < n; k++) v[i * n + k] -= dot * v[j * n + k];
    }
    let s = 0;
    for (let k = 0; k < n; k++) s += v[i * n + k] ** 2;
    for (let k = 0; k < n; k++) v[i * n + k] /= Math.sqrt(s);
  }
  return v;
}

Deno.test("collapse: singular values of known matrices", () => {
  assert.deepEqual(Array.from(singularValues([3, 0, 0, 4], 2, 2)), [4, 3]);
  // diag(5, 2) rotated on both sides, and a wide 2 x 3 matrix
  const sv = singularValues([0, 5, 0, -2, 0, 0], 2, 3);
  assert(Math.abs(sv[0] - 5) < 1e-12 && Math.abs(sv[1] - 2) < 1e-12 && sv.length === 2);
  // Random 20 x 8: sum of squares of singular values = ||X||_F^2
  const x = normals(160, 3);
  const s = singularValues(x, 20, 8);
  let fro = 0;
  for (const v of x) fro += v * v;
  assert(Math.abs(s.reduce((a, b) => a + b * b, 0) - fro) < 1e-9 * fro);
  for (let i = 1; i < s.length; i++) assert(s[i] <= s[i - 1]);
});

Deno.test("collapse: effective rank is 1 on a rank-one matrix and d on an orthogonal one", () => {
  const T = 24, d = 16, u = normals(T, 1), v = normals(d, 2);
  const r1 = new Float64Array(T * d);
  for (let i = 0; i < T; i++) for (let j = 0; j < d; j++) r1[i * d + j] = u[i] * v[j];
  const m1 = tokenMetrics(r1, T, d);
  assert(Math.abs(m1.effective_rank - 1) < 1e-6, `rank one: ${m1.effective_rank}`);
  assert(Math.abs(m1.stable_rank - 1) < 1e-9);
  const q = orthogonal(d, 5);
  const mq = tokenMetrics(q, d, d);
  assert(Math.abs(mq.effective_rank - d) < 1e-9, `orthogonal: ${mq.effective_rank}`);
  assert(Math.abs(mq.stable_rank - d) < 1e-9);
  assert(Math.abs(effectiveRank([2, 2, 0]) - 2) < 1e-15);
  assert(Math.abs(stableRank([2, 1]) - 1.25) < 1e-15);
});

Deno.test("collapse: residual and cosine of identical, orthogonal and scaled tokens", () => {
  const same = [1, 2, 3, 1, 2, 3, 1, 2, 3];
  assert.equal(collapseResidual(same, 3, 3), 0);
  assert(Math.abs(meanTokenCosine(same, 3, 3) - 1) < 1e-15);
  const eye = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  // ||I - 1 (1/3)1^T||_F / ||I||_F = sqrt(2/3)
  assert(Math.abs(collapseResidual(eye, 3, 3) - Math.sqrt(2 / 3)) < 1e-15);
  assert.equal(meanTokenCosine(eye, 3, 3), 0);
  // Opposite tokens: cosine -1, residual 1
  assert(Math.abs(meanTokenCosine([1, 1, -1, -1], 2, 2) + 1) < 1e-15);
  assert.equal(collapseResidual([1, 1, -1, -1], 2, 2), 1);
});

Deno.test("collapse: attention entropy of uniform causal rows is mean log(i+1)", () => {
  const T = 5, a = new Float64Array(T * T);
  let expect = 0;
  for (let i = 0; i < T; i++) {
    for (let j = 0; j <= i; j++) a[i * T + j] = 1 / (i + 1);
    expect += Math.log(i + 1) / T;
  }
  assert(Math.abs(attentionEntropy(a, T) - expect) < 1e-12);
  const eye = new Float64Array(T * T);
  for (let i = 0; i < T; i++) eye[i * T + i] = 1;
  assert.equal(attentionEntropy(eye, T), 0);
  // offset addresses the second head of a [H, T, T] block
  const two = new Float64Array(2 * T * T);
  two.set(a, T * T);
  assert(Math.abs(attentionEntropy(two, T, T * T) - expect) < 1e-12);
});

Deno.test("collapse: single-head attention mixing cannot raise the rank beyond the embeddings', an MLP can", () => {
  // X_0: T = 12 tokens drawn from 5 distinct embeddings (rank 5), d = 8
  const T = 12, d = 8, e = normals(5 * d, 40), x0 = new Float64Array(T * d);
  for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) x0[t * d + j] = e[(t % 5) * d + j];
  const rank = (x: Float64Array) => numericalRankRel(singularValues(x, T, d));
  assert.equal(rank(x0), 5);
  assert.equal(numericalRankRel([1, 1e-5, 0]), 1);
  assert.equal(numericalRankRel([1, 2e-4, 0]), 2);
  // three layers of causal softmax-like mixing A (rows positive, sum 1) and a random W
  let x = x0, x1 = x0;
  for (let l = 0; l < 3; l++) {
    const a = normals(T * T, 41 + l), w = normals(d * d, 50 + l), y = new Float64Array(T * d);
    const mixed = new Float64Array(T * d);
    for (let i = 0; i < T; i++) {
      let z = 0;
      for (let j = 0; j <= i; j++) z += Math.exp(a[i * T + j]);
      for (let j = 0; j <= i; j++) {
        for (let k = 0; k < d; k++) mixed[i * d + k] += (Math.exp(a[i * T + j]) / z) * x[j * d + k];
      }
    }
    for (let i = 0; i < T; i++) {
      for (let k = 0; k < d; k++) for (let m = 0; m < d; m++) y[i * d + k] += mixed[i * d + m] * w[k * d + m];
    }
    x = y;
    if (l === 0) x1 = y;
    assert(rank(x) <= 5, `attention layer ${l}: rank ${rank(x)}`);
  }
  x = x1; // distinct tokens after one mixing, still rank 5
  // a ReLU MLP on the same tokens creates directions beyond the embeddings' rank
  const w1 = normals(4 * d * d, 60), w2 = normals(d * 4 * d, 61), m = new Float64Array(T * d);
  for (let i = 0; i < T; i++) {
    const h = new Float64Array(4 * d);
    for (let k = 0; k < 4 * d; k++) {
      for (let j = 0; j < d; j++) h[k] += w1[k * d + j] * x[i * d + j];
      h[k] = Math.max(0, h[k]);
    }
    for (let k = 0; k < d; k++) for (let j = 0; j < 4 * d; j++) m[i * d + k] += w2[k * 4 * d + j] * h[j];
  }
  assert(rank(m) > 5, `MLP: rank ${rank(m)}`);
});
