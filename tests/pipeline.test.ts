/** Pipelines: validation before any work, one-line errors with file, line, key path and value. */
import assert from "node:assert/strict";
import "../components/mod.ts";
import { loadPipeline, parsePipeline, runPipeline, stageTrials } from "../engine/core/pipeline.ts";
import { describeTrial } from "../engine/nn/describe.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { listComponents, resolve } from "../engine/core/registry.ts";
import { tinyCorpus, tinySweepYaml } from "./helpers.ts";

const corpus = await tinyCorpus();
// The built-in components (before any test imports a plugin).
const builtIn = listComponents();

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
    /p\.yaml:3: stages\.a\.uses: unknown stage "trian" \(did you mean "train"\?\); known: .*train/,
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

Deno.test("pipeline: a --set mistake is blamed on the --set, not on a YAML line", async () => {
  assert.equal(
    await errorOf(pipeline(), ["optimizer.learning_rate=0.1"]),
    '--set optimizer.learning_rate=0.1: stages.train.with.optimizer: unknown key(s) "learning_rate"',
  );
  assert.equal(
    await errorOf(pipeline(), ["optimizer.lr=fast"]),
    '--set optimizer.lr=fast: stages.train.with.optimizer.lr: Invalid input: expected number, received string (value: "fast")',
  );
  // Choosing a component by --set makes its missing options the --set's problem too.
  assert.match(
    await errorOf(pipeline(), ["parameterization.name=nugpt"]),
    /--set parameterization\.name=nugpt: stages\.train\.with\.parameterization\.base_width: nugpt needs base_width/,
  );
  // A mistake in the file itself still names its line.
  assert.match(await errorOf(pipeline({ lr: '"fast"' }), ["train.steps=3"]), /^p\.yaml:6: /);
});

