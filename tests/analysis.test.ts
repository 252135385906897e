/** The sweep analysis: optima, basin fit, scaling fit, intervals, verdicts, files, figures, stages, CLI. */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as aq from "arquero";
import { DmodelError } from "../engine/core/errors.ts";
import { loadResults } from "../engine/analysis/load.ts";
import { curveOptimum, optimalLR, quadraticVertex } from "../engine/analysis/optimum.ts";
import { compareAll, compareFits, fitScaling, predictLR, verdictText } from "../engine/analysis/fit.ts";
import { leastSquares } from "../engine/core/least_squares.ts";
import { type Analysis, analyzeSweep } from "../engine/analysis/analyze.ts";
import {
  etaVsScaleSpec,
  lossVsLRSpec,
  trainingCurvesSpec,
  type TrainingPoint,
} from "../engine/analysis/figure_specs.ts";
import { FONT_FILES, renderSVG } from "../engine/analysis/render.ts";
import { parseOptions, resolve } from "../engine/core/registry.ts";
import type { Stage, StageContext } from "../engine/core/stage.ts";
import "../components/stage/analyze.ts";
import "../components/stage/report.ts";
import { HALF_OCTAVES, SMALL36, writeSyntheticSweep } from "./fixtures/synthetic_sweep.ts";

const tmp = () => Deno.makeTempDir({ prefix: "dmodel-analysis-" });

/** Writes results.csv from row objects (columns: union of keys). */
async function writeResults(dir: string, rows: Record<string, unknown>[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "results.csv"), aq.from(rows).toCSV());
}

/** One row of a hand-made results table. */
function row(over: Record<string, unknown>): Record<string, unknown> {
  return {
    trial_id: crypto.randomUUID().slice(0, 8),
    status: "ok",
    final_val_loss: 3,
    "parameterization.name": "ngpt",
    "model.width": 64,
    "optimizer.lr": 2 ** -6,
    "train.seed": 1,
    ...over,
  };
}

