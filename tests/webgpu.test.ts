/**
 * The webgpu backend on whatever adapter this machine has (in CI the llvmpipe
 * fallback adapter; never skipped): every fused op's WGSL kernels against its
 * plain tfjs composition (value and gradient, both on webgpu), 10 training
 * steps of a tiny nGPT and a tiny prenorm model against `wasm-plain`, the
 * one-line errors (no WebGPU, no adapter, a bad DMODEL_WEBGPU_FUSED), a
 * device lost mid-trial, `auto`'s choice, and a 4-trial sweep through the
 * local executor giving the same statuses as on wasm.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { useBackend } from "../engine/kernels/backend.ts";
import {
  lerpNorm,
  lerpNormTo,
  rmsNormalize,
  ropeNormScale,
  ropeRotate,
  rowNormalize,
  softmaxCrossEntropy,
  swiglu,
} from "../engine/kernels/fused_ops.ts";
import {
  type FusedOpName,
  parseFusedSetting,
  setWebGPUPaths,
  WEBGPU_FUSED_DEFAULT,
  WGSL_OPS,
} from "../engine/kernels/fused_webgpu.ts";
import { ropeTables } from "../engine/nn/ops.ts";
import { runTrial } from "../engine/train/trainer.ts";
import { currentAdapter } from "../engine/kernels/webgpu.ts";
import { autoChoice } from "../components/backend/auto.ts";
import type { PlannedTrial } from "../engine/sweep/grid.ts";
import { tinyCorpus, tinySweepYaml, tinyTrial } from "./helpers.ts";
import { rand } from "./kernel_data.ts";

const corpus = await tinyCorpus();
const root = new URL("..", import.meta.url).pathname;

/** max |a - b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0, s = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])), s = Math.max(s, Math.abs(b[i]));
  return m / Math.max(s, 1e-30);
}

function allPaths(path: "wgsl" | "plain") {
  setWebGPUPaths(Object.fromEntries(WGSL_OPS.map((o) => [o, path])) as Record<FusedOpName, "wgsl">);
}

const T = 3, H = 2, dk = 4, N = 12, d = 8;
const tabs = () => ropeTables(T, dk);
const t = (shape: number[], seed: number) => tf.tensor(rand(shape.reduce((a, b) => a * b, 1), seed), shape);
const targets = () => tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 7], "int32");

/** Each case: inputs, and the op (the gradient is taken with respect to every input). */
const cases: Record<string, { inputs: () => tf.Tensor[]; f: (...x: tf.Tensor[]) => tf.Tensor }> = {
  rowNormalize: { inputs: () => [t([N, d], 1)], f: (x) => rowNormalize(x) },
  rmsNormalize: { inputs: () => [t([N, d], 2)], f: (x) => rmsNormalize(x) },
  lerpNorm: {
    inputs: () => [rowNormalize(t([N, d], 3)), rowNormalize(t([N, d], 4)), t([d], 5)],
    f: (h, u, a) => lerpNorm(h as tf.Tensor2D, u as tf.Tensor2D, a),
  },
  lerpNormTo: {
    inputs: () => [rowNormalize(t([N, d], 6)), t([N, d], 7), t([d], 8)],
    f: (h, u, a) => lerpNormTo(h as tf.Tensor2D, u as tf.Tensor2D, a),
  },
  ropeRotate: { inputs: () => [t([2, T, H, dk], 9)], f: (x) => ropeRotate(x as tf.Tensor4D, tabs()) },
  ropeNormScale: {
    inputs: () => [t([2, T, H, dk], 10), t([H * dk], 11)],
    f: (x, s) => ropeNormScale(x as tf.Tensor4D, tabs(), s),
  },
  swiglu: {
    inputs: () => [t([N, d], 12), t([N, d], 13), t([d], 14), t([d], 15)],
    f: (a, b, su, snu) => swiglu(a as tf.Tensor2D, b as tf.Tensor2D, su, snu, 2.5),
  },
  softmaxCrossEntropy: {
    inputs: () => [t([N, d], 16)],
    f: (l) => softmaxCrossEntropy(l as tf.Tensor2D, targets()),
  },
};