Deno.test("pipeline: a missing corpus file is found at load time, with file and line, once", async () => {
  const text = `name: x
trial: &trial
  data: &data {corpus: no/such/corpus.txt, tokenizer: {name: byte}, seq_len: 16}
  model: {block: ngpt, width: 16, depth: 1, head_dim: 8}
  optimizer: {name: adam, lr: 0.01}
  train: {steps: 4, batch_size: 2, backend: wasm}
stages:
  data: {uses: data, with: {data: *data}}
  train: {uses: train, needs: [data], with: *trial}
`;
  const msg = await errorOf(text);
  assert.match(
    msg,
    /^p\.yaml:3: stages\.data\.with\.data\.corpus: "no\/such\/corpus\.txt" is neither a registered dataset .* nor an existing file or folder \(paths resolve from the working directory, /,
  );
  assert(!msg.includes("\n"), msg);
  assert.match(
    await errorOf(pipeline(), ["data.corpus=nope.txt"]),
    /^--set data\.corpus=nope\.txt: .*data\.corpus: "nope\.txt"/,
  );
});

Deno.test("pipeline: a bad grid axis is one error at the grid line", async () => {
  const text = tinySweepYaml(corpus).replace("optimizer.lr:", "optimizer.lrr:");
  const line = text.split("\n").findIndex((l) => l.includes("optimizer.lrr:")) + 1;
  assert.equal(
    await errorOf(text),
    `p.yaml:${line}: stages.sweep.with.grid.optimizer.lrr: unknown key(s) "lrr" (did you mean "lr"?)`,
  );
  // A bad value is named once per value, at its axis.
  const w = tinySweepYaml(corpus, { widths: "[16, 20, 32, 20]" });
  const wline = w.split("\n").findIndex((l) => l.includes("model.width:")) + 1;
  assert.equal(
    await errorOf(w),
    `p.yaml:${wline}: stages.sweep.with.grid.model.width: width 20 is not divisible by head_dim 8 (value: [16,20,32,20])`,
  );
  // A problem of the base is named once, at the base.
  const b = tinySweepYaml(corpus).replace("batch_size: 2", "batch_size: 0");
  const bline = b.split("\n").findIndex((l) => l.includes("batch_size: 0")) + 1;
  assert.match(
    await errorOf(b),
    new RegExp(`^p\\.yaml:${bline}: stages\\.sweep\\.with\\.base\\.train\\.batch_size: [^\\n]*$`),
  );
});

Deno.test("pipeline: a study's base problem is named once, a variant's at its set key", async () => {
  const text = `name: s
base: &base
  data: {corpus: ${corpus}, tokenizer: {name: byte}, seq_len: 16}
  model: {block: ngpt, width: 16, depth: 1, head_dim: 8}
  parameterization: {name: ngpt, bogus: 1}
  optimizer: {name: adam, lr: 0.01}
  train: {steps: 4, batch_size: 2, backend: wasm}
stages:
  s:
    uses: skipless-study
    with:
      base: *base
      variants:
        - {label: a, set: {}}
        - {label: b, set: {model.width: 20}}
`;
  assert.equal(
    await errorOf(text),
    'p.yaml:5: stages.s.with.base.parameterization: unknown key(s) "bogus"\n' +
      "p.yaml:15: stages.s.with.variants.1.set.model.width: b: width 20 is not divisible by head_dim 8 (value: 20)",
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

Deno.test("pipeline: the README's plugin example has a param() rule of its own", async () => {
  const p = await loadPipeline("pipelines/nugpt-qk.yaml", ["model.width=256"]);
  const { trial } = stageTrials(p)[0];
  const d = describeTrial(trial, 1024);
  const lr = (name: string) => d.params.find((r) => r.name === name)!.lr;
  // m_width = 256 / 64 = 4, m_data = 1: W_q, W_k at 4^(-1/2) (its qk_exponent), W_v and the MLP at nuGPT's 4^(-3/4).
  for (const n of ["blocks.0.W_q", "blocks.1.W_k"]) {
    assert(Math.abs(lr(n) / (0.004 * 4 ** -0.5) - 1) < 1e-12, n);
  }
  for (const n of ["blocks.0.W_v", "blocks.0.W_u", "blocks.1.W_oMLP"]) {
    assert(Math.abs(lr(n) / (0.004 * 4 ** -0.75) - 1) < 1e-12, n);
  }
  assert(Math.abs(lr("E_in") / (0.004 * 4 ** -0.5) - 1) < 1e-12);
});

Deno.test("list: every kind's components with description and options, required marked, readable types", async () => {
  const cmd = new Deno.Command(Deno.execPath(), { args: ["run", "-A", "tasks/list.ts"], stdout: "piped" });
  const out = new TextDecoder().decode((await cmd.output()).stdout);
  // Each component on its own line, under its kind: "  <name padded> <description>".
  const lines = out.split("\n");
  for (const c of builtIn) {
    const at = lines.indexOf(`  ${c.name.padEnd(18)} ${c.describe}`);
    assert(at >= 0, `${c.kind} ${c.name} missing from list`);
    const kind = lines.slice(0, at).reverse().find((l) => /^\S/.test(l));
    assert.equal(kind, c.kind, `${c.name} listed under ${kind}`);
  }
  const section = (name: string) => {
    const lines = out.split("\n");
    const i = lines.findIndex((l) => l.startsWith(`  ${name.padEnd(18)} `));
    assert(i >= 0, `${name} not listed`);
    const j = lines.findIndex((l, k) => k > i && !l.startsWith(`  ${"".padEnd(18)}   `));
    return lines.slice(i + 1, j).map((l) => l.trim());
  };
  const adam = section("adam");
  assert(adam.includes("lr: number > 0 (required)"), adam.join("\n"));
  assert(adam.includes("beta2: number >= 0, < 1 = 0.95"), adam.join("\n"));
  // nuGPT cannot do without its base shape, although the schema marks it optional.
  assert(section("nugpt").includes("base_width: integer > 0 (required)"));
  // The train stage lists the fields of a trial.
  const train = section("train");
  assert(train.includes("train.steps: integer > 0 (required)"), train.join("\n"));
  assert(train.includes('data.corpus: string = "brown"'), train.join("\n"));
  assert(section("completep").includes("a: 1|0.5 = 1"));
  assert(!/\b(\w+)\|\1\b/.test(out), "a type printed twice, as in number|number");
});

Deno.test("list: plugin components, from --plugin or from a pipeline's plugins:", async () => {
  const list = async (args: string[]) => {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tasks/list.ts", "parameterization", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    return new TextDecoder().decode(r.stdout);
  };
  assert(!(await list([])).includes("nugpt-2/3"));
  const line = /^ {2}nugpt-2\/3 +example plugin: .* \(plugin\)$/m;
  assert.match(await list(["--plugin", "pipelines/plugins/nugpt_two_thirds.ts"]), line);
  assert.match(await list(["--pipeline", "pipelines/nugpt-two-thirds.yaml"]), line);
});

Deno.test("pipeline: --set inside an axis of objects reaches every value of the axis, and is blamed for what breaks", async () => {
  const withAxis = (axis: string) =>
    tinySweepYaml(corpus).replace(
      "        model.width: [16, 32]",
      `        model.width: [16, 32]\n        ${axis}`,
    );
  const rules = withAxis("parameterization: [{name: ngpt}, {name: ngpt, base_width: 16, base_depth: 1}]");
  const p = await parsePipeline(rules, "s.yaml", ["parameterization.base_steps=6"]);
  const trials = (p.stages.get("sweep")!.options as {
    trials: { config: { parameterization: Record<string, unknown> } }[];
  }).trials;
  assert.equal(trials.length, 2 * 3 * 2);
  assert(trials.every((t) => t.config.parameterization.base_steps === 6));
  assert.deepEqual([...new Set(trials.map((t) => t.config.parameterization.base_width ?? null))], [null, 16]);
  // an axis value that the override makes invalid is reported against the --set
  await assert.rejects(
    parsePipeline(rules, "s.yaml", ["parameterization.name=nugpt"]),
    /--set parameterization\.name=nugpt: stages\.sweep\.with\.grid\.parameterization: nugpt needs base_width/,
  );
  // an axis that is the overridden path itself still wins over the base (the grid sets it per trial)
  const q = await parsePipeline(tinySweepYaml(corpus), "s.yaml", ["model.width=64"]);
  const ws = (q.stages.get("sweep")!.options as { trials: { config: { model: { width: number } } }[] }).trials
    .map((t) => t.config.model.width);
  assert.deepEqual([...new Set(ws)].sort(), [16, 32]);
});
