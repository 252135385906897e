/**
 * The verdicts' estimator (engine/analysis/joint.ts) and its parts: the
 * noise model, calibration on realistic synthetic sweeps (a fast subset of
 * `deno task calibrate-analysis`, whose full table is 100 sweeps per
 * setting), the cost of transfer from the fitted curves, the plain answer
 * and the replication check.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as aq from "arquero";
import { analyzeSweep } from "../engine/analysis/analyze.ts";
import { reportHTML } from "../engine/analysis/report.ts";
import { writeSyntheticSweep } from "./fixtures/synthetic_sweep.ts";
import { fitNoiseModel, type NoiseCell, noiseSd, PRIOR_SIGMA0 } from "../engine/analysis/noise.ts";
import { familySlopes, jointScaling, resolutionSlopeSd } from "../engine/analysis/joint.ts";
import { optimalLR } from "../engine/analysis/optimum.ts";
import { plainAnswers } from "../engine/analysis/answer.ts";
import { predictLR } from "../engine/analysis/fit.ts";
import { compareReplicas, replicateSeeds } from "../engine/analysis/replicate.ts";
import { mulberry32 } from "../engine/core/random.ts";
import { normalFrom } from "./fixtures/noisy_law.ts";
import { calibrate } from "./fixtures/calibrate.ts";
import { realisticSweep } from "./fixtures/realistic_sweep.ts";

/** A sweep with an exact quadratic basin (tiny noise): loss = 3 + a (log2 lr - x*(w))^2 + offsets. */
function quadraticSweep(o: {
  slope: number;
  x0: number;
  a?: number;
  seeds?: number;
  noise?: number;
  lrExps?: number[];
  rng?: number;
  steps?: number;
}): Record<string, unknown>[] {
  const normal = normalFrom(mulberry32(o.rng ?? 1));
  const rows: Record<string, unknown>[] = [];
  for (const w of [64, 128, 256, 512]) {
    const xs = o.x0 + o.slope * Math.log2(w / 64);
    for (const x of o.lrExps ?? [-9, -8.5, -8, -7.5, -7, -6.5, -6, -5.5, -5, -4.5, -4, -3.5, -3]) {
      for (let s = 0; s < (o.seeds ?? 2); s++) {
        rows.push({
          status: "ok",
          final_val_loss: 3 + (o.a ?? 0.1) * (x - xs) ** 2 + 0.01 * s + (o.noise ?? 1e-4) * normal(),
          "parameterization.name": "law",
          "model.width": w,
          "optimizer.lr": 2 ** x,
          "train.seed": s,
          ...(o.steps ? { "train.steps": o.steps } : {}),
        });
      }
    }
  }
  return rows;
}

Deno.test("noise model: recovers sd growing towards the cliff from 2-seed cells, robust to seed jumps", () => {
  const normal = normalFrom(mulberry32(3));
  const cells: NoiseCell[] = [];
  for (let i = 0; i < 120; i++) {
    const z = -3 + 6 * (i / 119), sd = 0.01 * Math.exp(0.5 * Math.max(0, z));
    // nu = 2 (3 seeds): v = sd^2 chi^2_2 / 2
    cells.push({ z, v: sd * sd * (normal() ** 2 + normal() ** 2) / 2, nu: 2 });
  }
  const m = fitNoiseModel(cells);
  assert.equal(m.source, "seeds");
  assert.ok(Math.abs(m.sigma0 / 0.01 - 1) < 0.2, `sigma0 ${m.sigma0}`);
  assert.ok(Math.abs(m.beta - 0.5) < 0.2, `beta ${m.beta}`);
  // Six seeds jumping by 0.2 nats near the wall: the cells' variances are 100x larger, the fit barely moves.
  const jumped = cells.map((c, i) => (i % 20 === 19 ? { ...c, v: 0.2 ** 2 / 2 } : c));
  const r = fitNoiseModel(jumped);
  assert.ok(r.winsorized >= 6, `${r.winsorized} cells capped`);
  assert.ok(Math.abs(noiseSd(r, 1) / noiseSd(m, 1) - 1) < 0.3, `${noiseSd(r, 1)} vs ${noiseSd(m, 1)}`);
  // One seed: no cell has a variance: the stated prior.
  const p = fitNoiseModel([]);
  assert.equal(p.source, "prior");
  assert.equal(p.sigma0, PRIOR_SIGMA0);
});