/** Value and every input's gradient of sum(f(x) * w), read back. */
async function valueAndGrads(c: typeof cases[string]): Promise<number[][]> {
  const xs = c.inputs();
  const y = c.f(...xs);
  const w = t(y.shape, 99);
  const gs = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(c.f(...a), w)))(xs);
  const out = await Promise.all([y, ...gs].map(async (v) => Array.from(await v.data())));
  tf.dispose([...xs, y, w, ...gs]);
  return out;
}

Deno.test("webgpu: every fused op's WGSL value and gradient match its plain composition", async () => {
  await useBackend("webgpu");
  assert.ok(currentAdapter(), "an adapter is in use");
  try {
    for (const [name, c] of Object.entries(cases)) {
      allPaths("wgsl");
      const wgsl = await valueAndGrads(c);
      allPaths("plain");
      const plain = await valueAndGrads(c);
      wgsl.forEach((v, i) => {
        const e = relErr(v, plain[i]);
        assert.ok(e < 1e-5, `${name} ${i === 0 ? "value" : `gradient ${i}`}: relative error ${e}`);
      });
    }
  } finally {
    setWebGPUPaths({});
  }
});

Deno.test("webgpu: the WGSL kernels run (kernel names), dataSync is a one-line error, DMODEL_WEBGPU_FUSED parses or names the bad entry", async () => {
  await useBackend("webgpu");
  const x = t([N, d], 1);
  const names = async () => (await tf.profile(() => rowNormalize(x))).kernelNames;
  allPaths("wgsl");
  assert.ok((await names()).includes("DmodelGpuRowReduce"));
  allPaths("plain");
  assert.ok(!(await names()).some((k) => k.startsWith("DmodelGpu")));
  setWebGPUPaths({});
  assert.throws(
    () => tf.square(x).dataSync(),
    /backend webgpu: a synchronous read \(dataSync\/arraySync\) cannot run/,
  );
  x.dispose();
  assert.equal(parseFusedSetting("all=plain").swiglu, "plain");
  assert.equal(parseFusedSetting("all=wgsl").attention, "plain"); // no WGSL attention: stays plain
  assert.equal(parseFusedSetting(" swiglu = plain ").rowNorm, WEBGPU_FUSED_DEFAULT.rowNorm);
  assert.equal(parseFusedSetting("rowNorm=wgsl,swiglu=plain").rowNorm, "wgsl");
  assert.throws(
    () => parseFusedSetting("swiglu=fast"),
    /DMODEL_WEBGPU_FUSED: "swiglu=fast": the path must be/,
  );
  assert.throws(() => parseFusedSetting("norms=plain"), /unknown op "norms"/);
  assert.throws(() => parseFusedSetting("attention=wgsl"), /attention has no WGSL kernel/);
});

/** Train losses (per step) and the final val loss of a trial on `backend`. */
async function trainLosses(block: string, backend: string): Promise<{ train: number[]; val: number }> {
  const dir = await Deno.makeTempDir({ prefix: `dmodel-webgpu-${block}-` });
  const model = block === "ngpt"
    ? { block: "ngpt", width: 16, depth: 2, head_dim: 8 }
    : { block: "prenorm", width: 16, depth: 2, head_dim: 8 };
  const trial = tinyTrial(corpus, {
    model,
    parameterization: { name: block === "ngpt" ? "ngpt" : "sp" },
    train: { steps: 10, batch_size: 2, eval_every: 10, eval_batches: 1, log_every: 1, backend },
  });
  const r = await runTrial(trial, dir, { log: () => {} });
  assert.equal(r.status, "ok", `${block} on ${backend}: ${r.error}`);
  const rows = (await Deno.readTextFile(`${dir}/metrics.csv`)).trim().split("\n").slice(1).map((l) =>
    l.split(",")
  );
  await Deno.remove(dir, { recursive: true });
  return { train: rows.filter((c) => c[1] !== "").map((c) => Number(c[1])), val: r.final_val_loss! };
}

for (const block of ["ngpt", "prenorm"]) {
  Deno.test(`webgpu: 10 training steps of a tiny ${block} match wasm-plain within 1e-4 relative`, async () => {
    const plain = await trainLosses(block, "wasm-plain");
    const gpu = await trainLosses(block, "webgpu");
    assert.equal(gpu.train.length, 10);
    assert.equal(plain.train.length, 10);
    gpu.train.forEach((l, i) => {
      const e = Math.abs(l - plain.train[i]) / Math.abs(plain.train[i]);
      assert.ok(e < 1e-4, `step ${i + 1}: ${l} vs ${plain.train[i]} (relative ${e})`);
    });
    assert.ok(Math.abs(gpu.val - plain.val) / plain.val < 1e-4, `val ${gpu.val} vs ${plain.val}`);
  });
}

