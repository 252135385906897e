/**
 * Analysing any table: results files of other trainers (a W&B export as CSV,
 * JSON lines and Parquet, a PyTorch sweep), column mapping, status words,
 * bad cells named by file, row and column with nothing overwritten, the scale
 * axes derived from dmodel configs, archived and combined sweeps.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as aq from "arquero";
import { parse as parseYAML } from "yaml";
import "../components/mod.ts";
import { analyzeSweep } from "../engine/analysis/analyze.ts";
import { checkTable, loadResults } from "../engine/analysis/table.ts";
import { readSweepDir } from "../engine/sweep/sweep_table.ts";
import { isSweepFile, restoreRun } from "../engine/sweep/archive.ts";
import { optimalLR } from "../engine/analysis/optimum.ts";
import { parseTrial } from "../engine/core/config.ts";
import { blockParams, countParams, scaleAxesOf } from "../engine/sweep/scale_axes.ts";
import { writeResults } from "../engine/sweep/results.ts";
import type { PlannedTrial } from "../engine/sweep/grid.ts";
import { emptyResult } from "../engine/train/result.ts";
import { WANDB_EXPONENTS, wandbRows, writeWandbExport } from "./fixtures/wandb_export.ts";
import { writeSyntheticSweep } from "./fixtures/synthetic_sweep.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const tmp = () => Deno.makeTempDir({ prefix: "dmodel-anytable-" });

/** An archived sweep of docs/repro/runs/ as its run directory was: its tables and trial directories, in `dir`. */
async function archivedSweep(name: string, dir: string): Promise<string> {
  const archive = join(ROOT, "docs/repro/runs", name), out = join(dir, name);
  await restoreRun(archive, out);
  for (const e of Deno.readDirSync(archive)) {
    if (e.isFile && isSweepFile(e.name)) await Deno.copyFile(join(archive, e.name), join(out, e.name));
  }
  return out;
}
const WANDB = { lr: "lr", loss: "val/loss", scale: ["d_model"], by: ["arch"], seed: "seed", status: "State" };
const FAST = { resamples: 100, figures: false, write: false };

/** `deno task analyze ARGS` in the checkout: exit code and output. */
async function analyzeCLI(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "tasks/analyze.ts"), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: r.code, stdout: text.decode(r.stdout), stderr: text.decode(r.stderr) };
}

/** "family: slope [lo, hi]" per fitted family. */
function slopes(
  fits: { family: string; coefficients: { slope: number; slope_ci: [number, number] | null }[] }[],
) {
  return fits.flatMap((f) =>
    f.coefficients.map((c) => ({ family: f.family, slope: c.slope, ci: c.slope_ci }))
  );
}

