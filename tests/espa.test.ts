/** E-SPA / U-SPA kernels and attention matrices, TAT slopes, shaped attention = I at init, PG-OP overhead. */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import {
  cholesky,
  espaGammas,
  expKernel,
  matmul,
  rightDivideLower,
  spaKernels,
  spaLayers,
  transpose,
  uspaRhos,
} from "../components/block/vanilla/espa.ts";
import { MASKED } from "../engine/kernels/kernel_tasks.ts";
import { composedCMapAtZero, leakyReluCMap, tatSlope } from "../components/block/vanilla/tat.ts";
import { pgopAutoDim, pgopDim, pgopOverhead } from "../components/block/pgop.ts";
import { buildNetwork } from "../engine/nn/resolve.ts";
import { tinyTrial, wasm } from "./helpers.ts";

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("espa: gamma schedule is -1/2 log(1 - a^(2l/L)) with gamma_L = 0.005", () => {
  const L = 8, g = espaGammas(L);
  assert.equal(g.length, L + 1);
  assert.equal(g[0], Infinity);
  assert.equal(g[L], 0.005);
  const a2 = 1 - Math.exp(-0.01);
  for (let l = 1; l <= L; l++) {
    assert(Math.abs(g[l] - -0.5 * Math.log(1 - Math.pow(a2, l / L))) < 1e-12, `gamma_${l}`);
    assert(g[l] < g[l - 1], "decreasing");
  }
  // gamma_1 at L = 8: a^(2/8) = 0.00995^(1/8) = 0.5621, gamma = -1/2 log(1 - 0.5621) = 0.4128
  assert(Math.abs(g[1] - 0.41276) < 1e-4, `gamma_1 = ${g[1]}`);
});

Deno.test("espa: cholesky and right division reproduce their definitions", () => {
  const n = 12, s = expKernel(n, 0.3), l = cholesky(s, n);
  assert(maxDiff(matmul(l, transpose(l, n), n), s) < 1e-14);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.equal(l[i * n + j], 0);
  const l2 = cholesky(expKernel(n, 0.1), n);
  assert(maxDiff(matmul(rightDivideLower(l2, l, n), l, n), l2) < 1e-12);
  assert.throws(() => cholesky(new Float64Array([1, 2, 2, 1]), 2), /not positive definite/);
});

for (const kind of ["espa", "uspa"] as const) {
  Deno.test(`${kind}: A_l is causal, non-negative, and A_l Sigma_(l-1) A_l^T = Sigma_l`, () => {
    for (const [n, L] of [[16, 2], [64, 8], [48, 24]]) {
      const sig = spaKernels(kind, n, L), layers = spaLayers(kind, n, L);
      assert.equal(layers.length, L);
      layers.forEach((ly, i) => {
        for (let r = 0; r < n; r++) {
          let rowSum = 0, pSum = 0;
          for (let c = 0; c < n; c++) {
            const a = ly.A[r * n + c];
            if (c > r) {
              assert.equal(a, 0, `upper triangle A[${r},${c}]`), assert.equal(ly.B[r * n + c], MASKED);
            }
            assert(a >= 0, `A[${r},${c}] = ${a}`);
            rowSum += a, pSum += ly.P[r * n + c];
            if (ly.P[r * n + c] > 0) assert(Math.abs(Math.exp(ly.B[r * n + c]) - ly.P[r * n + c]) < 1e-15);
          }
          assert(Math.abs(rowSum - ly.D[r]) < 1e-12 && Math.abs(pSum - 1) < 1e-12);
        }
        const back = matmul(matmul(ly.A, sig[i], n), transpose(ly.A, n), n);
        assert(maxDiff(back, sig[i + 1]) < 1e-5, `layer ${i + 1}: ${maxDiff(back, sig[i + 1])}`);
      });
    }
  });
}

Deno.test("uspa: rho schedule runs 0 -> rho_L", () => {
  const r = uspaRhos(4, 0.8);
  assert.equal(r[0], 0);
  assert(Math.abs(r[4] - 0.8) < 1e-12 && Math.abs(r[2] - (1 - Math.sqrt(0.2))) < 1e-12);
});