Deno.test("resolution term: zero when every scale shares the grid phase, largest when the phase drifts", () => {
  const t = [-1.5, -0.5, 0.5, 1.5];
  assert.equal(resolutionSlopeSd(0, t, 1), 0);
  const a = resolutionSlopeSd(0.15, t, 1), b = resolutionSlopeSd(0.15, t, 0.5);
  assert.ok(a > 0.02 && a < 0.1, `${a}`);
  // A slope of exactly one grid step per doubling also keeps the phase: the bias cancels again.
  assert.ok(resolutionSlopeSd(1, t, 1) < 1e-12);
  assert.ok(b !== a);
});

Deno.test("joint law on an exact quadratic basin: slope within 0.02, interval covers it, verdicts", () => {
  for (const [slope, call] of [[-0.5, "drifts"], [0, "transfers"]] as const) {
    const [f] = familySlopes(quadraticSweep({ slope, x0: -5.3 }), { resamples: 60 });
    assert.ok(Math.abs(f.slope - slope) < 0.02, `${f.slope} for ${slope}`);
    assert.ok(f.ci && f.ci[0] <= slope && slope <= f.ci[1], `${f.ci}`);
    assert.equal(f.call, call, f.verdict);
    assert.equal(f.n_seeds, 2);
    assert.equal(f.n_trials, 4 * 13 * 2);
  }
});

