/** The alignment, collapse and rescalers probes in real trials; vanilla / attnstack / PG-OP blocks train. */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { parseTrial, type TrialConfig } from "../engine/core/config.ts";
import { runTrial } from "../engine/train/trainer.ts";
import { buildNetwork } from "../engine/nn/resolve.ts";
import { alignmentRatios } from "../components/probe/alignment.ts";
import { normals } from "../engine/nn/init.ts";
import { matrixRatios } from "../components/probe/alignment_probe.ts";
import { capture } from "../components/probe/capture.ts";
import { resolve } from "../engine/core/registry.ts";
import type { Probe } from "../engine/train/probe.ts";
import { tinyCorpus, tinyTrial, wasm } from "./helpers.ts";

const corpus = await tinyCorpus();
const dataRoot = await Deno.makeTempDir({ prefix: "dmodel-data-" });

function withProbes(t: TrialConfig, probes: Record<string, unknown>[]): TrialConfig {
  return parseTrial({ ...t, probes });
}

async function table(path: string): Promise<{ cols: string[]; rows: number[][] }> {
  const lines = (await Deno.readTextFile(path)).trim().split("\n");
  return { cols: lines[0].split(","), rows: lines.slice(1).map((l) => l.split(",").map(Number)) };
}

Deno.test("probes: alignment, collapse and rescalers write their tables and result.json columns (ngpt)", async () => {
  const dir = await Deno.makeTempDir();
  const t = withProbes(tinyTrial(corpus), [
    { name: "alignment", every: 2, sequences: 2 },
    { name: "collapse", every: 3, sequences: 2 },
    { name: "rescalers", every: 2 },
  ]);
  const r = await runTrial(t, dir, { dataRoot, log: () => {} });
  assert.equal(r.status, "ok", r.error ?? "");
  const al = await table(`${dir}/probes/alignment.csv`);
  assert.deepEqual(al.rows.map((x) => x[0]), [0, 2, 4, 6]);
  for (const role of ["query", "key", "value", "attn_out", "mlp_in", "mlp_gate", "mlp_out", "readout"]) {
    for (const e of ["alpha", "omega", "nu"]) {
      const c = al.cols.indexOf(`${e}.${role}`), rc = al.cols.indexOf(`ratio_${e}.${role}`);
      assert(c > 0 && rc > 0, `${e}.${role}`);
      assert(Number.isNaN(al.rows[0][c]), "no previous state at step 0");
      const din = role === "mlp_out" ? 64 : 16;
      for (const row of al.rows.slice(1)) {
        assert(row[c] > 0.2 && row[c] < 1.5, `${e}.${role} = ${row[c]}`);
        assert(
          Math.abs(Math.log(row[rc]) / Math.log(din) - row[c]) < 1e-5,
          "exponent = log ratio / log d_in",
        );
      }
    }
  }
  const co = await table(`${dir}/probes/collapse.csv`);
  assert.deepEqual(co.rows.map((x) => x[0]), [0, 3, 6]);
  for (const l of [0, 1, 2]) {
    for (const m of ["residual", "effective_rank", "stable_rank", "cosine"]) {
      assert(co.cols.includes(`L${l}.${m}`));
    }
  }
  for (const row of co.rows) {
    const get = (c: string) => row[co.cols.indexOf(c)];
    assert(get("L2.residual") > 0 && get("L2.residual") <= 1);
    assert(get("L2.effective_rank") >= 1 && get("L2.effective_rank") <= 16);
    assert(get("L1.entropy.h0") >= 0 && get("L1.entropy.h1") <= Math.log(16));
    assert(Math.abs((get("L1.entropy.h0") + get("L1.entropy.h1")) / 2 - get("L1.entropy")) < 1e-5);
  }
  const rs = await table(`${dir}/probes/rescalers.csv`);
  const at0 = (c: string) => rs.rows[0][rs.cols.indexOf(c)];
  // nGPT init: effective alpha 0.05, s_qk 1, s_z 1, all entries equal (std 0)
  assert(Math.abs(at0("L0.alpha_A.mean") - 0.05) < 1e-6 && at0("L0.alpha_A.std") < 1e-6);
  assert(Math.abs(at0("alpha_M.mean") - 0.05) < 1e-6 && Math.abs(at0("L1.s_qk.mean") - 1) < 1e-5);
  assert(Math.abs(at0("s_z.mean") - 1) < 1e-5);
  assert(rs.rows[3][rs.cols.indexOf("L0.alpha_A.std")] > 0, "rescalers moved");
  const saved = JSON.parse(await Deno.readTextFile(`${dir}/result.json`));
  const last = rs.rows[rs.rows.length - 1];
  assert(Math.abs(saved.probes.rescalers["alpha_A.mean"] - last[rs.cols.indexOf("alpha_A.mean")]) < 1e-6);
  assert(Number.isFinite(saved.probes.alignment["alpha.query"]));
  assert(Number.isFinite(saved.probes.collapse["L2.effective_rank"]));
});