Deno.test("tat: C map of ReLU and identity, solved slope meets C^n(0) = eta", () => {
  assert(Math.abs(leakyReluCMap(0, 0) - 1 / Math.PI) < 1e-15); // ReLU arc-cosine kernel at 0
  assert.equal(leakyReluCMap(0.3, 1), 0.3); // linear
  assert(Math.abs(leakyReluCMap(1, 0.2) - 1) < 1e-15); // C(1) = 1
  for (const n of [6, 8, 24, 100]) {
    const s = tatSlope(n, 0.9);
    assert(Math.abs(composedCMapAtZero(s, n) - 0.9) < 1e-9, `n=${n}`);
  }
  assert(tatSlope(24) > 0 && tatSlope(8) < 0, "deep stacks get a leaky slope, shallow ones a negative one");
  assert.throws(() => tatSlope(1, 0.9), /reach at most C\(0\) = 0\.6366/); // |x|: 2/pi
  assert.throws(() => tatSlope(4, 0.9), /lower the block's tat_eta/);
});

Deno.test("tat: C map equals the DKS library's leaky-ReLU form; the documented slope at n = 24", () => {
  // google-deepmind/dks base/activation_transform.py writes the normalized leaky-ReLU C map as
  // ((1 - s)^2 (sqrt(1 - c^2) + (pi - arccos c) c) / pi + 2 s c) / (1 + s^2): an independent form.
  const dks = (c: number, s: number) =>
    ((1 - s) ** 2 * (Math.sqrt(1 - c * c) + (Math.PI - Math.acos(c)) * c) / Math.PI + 2 * s * c) /
    (1 + s * s);
  for (const s of [-0.5, -0.219, 0, 0.2385, 0.7, 1]) {
    for (const c of [-0.9, 0, 0.3, 0.9, 0.999]) {
      assert(Math.abs(leakyReluCMap(c, s) - dks(c, s)) < 1e-12, `c=${c} s=${s}`);
    }
  }
  // The tatSlope doc example: C^24(0) = 0.9 at s = 0.2385 (DKS/TAT's range for s is [0, 1]).
  assert(Math.abs(tatSlope(24, 0.9) - 0.2385) < 1e-3);
});

Deno.test("pgop: overhead H r / d^2 stays under 1.6% of W_o", () => {
  assert.equal(pgopOverhead({ width: 1024, heads: 16 }, 1024), 1 / 64); // docs/reference.md's H x d at d_k = 64
  assert(pgopOverhead({ width: 1024, heads: 16 }, 1024) < 0.016);
  for (const [width, heads] of [[64, 4], [128, 8], [256, 4], [1024, 16], [32, 2]]) {
    const r = pgopAutoDim({ width, heads });
    assert(r >= 1 && r <= width);
    assert(
      pgopOverhead({ width, heads }) < 0.016 && heads * (r + 1) / (width * width) >= 0.016 || r === width,
    );
  }
  assert.equal(pgopAutoDim({ width: 64, heads: 4 }), 16);
  assert.throws(() => pgopDim({ width: 64, heads: 4 }, 64), /pgop: 4 heads x 64 features is 6\.25% of W_o/);
});

function attentionMatrices(
  over: Record<string, unknown>,
  depth = 4,
): { A: Float32Array[]; T: number; H: number } {
  const net = buildNetwork(
    tinyTrial("unused", {
      model: { block: "vanilla", width: 16, depth, head_dim: 8, tat_eta: 0.8, ...over },
      parameterization: { name: "vanilla" },
    }),
    40,
  );
  const T = 8, A: Float32Array[] = [];
  const x = new Int32Array(2 * T).map((_, i) => (i * 7) % 40);
  tf.tidy(() => {
    net.logits(tf.tensor2d(x, [2, T], "int32"), (n, t) => {
      if (n.endsWith("attn_matrix")) A.push(t.dataSync() as Float32Array);
    });
  });
  net.dispose();
  return { A, T, H: 2 };
}

Deno.test("shaped attention: A = a I + b S - c C is exactly the identity at init (W_q = 0)", async () => {
  await wasm();
  const { A, T, H } = attentionMatrices({ attention: "shaped" });
  assert.equal(A.length, 4);
  for (const a of A) {
    assert.equal(a.length, 2 * H * T * T);
    for (let i = 0; i < a.length; i++) {
      const r = Math.floor(i / T) % T, c = i % T;
      assert.equal(a[i], r === c ? 1 : 0, `entry ${i}`);
    }
  }
  const v = attentionMatrices({ attention: "value-skipinit" }).A;
  for (const a of v) {
    for (let i = 0; i < a.length; i++) assert.equal(a[i], Math.floor(i / T) % T === i % T ? 1 : 0);
  }
});

Deno.test("espa block: the attention matrix at init is A_l = L_l L_(l-1)^-1", async () => {
  await wasm();
  const L = 4, { A, T } = attentionMatrices({ attention: "espa" }, L);
  const ref = spaLayers("espa", T, L);
  A.forEach((a, l) => {
    for (let h = 0; h < 2 * 2; h++) {
      assert(maxDiff(a.subarray(h * T * T, (h + 1) * T * T), ref[l].A) < 1e-5, `layer ${l}`);
    }
  });
});
