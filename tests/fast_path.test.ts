/**
 * The fast training path (backend `wasm`: OpenBLAS matmuls, dmodel's
 * Identity/Cast/Sum/GatherV2 kernels, fused ops) against the reference
 * (`wasm-plain`: tfjs's own kernels, plain op compositions): the kernel
 * overrides one by one, and 20 training steps of a tiny nGPT (native and TS
 * fused-kernel tasks).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { useBackend } from "../engine/kernels/backend.ts";
import { buildNetwork } from "../engine/nn/resolve.ts";
import { lossAndGrads } from "../engine/train/loop.ts";
import { Adam } from "../engine/nn/optim.ts";
import { kernelOverridesInstalled } from "../engine/kernels/js_kernels.ts";
import { fusedOpsActive } from "../engine/kernels/fused_ops.ts";
import { nativeStatus, setNativeKernels } from "../engine/kernels/native.ts";
import { tinyTrial } from "./helpers.ts";
import { rand } from "./kernel_data.ts";

/** Runs f on the plain backend, then goes back to the fast one. */
async function onPlain<T>(f: () => T): Promise<T> {
  await useBackend("wasm-plain");
  try {
    assert.equal(kernelOverridesInstalled(), false);
    assert.equal(fusedOpsActive(), false);
    return f();
  } finally {
    await useBackend("wasm");
  }
}

Deno.test("kernel overrides: Sum over leading axes, GatherV2, Identity and Cast give the wasm kernels' values", async () => {
  await useBackend("wasm");
  assert.ok(kernelOverridesInstalled());
  const x = rand(4 * 5 * 6, 1);
  const cases = () =>
    tf.tidy(() => {
      const t = tf.tensor3d(x, [4, 5, 6]);
      const idx = tf.tensor1d([3, 0, 3, 1], "int32");
      const out = [
        tf.sum(t, 0),
        tf.sum(t, [0, 1]),
        tf.sum(t, [1, 0], true),
        tf.sum(t, -1), // not leading: the wasm kernel
        tf.sum(t, [0, 2]),
        tf.gather(t, idx),
        tf.gather(t, idx, 1), // not axis 0: the wasm kernel
        tf.clone(t),
        tf.cast(t, "float32"),
        tf.cast(t, "int32"),
      ];
      return out.map((o) => ({ shape: o.shape, data: Array.from(o.dataSync()) }));
    });
  const fast = cases(), plain = await onPlain(cases);
  fast.forEach((f, i) => {
    assert.deepEqual(f.shape, plain[i].shape, `case ${i}`);
    for (let j = 0; j < f.data.length; j++) {
      assert.ok(
        Math.abs(f.data[j] - plain[i].data[j]) < 1e-5,
        `case ${i}[${j}]: ${f.data[j]} vs ${plain[i].data[j]}`,
      );
    }
  });
  // A shared (Identity) tensor outlives its source; an index out of range is an error.
  const a = tf.tensor1d([1, 2, 3]), b = tf.clone(a);
  a.dispose();
  assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3]);
  b.dispose();
  assert.throws(() => tf.tidy(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([5], "int32"))), /index value 5/);
});

Deno.test("fast path: 20 training steps give the same losses as wasm-plain (1e-4 relative)", async () => {
  const V = 48, B = 3, T = 16;
  const trial = tinyTrial("unused", { model: { width: 32, depth: 2, head_dim: 8 }, data: { seq_len: T } });
  const batches = Array.from({ length: 20 }, (_, s) => {
    const x = new Int32Array(B * T), y = new Int32Array(B * T);
    const r = rand(2 * B * T, 100 + s);
    // A learnable rule (next token = 5 x + 1 mod V), so the loss moves.
    for (let i = 0; i < B * T; i++) x[i] = Math.floor((r[i] + 1) * V / 2) % V, y[i] = (5 * x[i] + 1) % V;
    return { x, y };
  });
  const train = () => {
    const net = buildNetwork(trial, V);
    const opt = new Adam(net, { beta1: 0.9, beta2: 0.95, eps: 1e-8, grad_clip: 1, weight_decay: 0 });
    const losses: number[] = [];
    for (const { x, y } of batches) {
      const { loss, grads } = lossAndGrads(net, x, y, B, T);
      opt.update(grads, 1e-2);
      losses.push(loss);
    }
    net.dispose();
    return losses;
  };
  await useBackend("wasm");
  assert.ok(fusedOpsActive());
  const plain = await onPlain(train);
  // With the native tasks (engine/kernels/native.ts) when built, and with their TS twins.
  for (const native of nativeStatus().available ? [true, false] : [false]) {
    setNativeKernels(native);
    const fast = train();
    setNativeKernels(true);
    const tag = native ? "native" : "TS";
    assert.ok(fast[19] < fast[0] - 0.05, `${tag}: the loss falls: ${fast[0]} -> ${fast[19]}`);
    const worst = Math.max(...fast.map((l, i) => Math.abs(l - plain[i]) / plain[i]));
    assert.ok(worst < 1e-4, `${tag}: losses differ from wasm-plain by up to ${worst} (relative)`);
  }
});

Deno.test("fast path: no tensor and no wasm buffer leaks across training steps", async () => {
  await useBackend("wasm");
  const V = 40, B = 2, T = 8;
  const net = buildNetwork(tinyTrial("unused"), V);
  const opt = new Adam(net, { beta1: 0.9, beta2: 0.95, eps: 1e-8, grad_clip: 1, weight_decay: 0 });
  const x = Int32Array.from({ length: B * T }, (_, i) => (i * 7) % V);
  const counts: string[] = [];
  for (let s = 0; s < 5; s++) {
    const { grads } = lossAndGrads(net, x, x, B, T);
    opt.update(grads, 0.01);
    counts.push(`${tf.memory().numTensors}/${tf.engine().backend.numDataIds()}`);
  }
  net.dispose();
  assert.deepEqual(counts.slice(2), [counts[1], counts[1], counts[1]], `tensors/buffers per step: ${counts}`);
});