Deno.test("calibration on realistic sweeps (fast subset): coverage, no false drift, transfers decided", () => {
  // The full table (100 sweeps per setting, every grid, seed count and slope): deno task calibrate-analysis.
  // Here 16 sweeps per setting with margins: a true coverage of 95% gives >= 13/16 with probability 0.99.
  const t0 = performance.now();
  const flat = calibrate({ grid: "x2^0.5", seeds: 3, slope: 0 }, 16, 60);
  assert.ok(flat.cover >= 13, `constant law, x2^0.5, 3 seeds: covers ${flat.cover}/16`);
  assert.equal(flat.drifts, 0, `constant law called drifts ${flat.drifts}/16`);
  assert.ok(flat.transfers >= 8, `constant law called transfers only ${flat.transfers}/16`);
  const small = calibrate({ grid: "x2", seeds: 3, slope: 0.15 }, 16, 60);
  assert.ok(small.cover >= 13, `+0.15 law, x2, 3 seeds: covers ${small.cover}/16`);
  assert.ok(small.transfers <= 1, `+0.15 law called transfers ${small.transfers}/16`);
  const one = calibrate({ grid: "x2", seeds: 1, slope: -0.5 }, 10, 60);
  assert.ok(one.cover >= 8, `drifting law, x2, 1 seed: covers ${one.cover}/10`);
  assert.equal(one.transfers, 0);
  console.log(`fast calibration: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});

Deno.test("one seed: noise from the stated prior, said in the verdict; a seed jump near the wall is down-weighted", () => {
  const { rows } = realisticSweep({ slope: -0.5, seeds: 1, grid: "x2^0.5", rng: 11 });
  const [f] = familySlopes(rows, { resamples: 40 });
  assert.equal(f.fit.noise.source, "prior");
  assert.match(f.verdict, /one seed: noise from a stated prior/);
  const [family, sentences] = plainAnswers([f.fit], { predictions: [] })[0];
  assert.equal(family, "law");
  assert.match(sentences.join(" "), /one seed: the trial noise is a stated prior/);
  // Three seeds, one of them jumping by 0.3 nats at the LR just above the optimum of every width: with the
  // Huber cell mean and the shrunken cell variance the slope moves by little.
  const base = quadraticSweep({ slope: -0.5, x0: -5.3, seeds: 3, noise: 0.005, rng: 4 });
  const jumped = base.map((r) => {
    const xs = -5.3 - 0.5 * Math.log2((r["model.width"] as number) / 64),
      x = Math.log2(r["optimizer.lr"] as number);
    return r["train.seed"] === 2 && x - xs > 0.2 && x - xs <= 0.7
      ? { ...r, final_val_loss: (r.final_val_loss as number) + 0.3 }
      : r;
  });
  const [a] = familySlopes(base, { resamples: 40 }), [b] = familySlopes(jumped, { resamples: 40 });
  assert.ok(Math.abs(a.slope - b.slope) < 0.05, `${a.slope} vs ${b.slope}`);
  assert.ok(b.ci && b.ci[0] <= -0.5 && -0.5 <= b.ci[1], `${b.ci}`);
});

Deno.test("cost of transfer from the fitted curves: exact on a quadratic basin, stable where the arg-min is a coin toss", () => {
  // Cost at width 512 of the width-64 optimum: a (x*_64 - x*_512)^2 = 0.1 * 1.5^2 = 0.225.
  const optima = optimalLR(aq.from(quadraticSweep({ slope: -0.5, x0: -5.3 })), { resamples: 0 });
  const [fit] = jointScaling(optima, { resamples: 60 });
  const last = fit.per_scale[3];
  assert.ok(Math.abs(last.cost - 0.225) < 0.01, `cost ${last.cost}`);
  assert.ok(last.cost_ci && last.cost_ci[0] <= 0.225 && 0.225 <= last.cost_ci[1], `${last.cost_ci}`);
  assert.equal(fit.per_scale[0].cost, 0);
  // A flat basin with its optimum midway between two grid LRs: 1e-3 nats of noise flip the base arg-min
  // between them, which moves the observed cost at the last width by a grid step's worth; the fitted cost
  // does not follow.
  const costs = [1, 2, 3, 4, 5, 6].map((rng) => {
    const o = optimalLR(
      aq.from(
        quadraticSweep({
          slope: -0.5,
          x0: -5.5,
          a: 0.05,
          noise: 1e-3,
          lrExps: [-9, -8, -7, -6, -5, -4, -3],
          rng,
        }),
      ),
      { resamples: 0 },
    );
    const [j] = jointScaling(o, { resamples: 0 });
    return {
      fitted: j.per_scale[3].cost,
      observed: o.groups[3].transfer_cost,
      grid: o.groups[0].eta_star_grid,
    };
  });
  assert.ok(new Set(costs.map((c) => c.grid)).size === 2, "the base arg-min should flip between the two LRs");
  const fitted = costs.map((c) => c.fitted), observed = costs.map((c) => c.observed);
  assert.ok(Math.max(...observed) - Math.min(...observed) > 0.1, `observed costs ${observed}`);
  // The law's base optimum is midway (-5.5), two octaves from width 512's: 0.05 * 1.5^2.
  for (const c of fitted) assert.ok(Math.abs(c - 0.1125) < 0.01, `fitted cost ${c}`);
  assert.ok(Math.max(...fitted) - Math.min(...fitted) < 0.01, `fitted costs ${fitted}`);
});

Deno.test("plain answer: verdict, LR per measured and predicted scale, precision, horizon and edge caveats", () => {
  const rows = quadraticSweep({ slope: -0.5, x0: -5.3, steps: 180 });
  const optima = optimalLR(aq.from(rows), { resamples: 0 });
  const [fit] = jointScaling(optima, { resamples: 60 });
  const p = predictLR(fit, { width: 4096 });
  const [[, s]] = plainAnswers([fit], { predictions: [p], steps: 180 });
  assert.ok(s.length >= 2 && s.length <= 3, s.join("\n"));
  assert.match(s[0], /does not transfer across width 64-512: eta\* moves by x2\^-0\.50 per doubling/);
  for (const w of [64, 128, 256, 512]) assert.match(s[1], new RegExp(`\\] at ${w}[;.]`));
  assert.match(s[1], /at width=4096 \(extrapolated\)/);
  assert.match(s[1], /costs 0\.2\d\d nats/);
  assert.match(s[2], /^Precision is limited by /);
  assert.match(s[2], /horizon \(180 steps\) is short/);
  // The base scale's optimum at the grid's low edge: said.
  const edge = rows.filter((r) => !(r["model.width"] === 64 && (r["optimizer.lr"] as number) < 2 ** -5.5));
  const [f2] = jointScaling(optimalLR(aq.from(edge), { resamples: 0 }), { resamples: 40 });
  const [[, s2]] = plainAnswers([f2], { predictions: [] });
  assert.match(s2.join(" "), /smallest scale \(64\) has its optimum at the LR grid's edge/);
});

Deno.test("replication: leave-one-seed-out agrees on a known law; contradicting verdicts are flagged", () => {
  const rows = quadraticSweep({ slope: -0.5, x0: -5.3, seeds: 3, noise: 0.005, rng: 9 });
  const r = replicateSeeds(rows, { resamples: 40 });
  assert.equal(r.replicas.length, 4);
  assert.equal(r.pairs.length, 6);
  assert.ok(r.ok, JSON.stringify(r.pairs.filter((p) => p.contradiction || !p.consistent)));
  const fake = (call: "transfers" | "drifts", slope: number, ci: [number, number]) => ({
    name: call,
    seeds: [0],
    slopes: [{ ...r.replicas[0].slopes[0], call, slope, ci }],
  });
  const [pair] = compareReplicas(fake("transfers", 0, [-0.05, 0.05]), fake("drifts", -0.3, [-0.35, -0.25]));
  assert.ok(pair.contradiction && !pair.consistent, JSON.stringify(pair));
  assert.ok(Math.abs(pair.allowed - Math.hypot(0.05, 0.05)) < 1e-12);
});

Deno.test("analysis.md, analysis.json and report.html open with the plain answer; the two-stage fit is kept beside", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-answer-" });
  try {
    await writeSyntheticSweep(dir, {
      widths: [64, 128, 256, 512],
      seeds: [1, 2],
      trialFiles: false,
      divergeAbove: 2,
    });
    const a = await analyzeSweep(dir, { resamples: 40, figures: false, predict: [{ width: 2048 }] });
    const md = await Deno.readTextFile(join(dir, "analysis.md"));
    assert.ok(
      md.indexOf("## Answer") > 0 && md.indexOf("## Answer") < md.indexOf("## Verdicts"),
      md.slice(0, 400),
    );
    assert.match(md, /- \*\*ngpt\.\*\* The learning rate does not transfer across width 64-512/);
    assert.match(md, /- \*\*nugpt\.\*\* The learning rate transfers across width 64-512/);
    assert.match(md, /Cross-check, two-stage estimate/);
    const json = JSON.parse(await Deno.readTextFile(join(dir, "analysis.json")));
    assert.deepEqual(Object.keys(json.answers), ["ngpt", "nugpt"]);
    assert.equal(json.fits_two_stage.length, 2);
    assert.equal(json.fits[0].per_scale.length, 4);
    assert.ok(json.fits[0].noise_model.sigma0 > 0);
    const html = reportHTML(a);
    const i = html.indexOf('<section class="answer">');
    assert.ok(i > 0 && i < html.indexOf("<h2>Verdicts</h2>"));
    assert.match(html, /<p class="verdict drifts"><b>ngpt\.<\/b> The learning rate does not transfer/);
    assert.match(html, /at width=2048 \(extrapolated\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
