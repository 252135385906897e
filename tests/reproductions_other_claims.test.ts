/**
 * docs/reproductions.md's other-claims section (tasks/reproductions/
 * other_claims.ts, one module per claim in tasks/reproductions/claims/): verdicts and step ratios come from the run tables
 * (synthetic runs with a known answer).
 */
import assert from "node:assert/strict";
import "../components/mod.ts";
import { otherClaims } from "../tasks/reproductions/other_claims.ts";
import { toCSV } from "../engine/core/csv.ts";
import { runSetting, settingText } from "../tasks/reproductions/common.ts";

Deno.test("reproductions: verdicts and step ratios come from the run tables", async () => {
  const repro = await Deno.makeTempDir();
  // depth 8: pre-LN ends at 4.0 after 300 steps; E-SPA reaches 4.0 at step 600 (2x), 4.8 (within 20%) at 300
  const curves: Record<string, unknown>[] = [];
  for (const step of [0, 150, 300]) curves.push({ config: "pre-LN", step, val_loss: 7 - step / 100 });
  for (const step of [0, 300, 600, 900]) {
    curves.push({
      config: "E-SPA γ_L=0.005 (paper), 5x steps",
      step,
      val_loss: [7, 4.7, 4.0, 3.9][step / 300],
    });
  }
  for (const step of [0, 150, 300]) {
    curves.push({ config: "norm-free, skips", step, val_loss: 7 - step / 110 });
  }
  await Deno.mkdir(`${repro}/skipless-depth8`);
  await Deno.writeTextFile(`${repro}/skipless-depth8/curves.csv`, toCSV(curves));
  await Deno.writeTextFile(
    `${repro}/skipless-depth8/summary.csv`,
    toCSV([
      { config: "pre-LN", status: "ok", steps: 300, final_val_loss: 4.0 },
      { config: "E-SPA γ_L=0.005 (paper), 5x steps", status: "ok", steps: 900, final_val_loss: 3.9 },
      { config: "norm-free, skips", status: "ok", steps: 300, final_val_loss: 7 - 300 / 110 },
    ]),
  );
  // depth 32, part b only: E-SPA never comes within 20% of pre-LN's 4.0
  await Deno.mkdir(`${repro}/skipless-depth32b`);
  await Deno.writeTextFile(
    `${repro}/skipless-depth32b/curves.csv`,
    toCSV([
      { config: "pre-LN", step: 300, val_loss: 4.0 },
      { config: "E-SPA γ_L=0.04, η=0.3, 5x steps", step: 1500, val_loss: 5.5 },
      { config: "E-SPA γ_L=0.005 (paper), 5x steps", step: 1500, val_loss: 5.0 },
      { config: "E-SPA γ_L=2, lr 1e-3, 5x steps", step: 900, val_loss: 4.2 },
      { config: "E-SPA γ_L=2, lr 1e-3, 5x steps", step: 1200, val_loss: 3.96 },
      { config: "E-SPA γ_L=2, lr 1e-3, 5x steps", step: 1500, val_loss: 3.9 },
      { config: "shaped, 5x steps", step: 0, val_loss: 7.0 },
      { config: "shaped, 5x steps", step: 50, val_loss: 9000 },
      { config: "E-SPA γ_L=0.5, lr 3e-3, 5x steps", step: 50, val_loss: 3.0 },
    ]),
  );
  await Deno.writeTextFile(
    `${repro}/skipless-depth32b/summary.csv`,
    toCSV([
      { config: "pre-LN", status: "ok", steps: 300, final_val_loss: 4.0 },
      { config: "E-SPA γ_L=0.04, η=0.3, 5x steps", status: "ok", steps: 1500, final_val_loss: 5.5 },
      { config: "E-SPA γ_L=0.005 (paper), 5x steps", status: "ok", steps: 1500, final_val_loss: 5.0 },
      { config: "E-SPA γ_L=2, lr 1e-3, 5x steps", status: "ok", steps: 1500, final_val_loss: 3.9 },
      // diverged: neither row's loss counts (the E-SPA one's low loss must not make it the best setting)
      { config: "shaped, 5x steps", status: "diverged", steps: 1500, final_val_loss: 9000 },
      { config: "E-SPA γ_L=0.5, lr 3e-3, 5x steps", status: "diverged", steps: 1500, final_val_loss: 3.0 },
    ]),
  );
  // layer-wise: L=2 beats the encoder-decoder beyond the seed noise (Welch), L=4 only on average
  const lw: Record<string, unknown>[] = [];
  const bleus: Record<string, number[]> = {
    "layer-wise L=2 (matched compute)": [0.9, 0.92, 0.91],
    "layer-wise L=4 (matched parameters)": [0.95, 0.7, 0.86],
    "encoder-decoder 2+2": [0.8, 0.82, 0.85],
  };
  for (const [config, b] of Object.entries(bleus)) {
    b.forEach((bleu, seed) =>
      lw.push({
        config,
        seed,
        n_params: 1000,
        train_ms_per_step: 10,
        bleu,
        token_acc: 0.9,
        greedy_seq_acc: 0.5,
      })
    );
  }
  await Deno.mkdir(`${repro}/layerwise-bleu`);
  await Deno.writeTextFile(`${repro}/layerwise-bleu/summary.csv`, toCSV(lw));
  // pgop-trained: two nGPT seeds; seed 1's gates end with two heads alike (fiber (H - rank G) d_k = 8 stays open)
  const pg = `${repro}/pgop-trained`;
  const plan = [0, 1].map((seed) => ({
    dir: `pg-s${seed}`,
    point: { model: { block: "ngpt" }, "train.seed": seed },
  }));
  await Deno.mkdir(pg);
  await Deno.writeTextFile(`${pg}/trials.json`, JSON.stringify(plan));
  for (const [i, t] of plan.entries()) {
    await Deno.mkdir(`${pg}/${t.dir}/probes`, { recursive: true });
    await Deno.writeTextFile(`${pg}/${t.dir}/result.json`, JSON.stringify({ status: "ok", wall_s: 60 }));
    const probe = [0, 600].map((step) => ({
      step,
      "L1.wo_rank": 64,
      "L1.fiber_wo": 0,
      "L1.fiber_const": step === 0 || i === 1 ? 56 - 48 * (step / 600) : 0,
      "L1.gate_sv_ratio": step === 0 ? 0 : [0.01, 0.02][i],
      "L1.gate_dev": step === 0 ? 0 : 0.05,
      "L2.wo_rank": 64,
      "L2.fiber_wo": 0,
      "L2.fiber_const": step === 0 ? 56 : 0,
      "L2.gate_sv_ratio": step === 0 ? 0 : [0.03, 0.04][i],
      "L2.gate_dev": step === 0 ? 0 : 0.1,
    }));
    await Deno.writeTextFile(`${pg}/${t.dir}/probes/head_fiber.csv`, toCSV(probe));
  }
  const md = await otherClaims.render({ runs: repro, docs: repro, log: () => {} });
  const row = (start: string) => md.split("\n").find((l) => l.startsWith(start)) ?? "";
  // depth 8: the paper's constants reach pre-LN's 4.0 at step 600 = 2x: reproduced; depth 32: the paper's
  // gamma_L never does, only gamma_L = 2 within 5x (4x; the diverged gamma_L = 0.5 row does not count): partly
  assert.match(row("| (2302.10322b)"), /\*\*reproduced\*\* \/ \*\*not yet run\*\* \/ \*\*partly\*\*/);
  assert.match(
    row("- depth 32: E-SPA"),
    /paper's constants ends \+25% .*fastest crossing of pre-LN's final loss: E-SPA γ_L=2, lr 1e-3, 5x steps at 4x/,
  );
  // the mechanism table: E-SPA's L_L = chol(exp(-gamma |i-j|)) is AR(1): L[i,i]^2 = 1 - e^(-2 gamma), L[i,0]^2 = e^(-2 gamma i)
  let first = 0;
  for (let i = 1; i < 64; i++) first += Math.exp(-2 * 0.005 * i) / 63;
  assert.match(
    row("| 0.005 |"),
    new RegExp(`\\| 0\\.005 \\| ${(1 - Math.exp(-0.01)).toPrecision(3)} \\| ${first.toPrecision(3)} \\|`),
  );
  assert.match(row("| 32 | E-SPA"), /\| 1500 \| 5\.5 \| \+37\.5% \| not within 5x \|/);
  assert.match(row("| 32 | shaped"), /\| diverged \| 1500 planned; diverged by step 50 \| – \| – \|/);
  // norm-free ends at 4.27: 0.273 nats (6.8%) above pre-LN, one seed a side: outside the 2% band, not reproduced
  assert.match(
    row("| (2302.10322a)"),
    /\*\*not reproduced\*\* \/ \*\*not yet run\*\* \/ \*\*not yet run\*\*/,
  );
  assert.match(
    row("- depth 8: norm-free"),
    /\+0\.273 nats vs pre-LN at pre-LN's steps \(1 seed\(s\) each; seed noise not measured\)/,
  );
  assert.match(row("| 8 | E-SPA"), /\| 900 \| 3\.9 \| -2\.5% \| 2x \|/);
  assert.match(row("| layer-wise coordination beats"), /\*\*reproduced\*\* \/ \*\*partly\*\*/);
  // mean difference 8.67 BLEU; Welch df 2.6 -> 2, t 4.303: [1.9, 15.4]
  assert.match(
    row("- matched compute (L = 2)"),
    /: 8\.67 BLEU \[1\.9\d*, 15\.4\d*\], 2 df \(\*\*reproduced\*\*/,
  );
  assert.match(row("| layer-wise L=2"), /\| 91 \(90–92\) \|/);
  assert.match(row("| attention-only stacks"), /not yet run/);
  assert.match(row("| LayerNorm is exactly"), /\*\*partly\*\*/);
  // seed 1's position-constant fiber shrinks (56 -> 8) but stays open, and every gate matrix's spread is at
  // least 0.01: PG-OP restores the part of identifiability it can (the claim: "partly restores")
  assert.match(row("| PG-OP partly restores"), /\*\*reproduced\*\*/);
  assert.match(md, /smallest σ_H\/σ_1 0\.01\)/);
  assert.match(
    md,
    /shrink the position-constant fiber below its init value in every block and seed, but do not close/,
  );
  assert.match(
    md,
    /mean abs\(g − 1\) 0\.05–0\.1 at the end\), yet nearly alike across heads: σ_H\/σ_1 of G is at most 0\.04,/,
  );
  assert.match(row("| nGPT + PG-OP | block 1 | 0 |"), /\| 2 \| 0 \| 56 \| 0 \(0–0\) \| 0 \|$/);
  assert.match(
    row("| nGPT + PG-OP | block 1 | 600 |"),
    /\| 2 \| 0 \| 0–8 \| 0\.015 \(0\.01–0\.02\) \| 0\.05 \|$/,
  );
  assert.match(md, /2 of 2 trials finished, 2 min of trial wall time/);
  assert((await Deno.stat(`${repro}/skipless-depth.png`)).size > 1000);
});