Deno.test("probes: the probe's device ratios equal the float64 reference", async () => {
  await wasm();
  const dout = 12, din = 8, n = 5;
  const w0 = normals(dout * din, 1), w1 = w0.map((v, i) => v + 0.1 * normals(dout * din, 2)[i]);
  const h0 = normals(n * din, 3), h1 = h0.map((v, i) => v + 0.2 * normals(n * din, 4)[i]);
  const got = matrixRatios(w0, w1, h0, h1, dout, din);
  const dw = w1.map((v, i) => v - w0[i]), dh = h1.map((v, i) => v - h0[i]);
  const ref = alignmentRatios(w0, dw, h0, dh, dout, din, n);
  for (const e of ["alpha", "omega", "nu"] as const) assert(Math.abs(got[e] - ref[e]) < 1e-4 * ref[e], e);
});

Deno.test("probes: rescalers on a block without rescalers fails the trial with a clear error", async () => {
  const dir = await Deno.makeTempDir();
  const t = withProbes(
    tinyTrial(corpus, {
      model: { block: "attnstack", width: 16, depth: 2, head_dim: 8 },
      parameterization: { name: "vanilla" },
    }),
    [{ name: "rescalers" }],
  );
  const r = await runTrial(t, dir, { dataRoot, log: () => {} });
  assert.equal(r.status, "failed");
  assert.match(r.error!, /probe rescalers: block attnstack has no nGPT rescalers/);
});

Deno.test("blocks: vanilla (each attention) and attnstack (each configuration) train; val loss falls", async () => {
  const models: Record<string, unknown>[] = [
    { block: "vanilla", attention: "espa", tat_eta: 0.5 },
    { block: "vanilla", attention: "uspa", tat_eta: 0.5 },
    { block: "vanilla", attention: "shaped", tat_eta: 0.5 },
    { block: "vanilla", attention: "value-skipinit", tat_eta: 0.5 },
    { block: "vanilla", attention: "naive", tat_eta: 0.5, pgop: true, pgop_dim: 1 },
    { block: "attnstack" },
    { block: "attnstack", mlp: true, residual: true, layernorm: true, pgop: true, pgop_dim: 2 },
  ];
  for (const m of models) {
    const dir = await Deno.makeTempDir();
    const t = tinyTrial(corpus, {
      model: { width: 16, depth: 2, head_dim: 8, ...m },
      parameterization: { name: "vanilla" },
      optimizer: { name: "adam", lr: 0.01 },
    });
    const r = await runTrial(t, dir, { dataRoot, log: () => {} });
    assert.equal(r.status, "ok", `${JSON.stringify(m)}: ${r.error}`);
    assert(
      r.final_val_loss! < r.step0_val_loss!,
      `${JSON.stringify(m)}: ${r.step0_val_loss} -> ${r.final_val_loss}`,
    );
  }
});