Deno.test("known law eta* ~ width^-0.5: slope within 0.03, bootstrap CI covers it, verdicts", async () => {
  const dir = await tmp();
  try {
    const n = await writeSyntheticSweep(dir, {
      widths: [64, 128, 256, 512, 1024],
      lrExps: HALF_OCTAVES,
      seeds: [1, 2, 3],
      families: [{ name: "ngpt", exponent: -0.5 }, { name: "nugpt", exponent: 0 }],
      divergeAbove: 2.5,
      trialFiles: false,
      pipeline: false,
    });
    assert.equal(n, 2 * 5 * 21 * 3);
    const optima = optimalLR(await loadResults(dir));
    assert.deepEqual(optima.scale, ["model.width"]);
    assert.deepEqual(optima.by, ["parameterization.name"]);
    assert.equal(optima.groups.length, 10);
    assert.ok(optima.groups.every((g) => g.bracketed && g.refined && g.n_seeds === 3));
    const fits = fitScaling(optima, { resamples: 500, bootstrapSeed: 1 });
    // Symmetric basins: both estimators agree, so the interval is set by the noise and the h/20 floor.
    assert.ok(optima.groups.every((g) => g.model === "two-sided+parabola" && g.u_sys < 0.05), "resolution");
    const ngpt = fits.find((f) => f.family === "ngpt")!;
    const [c] = ngpt.coefficients;
    assert.equal(c.scale, "model.width");
    assert.ok(Math.abs(c.slope + 0.5) < 0.03, `slope ${c.slope}`);
    assert.ok(c.slope_ci && c.slope_ci[0] <= -0.5 && -0.5 <= c.slope_ci[1], `CI ${c.slope_ci}`);
    assert.ok(c.slope_ci[1] - c.slope_ci[0] < 0.15, `CI too wide: ${c.slope_ci}`);
    assert.ok(ngpt.r2 > 0.99);
    assert.equal(ngpt.n_resamples, 500);
    assert.equal(c.transfers, false);
    assert.equal(c.call, "drifts");
    assert.match(
      c.verdict,
      /^eta\* moves by x2\^-0\.\d\d per doubling of width \(95% CI \[-0\.\d\d, -0\.\d\d\]\): drifts \(the whole interval lies beyond -0\.10/,
    );
    const nu = fits.find((f) => f.family === "nugpt")!.coefficients[0];
    assert.ok(Math.abs(nu.slope) < 0.03 && nu.transfers, nu.verdict);
    assert.match(nu.verdict, /: transfers \(the whole interval lies within the tolerance band ±0\.10\)$/);
    // The intercept puts eta*(64) at 2^-5: predict at the base and far out.
    const p = predictLR(ngpt, { width: 4096 });
    assert.ok(Math.abs(Math.log2(p.eta_star) - (-5 - 0.5 * 6)) < 0.2, `${Math.log2(p.eta_star)}`);
    assert.ok(p.eta_lo < p.eta_star && p.eta_star < p.eta_hi);
    assert.equal(predictLR(ngpt, { "model.width": 4096 }).eta_star, p.eta_star);
    assert.throws(() => predictLR(ngpt, { depth: 8 }), DmodelError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bootstrap is deterministic per seed", async () => {
  const dir = await tmp();
  try {
    await writeSyntheticSweep(dir, {
      widths: [64, 256, 1024],
      lrExps: HALF_OCTAVES,
      families: [{ name: "ngpt", exponent: -0.5 }],
      trialFiles: false,
      noise: 0.02,
    });
    const t = await loadResults(dir);
    const ci = (seed: number) =>
      fitScaling(optimalLR(t, { resamples: 100, bootstrapSeed: seed }))[0].coefficients[0].slope_ci;
    assert.deepEqual(ci(3), ci(3));
    assert.notDeepEqual(ci(3), ci(4));
    // One seed per group: the noise comes from the fit residuals alone, and there is still an interval.
    await writeSyntheticSweep(dir, { widths: [64, 256, 1024], seeds: [1], trialFiles: false, noise: 0.01 });
    const o = optimalLR(await loadResults(dir), { resamples: 100 });
    const n = o.noise.ngpt;
    assert.ok(Number.isNaN(n.seed_sd) && n.seed_dof === 0 && n.fit_dof > 0, JSON.stringify(n));
    assert.ok(n.sd > 0.003 && n.sd < 0.03, `noise ${n.sd} for a true 0.01`);
    const f = fitScaling(o)[0].coefficients[0];
    assert.ok(f.slope_ci && f.slope_ci[0] <= -0.5 && -0.5 <= f.slope_ci[1], `${f.slope_ci}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("quadratic refinement recovers an exact parabola's vertex to 1e-6", async () => {
  // Three points, uneven spacing.
  const f = (x: number) => 2.5 + 0.3 * (x + 6.3) ** 2;
  const q = quadraticVertex([-7, -6.5, -5.5], [f(-7), f(-6.5), f(-5.5)]);
  assert.ok(Math.abs(q.vertex + 6.3) < 1e-9, `${q.vertex}`);
  assert.ok(Math.abs(q.a - 0.3) < 1e-9);
  // Five points (window 2), least squares of an exact parabola is exact.
  const xs = [-8, -7.5, -7, -6.5, -6, -5.5];
  const o2 = curveOptimum(xs.map((x) => ({ x, loss: f(x) })), 2)!;
  assert.ok(o2.refined && Math.abs(o2.x + 6.3) < 1e-7, `${o2.x}`);
  assert.equal(o2.model, "two-sided+parabola");
  assert.ok(Math.abs(o2.lossFit - 2.5) < 1e-9);
  // Through the whole pipeline on the half-octave grid: vertex of each group.
  const dir = await tmp();
  try {
    await writeSyntheticSweep(dir, {
      widths: [64, 256],
      seeds: [1, 2],
      families: [{ name: "nugpt", exponent: -0.37, log2Eta0: -6.3 }],
      trialFiles: false,
      loss: (_fam, w, x) => 3 + 0.2 * (x - (-6.3 - 0.37 * Math.log2(w / 64))) ** 2,
    });
    const optima = optimalLR(await loadResults(dir));
    for (const g of optima.groups) {
      const want = -6.3 - 0.37 * Math.log2(g.scale["model.width"] / 64);
      assert.ok(
        Math.abs(Math.log2(g.eta_star) - want) < 1e-6,
        `${g.label}: ${Math.log2(g.eta_star)} vs ${want}`,
      );
      assert.ok(Math.abs(g.loss_star_fit - 3) < 1e-6);
      assert.equal(Math.log2(g.eta_star_grid), Math.round(want * 2) / 2);
    }
    const [fit] = fitScaling(optima);
    assert.ok(Math.abs(fit.coefficients[0].slope + 0.37) < 1e-6);
    assert.ok(Math.abs(fit.intercept - (-6.3 + 0.37 * 6)) < 1e-6);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("edge optimum is flagged not bracketed, not refined, and left out of the fit", async () => {
  const dir = await tmp();
  try {
    // eta*(w) = 2^-6 (w/64)^-1 on the grid 2^-10..2^-4: width 1024's optimum is the grid's lowest LR.
    await writeSyntheticSweep(dir, {
      widths: [64, 128, 256, 512, 1024],
      lrExps: [-10, -9, -8, -7, -6, -5, -4],
      seeds: [1],
      families: [{ name: "sp", exponent: -1, log2Eta0: -6 }],
      noise: 0,
      seedNoise: 0,
      trialFiles: false,
    });
    const optima = optimalLR(await loadResults(dir));
    const edge = optima.groups.find((g) => g.scale["model.width"] === 1024)!;
    assert.equal(edge.bracketed, false);
    assert.equal(edge.refined, false);
    assert.equal(edge.eta_star, 2 ** -10);
    const inside = optima.groups.filter((g) => g.scale["model.width"] < 1024);
    assert.ok(inside.every((g) => g.bracketed));
    const [fit] = fitScaling(optima);
    assert.deepEqual(fit.excluded, ["1024"]);
    assert.equal(fit.n_groups, 4);
    assert.ok(Math.abs(fit.coefficients[0].slope + 1) < 1e-6);
    // Upper edge too, and an LR with only failed trials does not bracket.
    const o = curveOptimum([{ x: -6, loss: 4 }, { x: -5, loss: 3.5 }, { x: -4, loss: NaN }]);
    assert.equal(o!.bracketed, false);
    assert.equal(
      curveOptimum([{ x: -6, loss: 4 }, { x: -5, loss: 3.5 }, { x: -4, loss: NaN, diverged: true }])!
        .bracketed,
      true,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("diverged and failed trials are counted and excluded from the optimum", async () => {
  const dir = await tmp();
  try {
    const lrs = [-8, -7, -6, -5, -4];
    const loss = { [-8]: 3.6, [-7]: 3.4, [-6]: 3.3, [-5]: 3.25, [-4]: 3.5 } as Record<number, number>;
    const rows: Record<string, unknown>[] = [];
    for (const x of lrs) {
      for (const seed of [1, 2, 3]) {
        const r = row({ "optimizer.lr": 2 ** x, "train.seed": seed, final_val_loss: loss[x] });
        // At 2^-5 one seed of three diverges: the LR is unstable, not a candidate.
        if (x === -5 && seed === 2) Object.assign(r, { status: "diverged", final_val_loss: NaN });
        // A failed trial (crash) at 2^-7 is dropped, the other seeds still count.
        if (x === -7 && seed === 3) Object.assign(r, { status: "failed", final_val_loss: null });
        // Status ok with a NaN loss is re-marked diverged.
        if (x === -4 && seed === 1) r.final_val_loss = NaN;
        rows.push(r);
      }
    }
    await writeResults(dir, rows);
    const t = await loadResults(dir);
    assert.equal((t.array("status") as string[]).filter((s) => s === "diverged").length, 2);
    const [g] = optimalLR(t).groups;
    assert.equal(g.n_trials, 15);
    assert.equal(g.n_diverged, 2);
    assert.equal(g.n_failed, 1);
    assert.equal(g.n_ok, 12);
    assert.equal(g.eta_star_grid, 2 ** -6, "the diverged LR 2^-5 must not be the optimum");
    assert.ok(Math.abs(g.loss_star - 3.3) < 1e-12);
    assert.equal(g.bracketed, true);
    const p7 = g.curve.find((p) => p.log2_lr === -7)!;
    assert.equal(p7.n_ok, 2);
    assert.equal(p7.n_failed, 1);
    assert.ok(Math.abs(p7.loss - 3.4) < 1e-12);
    // The partially diverged LRs 2^-5 and 2^-4 are data (their finished seeds), not holes: the fit uses them
    // (so the optimum moves towards the lower loss at 2^-5) and says so.
    const p5 = g.curve.find((p) => p.log2_lr === -5)!;
    assert.equal(p5.n_ok, 2);
    assert.ok(Math.abs(p5.loss - 3.25) < 1e-12);
    assert.equal(g.refined, true);
    assert.ok(g.log2_eta > -6 && g.log2_eta <= -5, `${g.log2_eta}`);
    assert.ok(g.flags.some((f) => /diverged for some seeds/.test(f)), g.flags.join("; "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("degenerate sweeps: a group that all diverged, no varying scale", async () => {
  const dir = await tmp();
  try {
    const rows: Record<string, unknown>[] = [];
    for (const x of [-8, -7, -6]) {
      rows.push(row({ "optimizer.lr": 2 ** x, final_val_loss: 3 + (x + 7) ** 2 }));
      rows.push(row({ "model.width": 128, "optimizer.lr": 2 ** x, status: "diverged", final_val_loss: NaN }));
    }
    await writeResults(dir, rows);
    const a = await analyzeSweep(dir, { png: false });
    const [g64, g128] = a.optima.groups;
    assert.equal(Math.log2(g64.eta_star), -7);
    assert.ok(Number.isNaN(g128.eta_star) && !g128.bracketed && g128.n_diverged === 3);
    assert.equal(a.json.groups[1].eta_star, null);
    assert.match(a.fits[0].note!, /not enough bracketed optima to fit a trend \(1 of 2 groups usable\)/);
    assert.equal(
      a.json.fits[0].verdict,
      "no fit: not enough bracketed optima to fit a trend (1 of 2 groups usable)",
    );
    assert.deepEqual(a.figures.map((f) => f.name), ["loss_vs_lr", "eta_vs_width"]);
    assert.deepEqual(a.notes, ["no training curves: no metrics.csv found"]);
    // One width only: no scale axis, one group per family, no fit.
    await writeResults(dir, rows.filter((r) => r["model.width"] === 64));
    const b = await analyzeSweep(dir, { png: false });
    assert.deepEqual(b.optima.scale, []);
    assert.equal(b.optima.groups[0].label, "all");
    assert.equal(b.fits[0].note, "no scale axis varies");
    // A prediction without a fitted law is a note, and the rest of the analysis is still written.
    const c = await analyzeSweep(dir, { predict: [{ width: 128 }], figures: false });
    assert.deepEqual(c.predictions, []);
    assert.ok(c.notes.includes("no prediction at width=128: no family has a fitted law"), c.notes.join("; "));
    assert.equal(c.optima.groups.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cost of transfer: loss at the base scale's best LR minus the scale's best", async () => {
  const dir = await tmp();
  try {
    await writeSyntheticSweep(dir, {
      widths: [64, 256, 1024],
      lrExps: [-10, -9, -8, -7, -6, -5, -4],
      seeds: [1],
      families: [{ name: "ngpt", exponent: -0.5, log2Eta0: -6 }],
      loss: (_f, w, x) => 3 + 0.1 * (x - (-6 - 0.5 * Math.log2(w / 64))) ** 2,
      divergeAbove: 1.5,
      trialFiles: false,
    });
    const gs = optimalLR(await loadResults(dir)).groups;
    assert.deepEqual(gs.map((g) => g.base_eta_star), [2 ** -6, 2 ** -6, 2 ** -6]);
    assert.equal(gs[0].transfer_cost, 0);
    assert.ok(Math.abs(gs[1].transfer_cost - 0.1) < 1e-12, `${gs[1].transfer_cost}`); // 1 octave off
    assert.equal(gs[2].transfer_cost, Infinity); // 2^-6 diverges at width 1024 (optimum 2^-8)
    assert.equal(gs[2].n_diverged, 3); // 2^-6, 2^-5, 2^-4 are > 1.5 octaves above 2^-8
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two scale axes at once: multiple regression recovers both exponents", async () => {
  const dir = await tmp();
  try {
    const rows: Record<string, unknown>[] = [];
    const xs = [-11, -10, -9, -8, -7, -6, -5, -4, -3];
    for (const w of [64, 128, 256]) {
      for (const steps of [100, 200, 400, 800]) {
        const xStar = -5 - 0.5 * Math.log2(w / 64) - 0.33 * Math.log2(steps / 100);
        for (const x of xs) {
          rows.push(row({
            "model.width": w,
            "train.steps": steps,
            "optimizer.lr": 2 ** x,
            final_val_loss: 3 + 0.15 * (x - xStar) ** 2,
          }));
        }
      }
    }
    await writeResults(dir, rows);
    const optima = optimalLR(await loadResults(dir));
    assert.deepEqual(optima.scale, ["model.width", "train.steps"]);
    assert.equal(optima.groups.length, 12);
    assert.equal(optima.groups[0].label, "width=64, steps=100");
    const [fit] = fitScaling(optima);
    assert.deepEqual(fit.coefficients.map((c) => c.scale), ["model.width", "train.steps"]);
    assert.ok(Math.abs(fit.coefficients[0].slope + 0.5) < 1e-6);
    assert.ok(Math.abs(fit.coefficients[1].slope + 0.33) < 1e-6);
    assert.match(fit.coefficients[1].verdict, /per doubling of steps/);
    const p = predictLR(fit, { width: 1024, steps: 1600 });
    assert.ok(Math.abs(Math.log2(p.eta_star) - (-5 - 0.5 * 4 - 0.33 * 4)) < 1e-6);
    // Only width given: steps at its base value (100).
    assert.ok(Math.abs(Math.log2(predictLR(fit, { width: 256 }).eta_star) - -6) < 1e-6);
    // Axes that vary together (steps = width * 100 / 64) cannot be separated.
    const tied = rows.filter((r) => r["train.steps"] === (r["model.width"] as number) * 100 / 64);
    assert.equal(tied.length, 3 * xs.length);
    assert.throws(() => fitScaling(optimalLR(aq.from(tied))), {
      name: "DmodelError",
      message: /vary together/,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad input: one-line DmodelErrors naming the file, trial, column", async () => {
  const dir = await tmp();
  try {
    await assert.rejects(loadResults(join(dir, "nope")), {
      name: "DmodelError",
      message: /nope: no such file or directory/,
    });
    await writeResults(dir, [row({ trial_id: "abc", status: "exploded" })]);
    await assert.rejects(loadResults(dir), {
      message: /results\.csv: row 1 \(line 2\): column "status": "exploded" is not a run status; known: ok,/,
    });
    await Deno.writeTextFile(join(dir, "results.csv"), "trial_id,status\nx,ok\n");
    await assert.rejects(loadResults(dir), {
      message:
        /missing columns "optimizer\.lr" \(--lr\), "final_val_loss" \(--loss\); it has: trial_id, status$/,
    });
    // Two trials in one cell that differ in model.block: name the column.
    await writeResults(dir, [row({ "model.block": "ngpt" }), row({ "model.block": "prenorm" })]);
    assert.throws(() => optimalLR(aq.fromCSV(Deno.readTextFileSync(join(dir, "results.csv")))), {
      name: "DmodelError",
      message:
        /2 trials share parameterization\.name=ngpt, lr=0\.015625, seed=1; they differ in model\.block: add it to --by/,
    });
    assert.throws(() => optimalLR(aq.from([row({})]), { scale: ["model.depth"] }), {
      message: /no column "model\.depth"/,
    });
    assert.throws(() => optimalLR(aq.from([row({ "model.width": "big" })]), { scale: ["model.width"] }), {
      message: /scale column "model\.width" has value "big"/,
    });
    assert.equal(leastSquares([[1], [1]], [0, 1]), null);
    assert.equal(
      verdictText("model.depth", 0.04, [-0.02, 0.09], 0.1),
      "eta* moves by x2^0.04 per doubling of depth (95% CI [-0.02, 0.09]): transfers " +
        "(the whole interval lies within the tolerance band ±0.10)",
    );
    assert.match(
      verdictText("model.depth", 0.04, [-0.02, 0.11], 0.1),
      /: inconclusive \(the interval straddles/,
    );
    assert.match(
      verdictText("model.depth", 0.3, [0.12, 0.5], 0.1),
      /: drifts \(the whole interval lies beyond \+0\.10/,
    );
    assert.match(
      verdictText("model.depth", 0.3, [0.05, 0.5], 0.1),
      /: inconclusive \(the interval excludes 0/,
    );
    assert.match(verdictText("model.depth", 0, [-0.3, 0.3], 0.1), /: inconclusive \(the interval is wider/);
    assert.match(verdictText("model.depth", 0, null, 0.1), /\(no CI\): inconclusive/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * CPU seconds this process has used (Linux /proc/self/stat utime + stime, 100 ticks/s); NaN elsewhere. On a
 * shared machine the wall clock measures the other jobs as much as this one.
 */
function cpuSeconds(): number {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

Deno.test("analyzeSweep on a 36-trial sweep: files, JSON shape, figures, under 10 s of CPU", async () => {
  const dir = await tmp();
  try {
    assert.equal(await writeSyntheticSweep(dir, SMALL36), 36);
    const t0 = performance.now(), c0 = cpuSeconds();
    const a = await analyzeSweep(dir, { predict: [{ width: 4096 }] });
    const ms = performance.now() - t0, cpu = cpuSeconds() - c0;
    if (Number.isFinite(cpu)) assert.ok(cpu < 10, `analyze used ${cpu} s of CPU (${ms} ms wall)`);
    else assert.ok(ms < 10_000, `analyze took ${ms} ms`);
    const json = JSON.parse(await Deno.readTextFile(join(dir, "analysis.json")));
    assert.deepEqual(json, JSON.parse(JSON.stringify(a.json)));
    assert.equal(json.groups.length, 6);
    for (const k of ["eta_star", "eta_star_grid", "loss_star", "bracketed", "n_trials", "n_diverged"]) {
      assert.ok(k in json.groups[0], k);
    }
    assert.equal(json.groups[0]["parameterization.name"], "ngpt");
    assert.equal(json.groups[0]["model.width"], 64);
    assert.equal(json.groups.reduce((s: number, g: { n_trials: number }) => s + g.n_trials, 0), 36);
    assert.deepEqual(Object.keys(json.fits[0]).slice(0, 6), [
      "family",
      "scale",
      "slope",
      "slope_ci",
      "r2",
      "verdict",
    ]);
    assert.equal(json.fits.length, 2);
    assert.equal(json.predictions.length, 2);
    const csv = aq.fromCSV(await Deno.readTextFile(join(dir, "optima.csv")));
    assert.equal(csv.numRows(), 6);
    assert.ok(csv.columnNames().includes("eta_star"));
    const md = await Deno.readTextFile(join(dir, "analysis.md"));
    assert.match(md, /\| parameterization\.name \| model\.width \| eta\* \|/);
    assert.match(md, /ngpt: eta\* moves by x2\^-0\.(4[5-9]|5[0-5]) per doubling of width .*: drifts/);
    assert.match(
      md,
      /nugpt - ngpt: slope difference \+0\.\d\d .*: nugpt removes 0\.\d\d ± 0\.\d\d of ngpt's drift/,
    );
    for (const name of ["loss_vs_lr", "eta_vs_width", "training_curves"]) {
      const svg = await Deno.readTextFile(join(dir, "figures", `${name}.svg`));
      assert.match(svg, /^<svg/);
      assert.ok(svg.length > 5000);
    }
    assert.match(await Deno.readTextFile(join(dir, "figures", "loss_vs_lr.svg")), /learning rate \(log2\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const hasFont = (() => {
  try {
    return Deno.statSync(FONT_FILES[0]).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: hasFont
    ? "PNG figures: valid signature, IHDR size = 2x the SVG, non-trivial"
    : "PNG figures (skipped: apt-get install -y fonts-dejavu-core)",
  ignore: !hasFont,
  async fn() {
    const dir = await tmp();
    try {
      await writeSyntheticSweep(dir, SMALL36);
      const a = await analyzeSweep(dir, { resamples: 50 });
      assert.equal(a.figures.length, 3);
      for (const f of a.figures) {
        const png = await Deno.readFile(join(dir, f.png!));
        assert.deepEqual([...png.slice(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        assert.equal(new TextDecoder().decode(png.slice(12, 16)), "IHDR");
        const view = new DataView(png.buffer, png.byteOffset);
        const [w, h] = [view.getUint32(16), view.getUint32(20)];
        const sw = Number(/width="([\d.]+)"/.exec(f.svg)![1]),
          sh = Number(/height="([\d.]+)"/.exec(f.svg)![1]);
        assert.ok(
          Math.abs(w - 2 * sw) <= 2 && Math.abs(h - 2 * sh) <= 2,
          `${f.name}: ${w}x${h} vs svg ${sw}x${sh}`,
        );
        assert.ok(w > 600 && h > 400, `${f.name}: ${w}x${h}`);
        assert.ok(png.length > 20_000, `${f.name}: ${png.length} bytes`);
        assert.equal(f.pngBytes, png.length);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function ctx(outDir: string, inputs = new Map<string, unknown>()): StageContext {
  return {
    pipelineName: "t",
    pipelineFile: "",
    pipelineDir: ".",
    outDir,
    stageId: "analyze",
    inputs,
    flags: {},
    log: () => {},
  };
}

Deno.test("stages analyze and report: registered, options validated, report reuses the analysis", async () => {
  const dir = await tmp();
  try {
    await writeSyntheticSweep(dir, { ...SMALL36, trialFiles: false });
    const an = resolve("stage", "analyze");
    assert.throws(() => parseOptions(an, { resampels: 3 }), /resampels/);
    const opts = parseOptions(an, { resamples: 20, figures: false });
    assert.equal(opts.tolerance, 0.1);
    const a = await (an.create(opts) as Stage).run(ctx(dir)) as Analysis;
    assert.equal(a.kind, "dmodel.analysis");
    assert.equal(a.dir, dir);
    assert.ok((await Deno.stat(join(dir, "analysis.json"))).isFile);
    const rep = resolve("stage", "report");
    const r = await (rep.create(parseOptions(rep, {})) as Stage).run(ctx(dir, new Map([["analyze", a]]))) as {
      analysis: Analysis;
    };
    assert.equal(r.analysis, a, "report reuses the analyze stage's output");
    const html = await Deno.readTextFile(join(dir, "report.html"));
    assert.match(html, /eta\* moves by x2\^/);
    assert.match(html, /<h2>Pipeline<\/h2>/);
    assert.doesNotMatch(html, /<script|<link|https?:\/\//);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI: --json --predict prints the summary; bad input is one line, exit 1", async () => {
  const dir = await tmp();
  try {
    await writeSyntheticSweep(dir, { ...SMALL36, trialFiles: false });
    const cli = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "tasks/analyze.ts", ...args],
        cwd: new URL("..", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
      }).output();
    const out = await cli(dir, "--json", "--no-figures", "--no-report", "--predict", "width=4096");
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const json = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(json.groups.length, 6);
    assert.equal(json.fits[0].family, "ngpt");
    assert.equal(json.predictions[0].scale["model.width"], 4096);
    const bad = await cli(dir, "--predict", "width=-3");
    assert.equal(bad.code, 1);
    const err = new TextDecoder().decode(bad.stderr).trim();
    assert.equal(err, 'error: --predict "width=-3": expected AXIS=NUMBER>0, e.g. width=4096');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("predictions: the interval widens with the distance from the measured scales; warning beyond 2x", async () => {
  const dir = await tmp();
  try {
    await writeSyntheticSweep(dir, {
      widths: [64, 128, 256],
      lrExps: [-10, -9, -8, -7, -6, -5, -4, -3],
      seeds: [1, 2],
      families: [{ name: "ngpt", exponent: -0.5 }],
      noise: 0.01,
      trialFiles: false,
    });
    const [fit] = fitScaling(optimalLR(await loadResults(dir), { resamples: 200 }));
    const width = (w: number) => {
      const p = predictLR(fit, { width: w });
      return { p, logWidth: Math.log2(p.eta_hi) - Math.log2(p.eta_lo) };
    };
    const inside = width(128), edge = width(512), far = width(4096), farther = width(65536);
    assert.ok(
      inside.logWidth < edge.logWidth && edge.logWidth < far.logWidth && far.logWidth < farther.logWidth,
    );
    // The interval carries the slope's uncertainty: its half-width grows ~ |slope CI| / 2 per doubling.
    const c = fit.coefficients[0];
    const perDoubling = (farther.logWidth - far.logWidth) / 4;
    const slopeWidth = c.slope_ci![1] - c.slope_ci![0];
    assert.ok(Math.abs(perDoubling - slopeWidth) < 0.25 * slopeWidth, `${perDoubling} vs ${slopeWidth}`);
    assert.equal(inside.p.warning, undefined);
    assert.equal(width(512).p.warning, undefined); // exactly 2x the largest measured width
    assert.match(far.p.warning!, /width=4096 is 16x beyond the measured 64\.\.256/);
    assert.equal(far.p.extrapolation, 16);
    assert.match(width(16).p.warning!, /width=16 is 4\.0x beyond/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("paired comparison: slope difference of two families with its interval, in words", async () => {
  const dir = await tmp();
  try {
    await writeSyntheticSweep(dir, {
      widths: [64, 128, 256, 512],
      lrExps: HALF_OCTAVES,
      seeds: [1, 2],
      families: [{ name: "ngpt", exponent: -0.5 }, { name: "nugpt", exponent: -0.2 }],
      noise: 0.01,
      trialFiles: false,
    });
    const fits = fitScaling(optimalLR(await loadResults(dir), { resamples: 200 }));
    const [cmp] = compareAll(fits);
    assert.equal(cmp.family, "nugpt");
    assert.equal(cmp.reference, "ngpt");
    assert.ok(Math.abs(cmp.difference - 0.3) < 0.15, `${cmp.difference}`);
    assert.ok(cmp.ci![0] <= 0.3 && 0.3 <= cmp.ci![1], `${cmp.ci}`);
    assert.match(
      cmp.text,
      /^nugpt - ngpt: slope difference \+0\.\d\d per doubling of width \(95% CI \[0\.\d\d, 0\.\d\d\]\)/,
    );
    assert.match(cmp.text, /nugpt removes 0\.\d\d ± 0\.\d\d of ngpt's drift \(x2\^-0\.\d\d per doubling\)$/);
    assert.deepEqual(compareFits(fits[1], fits[0], "model.width").ci, cmp.ci);
    assert.throws(() => compareFits(fits[1], fits[0], "model.depth"), /not fitted in both/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cost of transfer: fitted, with an interval that covers the exact cost", async () => {
  const dir = await tmp();
  try {
    // loss = 3 + 0.1 (x - x*)^2 + noise: moving 1 octave off the optimum costs exactly 0.1.
    await writeSyntheticSweep(dir, {
      widths: [64, 128],
      lrExps: [-10, -9, -8, -7, -6, -5, -4, -3],
      seeds: [1, 2, 3],
      families: [{ name: "ngpt", exponent: -1, log2Eta0: -5.3 }],
      noise: 0.005,
      curvature: 0.1,
      trialFiles: false,
    });
    const [base, g] = optimalLR(await loadResults(dir), { resamples: 300 }).groups;
    assert.equal(base.transfer_cost_fit, 0);
    const exact = 0.1 * (base.log2_eta - g.log2_eta) ** 2;
    assert.ok(Math.abs(g.transfer_cost_fit - exact) < 0.02, `${g.transfer_cost_fit} vs ${exact}`);
    assert.ok(g.transfer_cost_ci[0] <= 0.1 && 0.1 <= g.transfer_cost_ci[1], `${g.transfer_cost_ci}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("figures: every seed and every diverged trial drawn at its own place; eta* figure has its references", async () => {
  const dir = await tmp();
  try {
    await writeSyntheticSweep(dir, {
      widths: [64, 128, 256],
      lrExps: [-9, -8, -7, -6, -5, -4, -3],
      seeds: [1, 2],
      families: [{ name: "ngpt", exponent: -0.5, log2Eta0: -5.5 }],
      divergeAbove: 1.2,
      trialFiles: false,
    });
    const t = await loadResults(dir);
    const optima = optimalLR(t, { resamples: 50 });
    const rows = (lossVsLRSpec(optima).data as { values: Record<string, unknown>[] }).values;
    const seeds = rows.filter((r) => r.kind === "seed" || r.kind === "above");
    assert.equal(seeds.length, t.filter((d: { status: string }) => d.status === "ok").numRows());
    const div = rows.filter((r) => r.kind === "diverged");
    assert.equal(div.length, t.filter((d: { status: string }) => d.status === "diverged").numRows());
    const spots = new Set(div.map((r) => `${r.x}|${r.loss}`));
    assert.equal(spots.size, div.length, "two diverged trials drawn on top of each other");
    assert.ok(seeds.some((r) => r.kind === "above"), "far wings are marked on the edge, not cut");
    assert.equal(rows.filter((r) => r.kind === "optimum").length, 3);
    assert.ok(rows.filter((r) => r.kind === "fit").length > 60, "fitted basins drawn");
    const fits = fitScaling(optima);
    const eta =
      (etaVsScaleSpec(optima, fits, "model.width").data as { values: Record<string, unknown>[] }).values;
    for (const k of ["point", "grid", "gridline", "flat", "fit"]) assert.ok(eta.some((r) => r.kind === k), k);
    assert.ok(eta.filter((r) => r.kind === "point").every((r) => (r.lo as number) < (r.y as number)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the earlier main job's recorded sweep: nuGPT (grid optimum 2^-5 at every width) is not called drifts", () => {
  // tests/fixtures/quickstart_results.csv: `deno task sweep` with pipelines/quickstart.yaml as it was at
  // commit b6a4ed6 (nGPT vs nuGPT, widths 32/64/128, 100 steps, LRs 2^-8..2^-2, seeds 0/1),
  // trimmed to the columns the analysis reads. nuGPT's grid optimum is 2^-5 at widths 32, 64, 128 and its observed cost of
  // transfer is 0; its right neighbour 2^-4 sits on the divergence wall (the old 3-point parabola called it
  // "x2^-0.27 per doubling: drifts").
  const t = aq.fromCSV(Deno.readTextFileSync(new URL("./fixtures/quickstart_results.csv", import.meta.url)));
  const optima = optimalLR(t, { resamples: 400 });
  const nuGroups = optima.groups.filter((g) => g.family === "nugpt");
  assert.deepEqual(nuGroups.map((g) => Math.log2(g.eta_star_grid)), [-5, -5, -5]);
  assert.deepEqual(nuGroups.map((g) => g.transfer_cost), [0, 0, 0]);
  const fits = fitScaling(optima);
  const [ngpt, nugpt] = ["ngpt", "nugpt"].map((f) => fits.find((x) => x.family === f)!.coefficients[0]);
  assert.notEqual(nugpt.call, "drifts", nugpt.verdict);
  assert.ok(nugpt.slope_ci![0] <= 0 && 0 <= nugpt.slope_ci![1], nugpt.verdict);
  assert.equal(ngpt.call, "drifts", ngpt.verdict);
  const [cmp] = compareAll(fits);
  assert.equal(cmp.family, "nugpt");
  assert.ok(cmp.ci![0] > 0, cmp.text);
});

Deno.test("training curves: a val loss evaluated only at the start and the end is two dots, not a line", async () => {
  const points: TrainingPoint[] = [];
  const add = (trial_id: string, split: "train" | "val", steps: number[]) => {
    for (const step of steps) {
      // A slow fall, inside the range the figure zooms to (its final losses), so no step is cut off.
      points.push({
        family: "ngpt",
        label: "16",
        trial_id,
        log2_lr: -5,
        step,
        split,
        loss: 6 + (100 - step) / 1e4,
      });
    }
  };
  add("a", "train", [0, 25, 50, 75, 100]);
  add("a", "val", [0, 100]); // two evals: dots only
  add("b", "train", [0, 25, 50, 75, 100]);
  add("b", "val", [0, 50, 100]); // three: joined
  const spec = trainingCurvesSpec(points) as {
    data: { values: { trial_id: string; split: string; val_line: boolean }[] };
    spec: { layer: { transform: { filter: string }[]; mark: { type: string } }[] };
  };
  const lines = (id: string) =>
    spec.data.values.filter((r) => r.trial_id === id && r.split === "val").map((r) => r.val_line);
  assert.deepEqual(lines("a"), [false, false]);
  assert.deepEqual(lines("b"), [true, true, true]);
  const valLine = spec.spec.layer.find((l) =>
    l.mark.type === "line" && l.transform[0].filter.includes("'val'")
  );
  assert.match(valLine!.transform[0].filter, /datum\.val_line/);
  // rendered: one val path (trial b) among the train paths, and 5 val dots
  const svg = await renderSVG(spec as never);
  assert.equal((svg.match(/<path[^>]*aria-roledescription="line mark"/g) ?? []).length, 3);
  assert.equal((svg.match(/aria-roledescription="point"/g) ?? []).length, 5);
});

Deno.test("line charts: more than 10 series get a 20-colour scheme, so no two lines share a colour", async () => {
  const { lineChartSpec } = await import("../engine/analysis/line_chart.ts");
  const rows = (n: number) =>
    Array.from({ length: n * 2 }, (_, i) => ({ config: `v${i % n}`, step: i, loss: i }));
  const scale = (
    n: number,
  ) => (lineChartSpec({ rows: rows(n), x: "step", y: "loss", color: "config", title: "t" }) as {
    spec?: { encoding: { color: { scale?: { scheme: string } } } };
    encoding?: { color: { scale?: { scheme: string } } };
  });
  const colorOf = (n: number) => (scale(n).spec ?? scale(n)).encoding!.color.scale?.scheme;
  assert.equal(colorOf(13), "tableau20");
  assert.equal(colorOf(3), undefined);
});