Deno.test("reproductions: the setting beside a verdict (seeds, val tokens, tokens per parameter) is read from the run", async () => {
  const dir = await Deno.makeTempDir();
  const rows: Record<string, unknown>[] = [];
  for (const width of [16, 32]) {
    for (const seed of [0, 2]) {
      const trial = `t-w${width}-s${seed}`;
      rows.push({
        trial_dir: trial,
        status: "ok",
        "model.width": width,
        "train.seed": seed,
        "train.eval_batches": 16,
        "train.batch_size": 32,
        "data.seq_len": 64,
        wall_s: 900,
      });
      await Deno.mkdir(`${dir}/${trial}`);
      // non-embedding: hidden d x d and a rescaler of d; the embedding and readout (1024 x d) do not count
      const params = [
        { role: "embedding", shape: [1024, width] },
        { role: "hidden", shape: [width, width] },
        { role: "rescaler", shape: [width] },
        { role: "readout", shape: [1024, width] },
      ];
      await Deno.writeTextFile(`${dir}/${trial}/params.json`, JSON.stringify(params));
      await Deno.writeTextFile(`${dir}/${trial}/result.json`, JSON.stringify({ tokens: 1228800 }));
    }
  }
  rows.push({ ...rows[0], trial_dir: "failed-one", status: "failed", "train.seed": 7, wall_s: 3600 });
  await Deno.writeTextFile(`${dir}/results.csv`, toCSV(rows));
  const s = await runSetting(dir, "model.width");
  assert.ok(s);
  assert.deepEqual(s.seeds, [0, 2]); // the failed trial's seed is not a seed of the results
  assert.deepEqual(s.valTokens, [16 * 32 * 64]);
  assert.deepEqual(s.perScale, [
    { scale: 16, tokens: 1228800, nonEmbedding: 16 * 16 + 16 },
    { scale: 32, tokens: 1228800, nonEmbedding: 32 * 32 + 32 },
  ]);
  assert.equal(s.trialHours, 1); // 4 ok trials x 900 s
  assert.match(
    settingText(s, "width"),
    /2 seed\(s\) \(0, 2\); final val loss on 32,768 fixed val tokens; tokens per non-embedding parameter 4518 \(width 16\), 1164 \(width 32\)/,
  );
});
