/** Pipelines: validation before any work, one-line errors with file, line, key path and value. */
import assert from "node:assert/strict";
import "../components/mod.ts";
import { loadPipeline, parsePipeline, runPipeline } from "../engine/core/pipeline.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { listComponents, resolve } from "../engine/core/registry.ts";
import { tinyCorpus } from "./helpers.ts";

const corpus = await tinyCorpus();

function pipeline(over: { lr?: string; extra?: string; block?: string; width?: string } = {}): string {
  return `name: test-pipe
trial: &trial
  data: {corpus: ${corpus}, tokenizer: {name: byte}, seq_len: 16}
  model: {block: ${over.block ?? "ngpt"}, width: ${over.width ?? "16"}, depth: 1, head_dim: 8}
  parameterization: {name: ngpt}
  optimizer: {name: adam, lr: ${over.lr ?? "0.01"}}
  schedule: {name: cosine}
  train: {steps: 4, batch_size: 2, eval_every: 2, eval_batches: 1, backend: wasm${over.extra ?? ""}}
stages:
  train:
    uses: train
    with: *trial
`;
}

async function errorOf(text: string, sets: string[] = []): Promise<string> {
  try {
    await parsePipeline(text, "p.yaml", sets);
  } catch (e) {
    assert(e instanceof DmodelError, `expected a DmodelError, got ${e}`);
    return e.message;
  }
  throw new Error("no error");
}

Deno.test("pipeline: a bad value names file, line, key path and value", async () => {
  const msg = await errorOf(pipeline({ lr: '"fast"' }));
  assert.match(msg, /^p\.yaml:6: stages\.train\.with\.optimizer\.lr: .*expected number.*\(value: "fast"\)$/);
});

Deno.test("pipeline: an unknown component lists the known ones", async () => {
  const msg = await errorOf(pipeline({ block: "transformerXL" }));
  assert.match(
    msg,
    /^p\.yaml:4: stages\.train\.with\.model\.block: unknown block "transformerXL"; known: .*ngpt/,
  );
});

Deno.test("pipeline: unknown keys, malformed YAML, shapes, stages and needs are refused", async () => {
  assert.match(
    await errorOf(pipeline({ extra: ", epochs: 3" })),
    /p\.yaml:8: stages\.train\.with\.train: unknown key.*"epochs"/,
  );
  assert.match(await errorOf("name: x\nstages: {a: {uses: train\n"), /^p\.yaml:\d+: malformed YAML/);
  assert.match(
    await errorOf(pipeline({ width: "20" })),
    /p\.yaml:4: .*model\.width: width 20 is not divisible by head_dim 8/,
  );
  assert.match(
    await errorOf("name: x\nstages:\n  a: {uses: trian}\n"),
    /p\.yaml:3: stages\.a\.uses: unknown stage "trian"; known: .*train/,
  );
  assert.match(
    await errorOf("name: x\nstages:\n  a: {uses: eval, needs: [b]}\n"),
    /p\.yaml:3: stages\.a\.needs\.0: no stage "b" in this pipeline/,
  );
  assert.match(
    await errorOf("name: x\nstages:\n  a: {uses: eval, needs: [b]}\n  b: {uses: eval, needs: [a]}\n"),
    /dependency cycle a -> b -> a/,
  );
  await assert.rejects(loadPipeline("no/such/file.yaml"), /no\/such\/file\.yaml: pipeline file not found/);
});

Deno.test("pipeline: --set overrides trial fields and top-level keys; unknown keys are refused", async () => {
  const p = await parsePipeline(pipeline(), "p.yaml", ["optimizer.lr=0.5", "train.steps=3", "name=renamed"]);
  // deno-lint-ignore no-explicit-any
  const t = p.stages.get("train")!.options as any;
  assert.equal(t.optimizer.lr, 0.5);
  assert.equal(t.train.steps, 3);
  assert.equal(p.name, "renamed");
  assert.match(
    await errorOf(pipeline(), ["nonsense.key=1"]),
    /--set nonsense\.key=1: no stage has a key "nonsense"/,
  );
  assert.match(
    await errorOf(pipeline(), ["optimizer.lr=-1"]),
    /stages\.train\.with\.optimizer\.lr: .*(value: -1)/,
  );
});

Deno.test("pipeline: plugins register components that the file then names", async () => {
  const dir = await Deno.makeTempDir();
  const plugin = new URL("./fixtures/plugin_schedule.ts", import.meta.url).pathname;
  const text = pipeline().replace("name: test-pipe", `name: test-pipe\nplugins: [${plugin}]`)
    .replace("schedule: {name: cosine}", "schedule: {name: fixture-linear}");
  await Deno.writeTextFile(`${dir}/p.yaml`, text);
  const p = await loadPipeline(`${dir}/p.yaml`);
  assert.equal(resolve("schedule", "fixture-linear").describe, "linear decay to zero (test fixture plugin)");
  const out = await runPipeline(p, { out: `${dir}/runs`, log: () => {} });
  // deno-lint-ignore no-explicit-any
  const r = out.get("train") as any;
  assert.equal(r.result.status, "ok");
  const lrs = (await Deno.readTextFile(`${r.dir}/metrics.csv`)).trim().split("\n").slice(2).map((l) =>
    Number(l.split(",")[3])
  );
  assert.deepEqual(lrs.map((x) => +x.toFixed(6)), [0.0075, 0.0025]); // rows at steps 2 and 4: lr(t) = 0.01 (1 - t/4)
  await Deno.writeTextFile(`${dir}/q.yaml`, text.replace(plugin, "./missing_plugin.ts"));
  await assert.rejects(loadPipeline(`${dir}/q.yaml`), /q\.yaml:2: plugins\.0: plugin file not found/);
});

Deno.test("list: every kind's components are listed with description and options", async () => {
  const cmd = new Deno.Command(Deno.execPath(), { args: ["run", "-A", "tasks/list.ts"], stdout: "piped" });
  const out = new TextDecoder().decode((await cmd.output()).stdout);
  for (const c of listComponents().filter((c) => !c.name.startsWith("fixture-"))) {
    assert(out.includes(c.name) && out.includes(c.describe), `${c.kind} ${c.name} missing from list`);
  }
  assert.match(out, /lr: number/);
  assert.match(out, /beta2: number = 0\.95/);
});
