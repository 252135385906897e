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
