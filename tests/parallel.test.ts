/**
 * engine/kernels/thread_pool.ts: tasks run on worker threads over shared tensor memory
 * give bitwise the same results as on the main thread alone (fused kernels,
 * attention with OpenBLAS in two threads at once, Adam).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { parallel, parallelStats, setKernelThreads, setParallelMode } from "../engine/kernels/thread_pool.ts";
import {
  attentionCore,
  lerpNormTo,
  ropeNormScale,
  rowNormalize,
  swiglu,
} from "../engine/kernels/fused_ops.ts";
import { causalMask, ropeTables } from "../engine/nn/ops.ts";
import { blasStatus, setBlasThreads } from "../engine/kernels/blas.ts";
import { loadNative, nativeStatus, setNativeKernels } from "../engine/kernels/native.ts";
import { rand } from "./kernel_data.ts";

await tf.setBackend("wasm");
await loadNative({ build: true });
const opts = { sanitizeResources: false, sanitizeOps: false };

/** Runs f with 2 kernel threads, forced shared or serial; restores the defaults. */
function withMode<T>(mode: "shared" | "serial", f: () => T): T {
  setKernelThreads(2);
  setParallelMode(mode);
  try {
    return f();
  } finally {
    setParallelMode("shared");
    setKernelThreads(1);
  }
}

Deno.test("parallel: a task split over threads writes every element once", opts, () => {
  const n = 100_003, x = rand(n, 1), y = new Float32Array(n);
  const before = parallelStats().chunks;
  withMode("shared", () => parallel("scale", [x, y], [3], n, 16));
  assert.equal(parallelStats().chunks - before, 16);
  for (let i = 0; i < n; i++) assert.equal(y[i], Math.fround(3 * x[i]));
});

Deno.test({
  name: "parallel: fused ops and their gradients are bitwise equal shared and on one thread",
  ...opts,
  ignore: !blasStatus().available,
  fn() {
    const [B, T, H, dk] = [4, 32, 4, 16], D = H * dk, N = B * T;
    const tables = ropeTables(T, dk), mask = causalMask(T);
    const x = tf.tensor(rand(N * D, 2), [N, D]), s = tf.tensor(rand(D, 3), [D]);
    const a = tf.tensor(rand(N * 4 * D, 4), [N, 4 * D]), su = tf.tensor(rand(4 * D, 5), [4 * D]);
    const loss = (x: tf.Tensor, s: tf.Tensor, a: tf.Tensor, su: tf.Tensor) => {
      const q = ropeNormScale(x.reshape([B, T, H, dk]) as tf.Tensor4D, tables, s);
      const y = attentionCore(q, q, q, 3, mask);
      const h = lerpNormTo(x as tf.Tensor2D, rowNormalize(y), s);
      const g = swiglu(a as tf.Tensor2D, a as tf.Tensor2D, su, su, 2);
      return tf.add(tf.sum(tf.mul(h, x)), tf.sum(tf.mul(g, a)));
    };
    const run = () =>
      tf.tidy(() => {
        setBlasThreads(2); // the attention kernels drop to one OpenBLAS thread per caller
        const grads = tf.grads(loss)([x, s, a, su]);
        return grads.map((g) => Array.from(g.dataSync()));
      });
    // With the C tasks (engine/kernels/native.ts) and with the TS tasks.
    for (const native of nativeStatus().available ? [true, false] : [false]) {
      setNativeKernels(native);
      const tag = native ? "native" : "TS";
      const before = parallelStats().workerChunks;
      const shared = withMode("shared", run), serial = withMode("serial", run);
      shared.forEach((g, i) => assert.deepEqual(g, serial[i], `${tag}: gradient ${i}`));
      // Worker threads start asynchronously; run again until they took part (bounded).
      for (let i = 0; i < 20 && parallelStats().workerChunks === before; i++) withMode("shared", run);
      assert.ok(parallelStats().workerChunks > before, `${tag}: the worker threads ran chunks`);
      const again = withMode("shared", run);
      again.forEach((g, i) => assert.deepEqual(g, serial[i], `${tag}: gradient ${i} (workers running)`));
    }
    setNativeKernels(true);
    tf.dispose([tables.cos, tables.sin, mask, x, s, a, su]);
  },
});
