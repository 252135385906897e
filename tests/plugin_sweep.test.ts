/**
 * Plugins in sweeps: each trial runs in a process of its own (tasks/trial.ts),
 * which imports the pipeline's plugins from the sweep's plugins.json before it
 * builds the trial. A grid mixing a plugin parameterization with a built-in
 * one, and a plugin block, probe and schedule, train with every trial ok and
 * the plugin's rule in effect; a plugin that fails to load in a trial is a
 * one-line failure naming it.
 */
import assert from "node:assert/strict";
import * as aq from "arquero";
import { sweepCommand, tinyCorpus, tinySweepYaml } from "./helpers.ts";

const corpus = await tinyCorpus();
const root = new URL("..", import.meta.url).pathname;
const dec = new TextDecoder();

type Plan = { index: number; dir: string; config: Record<string, Record<string, unknown>> }[];

/** Writes the pipeline, runs the sweep; its exit code, stderr and plan. */
async function runSweep(yaml: string, extra: string[] = []) {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-plugin-sweep-" });
  await Deno.writeTextFile(`${dir}/s.yaml`, yaml);
  const out = `${dir}/runs`;
  const r = await sweepCommand(`${dir}/s.yaml`, out, extra).output();
  const plan: Plan = JSON.parse(await Deno.readTextFile(`${out}/trials.json`));
  return { code: r.code, stderr: dec.decode(r.stderr), out, plan };
}

/** The effective LR of each parameter, from a trial's params.json. */
async function paramLRs(dir: string): Promise<Map<string, number>> {
  const params = JSON.parse(await Deno.readTextFile(`${dir}/params.json`)) as { name: string; lr: number }[];
  return new Map(params.map((p) => [p.name, p.lr]));
}

Deno.test({
  name: "plugin sweep: a plugin parameterization beside a built-in one, every trial ok, its rule in effect",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const plugin = `${root}pipelines/plugins/nugpt_qk.ts`;
    const yaml = tinySweepYaml(corpus, { widths: "[32]", lrs: "[0.01]" })
      .replace("name: test-sweep", `name: test-sweep\nplugins: [${plugin}]`)
      .replace(
        "parameterization: {name: ngpt}",
        "parameterization: {name: nugpt, base_width: 16, base_depth: 1, base_steps: 6}",
      )
      .replace("      grid:", "      grid:\n        parameterization.name: [nugpt, nugpt-qk]");
    const { code, stderr, out, plan } = await runSweep(yaml);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /: 2\/2 done \(2 ok, 0 diverged, 0 failed\), 0 partial, 0 pending$/m);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${out}/plugins.json`)), [plugin]);
    const dirOf = (name: string) =>
      `${out}/${plan.find((t) => t.config.parameterization.name === name)!.dir}`;
    const [nugpt, qk] = [await paramLRs(dirOf("nugpt")), await paramLRs(dirOf("nugpt-qk"))];
    // Width 32 over base 16 (m = 2): nuGPT's hidden LR is 0.01 m^(-3/4); the plugin's W_q, W_k get m^(-1/2).
    for (const name of ["blocks.0.W_q", "blocks.0.W_k"]) {
      assert(Math.abs(nugpt.get(name)! / (0.01 * 2 ** -0.75) - 1) < 1e-9, `${name} ${nugpt.get(name)}`);
      assert(Math.abs(qk.get(name)! / (0.01 * 2 ** -0.5) - 1) < 1e-9, `${name} ${qk.get(name)}`);
    }
    assert.equal(qk.get("blocks.0.W_v"), nugpt.get("blocks.0.W_v")); // the rest is nuGPT's
  },
});

Deno.test({
  name: "plugin sweep: a plugin block, probe and schedule in a sweep's trial processes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const plugins = [`${root}tests/fixtures/plugin_kinds.ts`, `${root}tests/fixtures/plugin_schedule.ts`];
    const yaml = tinySweepYaml(corpus, { widths: "[16]", lrs: "[0.01]", steps: 4 })
      .replace("name: test-sweep", `name: test-sweep\nplugins: [${plugins.join(", ")}]`)
      .replace(
        "parameterization: {name: ngpt}",
        "parameterization: {name: ngpt}\n  probes: [{name: fixture-count}]",
      )
      .replace(
        "      grid:",
        "      grid:\n        model.block: [ngpt, fixture-ngpt]\n        schedule.name: [fixture-linear]",
      );
    const { code, stderr, out, plan } = await runSweep(yaml);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /: 2\/2 done \(2 ok, 0 diverged, 0 failed\), 0 partial, 0 pending$/m);
    const table = aq.fromCSV(await Deno.readTextFile(`${out}/results.csv`));
    assert.deepEqual(table.array("status"), ["ok", "ok"]);
    const losses = new Map<string, string>();
    for (const t of plan) {
      const result = JSON.parse(await Deno.readTextFile(`${out}/${t.dir}/result.json`));
      // The plugin probe counted the trained parameters.
      assert.equal(result.probes["fixture-count"].params, result.n_params, t.dir);
      const rows = (await Deno.readTextFile(`${out}/${t.dir}/metrics.csv`)).trim().split("\n").slice(1);
      // The plugin schedule: the row after step s used lr 0.01 (1 - (s - 1)/4).
      const lrs = rows.slice(1).map((r) => Number(r.split(",")[3]));
      assert.deepEqual(lrs.map((x) => +x.toFixed(6)), [0.01, 0.0075, 0.005, 0.0025], t.dir);
      losses.set(
        String(t.config.model.block),
        rows.map((r) => r.split(",").slice(0, 3).join(",")).join("\n"),
      );
    }
    // The plugin block is nGPT's under another name: the same training, to the bit.
    assert.equal(losses.get("fixture-ngpt"), losses.get("ngpt"));
  },
});

Deno.test({
  name: "plugin sweep: a plugin that fails to load in a trial fails it with one line naming the plugin",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const plugin = `${root}tests/fixtures/plugin_needs_net.ts`;
    const yaml = tinySweepYaml(corpus, { widths: "[16]", lrs: "[0.01]", steps: 2 })
      .replace("name: test-sweep", `name: test-sweep\nplugins: [${plugin}]`);
    const { code, stderr, out, plan } = await runSweep(yaml);
    assert.equal(code, 1, stderr);
    const result = JSON.parse(await Deno.readTextFile(`${out}/${plan[0].dir}/result.json`));
    assert.equal(
      result.error,
      `trial process exited with code 1: ${out}/plugins.json: plugins.0: plugin "${plugin}" failed to load: ` +
        `this plugin needs network access; log: ${out}/${plan[0].dir}/trial.log`,
    );
    assert.equal(result.requeue, false, "a plugin that cannot load is not retried by itself");
  },
});
