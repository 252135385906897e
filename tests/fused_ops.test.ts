/** rowNormalize (engine/fused_ops.ts) against the plain tfjs composition x / tf.norm(x). */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { rowNormalize } from "../engine/fused_ops.ts";

await tf.setBackend("wasm");

function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function relErr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  assert.equal(x.length, y.length);
  let num = 0, den = 1e-30;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i] - y[i]));
    den = Math.max(den, Math.abs(y[i]));
  }
  return num / den;
}

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
