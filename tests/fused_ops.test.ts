/** rowNormalize (engine/kernels/fused_ops.ts) against the plain tfjs composition x / tf.norm(x). */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { rowNormalize } from "../engine/kernels/fused_ops.ts";

await tf.setBackend("wasm");

const plain = (x: tf.Tensor) => tf.div(x, tf.norm(x, "euclidean", -1, true));
const SHAPES = [[7], [5, 3], [4, 64], [2, 3, 4, 32]];

Deno.test("rowNormalize: unit rows, same values as x / norm(x)", () => {
  tf.tidy(() => {
    SHAPES.forEach((shape, i) => {
      const x = tf.tensor(rand(shape.reduce((a, b) => a * b, 1), i + 1), shape);
      const y = rowNormalize(x);
      assert.deepEqual(y.shape, shape);
      assert.ok(relErr(y.dataSync(), plain(x).dataSync()) < 1e-6, `${shape}`);
      const norms = tf.norm(y, "euclidean", -1).dataSync();
      for (const n of norms) assert.ok(Math.abs(n - 1) < 1e-6);
    });
    // Row [3, 4] -> [0.6, 0.8]; scaling a row does not change its image.
    const y = rowNormalize(tf.tensor2d([[3, 4], [30, 40]])).arraySync();
    assert.ok(Math.abs(y[0][0] - 0.6) < 1e-7 && Math.abs(y[1][1] - 0.8) < 1e-7);
  });
});

Deno.test("rowNormalize: gradients match autodiff of x / norm(x)", () => {
  tf.tidy(() => {
    SHAPES.forEach((shape, i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(rand(n, 10 + i), shape), w = tf.tensor(rand(n, 20 + i), shape);
      // A non-linear scalar of the output, so dy varies per element.
      const loss = (f: (t: tf.Tensor) => tf.Tensor) => (t: tf.Tensor) =>
        tf.sum(tf.mul(w, tf.sin(tf.mul(f(t), 3))));
      const got = tf.grad(loss(rowNormalize))(x), want = tf.grad(loss(plain))(x);
      assert.deepEqual(got.shape, shape);
      assert.ok(relErr(got.dataSync(), want.dataSync()) < 1e-5, `${shape}`);
    });
    // Composed twice (nGPT normalizes already-normalized sums): still matches.
    const x = tf.tensor(rand(6 * 8, 99), [6, 8]);
    const twice = (f: (t: tf.Tensor) => tf.Tensor) => (t: tf.Tensor) =>
      tf.sum(tf.square(f(tf.add(f(t), tf.mul(t, 0.3)))).mul(tf.range(0, 8)));
    const got = tf.grad(twice(rowNormalize))(x), want = tf.grad(twice(plain))(x);
    assert.ok(relErr(got.dataSync(), want.dataSync()) < 1e-5);
  });
});

Deno.test("rowNormalize: no tensor leaks across repeated grads in tf.tidy", () => {
  const x = tf.tensor(rand(32 * 16, 5), [32, 16]);
  const step = () => tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(rowNormalize(t)))(x).sum().dataSync()[0]);
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});

Deno.test("rowNormalize: rejects non-float and scalar input; zero rows give NaN like x / norm(x)", () => {
  tf.tidy(() => {
    assert.throws(() => rowNormalize(tf.tensor([1, 2], [2], "int32")), /float32/);
    assert.throws(() => rowNormalize(tf.scalar(2)), /rank >= 1/);
    const y = rowNormalize(tf.zeros([1, 3])).dataSync();
    assert.ok(Number.isNaN(y[0]));
  });
});

// ---------------------------------------------------------------------------
// Every fused op against the plain tfjs composition it replaces (setFusedOps(false)):
// values, and gradients of sum(w * f(inputs)) with respect to every float input.

import {
  attentionCore,
  colScale,
  fusedAttentionActive,
  lerpNorm,
  lerpNormTo,
  rmsNormalize,
  ropeNormScale,
  ropeRotate,
  setFusedOps,
  softmaxCrossEntropy,
  swiglu,
} from "../engine/kernels/fused_ops.ts";
import { causalMask, ropeTables } from "../engine/nn/ops.ts";
import { loadNative, nativeStatus, setNativeKernels } from "../engine/kernels/native.ts";
import { rand, relErr } from "./kernel_data.ts";

// The fused kernels' tasks in C (engine/kernels/native.ts) when a compiler is there; every op is
// checked with them and with their TS twins.
await loadNative({ build: true });

