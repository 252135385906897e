/**
 * The coordinate check: SP's logits grow with width, muP's stay flat (the
 * pipeline pipelines/coord-check.yaml on a tiny corpus); the CSV, figures and
 * CLI; the slope helper.
 */
import assert from "node:assert/strict";
import "../components/mod.ts";
import { activationSlopes, COORD_COLUMNS, coordCheck } from "../engine/train/coord_check.ts";
import { lineSlope } from "../engine/core/least_squares.ts";
import { loadPipeline, parsePipeline } from "../engine/core/pipeline.ts";
import type { CoordCheckStageOptions } from "../components/stage/coord_check.ts";
import { tinyCorpus } from "./helpers.ts";

const corpus = await tinyCorpus();
const dataRoot = await Deno.makeTempDir({ prefix: "dmodel-data-" });
const PIPELINE = new URL("../pipelines/coord-check.yaml", import.meta.url).pathname;
const ON_TINY = [`data.corpus=${corpus}`, "train.backend=wasm"];

Deno.test("coord_check: lineSlope is the least-squares slope of y on x", () => {
  assert.equal(lineSlope([5, 6, 7, 8], [1, 3, 5, 7]), 2);
  assert.equal(lineSlope([5, 6, 7, 8], [1, 1, 1, 1]), 0);
  // y = 0.5 x + noise that cancels: (0.1, -0.1, -0.1, 0.1) is orthogonal to x - mean(x).
  assert(Math.abs(lineSlope([0, 1, 2, 3], [0.1, 0.4, 0.9, 1.6]) - 0.5) < 1e-12);
});

Deno.test("coord_check: SP's logits grow with width at least 0.3 per doubling faster than muP's (widths 32..256, 3 steps)", async () => {
  // The shipped pipeline (prenorm, depth 2, LR 0.03, 8 seeds), on the tiny corpus.
  const p = await loadPipeline(PIPELINE, ON_TINY);
  const o = p.stages.get("coord")!.options as CoordCheckStageOptions;
  assert.deepEqual(o.widths, [32, 64, 128, 256]);
  assert.equal(o.steps, 3);
  assert.deepEqual(o.parameterizations, ["sp", "mup"]);
  const r = await coordCheck(o.base, { ...o, dataRoot, log: () => {} });
  const { sp, mup } = r.logitSlopes;
  console.log(`logit growth slope after 3 steps: sp ${sp.toFixed(3)}, mup ${mup.toFixed(3)}`);
  assert(sp - mup >= 0.3, `SP logit slope ${sp} is not 0.3 above muP's ${mup}`);
  // muP keeps every activation flat (within 0.25 per doubling); SP's residual stream blows up.
  for (const s of activationSlopes(r.rows, 3)) {
    if (s.parameterization === "mup") assert(Math.abs(s.slope) < 0.25, `mup ${s.name} slope ${s.slope}`);
    if (s.parameterization === "sp" && s.name === "block1.out") {
      assert(s.slope > 1, `sp ${s.name} slope ${s.slope}`);
    }
  }
  // Step 0: the same init scale at every width for SP; muP's zero readout gives zero logits.
  const at0 = (n: string, name: string) =>
    r.rows.filter((x) => x.parameterization === n && x.step === 0 && x.name === name).map((x) => x.mean_abs);
  assert(at0("sp", "logits").every((v) => v > 0.5 && v < 1.2), `${at0("sp", "logits")}`);
  assert.deepEqual(at0("mup", "logits"), [0, 0, 0, 0]);
});

Deno.test("coord_check: the CLI writes coord_check.csv and one PNG per rule, and prints the slopes", async () => {
  const out = await Deno.makeTempDir();
  const run = (extra: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "tasks/coord_check.ts",
        PIPELINE,
        ...ON_TINY.flatMap((s) => ["--set", s]),
        ...extra,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const res = await run([
    "--widths",
    "16,32",
    "--steps",
    "2",
    "--seeds",
    "1",
    "--parameterizations",
    "sp,mup,completep",
    "--out",
    out,
  ]);
  const stdout = new TextDecoder().decode(res.stdout);
  assert.equal(res.code, 0, new TextDecoder().decode(res.stderr));
  for (const n of ["sp", "mup", "completep"]) {
    assert.match(
      stdout,
      new RegExp(`coord-check: ${n} \\(prenorm\\): logit growth slope after step 2: -?\\d+\\.\\d{3}`),
    );
    const png = await Deno.readFile(`${out}/figures/coord_check_${n}.png`);
    assert.deepEqual([...png.subarray(1, 4)], [..."PNG"].map((c) => c.charCodeAt(0)));
  }
  const lines = (await Deno.readTextFile(`${out}/coord_check.csv`)).trim().split("\n");
  assert.equal(lines[0], COORD_COLUMNS.join(","));
  const rows = lines.slice(1).map((l) => l.split(","));
  // Per rule and width: 9 activations (with the readout's input) x 3 measurements (steps 0, 1, 2) + 21
  // parameters x 2 updates (depth 2: E_in, 9 per block, g_final, E_out).
  assert.equal(rows.length, 3 * 2 * (9 * 3 + 21 * 2));
  const upd = rows.filter((r) => r[3] === "update" && r[4] === "E_out" && r[2] === "1");
  assert.equal(upd.length, 6);
  // Adam's first step moves every readout entry by about the LR (0.03): sign descent.
  for (const r of upd) assert(Math.abs(Number(r[5]) - 0.03) < 0.003, r.join(","));
  const bad = await run(["--widths", "16,24", "--out", out]);
  assert.equal(bad.code, 1);
  assert.match(new TextDecoder().decode(bad.stderr), /--widths: width 24 is not divisible by head_dim 16/);
});

Deno.test("coord_check: the stage refuses bad widths and unknown rules before any work", async () => {
  const text = (await Deno.readTextFile(PIPELINE)).replace("widths: [32, 64, 128, 256]", "widths: [32, 40]")
    .replace("parameterizations: [sp, mup]", "parameterizations: [sp, mupp]");
  await assert.rejects(
    parsePipeline(text, "cc.yaml"),
    (e: Error) =>
      /cc\.yaml:\d+: stages\.coord\.with\.widths\.1: width 40 is not divisible by head_dim 16 \(value: 40\)/
        .test(e.message) &&
      /stages\.coord\.with\.parameterizations\.1: unknown parameterization "mupp" \(did you mean "mup"\?\); known: .*mup/
        .test(
          e.message,
        ),
  );
});
