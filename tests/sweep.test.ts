/** Sweeps: grid expansion, a SIGKILL mid-way and a resume, the lock, divergence and failures. */
import assert from "node:assert/strict";
import * as aq from "arquero";
import "../components/mod.ts";
import { parsePipeline } from "../engine/core/pipeline.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { axisValues, expandGrid, runOrder } from "../engine/sweep/grid.ts";
import { Progress } from "../engine/sweep/progress.ts";
import { lrFactorNotices } from "../engine/sweep/run.ts";
import { sweepCommand, tinyCorpus, tinySweepYaml } from "./helpers.ts";

const corpus = await tinyCorpus();
const root = new URL("..", import.meta.url).pathname;

function sweepYaml(o: { lrs?: string; steps?: number; extra?: string; widths?: string } = {}): string {
  return tinySweepYaml(corpus, o);
}

const sweepCmd = sweepCommand;

/** A tiny trial config for grid expansion (not run). */
const gridBase = {
  data: { corpus, tokenizer: { name: "byte" }, seq_len: 16 },
  model: { block: "ngpt", width: 16, depth: 1, head_dim: 8 },
  optimizer: { name: "adam", lr: 0.01 },
  train: { steps: 4, batch_size: 2 },
};

Deno.test("sweep grid: log ranges, zip groups, seeds, duplicates merged", () => {
  assert.deepEqual(axisValues({ log2: [-3, -1], step: 0.5 }), [-3, -2.5, -2, -1.5, -1].map((e) => 2 ** e));
  assert.deepEqual(axisValues({ log10: [-2, 0], step: 1 }), [0.01, 0.1, 1]);
  const { trials, issues } = expandGrid(gridBase, {
    grid: { "optimizer.lr": [0.01, 0.02, 0.01] },
    zip: [{ "model.width": [16, 32], "train.steps": [4, 8] }],
    seeds: [0, 1],
  });
  assert.deepEqual(issues, []);
  assert.equal(trials.length, 2 * 2 * 2); // the repeated lr is one trial
  assert.equal(new Set(trials.map((t) => t.id)).size, trials.length);
  for (const t of trials) assert.equal(t.config.train.steps, t.config.model.width === 16 ? 4 : 8);
  const bad = expandGrid(gridBase, { grid: {}, zip: [{ "model.width": [16, 32], "train.steps": [4] }] });
  assert.match(bad.issues[0].message, /zip axes must have equal lengths, got 2, 1/);
});

Deno.test("sweep order: cheapest first, then seed by seed, so a sweep stopped part-way has even seeds", () => {
  const { trials, issues } = expandGrid(gridBase, {
    grid: {
      parameterization: [{ name: "ngpt" }, { name: "nugpt", base_width: 16, base_depth: 1, base_steps: 4 }],
      "model.width": [32, 16],
      "optimizer.lr": [0.01, 0.02],
    },
    zip: [],
    seeds: [0, 1, 2],
  });
  assert.deepEqual(issues, []);
  const order = [...trials].sort(runOrder).map((t) => [t.config.model.width, t.config.train.seed]);
  // 12 trials per width: all width 16 first; within a width 4 of seed 0, then 4 of seed 1, then 4 of seed 2
  const expected = [16, 32].flatMap((w) => [0, 1, 2].flatMap((s) => Array(4).fill([w, s])));
  assert.deepEqual(order, expected);
  // the first 8 width-32 trials (what a stop two thirds of the way through them leaves) hold both rules
  const w32 = [...trials].sort(runOrder).filter((t) => t.config.model.width === 32).slice(0, 8);
  assert.deepEqual(new Set(w32.map((t) => t.config.parameterization.name)), new Set(["ngpt", "nugpt"]));
});

Deno.test("sweep: a bad axis value is refused before any work, once, at its axis", async () => {
  try {
    await parsePipeline(sweepYaml({ widths: "[16, 20]" }), "s.yaml");
    assert.fail("no error");
  } catch (e) {
    assert(e instanceof DmodelError);
    assert.equal(
      e.message,
      "s.yaml:14: stages.sweep.with.grid.model.width: width 20 is not divisible by head_dim 8 (value: [16,20])",
    );
  }
});