/** Runs tests/fixtures/webgpu_states.ts in a mode; its one output line. */
async function stateError(mode: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}tests/fixtures/webgpu_states.ts`, mode],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("webgpu: no WebGPU in the runtime and no adapter are one-line errors", async () => {
  const none = await stateError("no-webgpu");
  assert.equal(
    none,
    "backend webgpu: this runtime has no WebGPU (navigator.gpu is undefined); use backend: wasm",
  );
  const noAdapter = await stateError("no-adapter");
  assert.match(
    noAdapter,
    /^backend webgpu: navigator\.gpu\.requestAdapter\(\) returned no adapter .*use backend: wasm$/,
  );
});

Deno.test("webgpu: auto takes webgpu only on a non-fallback adapter, and says why", async () => {
  const adapter = await navigator.gpu.requestAdapter();
  const { name, reason } = await autoChoice();
  if (!adapter) assert.equal(name, "wasm");
  else if (adapter.info.isFallbackAdapter) {
    assert.equal(name, "wasm");
    assert.match(
      reason,
      new RegExp(`only the fallback adapter ${adapter.info.description.replace(/[()]/g, ".")}`),
    );
  } else assert.equal(name, "webgpu");
});

/** Runs a 4-trial sweep (2 widths x 2 LRs) on `backend`; its trials' statuses and errors by grid point. */
async function sweepStatuses(backend: string, env: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: `dmodel-webgpu-sweep-${backend}-` });
  // max_failures above 4: every trial may fail (the lost-device run) and the sweep still runs them all.
  const yaml = tinySweepYaml(corpus, {
    name: `webgpu-${backend}`,
    steps: 4,
    lrs: "[0.01, 30]",
    extra: "      max_failures: 10",
  })
    .replace("backend: wasm", `backend: ${backend}`);
  await Deno.writeTextFile(`${dir}/sweep.yaml`, yaml);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}tasks/sweep.ts`, `${dir}/sweep.yaml`, "--out", `${dir}/out`],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { CI: "true", ...env },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  // A sweep with failed trials exits 1 after running them all.
  assert.equal(out.code, env.DMODEL_WEBGPU_LOSE_DEVICE_AT ? 1 : 0, stderr);
  assert.match(stderr, /: 4\/4 done \(/);
  const plan = JSON.parse(await Deno.readTextFile(`${dir}/out/trials.json`)) as PlannedTrial[];
  const res: Record<string, { status: string; error: string | null }> = {};
  for (const p of plan) {
    const r = JSON.parse(await Deno.readTextFile(`${dir}/out/${p.dir}/result.json`));
    res[JSON.stringify(p.point)] = { status: r.status, error: r.error };
  }
  await Deno.remove(dir, { recursive: true });
  return res;
}

Deno.test("webgpu: a 4-trial sweep through the local executor gives wasm's statuses; a lost device fails each trial, the sweep goes on", async () => {
  const wasm = await sweepStatuses("wasm");
  const gpu = await sweepStatuses("webgpu");
  assert.equal(Object.keys(gpu).length, 4);
  assert.deepEqual(
    Object.fromEntries(Object.entries(gpu).map(([k, v]) => [k, v.status])),
    Object.fromEntries(Object.entries(wasm).map(([k, v]) => [k, v.status])),
  );
  assert.ok(Object.values(wasm).some((r) => r.status === "ok"));
  // The device destroyed at the 2nd step of every trial (as a driver reset would).
  const lost = await sweepStatuses("webgpu", { DMODEL_WEBGPU_LOSE_DEVICE_AT: "2" });
  assert.equal(Object.keys(lost).length, 4);
  for (const [id, r] of Object.entries(lost)) {
    assert.equal(r.status, "failed", id);
    assert.match(r.error ?? "", /^backend webgpu: the GPU device was lost mid-trial \(.*\) on .+$/, id);
  }
});