/** Values and input gradients of f: fused kernels with native tasks, with TS tasks, or plain tfjs. */
function evalOp(
  mode: "native" | "ts" | "plain",
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  xs: tf.Tensor[],
  seed: number,
) {
  setFusedOps(mode !== "plain");
  setNativeKernels(mode === "native");
  try {
    return tf.tidy(() => {
      const y = f(...xs);
      const w = tf.tensor(rand(y.size, seed), y.shape);
      const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), w)))(xs);
      return { y: y.dataSync().slice(), grads: grads.map((g) => g.dataSync().slice()) };
    });
  } finally {
    setFusedOps(true);
    setNativeKernels(true);
  }
}

function matchesPlain(name: string, f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], tol = 2e-5) {
  const plain = evalOp("plain", f, xs, 7);
  for (const mode of nativeStatus().available ? ["native", "ts"] as const : ["ts"] as const) {
    const fused = evalOp(mode, f, xs, 7);
    assert.ok(
      relErr(fused.y, plain.y) < tol,
      `${name} (${mode}): values differ by ${relErr(fused.y, plain.y)}`,
    );
    fused.grads.forEach((g, i) => {
      assert.ok(
        relErr(g, plain.grads[i]) < tol,
        `${name} (${mode}): gradient of input ${i} differs by ${relErr(g, plain.grads[i])}`,
      );
    });
  }
}

const t = (shape: number[], seed: number, scale = 1) =>
  tf.tensor(rand(shape.reduce((a, b) => a * b, 1), seed).map((v) => v * scale), shape);

Deno.test("fused ops: rmsNormalize, lerpNorm, lerpNormTo, colScale, swiglu match the plain compositions", () => {
  tf.tidy(() => {
    matchesPlain("rmsNormalize", (x) => rmsNormalize(x, 1e-6), [t([6, 10], 1)]);
    // alpha with mixed signs: |alpha| and its gradient sign(alpha).
    matchesPlain("lerpNorm", (h, g, a) => lerpNorm(h as tf.Tensor2D, g as tf.Tensor2D, a), [
      t([9, 8], 2),
      t([9, 8], 3),
      t([8], 4),
    ]);
    matchesPlain("lerpNormTo", (h, u, a) => lerpNormTo(h as tf.Tensor2D, u as tf.Tensor2D, a), [
      t([9, 7], 33),
      t([9, 7], 34, 3),
      t([7], 35),
    ]);
    matchesPlain("colScale", (x, s) => colScale(x, s), [t([5, 7], 5), t([7], 6)]);
    matchesPlain("colScale c=3", (x, s) => colScale(x, s, 3), [t([2, 3, 4], 7), t([4], 8)]);
    matchesPlain("swiglu", (a, b, su, snu) => swiglu(a as tf.Tensor2D, b as tf.Tensor2D, su, snu, 2.5), [
      t([6, 12], 9, 2),
      t([6, 12], 10, 2),
      t([12], 11),
      t([12], 12),
    ]);
  });
});

Deno.test("fused ops: RoPE and the q/k path Norm_head(RoPE(x)) * s_qk match the plain compositions", () => {
  const [B, T, H, dk] = [2, 5, 3, 4];
  const tables = ropeTables(T, dk);
  tf.tidy(() => {
    matchesPlain("ropeRotate", (x) => ropeRotate(x as tf.Tensor4D, tables), [t([B, T, H, dk], 13)]);
    matchesPlain("ropeNormScale", (x, s) => ropeNormScale(x as tf.Tensor4D, tables, s), [
      t([B, T, H, dk], 14),
      t([H * dk], 15),
    ]);
    // RoPE keeps norms per head and is undone by the inverse rotation (its gradient).
    const x = t([B, T, H, dk], 16);
    const before = tf.norm(x, 2, -1).dataSync(),
      after = tf.norm(ropeRotate(x as tf.Tensor4D, tables), 2, -1).dataSync();
    assert.ok(relErr(after, before) < 1e-6);
  });
  tf.dispose([tables.cos, tables.sin]);
});

