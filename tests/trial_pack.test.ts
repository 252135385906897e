/**
 * The packed archive of a sweep's finished trials (engine/sweep/trial_pack.ts,
 * engine/sweep/archive.ts): snapshot -> restore gives back every finished
 * trial directory byte for byte (the sweep then counts them done), files the
 * tables cannot hold exactly are kept verbatim, and a damaged archive is a
 * one-line error naming the file and line, before anything is written.
 */
import assert from "node:assert/strict";
import * as aq from "arquero";
import YAML from "yaml";
import {
  readArchive,
  restoreRun,
  reuseTrials,
  snapshotRun,
  withUnpackedArchives,
} from "../engine/sweep/archive.ts";
import { trialState } from "../engine/sweep/plan.ts";
import type { PlannedTrial } from "../engine/sweep/grid.ts";
import { emptyResult } from "../engine/train/result.ts";

/** A trial directory's files, path -> text, as the trainer would write them (and a few it would not). */
function trialFiles(lr: number, seed: number, depth: number): Record<string, string> {
  const config = {
    model: { width: 16, depth },
    optimizer: { name: "adam", lr, eps: 1e-16 },
    train: { seed },
  };
  const result = { ...emptyResult("ok", null, "cpu"), steps_done: 4, final_val_loss: 3 + lr, wall_s: 1.25 };
  const params = [{ name: "E_in", shape: [64, 16], lr, init: { dist: "normal" } }];
  const collapse = ["step", ...Array.from({ length: depth }, (_, l) => `L${l}.cosine`)];
  return {
    "config.yaml": YAML.stringify(config),
    "result.json": JSON.stringify(result, null, 1),
    "params.json": JSON.stringify(params, null, 1),
    // step 0 logs no train loss, steps between evals no val loss: empty cells
    "metrics.csv": `step,train_loss,val_loss\n0,,4.5\n2,4.1,\n4,3.9,${3 + lr}\n`,
    "probes/collapse.csv": [
      collapse,
      ...[0, 4].map((s) => [s, ...collapse.slice(1).map((_, l) => l / 10 + s)]),
    ]
      .map((r) => `${r.join(",")}\n`).join(""),
  };
}

async function writeDir(dir: string, files: Record<string, string>): Promise<void> {
  for (const [f, text] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${f}`.replace(/\/[^/]+$/, ""), { recursive: true });
    await Deno.writeTextFile(`${dir}/${f}`, text);
  }
}

async function walk(dir: string, at = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}${at}`)) {
    if (e.isDirectory) out.push(...await walk(dir, `${at}/${e.name}`));
    else out.push(`${at}/${e.name}`.slice(1));
  }
  return out.sort();
}

/** A synthetic sweep directory: 3 finished trials (two depths), one unfinished, the sweep's tables. */
async function syntheticSweep(runs: string): Promise<Map<string, Record<string, string>>> {
  const trials = new Map([
    ["t-lr0.01-s0-aaaaaa", trialFiles(0.01, 0, 2)],
    ["t-lr0.03-s0-bbbbbb", trialFiles(0.03, 0, 3)],
    ["t-lr0.01-s1-cccccc", {
      ...trialFiles(0.01, 1, 2),
      // not as the trainer writes them: kept verbatim
      "config.yaml": "# hand-edited\nmodel: {width: 16}\n",
      "params.json": '[{"name":"E_in"}]',
      "metrics.csv": 'step,note\n0,"a, b"\n',
    }],
  ]);
  for (const [name, files] of trials) await writeDir(`${runs}/${name}`, files);
  await writeDir(`${runs}/t-partial-dddddd`, { "config.yaml": "x: 1\n", "metrics.csv": "step\n0\n" });
  await writeDir(runs, { "results.csv": "trial_dir,final_val_loss\n", "trials.json": "[]" });
  return trials;
}