Deno.test("probes: head_fiber on nGPT with PG-OP: (H - 1) d_k at init, closed once the gates move; an error without PG-OP", async () => {
  const dir = await Deno.makeTempDir();
  const t = withProbes(
    tinyTrial(corpus, { model: { width: 16, depth: 2, head_dim: 8, pgop: true } }),
    [{ name: "head_fiber", every: 3 }],
  );
  const r = await runTrial(t, dir, { dataRoot, log: () => {} });
  assert.equal(r.status, "ok", r.error ?? "");
  const hf = await table(`${dir}/probes/head_fiber.csv`);
  const col = (k: string) => hf.rows.map((x) => x[hf.cols.indexOf(k)]);
  assert.deepEqual(hf.rows.map((x) => x[0]), [0, 3, 6]);
  for (const l of [1, 2]) {
    // 2 heads of 8, T = 16 positions: the full W_o (16 x 16) keeps every head recoverable
    assert.deepEqual(col(`L${l}.fiber_wo`), [0, 0, 0]);
    assert.deepEqual(col(`L${l}.fiber_const`), [8, 0, 0]);
    assert.equal(col(`L${l}.gate_dev`)[0], 0);
    assert(col(`L${l}.gate_dev`)[2] > 0 && col(`L${l}.gate_sv_ratio`)[2] > 0);
  }
  const plain = withProbes(tinyTrial(corpus), [{ name: "head_fiber", every: 3 }]);
  const bad = await runTrial(plain, await Deno.makeTempDir(), { dataRoot, log: () => {} });
  assert.equal(bad.status, "failed");
  assert.match(
    bad.error!,
    /probe head_fiber: block ngpt has no blocks\.0\.W_o and blocks\.0\.W_g .*set model\.pgop: true/,
  );
});

Deno.test("pgop: zero gate weights leave the logits unchanged; W_g is H x r", async () => {
  await wasm();
  const shape = { width: 16, depth: 2, head_dim: 8 };
  const logits = (over: Record<string, unknown>) => {
    const net = buildNetwork(
      tinyTrial("unused", {
        model: { block: "attnstack", ...shape, mlp: true, ...over },
        parameterization: { name: "vanilla" },
      }),
      40,
    );
    const x = tf.tensor2d(new Int32Array(16).map((_, i) => (i * 5) % 40), [2, 8], "int32");
    const out = tf.tidy(() => net.logits(x).dataSync() as Float32Array);
    const wg = net.byName.get("blocks.0.W_g");
    net.dispose();
    x.dispose();
    return { out, wg };
  };
  const plain = logits({}), gated = logits({ pgop: true, pgop_dim: 2 });
  assert.deepEqual(gated.wg?.decl.shape, [2, 2]);
  assert(gated.wg!.host.every((v) => v === 0));
  assert.deepEqual(Array.from(gated.out), Array.from(plain.out));
  assert.throws(
    () =>
      buildNetwork(tinyTrial("unused", { model: { block: "ngpt", ...shape, pgop: true, pgop_dim: 16 } }), 40),
    /pgop: 2 heads x 16 features is 12\.50% of W_o at width 16, above 1\.6%; use pgop_dim <= 2/,
  );
  // nGPT with PG-OP trains (its rule gives W_g its own init)
  const dir = await Deno.makeTempDir();
  const r = await runTrial(tinyTrial(corpus, { model: { ...shape, pgop: true } }), dir, {
    dataRoot,
    log: () => {},
  });
  assert.equal(r.status, "ok", r.error ?? "");
  assert(r.final_val_loss! < r.step0_val_loss!);
  const params = JSON.parse(await Deno.readTextFile(`${dir}/params.json`)) as {
    name: string;
    shape: number[];
  }[];
  assert.deepEqual(params.find((p) => p.name === "blocks.1.W_g")?.shape, [2, 2]);
});