Deno.test("sweep progress: the ETA weights the trials left by their cost", async () => {
  // Two cheap trials (cost 1) done, two costing 4 left: 8 units to go at 2 units per elapsed time.
  const p = new Progress(4, 0, 1);
  p.costLeft = 1 + 1 + 4 + 4;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 300));
  p.finished(1), p.finished(1);
  const elapsed = (performance.now() - t0) / 1000;
  assert(Math.abs(p.eta() / elapsed - 4) < 0.2, `ETA ${p.eta()} s after ${elapsed} s, expected 4x`);
  // Wall times of two costs known: seconds = 1 + cost (a = 1 s overhead, b = 1) from (1, 2 s), (3, 4 s);
  // left: two trials of cost 5 -> 2 x 1 + 10 = 12 trial-seconds, twice the 6 done: ETA = 2 x elapsed.
  const f = new Progress(4, 0, 1);
  f.costLeft = 1 + 3 + 5 + 5;
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 300));
  f.finished(1, 2), f.finished(3, 4);
  const el1 = (performance.now() - t1) / 1000;
  assert(Math.abs(f.eta() / el1 - 2) < 0.1, `ETA ${f.eta()} s after ${el1} s, expected 2x`);
  // Without costs: by count (2 of 4 done -> as long again).
  const q = new Progress(4, 0, 1);
  await new Promise((r) => setTimeout(r, 300));
  q.finished(), q.finished();
  assert(Math.abs(q.eta() / 0.3 - 1) < 0.3, `ETA ${q.eta()}`);
});

Deno.test("sweep: one notice per rule when the horizon correction changes the LR of some trials", async () => {
  const text = sweepYaml({ widths: "[16]", lrs: "[0.01, 0.02]" })
    .replace(
      "parameterization: {name: ngpt}",
      "parameterization: {name: nugpt, base_width: 16, base_depth: 1, base_steps: 6}",
    )
    .replace("      grid:", "      grid:\n        train.steps: [6, 48]");
  const p = await parsePipeline(text, "s.yaml");
  // deno-lint-ignore no-explicit-any
  const trials = (p.stages.get("sweep")!.options as any).trials;
  assert.equal(trials.length, 4);
  // 48 steps vs base_steps 6: m_data = 8, LR x 8^(-1/3) = 0.5, in the 2 trials at 48 steps.
  assert.deepEqual(lrFactorNotices(trials), [
    "notice: in 2 of 4 trials parameterization nugpt multiplies the learning rate by 0.5 (its token-horizon correction: train.steps differs from base_steps 6)",
  ]);
});

/** Lines of a trial's metrics.csv (header dropped). */
async function metricRows(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.trim().split("\n").slice(1).filter((r) => r.split(",").length === 6);
}

/** Pids of live processes whose command line mentions `needle`. */
function processesWith(needle: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(needle) && !/\) Z /.test(Deno.readTextFileSync(`/proc/${e.name}/stat`))) {
        out.push(Number(e.name));
      }
    } catch { /* gone */ }
  }
  return out;
}

Deno.test({
  name:
    "sweep: Ctrl-C and SIGTERM stop the trials, release the lock and say how to resume; the lock names the command",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dmodel-sigint-" });
    const file = `${dir}/s.yaml`, out = `${dir}/runs`;
    await Deno.writeTextFile(file, sweepYaml({ steps: 400, lrs: "[0.01, 0.02]", widths: "[16]" }));
    const mostRows = async () => {
      let rows = 0;
      try {
        for await (const e of Deno.readDir(out)) {
          if (e.isDirectory) rows = Math.max(rows, (await metricRows(`${out}/${e.name}/metrics.csv`)).length);
        }
      } catch { /* not created yet */ }
      return rows;
    };
    for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      const before = await mostRows();
      const child = sweepCmd(file, out).spawn();
      const t0 = Date.now();
      // Wait until this run's trials write rows (the second run resumes: it starts past `before`).
      while ((await mostRows()) < before + 4) {
        await new Promise((r) => setTimeout(r, 200));
        assert(Date.now() - t0 < 120_000, "sweep made no progress");
      }
      if (sig === "SIGINT") {
        // While it runs, a second sweep is refused with the first one's command line.
        const second = await sweepCmd(file, out).output();
        assert.equal(second.code, 1);
        assert.match(
          new TextDecoder().decode(second.stderr),
          new RegExp(
            `another sweep is running there \\(pid ${child.pid}, started [^:]+:\\d+:[^:]+: \\S*deno run -A ${root}tasks/sweep\\.ts ${file} --out ${out}\\)`,
          ),
        );
      }
      child.kill(sig);
      const st = await child.status;
      const [stdout, stderr] = [
        await new Response(child.stdout).text(),
        await new Response(child.stderr).text(),
      ];
      assert.equal(st.code, code, stderr + stdout);
      assert.match(stderr.trim(), /\ninterrupted: run the same command again to resume$/);
      await assert.rejects(Deno.stat(`${out}/sweep.lock`), Deno.errors.NotFound);
      assert.deepEqual(processesWith(`${out}`), [], "no trial process left running");
      // The stopped trial is not a failure: it has no result and resumes next time.
      const plan = JSON.parse(await Deno.readTextFile(`${out}/trials.json`)) as { dir: string }[];
      for (const t of plan) {
        const r = await Deno.readTextFile(`${out}/${t.dir}/result.json`).catch(() => null);
        if (r) assert.equal(JSON.parse(r).status, "ok");
      }
    }
    const rerun = await sweepCmd(file, out).output();
    assert.equal(rerun.code, 0, new TextDecoder().decode(rerun.stderr));
    const table = aq.fromCSV(await Deno.readTextFile(`${out}/results.csv`));
    assert.deepEqual(table.array("status"), ["ok", "ok"]);
  },
});