Deno.test("trial pack: snapshot -> restore recreates every finished trial byte for byte, and the sweep counts them done", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-pack-" });
  try {
    const runs = `${dir}/runs`, archive = `${dir}/archive`, fresh = `${dir}/fresh`;
    const trials = await syntheticSweep(runs);
    assert.deepEqual(await snapshotRun(runs, archive), { trials: 3, copied: 3, unfinished: 1 });
    // A handful of files, whatever the number of trials: the sweep's tables and one table per file name.
    assert.deepEqual(await walk(archive), [
      "results.csv",
      "trials.json",
      "trials/index.jsonl",
      "trials/metrics.csv",
      "trials/probes/collapse.csv",
    ]);
    const index = (await Deno.readTextFile(`${archive}/trials/index.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(index.map((e) => e.trial), [...trials.keys()].sort());
    const hand = index.find((e) => e.trial === "t-lr0.01-s1-cccccc");
    assert.deepEqual(Object.keys(hand.text).sort(), ["config.yaml", "metrics.csv", "params.json"]);
    // Long format: one row per (trial, step); the union of the depths' probe columns.
    const collapse = aq.fromCSV(await Deno.readTextFile(`${archive}/trials/probes/collapse.csv`));
    assert.deepEqual(collapse.columnNames(), ["trial", "step", "L0.cosine", "L1.cosine", "L2.cosine"]);
    assert.equal(collapse.numRows(), 6);

    assert.deepEqual(await restoreRun(archive, fresh), { trials: 3, copied: 3, unfinished: 0 });
    for (const [name, files] of trials) {
      assert.deepEqual(await walk(`${fresh}/${name}`), Object.keys(files).sort(), name);
      for (const [f, text] of Object.entries(files)) {
        assert.deepEqual(
          await Deno.readFile(`${fresh}/${name}/${f}`),
          new TextEncoder().encode(text),
          `${name}/${f}`,
        );
      }
      const t = { dir: name } as PlannedTrial;
      assert.equal((await trialState(fresh, t)).state, "done", name);
    }
    assert.deepEqual((await walk(fresh)).filter((f) => !f.includes("/")), [], "no sweep tables restored");

    // A restore keeps what the run directory has; a second snapshot of the restored copy changes nothing.
    await Deno.writeTextFile(`${fresh}/t-lr0.03-s0-bbbbbb/result.json`, '{"status": "ok", "local": true}');
    assert.equal((await restoreRun(archive, fresh)).copied, 0);
    assert.match(await Deno.readTextFile(`${fresh}/t-lr0.03-s0-bbbbbb/result.json`), /local/);
    const packed = await Deno.readTextFile(`${archive}/trials/index.jsonl`);
    await snapshotRun(runs, archive);
    assert.equal(await Deno.readTextFile(`${archive}/trials/index.jsonl`), packed);

    // Readers of trial directories see them while the archive is unpacked in place, and not after.
    const seen = await withUnpackedArchives(dir, async () => (await walk(archive)).length);
    assert.equal(seen, 5 + [...trials.values()].reduce((n, f) => n + Object.keys(f).length, 0));
    assert.equal((await walk(archive)).length, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("trial pack: an archive of trial directories (the unpacked form) is packed by the next snapshot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-pack-" });
  try {
    const trials = await syntheticSweep(`${dir}/old`);
    await Deno.remove(`${dir}/old/t-partial-dddddd`, { recursive: true });
    await Deno.mkdir(`${dir}/runs`);
    await snapshotRun(`${dir}/runs`, `${dir}/old`);
    assert.deepEqual((await walk(`${dir}/old`)).filter((f) => f.startsWith("t-")), []);
    const back = await readArchive(`${dir}/old`);
    for (const [name, files] of trials) assert.deepEqual(Object.fromEntries(back.get(name)!), files);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("trial pack: a sweep's reuse: copies a matching trial out of a packed archive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-pack-" });
  try {
    const trials = await syntheticSweep(`${dir}/runs`);
    const plan = [...trials.keys()].map((d, i) => ({ id: `id${i}`, dir: d }));
    await Deno.writeTextFile(`${dir}/runs/trials.json`, JSON.stringify(plan));
    await snapshotRun(`${dir}/runs`, `${dir}/archive`);
    const pending = [{ id: "id1", dir: "renamed-id1" }, { id: "other", dir: "x" }] as PlannedTrial[];
    const [c] = await reuseTrials([`${dir}/archive`], `${dir}/dst`, pending);
    assert.deepEqual([c.reused, c.ids], [1, ["id1"]]);
    const files = trials.get(plan[1].dir)!;
    assert.deepEqual(await walk(`${dir}/dst/renamed-id1`), Object.keys(files).sort());
    for (const [f, text] of Object.entries(files)) {
      assert.equal(await Deno.readTextFile(`${dir}/dst/renamed-id1/${f}`), text, f);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("trial pack: a damaged archive is a one-line error naming file and line; nothing is restored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-pack-" });
  try {
    await syntheticSweep(`${dir}/runs`);
    await snapshotRun(`${dir}/runs`, `${dir}/archive`);
    const index = `${dir}/archive/trials/index.jsonl`, metrics = `${dir}/archive/trials/metrics.csv`;
    const good = { index: await Deno.readTextFile(index), metrics: await Deno.readTextFile(metrics) };
    const cases: [string, string, RegExp][] = [
      [index, good.index.replace(/\n(.)/, "\n{$1"), /index\.jsonl:2: not a JSON line/],
      [
        index,
        good.index.replace('"trial":"t-lr0.01-s0-aaaaaa"', '"trial":"../x"'),
        /index\.jsonl:1: key "trial"/,
      ],
      [
        index,
        good.index.replace('"config.yaml"', '"../config.yaml"'),
        /index\.jsonl:1: key "\.\.\/config\.yaml"/,
      ],
      [
        index,
        good.index.replace('"metrics.csv":["step"', '"metrics.csv":[1'),
        /index\.jsonl:1: key "metrics.csv"/,
      ],
      [
        metrics,
        good.metrics.replace(/\nt-lr0.03-s0-bbbbbb,2,/, "\nt-zzz,2,"),
        /metrics\.csv:6: trial "t-zzz"/,
      ],
      [
        metrics,
        good.metrics.replace("trial,step,train_loss", "trial,step,train_los"),
        /metrics\.csv:1: no column "train_loss"/,
      ],
    ];
    for (const [file, text, error] of cases) {
      await Deno.writeTextFile(file, text);
      await assert.rejects(restoreRun(`${dir}/archive`, `${dir}/fresh`), (e: Error) => {
        assert.match(e.message, error);
        assert.match(e.message, new RegExp(`^${dir}/archive/trials/`));
        assert(!e.message.includes("\n"), e.message);
        return true;
      });
      await Deno.writeTextFile(index, good.index);
      await Deno.writeTextFile(metrics, good.metrics);
    }
    assert.deepEqual(await walk(`${dir}/fresh`).catch(() => []), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