Deno.test({
  name: "fused ops: causal attention core matches transpose + matMul + softmax composition",
  ignore: !fusedAttentionActive(),
  fn() {
    const [B, T, H, dk] = [2, 6, 3, 4];
    const mask = causalMask(T);
    tf.tidy(() => {
      matchesPlain(
        "attentionCore",
        (q, k, v) => attentionCore(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, 1.7, mask),
        [t([B, T, H, dk], 17, 2), t([B, T, H, dk], 18, 2), t([B, T, H, dk], 19)],
      );
      // A full (non-causal) mask and an odd length take the unsplit products.
      const full = tf.zeros([T, T]) as tf.Tensor2D, odd = causalMask(5);
      matchesPlain(
        "attentionCore, no mask",
        (q, k, v) => attentionCore(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, 0.9, full),
        [t([B, T, H, dk], 27), t([B, T, H, dk], 28), t([B, T, H, dk], 29)],
      );
      matchesPlain(
        "attentionCore, T = 5",
        (q, k, v) => attentionCore(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, 1.3, odd),
        [t([B, 5, H, dk], 30), t([B, 5, H, dk], 31), t([B, 5, H, dk], 32)],
      );
      // First position attends only to itself: output row 0 of each head is v's row 0.
      const v = t([B, T, H, dk], 20);
      const y = attentionCore(
        t([B, T, H, dk], 21) as tf.Tensor4D,
        t([B, T, H, dk], 22) as tf.Tensor4D,
        v as tf.Tensor4D,
        1,
        mask,
      );
      assert.ok(
        relErr(
          y.reshape([B, T, H * dk]).slice([0, 0, 0], [1, 1, H * dk]).dataSync(),
          v.slice([0, 0, 0, 0], [1, 1, H, dk]).dataSync(),
        ) < 1e-6,
      );
    });
    mask.dispose();
  },
});

Deno.test("fused ops: softmax cross-entropy matches logsumexp - picked, also for extreme logits", () => {
  tf.tidy(() => {
    const targets = tf.tensor1d([3, 0, 7, 7, 2], "int32");
    matchesPlain("softmaxCrossEntropy", (l) => softmaxCrossEntropy(l as tf.Tensor2D, targets), [
      t([5, 8], 23, 4),
    ]);
    // A target 200 nats below the row max: p underflows in float32; the loss is still exact.
    const logits = tf.tensor2d([[0, 200, -5], [1, 2, 3]]);
    const loss = softmaxCrossEntropy(logits, tf.tensor1d([0, 2], "int32")).dataSync()[0];
    const want = (200 + Math.log(1 + Math.exp(-200) + Math.exp(-205)) +
      (3 + Math.log(Math.exp(-2) + Math.exp(-1) + 1) - 3)) / 2;
    assert.ok(Math.abs(loss - want) / want < 1e-6, `loss ${loss} vs ${want}`);
    assert.throws(
      () => softmaxCrossEntropy(logits, tf.tensor1d([0, 3], "int32")).dataSync(),
      /target 3 is not in/,
    );
  });
});

Deno.test("fused ops: no tensor leaks across repeated gradient steps", () => {
  const [B, T, H, dk] = [1, 4, 2, 4];
  const tables = ropeTables(T, dk), mask = causalMask(T);
  const x = t([B * T, H * dk], 24), s = t([H * dk], 25), a = t([H * dk], 26);
  const targets = tf.tensor1d([1, 2, 3, 0], "int32");
  const step = () =>
    tf.tidy(() =>
      tf.grads((x: tf.Tensor, s: tf.Tensor, a: tf.Tensor) => {
        const q = ropeNormScale(x.reshape([B, T, H, dk]) as tf.Tensor4D, tables, s);
        const y = fusedAttentionActive() ? attentionCore(q, q, q, 2, mask) : q.reshape([B * T, H * dk]);
        const h = lerpNormTo(lerpNorm(x as tf.Tensor2D, y as tf.Tensor2D, a), x as tf.Tensor2D, a);
        const g = swiglu(h, h, s, a, 2);
        return softmaxCrossEntropy(colScale(g, s), targets);
      })([x, s, a]).map((g) => g.sum()).reduce((p, q) => p.add(q)).dataSync()
    );
  step();
  // Tensors, and the backend's data buffers (a kernel that shares its input's memory must not leak it).
  const before = tf.memory().numTensors, buffers = tf.engine().backend.numDataIds();
  for (let i = 0; i < 3; i++) step();
  assert.equal(tf.memory().numTensors, before);
  assert.equal(tf.engine().backend.numDataIds(), buffers);
  tf.dispose([tables.cos, tables.sin, mask, x, s, a, targets]);
});