Deno.test("W&B export: CSV and JSON lines as exported give the same statuses and slopes; the law is recovered", async () => {
  const dir = await tmp();
  try {
    const { csv, jsonl } = await writeWandbExport(dir);
    const rows = wandbRows();
    const [a, b] = [await loadResults(csv, WANDB), await loadResults(jsonl, WANDB)];
    const count = (t: aq.ColumnTable, s: string) =>
      (t.array("status") as string[]).filter((x) => x === s).length;
    for (const t of [a, b]) {
      assert.equal(count(t, "failed"), rows.filter((r) => r.State === "crashed").length);
      assert.equal(count(t, "diverged"), rows.filter((r) => Number.isNaN(r["val/loss"])).length);
      assert.equal(t.numRows(), rows.length);
    }
    assert.ok(count(a, "failed") > 0 && count(a, "diverged") > 0);
    const [ra, rb] = [
      await analyzeSweep(csv, { ...WANDB, ...FAST }),
      await analyzeSweep(jsonl, { ...WANDB, ...FAST }),
    ];
    assert.deepEqual(slopes(ra.fits), slopes(rb.fits));
    for (const s of slopes(ra.fits)) {
      assert.ok(
        Math.abs(s.slope - WANDB_EXPONENTS[s.family.replace(/^arch=/, "")]) < 0.1,
        `${s.family}: slope ${s.slope}`,
      );
    }
    assert.equal(ra.dir, join(dir, "export-analysis"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("W&B export: the CLI command as documented; output beside the file; Parquet reads the same runs", async () => {
  const dir = await tmp();
  try {
    const { csv } = await writeWandbExport(dir);
    const r = await analyzeCLI([
      csv,
      ...["--lr", "lr", "--loss", "val/loss", "--scale", "d_model", "--by", "arch", "--seed", "seed"],
      ...["--status", "State", "--resamples", "100", "--no-figures"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^- arch=sp: eta\* moves by x2\^-\d\.\d\d per doubling of d_model .*: drifts/m);
    assert.match(r.stdout, /^- arch=mup: eta\* moves by x2\^-?0\.0\d per doubling of d_model .*: transfers/m);
    assert.match(r.stdout, /272 trials \(248 ok, 6 diverged, 18 failed\)/);
    for (const f of ["analysis.md", "analysis.json", "optima.csv", "report.html"]) {
      await Deno.stat(join(dir, "export-analysis", f));
    }
    // The same runs as Parquet (tests/fixtures/wandb_export.parquet, written by make_parquet.ts).
    const pq = await loadResults(join(ROOT, "tests/fixtures/wandb_export.parquet"), WANDB);
    const fromCsv = await loadResults(csv, WANDB);
    const cols = ["Name", "status", "d_model", "lr", "val/loss"];
    assert.deepEqual(pq.select(cols).objects(), fromCsv.select(cols).objects());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("status words map case-insensitively; no status column: the loss decides; unfinished runs refused", () => {
  const t = (status: unknown[], loss: unknown[]) =>
    aq.table({ lr: status.map((_, i) => 2 ** -i), loss, ...(status.length ? { State: status } : {}) });
  const mapped = checkTable(
    t(["Finished", "SUCCESS", "crashed", "Killed", "ok", "finished", "diverged"], [
      3,
      3,
      null,
      4,
      "nan",
      "",
      2,
    ]),
    { lr: "lr", loss: "loss", status: "State" },
  );
  assert.deepEqual(mapped.array("status"), [
    "ok",
    "ok",
    "failed",
    "failed",
    "diverged",
    "diverged",
    "diverged",
  ]);
  const derived = checkTable(aq.table({ lr: [0.1, 0.2, 0.3], loss: ["3.1", "inf", null] }), {
    lr: "lr",
    loss: "loss",
  });
  assert.deepEqual(derived.array("status"), ["ok", "diverged", "diverged"]);
  assert.throws(
    () => checkTable(t(["running"], [3]), { lr: "lr", loss: "loss", status: "State" }),
    {
      message:
        'table: row 1: column "State": "running" is not a run status; a run not finished yet: finish it or leave it out',
    },
  );
});

Deno.test("bad cells: file, row and column named, exit 1, earlier outputs untouched; a lost grid column named", async () => {
  const dir = await tmp();
  try {
    await writeSyntheticSweep(dir, {
      widths: [64, 128],
      lrExps: [-8, -7, -6, -5, -4],
      seeds: [1],
      pipeline: false,
    });
    // A sweep's plan, as the sweep writes it, from the trials' configs.
    const names = [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name).sort();
    const plan = names.map((n) => ({
      id: n,
      dir: n,
      config: parseYAML(Deno.readTextFileSync(join(dir, n, "config.yaml"))),
    }));
    await Deno.writeTextFile(join(dir, "trials.json"), JSON.stringify(plan));
    const ok = await analyzeCLI([dir, "--no-figures", "--resamples", "50"]);
    assert.equal(ok.code, 0, ok.stderr);
    const before = await Deno.readTextFile(join(dir, "analysis.md"));
    const reportBefore = await Deno.readTextFile(join(dir, "report.html"));
    const good = await Deno.readTextFile(join(dir, "results.csv"));
    const lines = good.split("\n");
    const header = lines[0].split(",");
    const lossAt = header.indexOf("final_val_loss");
    const cells = lines[7].split(",");
    cells[lossAt] = "3.2x";
    lines[7] = cells.join(",");
    await Deno.writeTextFile(join(dir, "results.csv"), lines.join("\n"));
    const bad = await analyzeCLI([dir, "--no-figures", "--resamples", "50"]);
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr.trim(),
      `error: ${dir}/results.csv: row 7 (line 8): column "final_val_loss": "3.2x" is not a number ` +
        "(a loss is a number; empty, NaN or inf marks a run without a finite loss)",
    );
    assert.equal(await Deno.readTextFile(join(dir, "analysis.md")), before);
    assert.equal(await Deno.readTextFile(join(dir, "report.html")), reportBefore);

    // A hand edit that lost the model.width column: named as missing, not as duplicate rows.
    const w = header.indexOf("model.width");
    const dropped = good.trim().split("\n").map((l) => l.split(",").filter((_, i) => i !== w).join(","));
    await Deno.writeTextFile(join(dir, "results.csv"), dropped.join("\n") + "\n");
    const lost = await analyzeCLI([dir, "--no-figures"]);
    assert.equal(lost.code, 1);
    assert.equal(
      lost.stderr.trim(),
      `error: ${dir}/results.csv: missing column model.width (a grid axis of this sweep: it varies across the trials of trials.json)`,
    );
    assert.equal(await Deno.readTextFile(join(dir, "analysis.md")), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad input in other formats and mappings: one line naming file, line or row, and column", async () => {
  const dir = await tmp();
  try {
    const f = (name: string, text: string) => {
      Deno.writeTextFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const m = { lr: "lr", loss: "loss", scale: ["width"] };
    await assert.rejects(loadResults(f("a.csv", "lr,loss,width\n0.1,3,64\n0.2,3,wide\n"), m), {
      message: `${dir}/a.csv: row 2 (line 3): column "width": "wide" is not a scale (a number > 0)`,
    });
    await assert.rejects(loadResults(f("b.csv", "lr,loss,width\n0.1,3,64\n,3,64\n"), m), {
      message: `${dir}/b.csv: row 2 (line 3): column "lr": empty; every run needs its LR`,
    });
    await assert.rejects(
      loadResults(f("c.jsonl", '{"lr":0.1,"loss":3,"width":64}\n\n{"lr":0.1,"loss":3,\n'), m),
      {
        message: new RegExp(`^${dir}/c\\.jsonl:3: not a JSON object`),
      },
    );
    await assert.rejects(
      loadResults(f("d.jsonl", '{"lr":0.1,"loss":3,"width":64}\n\n{"lr":-1,"loss":3,"width":64}\n'), m),
      {
        message: `${dir}/d.jsonl: line 3: column "lr": -1 is not an LR (a number > 0)`,
      },
    );
    await assert.rejects(loadResults(f("e.csv", "learning_rate,loss\n0.1,3\n"), m), {
      message: `${dir}/e.csv: missing columns "lr" (--lr), "width" (--scale); it has: learning_rate, loss`,
    });
    await assert.rejects(loadResults(f("g.xlsx", ""), m), {
      message: /g\.xlsx: unknown results format "\.xlsx"/,
    });
    // Nested JSON (a run's config and summary objects) is flattened by dotted path.
    const nested = await loadResults(
      f("n.jsonl", '{"config":{"lr":0.1,"width":64},"summary":{"loss":3}}\n'),
      { lr: "config.lr", loss: "summary.loss", scale: ["config.width"] },
    );
    assert.deepEqual(nested.objects(), [{
      "config.lr": 0.1,
      "config.width": 64,
      "summary.loss": 3,
      status: "ok",
    }]);
    // Several inputs: a column missing from one of them names that one.
    await assert.rejects(
      loadResults([f("h.csv", "lr,loss,width\n0.1,3,64\n"), f("i.csv", "lr,loss\n0.1,3\n")], m),
      {
        message: /i\.csv: missing column "width" \(--scale\)/,
      },
    );
    await assert.rejects(analyzeSweep([join(dir, "h.csv"), join(dir, "h.csv")], m), {
      message: "analysis of 2 inputs: name the output directory with --out DIR",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scale axes: counted from the block's declarations (nGPT formula), equal to the trained networks' counts", async () => {
  const d = 32, L = 2, V = 256, T = 64, B = 4, steps = 10;
  const trial = parseTrial({
    data: { corpus: "brown", seq_len: T, tokenizer: { name: "byte" } },
    model: { block: "ngpt", width: d, depth: L, head_dim: 8 },
    parameterization: { name: "ngpt" },
    optimizer: { name: "adam", lr: 0.01 },
    train: { steps, batch_size: B },
  });
  const axes = scaleAxesOf(trial, blockParams(trial, V));
  // nGPT: E_in and E_out V x d, s_z V; per layer 16 d^2 matrices and 11 d rescalers.
  const perLayer = 16 * d * d + 11 * d;
  assert.equal(axes.n_params, 2 * V * d + V + L * perLayer);
  assert.equal(axes.n_params_nonembedding, V + L * perLayer);
  assert.equal(axes.tokens, steps * B * T);
  assert.equal(axes.tokens_per_param, (steps * B * T) / axes.n_params);
  assert.equal(axes.flops, (6 * (axes.n_params - V * d) + 6 * L * T * d) * steps * B * T);
  // The sweep writes them into results.csv, with the final train loss, for every trial (a failed one too).
  const dir = await tmp();
  try {
    const planned = [{ id: "t0", dir: "t0", config: trial }, { id: "t1", dir: "t1", config: trial }];
    await Deno.mkdir(join(dir, "t0"));
    await Deno.mkdir(join(dir, "t1"));
    await Deno.writeTextFile(
      join(dir, "t0", "result.json"),
      JSON.stringify({ ...emptyResult("ok", null), final_val_loss: 3, final_train_loss: 2.5 }),
    );
    await Deno.writeTextFile(join(dir, "t1", "result.json"), JSON.stringify(emptyResult("failed", "boom")));
    await writeResults(dir, planned as PlannedTrial[]);
    const csv = aq.fromCSV(await Deno.readTextFile(join(dir, "results.csv")));
    assert.deepEqual(csv.array("n_params"), [axes.n_params, axes.n_params]);
    assert.deepEqual(csv.array("flops"), [axes.flops, axes.flops]);
    assert.deepEqual(csv.array("final_train_loss"), [2.5, NaN]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(countParams([{ role: "embedding", shape: [3, 2] }, { role: "gain", shape: [2] }]), {
    n_params: 8,
    n_params_nonembedding: 2,
    n_embedding_lookup: 6,
  });

  // The archived nugpt-width sweep: its results.csv predates the columns; they are derived per trial and
  // n_params equals what each trained network counted (result.json), final_train_loss what it logged.
  const unpacked = await tmp();
  const archive = await archivedSweep("nugpt-width", unpacked);
  const { table } = await readSweepDir(archive);
  const rows = table.objects() as Record<string, unknown>[];
  assert.equal(rows.length, 240);
  for (const r of rows) {
    const res = JSON.parse(await Deno.readTextFile(join(archive, String(r.trial_dir), "result.json")));
    assert.equal(r.n_params, res.n_params, String(r.trial_dir));
    assert.equal(r.final_train_loss, res.final_train_loss);
    assert.equal(r.tokens, res.tokens);
  }
  const w = table.groupby("model.width").rollup({ n: aq.op.max("n_params_nonembedding") }).orderby(
    "model.width",
  );
  // s_z (V = 1024) + 2 layers x (16 d^2 matrices + 11 d rescalers).
  assert.deepEqual(w.array("n"), [16, 32, 64, 128].map((x) => 1024 + 2 * (16 * x * x + 11 * x)));
  await Deno.remove(unpacked, { recursive: true });
});

Deno.test("archived and combined sweeps: rebuilt without results.csv, two directories analysed together", async () => {
  const dir = await tmp();
  try {
    const archive = await archivedSweep("nugpt-width", dir);
    const [small, large, rebuilt] = ["small", "large", "rebuilt"].map((n) => join(dir, n));
    for (const e of Deno.readDirSync(archive)) {
      if (!e.isDirectory || e.name === "figures") continue;
      if (!/-w(16|32|128)-/.test(e.name)) continue;
      for (const to of [rebuilt, e.name.includes("-w128-") ? large : small]) {
        await Deno.mkdir(join(to, e.name), { recursive: true });
        for (const f of ["config.yaml", "result.json", "params.json"]) {
          await Deno.copyFile(join(archive, e.name, f), join(to, e.name, f));
        }
      }
    }
    const opts = { ...FAST, scale: ["n_params_nonembedding"] };
    const whole = await analyzeSweep(rebuilt, opts);
    const both = await analyzeSweep([small, large], { ...opts, out: join(dir, "out") });
    assert.equal(whole.optima.n_trials, 180);
    assert.deepEqual(slopes(both.fits), slopes(whole.fits));
    assert.equal(both.optima.groups.length, 6);
    const t = await loadResults([small, large]);
    assert.deepEqual([...new Set(t.array("source") as string[])], [small, large]);
    // The rebuilt table is the archive's results.csv (the rows of these widths), plus the derived columns.
    const table = (await readSweepDir(rebuilt)).table;
    const csv = aq.fromCSV(await Deno.readTextFile(join(archive, "results.csv")))
      .filter(aq.escape((d: Record<string, number>) => [16, 32, 128].includes(d["model.width"])));
    const key = ["trial_dir", "status", "final_val_loss", "optimizer.lr", "train.seed"];
    assert.deepEqual(
      table.select(key).orderby("trial_dir").objects(),
      csv.select(key).orderby("trial_dir").objects(),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sweep trained by an independent PyTorch loop (tests/fixtures/torch_sweep) analysed as logged", async () => {
  const file = join(ROOT, "tests/fixtures/torch_sweep/runs.csv");
  const map = { lr: "lr", loss: "val_loss", seed: "seed", status: "status", by: ["param"], scale: ["width"] };
  const text = await Deno.readTextFile(file);
  const raw = text.trim().split("\n").slice(1).map((l) => l.split(","));
  const t = await loadResults(file, map);
  assert.equal(t.numRows(), raw.length);
  assert.equal(
    (t.array("status") as string[]).filter((s) => s === "diverged").length,
    raw.filter((r) => r[5] === "nan").length,
  );
  const optima = optimalLR(t, { ...map, resamples: 50 });
  // eta* (grid) of every group is the arg-min of the seed-mean loss over LRs where no seed diverged.
  for (const g of optima.groups) {
    const mine = raw.filter((r) => r[0] === g.keys.param && Number(r[1]) === g.keys.width);
    const byLr = new Map<number, number[]>();
    for (const r of mine) byLr.set(Number(r[3]), [...(byLr.get(Number(r[3])) ?? []), Number(r[5])]);
    let best = NaN, bestLoss = Infinity;
    for (const [lr, ls] of byLr) {
      const mean = ls.reduce((a, b) => a + b, 0) / ls.length;
      if (mean < bestLoss) [best, bestLoss] = [lr, mean];
    }
    assert.equal(g.eta_star_grid, best, `${g.family} ${g.label}`);
  }
  // docs/analysis.md's command on a copy: the analysis lands beside the file.
  const dir = await tmp();
  try {
    await Deno.copyFile(file, join(dir, "runs.csv"));
    const r = await analyzeCLI([
      join(dir, "runs.csv"),
      ...["--lr", "lr", "--loss", "val_loss", "--seed", "seed", "--status", "status", "--by", "param"],
      ...["--scale", "width", "--no-figures", "--resamples", "50"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      await Deno.readTextFile(join(dir, "runs-analysis", "analysis.md")),
      new RegExp(`^${raw.length} trials .*; families by param; scale axes width; loss val_loss`, "m"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a script outside the checkout imports dmodel and runs with docs/analysis.md's one command", async () => {
  const dir = await tmp();
  try {
    await Deno.copyFile(join(ROOT, "docs/examples/analyze_table.ts"), join(dir, "analyze_table.ts"));
    await Deno.copyFile(join(ROOT, "tests/fixtures/torch_sweep/runs.csv"), join(dir, "runs.csv"));
    // deno run -A --config /path/to/dmodel/deno.json analyze_table.ts runs.csv
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", join(ROOT, "deno.json"), "analyze_table.ts", "runs.csv"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(r.stdout);
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    assert.match(out, /^param=sp: eta\* moves by x2\^.* per doubling of width/m);
    assert.match(out, /^param=mup: eta\* moves by x2\^.* per doubling of width/m);
    assert.match(out, /^(param=mup - param=sp|param=sp - param=mup): slope difference/m);
    assert.match(out, /^\d+ runs; wrote loss_vs_lr\.svg$/m);
    assert.match(await Deno.readTextFile(join(dir, "loss_vs_lr.svg")), /<svg/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
