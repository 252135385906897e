/** The nGPT block: unit norms after a step, analytic vs finite-difference gradients, no leaks. */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { buildNetwork } from "../engine/nn/resolve.ts";
import { lossAndGrads } from "../engine/train/loop.ts";
import { Adam } from "../engine/nn/optim.ts";
import { tinyTrial, wasm } from "./helpers.ts";
import "../components/mod.ts";

const V = 40, B = 2, T = 8;
function tokens(seed: number): Int32Array {
  const x = new Int32Array(B * T);
  for (let i = 0; i < x.length; i++) x[i] = (i * 7 + seed * 13) % V;
  return x;
}

function norms(data: Float32Array, shape: number[], axis: 0 | 1): number[] {
  const [r, c] = shape;
  const out: number[] = [];
  if (axis === 1) { for (let i = 0; i < r; i++) out.push(Math.hypot(...data.subarray(i * c, (i + 1) * c))); }
  else {for (let j = 0; j < c; j++) {
      out.push(Math.hypot(...Array.from({ length: r }, (_, i) => data[i * c + j])));
    }}
  return out;
}

Deno.test("ngpt: weights and hidden states are unit-norm after an Adam step", async () => {
  await wasm();
  const net = buildNetwork(tinyTrial("unused"), V);
  const opt = new Adam(net, { beta1: 0.9, beta2: 0.95, eps: 1e-8, grad_clip: 1, weight_decay: 0 });
  const { grads } = lossAndGrads(net, tokens(1), tokens(2), B, T);
  opt.update(grads, 0.05);
  let checked = 0;
  for (const p of net.params) {
    if (p.decl.embed_axis === undefined) continue;
    // The variable (not only the host copy) must hold the renormalized values.
    const v = p.variable.dataSync() as Float32Array;
    for (const n of norms(v, p.decl.shape, p.decl.embed_axis)) {
      assert(Math.abs(n - 1) < 1e-5, `${p.decl.name}: norm ${n}`);
    }
    checked++;
  }
  assert.equal(checked, 2 + 7 * 2); // E_in, E_out, and 7 matrices per block
  const states: tf.Tensor[] = [];
  tf.tidy(() => {
    net.logits(tf.tensor2d(tokens(3), [B, T], "int32"), (name, t) => {
      if (name.endsWith(".out") || name.endsWith("attn_out") || name.endsWith("mlp_out")) {
        states.push(tf.keep(t));
      }
    });
  });
  assert.equal(states.length, 3 * 2);
  for (const s of states) {
    const n = tf.tidy(() => tf.norm(s, 2, -1).dataSync());
    for (const x of n) assert(Math.abs(x - 1) < 1e-5, `hidden state norm ${x}`);
  }
  tf.dispose(states);
  net.dispose();
});

Deno.test("ngpt: analytic gradients match central finite differences", async () => {
  await tf.setBackend("cpu"); // float32 everywhere; cpu keeps the check free of kernel differences
  try {
    const net = buildNetwork(tinyTrial("unused", { model: { width: 8, depth: 1, head_dim: 4 } }), V);
    const x = tokens(4), y = tokens(5);
    const { grads } = lossAndGrads(net, x, y, B, T);
    const lossAt = () =>
      tf.tidy(() => net.loss(tf.tensor2d(x, [B, T], "int32"), tf.tensor2d(y, [B, T], "int32")).dataSync()[0]);
    let checked = 0;
    for (
      const name of ["blocks.0.W_q", "blocks.0.W_oMLP", "blocks.0.alpha_A", "blocks.0.s_qk", "s_z", "E_in"]
    ) {
      const p = net.byName.get(name)!;
      const g = grads.get(name)!;
      // Largest-gradient entries: their finite difference stands well above float32 noise.
      const idx = [...g.keys()].sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 3);
      for (const i of idx) {
        const h = 1e-2 * Math.max(1e-3, Math.abs(p.host[i]));
        const orig = p.host[i];
        p.host[i] = orig + h, net.pushHost([name]);
        const up = lossAt();
        p.host[i] = orig - h, net.pushHost([name]);
        const down = lossAt();
        p.host[i] = orig, net.pushHost([name]);
        const fd = (up - down) / (2 * h);
        assert(
          Math.abs(fd - g[i]) <= 0.02 * Math.abs(g[i]) + 1e-4,
          `${name}[${i}]: analytic ${g[i]} vs fd ${fd}`,
        );
        checked++;
      }
    }
    assert.equal(checked, 18);
    net.dispose();
  } finally {
    await tf.setBackend("wasm");
  }
});

Deno.test("ngpt: no tensor leak across training steps", async () => {
  await wasm();
  const net = buildNetwork(tinyTrial("unused"), V);
  const opt = new Adam(net, { beta1: 0.9, beta2: 0.95, eps: 1e-8, grad_clip: 1, weight_decay: 0 });
  const counts: number[] = [];
  for (let s = 0; s < 4; s++) {
    const { grads } = lossAndGrads(net, tokens(s), tokens(s + 1), B, T);
    opt.update(grads, 0.01);
    counts.push(tf.memory().numTensors);
  }
  assert.deepEqual(counts.slice(1), [counts[1], counts[1], counts[1]], `tensor counts ${counts}`);
  net.dispose();
});
