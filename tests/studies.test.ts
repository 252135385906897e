/** The study stages (collapse, skipless, alignment) on a tiny corpus; the shipped study pipelines validate. */
import assert from "node:assert/strict";
import { loadPipeline, parsePipeline, runPipeline } from "../engine/core/pipeline.ts";
import { tinyCorpus } from "./helpers.ts";

const corpus = await tinyCorpus();

const base = (block: string) => `
  data: {corpus: ${corpus}, tokenizer: {name: byte}, seq_len: 16, val_fraction: 0.1}
  model: {block: ${block}, width: 16, depth: 3, head_dim: 8}
  parameterization: {name: vanilla}
  optimizer: {name: adam, lr: 0.01}
  train: {steps: 4, batch_size: 4, eval_every: 2, eval_batches: 1, seed: 0, backend: wasm, save_model: false}`;

async function isPNG(path: string): Promise<boolean> {
  const b = await Deno.readFile(path);
  return b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

Deno.test("studies: collapse-study and skipless-study write tables and figures", async () => {
  const dir = await Deno.makeTempDir();
  const text = `name: tiny-studies
base: &base ${base("attnstack")}
stages:
  collapse:
    uses: collapse-study
    with:
      base: *base
      every: 2
      variants:
        - {label: attention-only, set: {}}
        - {label: one-head, set: {model.head_dim: 16}}
        - {label: full, set: {model.residual: true, model.mlp: true, model.layernorm: true}}
  skipless:
    uses: skipless-study
    with:
      base: *base
      variants:
        - {label: prenorm-like, set: {model.residual: true, model.layernorm: true}}
        - {label: shaped, steps_factor: 2, set: {model.block: vanilla, model.attention: shaped, model.tat_eta: 0.5}}
`;
  const p = await parsePipeline(text, `${dir}/p.yaml`);
  await runPipeline(p, { out: `${dir}/runs`, log: () => {} });
  const rows = (await Deno.readTextFile(`${dir}/runs/collapse.csv`)).trim().split("\n");
  assert.equal(
    rows[0],
    "config,step,layer,residual,effective_rank,stable_rank,cosine,rank,rank_excess,entropy",
  );
  assert.equal(rows.length - 1, 3 * 3 * 4); // variants x steps {0, 2, 4} x layers 0..3
  const attnOnly = rows.filter((r) => r.startsWith("attention-only,0,")).map((r) => r.split(",").map(Number));
  assert.equal(attnOnly.length, 4);
  assert(Number.isNaN(attnOnly[0][9]) && attnOnly[1][9] > 0, "entropy only for blocks");
  // one head, no skip, no MLP: X_l = (A_l..A_1) X_0 W, no rank beyond the embeddings' (at every step);
  // two heads sum two differently mixed copies and do go beyond it at init here
  const excess = (c: string) =>
    rows.filter((r) => r.startsWith(`${c},`)).map((r) => r.split(",").map(Number));
  for (const r of excess("one-head")) assert(r[8] <= 0 && r[7] >= 1, `one head, layer ${r[2]}: ${r[8]}`);
  assert(excess("attention-only").some((r) => r[8] > 0), "two heads raise the rank");
  assert(await isPNG(`${dir}/runs/collapse.png`));
  const named = JSON.parse(await Deno.readTextFile(`${dir}/runs/collapse.runs.json`));
  assert.deepEqual(named.map((r: { label: string }) => r.label), ["attention-only", "one-head", "full"]);
  assert((await Deno.stat(`${dir}/runs/${named[1].dir}/result.json`)).isFile);
  assert((await Deno.readTextFile(`${dir}/runs/collapse.svg`)).includes("Representational collapse"));
  const summary = (await Deno.readTextFile(`${dir}/runs/summary.csv`)).trim().split("\n");
  assert.equal(
    summary[0],
    "config,status,steps,step0_val_loss,final_val_loss,best_val_loss,wall_s,val_loss@4,val_loss@8",
  );
  assert.match(summary[2], /^shaped,ok,8,/);
  assert.equal(summary[1].split(",")[8], ""); // prenorm-like never reached step 8
  const curves = (await Deno.readTextFile(`${dir}/runs/curves.csv`)).trim().split("\n");
  assert.deepEqual(curves.filter((c) => c.startsWith("shaped,")).map((c) => c.split(",")[1]), [
    "0",
    "2",
    "4",
    "6",
    "8",
  ]);
  assert(await isPNG(`${dir}/runs/curves.png`));
});

Deno.test("studies: alignment-study fits exponents across widths", async () => {
  const dir = await Deno.makeTempDir();
  const text = `name: tiny-align
base: &base ${base("attnstack")}
stages:
  align:
    uses: alignment-study
    with:
      base: *base
      every: 2
      sequences: 2
      variants:
        - {label: w16, set: {model.width: 16, model.mlp: true, model.residual: true, model.layernorm: true}}
        - {label: w32, set: {model.width: 32, model.mlp: true, model.residual: true, model.layernorm: true}}
        - {label: w16-s1, set: {model.width: 16, train.seed: 1, model.mlp: true, model.residual: true, model.layernorm: true}}
        - {label: w32-s1, set: {model.width: 32, train.seed: 1, model.mlp: true, model.residual: true, model.layernorm: true}}
`;
  await runPipeline(await parsePipeline(text, `${dir}/p.yaml`), { out: `${dir}/runs`, log: () => {} });
  const rows = (await Deno.readTextFile(`${dir}/runs/exponents.csv`)).trim().split("\n");
  assert.equal(rows[0], "seed,step,role,exponent,value,r2,widths");
  const fits = rows.slice(1).map((r) => r.split(","));
  assert.deepEqual([...new Set(fits.map((f) => f[0]))], ["0", "1"]);
  assert.deepEqual([...new Set(fits.map((f) => f[1]))], ["2", "4"]);
  assert.deepEqual(
    [...new Set(fits.map((f) => f[2]))].sort(),
    ["attn_out", "key", "mlp_in", "mlp_out", "query", "readout", "value"],
  );
  for (const f of fits) assert(Number.isFinite(Number(f[4])) && f[6] === "2", f.join(","));
  // Intervals across the two seeds: mean of the two fits, mean +- t_{0.975,1} |a - b| / 2.
  const ci = (await Deno.readTextFile(`${dir}/runs/exponents_ci.csv`)).trim().split("\n");
  assert.equal(ci[0], "step,role,exponent,mean,lo,hi,seeds");
  for (const r of ci.slice(1).map((l) => l.split(","))) {
    const [a, b] = fits.filter((f) => f[1] === r[0] && f[2] === r[1] && f[3] === r[2]).map((f) =>
      Number(f[4])
    );
    assert.equal(r[6], "2");
    assert(Math.abs(Number(r[3]) - (a + b) / 2) < 1e-5, r.join(","));
    assert(Math.abs(Number(r[5]) - Number(r[3]) - 12.706 * Math.abs(a - b) / 2) < 1e-4, r.join(","));
  }
  assert(await isPNG(`${dir}/runs/exponents.png`));
  const local = (await Deno.readTextFile(`${dir}/runs/local.csv`)).trim().split("\n");
  assert.equal(local[0], "width,seed,step,exponent,role,value");
  const weighted = (await Deno.readTextFile(`${dir}/runs/weighted_ci.csv`)).trim().split("\n");
  assert.equal(weighted[0], "method,width,role,quantity,mean,lo,hi,seeds");
});

Deno.test("studies: a bad variant is reported with its key path and line before anything runs", async () => {
  const text = `name: bad
base: &base ${base("attnstack")}
stages:
  collapse:
    uses: collapse-study
    with:
      base: *base
      variants:
        - {label: ok, set: {}}
        - {label: typo, set: {model.residul: true}}
`;
  // One line, at the variant's set key.
  const line = text.split("\n").findIndex((l) => l.includes("label: typo")) + 1;
  await assert.rejects(parsePipeline(text, "bad.yaml"), (e: Error) => {
    assert.equal(
      e.message,
      `bad.yaml:${line}: stages.collapse.with.variants.1.set.model.residul: typo: unknown key(s) "residul" ` +
        '(did you mean "residual"?)',
    );
    return true;
  });
});

for (const file of ["collapse", "skipless", "alignment"]) {
  Deno.test(`studies: pipelines/${file}.yaml validates`, async () => {
    const p = await loadPipeline(`pipelines/${file}.yaml`);
    assert.equal(p.name, file);
  });
}
