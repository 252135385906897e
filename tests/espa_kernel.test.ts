/**
 * E-SPA's signal propagation at init against closed forms: the exponential
 * kernel's Cholesky factor (an AR(1) process), the schedule's constant
 * diagonal a^(1/L), the infinite-width kernel path with and without the
 * MLP-aware schedule, and the block's measured kernel A K A^T.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import {
  cholesky,
  decompose,
  espaGammas,
  expKernel,
  kernelCMap,
  spaKernels,
  spaLayers,
} from "../components/block/vanilla/espa.ts";
import { kernelPath, kernelStats } from "../components/block/vanilla/kernel_path.ts";
import { leakyReluCMap, tatSlope } from "../components/block/vanilla/tat.ts";
import { tokenKernel } from "../components/block/vanilla/diagnose.ts";
import { buildNetwork } from "../engine/nn/resolve.ts";
import { maxAbsDiff, tinyTrial, wasm } from "./helpers.ts";

Deno.test("espa: chol(exp(-gamma|i-j|)) is the AR(1) factor: L[i,0] = e^(-gamma i), L[i,j] = sqrt(1 - e^(-2 gamma)) e^(-gamma (i-j))", () => {
  const n = 20, g = 0.17, l = cholesky(expKernel(n, g), n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const want = j === 0 ? Math.exp(-g * i) : Math.sqrt(1 - Math.exp(-2 * g)) * Math.exp(-g * (i - j));
      assert(Math.abs(l[i * n + j] - want) < 1e-12, `L[${i},${j}] = ${l[i * n + j]}, want ${want}`);
    }
  }
});

Deno.test("espa: the schedule keeps A_l's diagonal at a^(1/L) in every layer (a^2 = 1 - e^(-2 gamma_L))", () => {
  for (const [n, L, gL] of [[32, 8, 0.005], [24, 5, 0.04]]) {
    const a = Math.sqrt(1 - Math.exp(-2 * gL)), layers = spaLayers("espa", n, L, { gammaFinal: gL });
    layers.forEach((ly, l) => {
      assert(Math.abs(ly.A[0] - 1) < 1e-12, "position 0 keeps its token");
      for (let i = 1; i < n; i++) {
        assert(
          Math.abs(ly.A[i * n + i] - a ** (1 / L)) < 1e-9,
          `layer ${l + 1} A[${i},${i}] = ${ly.A[i * n + i]}`,
        );
      }
    });
  }
});

Deno.test("kernel path: a linear MLP (slope 1) leaves the kernel on the targets Sigma_l", () => {
  const n = 24,
    L = 6,
    sig = spaKernels("espa", n, L),
    path = kernelPath(spaLayers("espa", n, L).map((l) => l.A), n, 1);
  path.forEach((p, l) => {
    assert(maxAbsDiff(p.afterAttention, sig[l + 1]) < 1e-9, `attention ${l + 1}`);
    assert(maxAbsDiff(p.afterMlp, sig[l + 1]) < 1e-9, `MLP ${l + 1}`);
  });
});

Deno.test("kernel path: the MLP-aware schedule lands every attention layer on Sigma_l; the MLP maps it to C(Sigma_l)", () => {
  const n = 24, L = 8, slope = tatSlope(L, 0.9), sig = spaKernels("espa", n, L);
  const aware = spaLayers("espa", n, L, { mlpSlope: slope });
  assert(aware.slice(1).some((ly) => ly.N.some((v) => v > 0.01)), "the MLP-aware A_l has negative entries");
  const path = kernelPath(aware.map((l) => l.A), n, slope);
  path.forEach((p, l) => {
    assert(maxAbsDiff(p.afterAttention, sig[l + 1]) < 1e-8, `attention ${l + 1}`);
    assert(maxAbsDiff(p.afterMlp, kernelCMap(sig[l + 1], n, slope)) < 1e-8, `MLP ${l + 1}`);
  });
  // Without it the first MLP already maps cosine 0 to C(0) = (1 - s)^2 / (pi (1 + s^2)), and the
  // next attention, built for Sigma_1, lifts the second moment above 1.
  const plain = kernelPath(spaLayers("espa", n, L).map((l) => l.A), n, slope);
  const c0 = (1 - slope) ** 2 / (Math.PI * (1 + slope * slope));
  assert(Math.abs(leakyReluCMap(0, slope) - c0) < 1e-15);
  assert(kernelStats(plain[1].afterAttention, n).q > 1.2, `q = ${kernelStats(plain[1].afterAttention, n).q}`);
  assert(kernelStats(plain[1].afterAttention, n).cos > kernelStats(sig[2], n).cos + 0.3);
});

Deno.test("espa: signed decomposition A = D P - N with P row-stochastic and N >= 0", () => {
  const n = 16, slope = tatSlope(8, 0.9);
  const sig = spaKernels("espa", n, 8);
  const a = spaLayers("espa", n, 8, { mlpSlope: slope })[2].A;
  const d = decompose(a, n, true);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) {
      s += d.P[i * n + j];
      assert(d.N[i * n + j] >= 0);
      assert(Math.abs(d.D[i] * d.P[i * n + j] - d.N[i * n + j] - a[i * n + j]) < 1e-12);
    }
    assert(Math.abs(s - 1) < 1e-12);
  }
  assert.throws(() => decompose(a, n), /is negative/);
  assert.equal(sig.length, 9);
});

function initActivations(over: Record<string, unknown>, depth = 4) {
  const B = 2, T = 8, d = 16;
  const net = buildNetwork(
    tinyTrial("unused", {
      model: { block: "vanilla", width: d, depth, head_dim: 8, tat_eta: 0.8, ...over },
      parameterization: { name: "vanilla" },
    }),
    40,
  );
  const acts = new Map<string, Float32Array>();
  const x = new Int32Array(B * T).map((_, i) => (i * 7) % 40);
  tf.tidy(() => {
    net.logits(tf.tensor2d(x, [B, T], "int32"), (n, t) => acts.set(n, t.dataSync() as Float32Array));
  });
  net.dispose();
  return { acts, B, T, d };
}

Deno.test("espa block at init: the kernel after attention is A_l K A_l^T of its input, exactly (orthogonal W_v, W_o)", async () => {
  await wasm();
  for (const mlp_aware of [false, true]) {
    const L = 4, { acts, B, T, d } = initActivations({ attention: "espa", mlp_aware }, L);
    const layers = spaLayers("espa", T, L, { mlpSlope: mlp_aware ? tatSlope(L, 0.8) : undefined });
    for (let l = 0; l < L; l++) {
      const a = acts.get(`block${l}.attn_matrix`)!;
      for (let m = 0; m < a.length; m++) assert(Math.abs(a[m] - layers[l].A[m % (T * T)]) < 1e-5);
      const kin = tokenKernel(acts.get(l === 0 ? "embed" : `block${l - 1}.out`)!, B, T, d);
      const kout = tokenKernel(acts.get(`block${l}.attn_out`)!, B, T, d);
      const A = layers[l].A, want = new Float64Array(T * T);
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) {
          for (let p = 0; p < T; p++) {
            for (let r = 0; r < T; r++) want[i * T + j] += A[i * T + p] * kin[p * T + r] * A[j * T + r];
          }
        }
      }
      const scale = Math.max(...want.map(Math.abs));
      assert(
        maxAbsDiff(kout, want) < 1e-4 * scale,
        `layer ${l + 1} (mlp_aware ${mlp_aware}): ${maxAbsDiff(kout, want)}`,
      );
    }
  }
});

Deno.test("vanilla block: mlp_aware with a non-SPA attention is a one-line error", () => {
  assert.throws(
    () =>
      buildNetwork(
        tinyTrial("unused", {
          model: {
            block: "vanilla",
            width: 16,
            depth: 4,
            head_dim: 8,
            tat_eta: 0.8,
            attention: "shaped",
            mlp_aware: true,
          },
          parameterization: { name: "vanilla" },
        }),
        40,
      ),
    /model\.mlp_aware: only for attention espa or uspa, not shaped/,
  );
  assert.ok(espaGammas(4)[4] === 0.005);
});
