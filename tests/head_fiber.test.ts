/**
 * Head-channel non-identifiability, counted from the Jacobian's null space
 * (components/probe/head_fiber.ts; arXiv 2604.23681): n (H - 1) d_k when heads are
 * summed in one space, n (H d_k - rank W_o) through dmodel's W_o, and what
 * PG-OP (components/block/pgop.ts) changes.
 */
import assert from "node:assert/strict";
import { wasm } from "./helpers.ts";
import { normals } from "../engine/nn/init.ts";
import {
  constantSignalFiberDimension,
  headFiberDimension,
  type HeadMixing,
  sharedSpaceWo,
} from "../components/probe/head_fiber.ts";
import { gateMatrix, headFiberColumns } from "../components/probe/head_fiber_probe.ts";
import { pgopFeatures } from "../components/block/pgop.ts";
import { singularValues } from "../components/probe/collapse.ts";
import { linearRank } from "../components/probe/affine_rank.ts";

const SHAPES: [number, number, number][] = [[3, 2, 2], [4, 3, 2], [2, 4, 3], [5, 2, 4]]; // n, H, d_k

function gates(H: number, r: number, seed: number) {
  return { data: Array.from(normals(H * r, seed), (v) => 0.7 * v), dim: r };
}

Deno.test("head fiber: n (H - 1) d_k when the heads are summed in one space, with or without PG-OP", async () => {
  await wasm();
  for (const [n, H, dk] of SHAPES) {
    for (const width of [dk, 2 * dk]) {
      const wo = sharedSpaceWo(normals(width * dk, n + H), width, H, dk);
      const m: HeadMixing = { tokens: n, heads: H, head_dim: dk, width, wo };
      assert.equal(headFiberDimension(m), n * (H - 1) * dk, `n=${n} H=${H} d_k=${dk} d=${width}`);
      // PG-OP scales head h at position t by g[t, h] > 0: invertible, the count is unchanged.
      assert.equal(headFiberDimension({ ...m, wg: gates(H, 4, 7) }), n * (H - 1) * dk, "with PG-OP");
    }
  }
});

Deno.test("head fiber: through dmodel's W_o it is n (H d_k - rank W_o): 0 for an invertible W_o", async () => {
  await wasm();
  for (const [n, H, dk] of SHAPES) {
    const d = H * dk;
    const wo = normals(d * d, 3 * n + H);
    assert.equal(headFiberDimension({ tokens: n, heads: H, head_dim: dk, width: d, wo }), 0);
    assert.equal(
      headFiberDimension({ tokens: n, heads: H, head_dim: dk, width: d, wo, wg: gates(H, 4, 9) }),
      0,
    );
    // W_o of rank r = d_k + 1 (a product of d x r and r x d factors)
    const r = dk + 1, a = normals(d * r, 11), b = normals(r * d, 12), low = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) for (let k = 0; k < r; k++) low[i * d + j] += a[i * r + k] * b[k * d + j];
    }
    assert.equal(headFiberDimension({ tokens: n, heads: H, head_dim: dk, width: d, wo: low }), n * (d - r));
  }
});

Deno.test("head fiber: PG-OP removes the ambiguity of position-constant head signals, (H - rank G) d_k", async () => {
  await wasm();
  for (const [n, H, dk] of SHAPES) {
    const width = dk;
    const wo = sharedSpaceWo(normals(width * dk, 5 * n + H), width, H, dk);
    const m: HeadMixing = { tokens: n, heads: H, head_dim: dk, width, wo };
    assert.equal(constantSignalFiberDimension(m), (H - 1) * dk, "no PG-OP");
    // W_g = 0 (PG-OP at init): every gate is 1, G has rank 1, nothing removed
    const zero = { data: new Array(H * 4).fill(0), dim: 4 };
    assert.equal(constantSignalFiberDimension({ ...m, wg: zero }), (H - 1) * dk, "PG-OP at init");
    // random W_g: G [n, H] has rank min(n, H)
    assert.equal(constantSignalFiberDimension({ ...m, wg: gates(H, 4, 13) }), (H - Math.min(n, H)) * dk);
  }
});

Deno.test("head_fiber probe columns: W_o rank and fiber, (H - rank G) d_k, and the gate matrix's spread, against the formulas", async () => {
  await wasm();
  const [T, H, dk, r] = [12, 3, 4, 5], d = H * dk;
  // G[t, h] = 2 sigmoid(P[t] . w_h), written out here from components/block/pgop.ts's definition
  const gateFormula = (wg: ArrayLike<number>) => {
    const p = pgopFeatures(T, r), g = new Float64Array(T * H);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        let a = 0;
        for (let j = 0; j < r; j++) a += p[t * r + j] * wg[h * r + j];
        g[t * H + h] = 2 / (1 + Math.exp(-a));
      }
    }
    return g;
  };
  const shape = { width: d, heads: H, head_dim: dk, dim: r, tokens: T };
  const wo = normals(d * d, 21);
  // at init (W_g = 0) every gate is 1: G = 1 1^T, nothing is removed
  const init = headFiberColumns(wo, new Float64Array(H * r), shape);
  assert.deepEqual(
    { ...init, gate_sv_ratio: Math.round(init.gate_sv_ratio * 1e6) },
    { wo_rank: d, fiber_wo: 0, fiber_const: (H - 1) * dk, gate_sv_ratio: 0, gate_dev: 0 },
  );
  // trained-like gates: G has rank H, so the position-constant fiber closes; the spread is sigma_H / sigma_1
  const wg = Float64Array.from(normals(H * r, 22), (v) => 0.3 * v);
  const g = gateFormula(wg);
  assert(Math.abs(gateMatrix(wg, H, r, T)[7] - g[7]) < 1e-6);
  const sv = singularValues(g, T, H);
  const c = headFiberColumns(wo, wg, shape);
  assert.equal(c.fiber_const, (H - linearRank(g, T, H, 1e-5)) * dk);
  assert.equal(c.fiber_const, 0);
  assert(Math.abs(c.gate_sv_ratio - sv[H - 1] / sv[0]) < 1e-5 && c.gate_sv_ratio > 0.01);
  assert(Math.abs(c.gate_dev - g.reduce((a, v) => a + Math.abs(v - 1), 0) / g.length) < 1e-6);
  // two heads with the same gate vector: rank G = H - 1 leaves d_k position-constant directions
  const tied = Float64Array.from(wg);
  for (let j = 0; j < r; j++) tied[r + j] = tied[j];
  assert.equal(headFiberColumns(wo, tied, shape).fiber_const, dk);
  assert(headFiberColumns(wo, tied, shape).gate_sv_ratio < 1e-6);
  // a W_o of rank d - 2: the full fiber is T (H d_k - rank W_o) = 2 T
  const low = Float64Array.from(wo);
  for (let i = 0; i < d; i++) [low[i * d + 1], low[i * d + 2]] = [low[i * d], 2 * low[i * d]];
  assert.deepEqual([headFiberColumns(low, wg, shape).wo_rank, headFiberColumns(low, wg, shape).fiber_wo], [
    d - 2,
    2 * T,
  ]);
});