Deno.test("probes: alignment with reference init measures W(t) - W(0), h(t) - h(0) against W(0), h(0), and resumes from the saved state", async () => {
  await wasm();
  const t = tinyTrial(corpus);
  const vocab = 256, B = 2, T = t.data.seq_len;
  const net = buildNetwork(t, vocab);
  const x = Int32Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % vocab);
  const y = Int32Array.from({ length: B * T }, (_, i) => (i * 53 + 5) % vocab);
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/probes`);
  const ctx = (step: number) => ({ step, net, trial: t, x, y, B, T, dir });
  const mk = (reference: string) =>
    resolve<unknown, Probe>("probe", "alignment").create(
      resolve("probe", "alignment").schema.parse({ every: 1, sequences: 2, reference }),
    );
  const fromInit = mk("init"), fromPrev = mk("previous");
  const mats = net.params.filter((p) => p.decl.shape.length === 2 && p.decl.role !== "embedding");
  const snapshot = () => {
    const acts = capture(net, x, B, T, 2, (n) => n.endsWith(".in"));
    return new Map(
      mats.map((
        p,
      ) => [p.decl.name, { w: Float64Array.from(p.host), h: acts.get(`${p.decl.name}.in`)!.data }]),
    );
  };
  const perturb = (seed: number) => {
    for (const [i, p] of mats.entries()) {
      const noise = normals(p.host.length, seed + i);
      for (let k = 0; k < p.host.length; k++) p.host[k] += 0.05 * noise[k];
    }
    net.pushHost();
  };
  const s0 = snapshot();
  const m0 = await fromInit.measure(ctx(0));
  await fromPrev.measure(ctx(0));
  assert(Number.isNaN(m0["ratio_alpha.query"]), "no delta at step 0");
  perturb(100);
  const s1 = snapshot();
  await fromInit.measure(ctx(1));
  await fromPrev.measure(ctx(1));
  perturb(200);
  const s2 = snapshot();
  const init2 = await fromInit.measure(ctx(2));
  const prev2 = await fromPrev.measure(ctx(2));
  // Independent float64 computation: geometric mean over layers of a role of each ratio.
  const expected = (ref: typeof s0, now: typeof s0, role: string) => {
    // (a layer whose input did not move, layer 0 here, has no omega or nu: left out, as in the probe)
    const logs = { alpha: [] as number[], omega: [] as number[], nu: [] as number[] };
    const ps = mats.filter((p) => (p.decl.tag ?? p.decl.role) === role);
    for (const p of ps) {
      const [dout, din] = p.decl.shape;
      const a = ref.get(p.decl.name)!, b = now.get(p.decl.name)!;
      const dw = b.w.map((v, i) => v - a.w[i]), dh = Float64Array.from(b.h, (v, i) => v - a.h[i]);
      const r = alignmentRatios(a.w, dw, a.h, dh, dout, din, a.h.length / din);
      for (const e of ["alpha", "omega", "nu"] as const) if (r[e] > 0) logs[e].push(Math.log(r[e]));
    }
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    return { alpha: mean(logs.alpha), omega: mean(logs.omega), nu: mean(logs.nu) };
  };
  for (const role of ["query", "attn_out", "mlp_out", "readout"]) {
    const ei = expected(s0, s2, role), ep = expected(s1, s2, role);
    for (const e of ["alpha", "omega", "nu"] as const) {
      const gi = Math.log(init2[`ratio_${e}.${role}`]), gp = Math.log(prev2[`ratio_${e}.${role}`]);
      assert(Math.abs(gi - ei[e]) < 1e-4, `init ${e}.${role}: ${gi} vs ${ei[e]}`);
      assert(Math.abs(gp - ep[e]) < 1e-4, `previous ${e}.${role}: ${gp} vs ${ep[e]}`);
    }
  }
  assert(Math.abs(init2["ratio_nu.query"] - prev2["ratio_nu.query"]) > 1e-6, "the two references differ");
  assert(
    Math.abs(
      init2.probe_loss -
        tf.tidy(() =>
          net.loss(tf.tensor2d(x, [B, T], "int32"), tf.tensor2d(y, [B, T], "int32")).dataSync()[0]
        ),
    ) < 1e-5,
    "probe_loss is the loss on the probe sequences",
  );
  // A resumed trial: a fresh probe first measuring at step 2 reads W(0), h(0) from the trial dir.
  const resumed = await mk("init").measure(ctx(2));
  for (const k of Object.keys(init2)) {
    assert(Math.abs(resumed[k] - init2[k]) < 1e-9 || (Number.isNaN(resumed[k]) && Number.isNaN(init2[k])), k);
  }
  await Deno.remove(`${dir}/probes/alignment.init.safetensors`);
  await assert.rejects(
    async () => await mk("init").measure(ctx(2)),
    /alignment\.init\.safetensors is missing/,
  );
  net.dispose();
  await Deno.remove(dir, { recursive: true });
});