Deno.test({
  name: "sweep: SIGKILL mid-way, then re-run: every trial finishes once, nothing written is lost",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dmodel-sweep-" });
    const file = `${dir}/s.yaml`, out = `${dir}/runs`;
    await Deno.writeTextFile(file, sweepYaml({ steps: 40, lrs: "[0.01, 0.02, 0.04]" }));
    const child = (sweepCmd(file, out)).spawn();
    // Wait until some trial is done and another has metrics rows, then kill -9 the sweep.
    const t0 = Date.now();
    let snapshot = new Map<string, string[]>();
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      assert(Date.now() - t0 < 120_000, "sweep made no progress");
      const events = await Deno.readTextFile(`${out}/events.jsonl`).catch(() => "");
      snapshot = new Map();
      const entries: Deno.DirEntry[] = [];
      try {
        for await (const e of Deno.readDir(out)) entries.push(e);
      } catch { /* not created yet */ }
      for (const e of entries) {
        if (!e.isDirectory) continue;
        const rows = await Deno.readTextFile(`${out}/${e.name}/metrics.csv`).catch(() => "");
        snapshot.set(e.name, rows.trim().split("\n").slice(1).filter((r) => r.split(",").length === 6));
      }
      const partial = [...snapshot.values()].some((r) => r.length > 3 && r.length < 41);
      if (events.trim().split("\n").filter(Boolean).length >= 1 && partial) break;
    }
    child.kill("SIGKILL");
    await child.status;
    child.stdout.cancel(), child.stderr.cancel();
    await new Promise((r) => setTimeout(r, 1500)); // orphans see their stdin close and exit
    const rerun = await (sweepCmd(file, out)).output();
    assert.equal(rerun.code, 0, new TextDecoder().decode(rerun.stderr));

    const plan = JSON.parse(await Deno.readTextFile(`${out}/trials.json`)) as { id: string; dir: string }[];
    assert.equal(plan.length, 6);
    const events = (await Deno.readTextFile(`${out}/events.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(
      events.map((e) => e.id).sort(),
      plan.map((t) => t.id).sort(),
      "each trial finished exactly once",
    );
    for (const t of plan) {
      const r = JSON.parse(await Deno.readTextFile(`${out}/${t.dir}/result.json`));
      assert.equal(r.status, "ok");
      const rows = (await Deno.readTextFile(`${out}/${t.dir}/metrics.csv`)).trim().split("\n").slice(1);
      const key = (r: string) => r.split(",").slice(0, 3).join(",");
      const final = new Set(rows.map(key));
      assert.equal(rows.length, 41, `${t.dir}: one row per step`);
      for (const row of snapshot.get(t.dir) ?? []) assert(final.has(key(row)), `${t.dir} lost row ${row}`);
    }
    const table = aq.fromCSV(await Deno.readTextFile(`${out}/results.csv`));
    assert.equal(table.numRows(), 6);
    assert.deepEqual((table.array("status") as string[]).sort(), Array(6).fill("ok"));
    const arrow = aq.fromArrow(await Deno.readFile(`${out}/results.arrow`));
    assert.equal(arrow.numRows(), 6);
    // Re-running a finished sweep runs nothing.
    const again = await (sweepCmd(file, out)).output();
    assert.match(new TextDecoder().decode(again.stderr), /6 already done, 0 to run/);
  },
});

Deno.test({
  name: "sweep: a second sweep on the same directory is refused; a stale lock is taken over",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dmodel-lock-" });
    const file = `${dir}/s.yaml`, out = `${dir}/runs`;
    await Deno.writeTextFile(file, sweepYaml({ steps: 30 }));
    await Deno.mkdir(out, { recursive: true });
    const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
    await Deno.writeTextFile(
      `${out}/sweep.lock`,
      JSON.stringify({
        pid: sleeper.pid,
        host: Deno.hostname(),
        started: "then",
        command: "deno task sweep",
      }),
    );
    const refused = await (sweepCmd(file, out)).output();
    assert.equal(refused.code, 1);
    assert.match(
      new TextDecoder().decode(refused.stderr),
      new RegExp(`another sweep is running there \\(pid ${sleeper.pid}`),
    );
    sleeper.kill("SIGKILL");
    await sleeper.status;
    const status = await (sweepCmd(file, out, ["--status"])).output();
    assert.match(new TextDecoder().decode(status.stdout), /0\/6 done/);
    const ok = await (sweepCmd(file, out, ["--set", "train.steps=2"])).output();
    const err = new TextDecoder().decode(ok.stderr);
    assert.equal(ok.code, 0, err);
    assert.match(err, new RegExp(`taking over a stale lock of pid ${sleeper.pid}`));
    await assert.rejects(Deno.stat(`${out}/sweep.lock`), Deno.errors.NotFound); // released at the end
  },
});

Deno.test({
  name: "sweep: diverged trials are results; failures carry message and log path and make the exit code 1",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dmodel-div-" });
    const file = `${dir}/s.yaml`, out = `${dir}/runs`;
    await Deno.writeTextFile(file, sweepYaml({ lrs: "[0.01, 1.0e+30]", widths: "[16]" }));
    const r = await (sweepCmd(file, out)).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const table = aq.fromCSV(await Deno.readTextFile(`${out}/results.csv`)).orderby("optimizer.lr");
    assert.deepEqual(table.array("status"), ["ok", "diverged"]);
    // A trial whose corpus vanishes fails: the message and log path are recorded, the exit code is 1.
    const plan = JSON.parse(await Deno.readTextFile(`${out}/trials.json`));
    const failDir = `${dir}/fail`;
    await Deno.writeTextFile(
      file,
      sweepYaml({ widths: "[16]", lrs: "[0.01]", extra: "      max_failures: 1\n" }),
    );
    await Deno.mkdir(failDir);
    await Deno.writeTextFile(`${failDir}/trials.json`, "[]");
    const bad = sweepYaml({ widths: "[16]", lrs: "[0.01]" }).replace("backend: wasm", "backend: tensorflow");
    await Deno.writeTextFile(file, bad);
    const f = await (sweepCmd(file, failDir)).output();
    assert.equal(f.code, 1);
    const res = aq.fromCSV(await Deno.readTextFile(`${failDir}/results.csv`));
    assert.equal(res.get("status", 0), "failed");
    assert.match(
      String(res.get("error", 0)),
      /tfjs-node-gpu nor @tensorflow\/tfjs-node is installed.*; log: .*trial\.log$/,
    );
    assert.equal(plan.length, 2);
  },
});

Deno.test({
  name: "sweep reuse: trials another sweep finished with the same resolved config are copied in, not run",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dmodel-reuse-" });
    const a = `${dir}/a`, b = `${dir}/b`, c = `${dir}/c`;
    await Deno.writeTextFile(`${dir}/a.yaml`, sweepYaml({ widths: "[16]", lrs: "[0.01, 0.03]" }));
    const ra = await sweepCmd(`${dir}/a.yaml`, a).output();
    assert.equal(ra.code, 0, new TextDecoder().decode(ra.stderr));
    // b: one more LR, reusing a (and a directory that does not exist).
    const reuse = `      reuse: [${a}, ${dir}/none]\n`;
    await Deno.writeTextFile(
      `${dir}/b.yaml`,
      sweepYaml({ widths: "[16]", lrs: "[0.01, 0.03, 0.1]", extra: reuse }),
    );
    const rb = await sweepCmd(`${dir}/b.yaml`, b).output();
    const err = new TextDecoder().decode(rb.stderr);
    assert.equal(rb.code, 0, err);
    assert.match(err, new RegExp(`reuse ${a}: 2 finished trial\\(s\\) with the same config copied in`));
    assert.match(err, new RegExp(`reuse ${dir}/none: no such directory`));
    assert.match(err, /3 trials, 2 already done, 1 to run/);
    const planA: { id: string; dir: string }[] = JSON.parse(await Deno.readTextFile(`${a}/trials.json`));
    for (const t of planA) {
      assert.equal(
        await Deno.readTextFile(`${b}/${t.dir}/metrics.csv`),
        await Deno.readTextFile(`${a}/${t.dir}/metrics.csv`),
      );
    }
    const res = aq.fromCSV(await Deno.readTextFile(`${b}/results.csv`));
    assert.deepEqual(res.array("status"), ["ok", "ok", "ok"]);
    // c: the same grid at another horizon: a different config, so nothing is reused.
    await Deno.writeTextFile(
      `${dir}/c.yaml`,
      sweepYaml({ widths: "[16]", lrs: "[0.01]", steps: 4, extra: `      reuse: [${a}]\n` }),
    );
    const rc = await sweepCmd(`${dir}/c.yaml`, c).output();
    const errC = new TextDecoder().decode(rc.stderr);
    assert.equal(rc.code, 0, errC);
    assert.doesNotMatch(errC, /copied in/);
    assert.match(errC, /1 trials, 0 already done, 1 to run/);
  },
});
