/**
 * The bracket-and-refine LR search (engine/sweep/lr_search.ts): the step rule
 * on hand-made curves, then whole adaptive sweeps through `deno task sweep`
 * with a synthetic trial runner (tests/fixtures/synthetic_executor.ts: a known
 * loss surface, no training): bracketing, extension at an edge, refinement to
 * basin_points, prediction-centred starts, the same trials after a SIGKILL
 * and a resume, the range-edge flag, the compute accounting, load-time errors.
 */
import assert from "node:assert/strict";
import * as aq from "arquero";
import "../components/mod.ts";
import { parsePipeline } from "../engine/core/pipeline.ts";
import { fitScaling, loadResults, optimalLR } from "../engine/analysis/mod.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { type LrPoint, searchStep, type StepSizes } from "../engine/sweep/lr_search_rule.ts";
import { flopsPerStep } from "../engine/sweep/compute.ts";
import type { PlannedTrial } from "../engine/sweep/grid.ts";
import { DIVERGE_ABOVE, syntheticOptimum } from "./fixtures/synthetic_executor.ts";
import { sweepCommand, tinyCorpus } from "./helpers.ts";

const root = new URL("..", import.meta.url).pathname;
const dec = new TextDecoder();
const corpus = await tinyCorpus();

const ok = (loss: number): LrPoint => ({ loss, n_ok: 2, n_diverged: 0, n_failed: 0, candidate: true });
const div: LrPoint = { loss: NaN, n_ok: 0, n_diverged: 2, n_failed: 0, candidate: false };
const S: StepSizes = { n: 25, step: 2, start_points: 3, basin_points: 5 };
/** A curve with its minimum at lattice point m: loss = (k - m)^2 / 10. */
const bowl = (m: number, ks: number[]) => new Map(ks.map((k) => [k, ok(3 + (k - m) ** 2 / 10)]));

Deno.test("lr_search step: coarse start, extension at an edge, refinement to basin_points, walls, range edges", () => {
  // Coarse: start_points LRs start_step apart around the centre, shifted inside the range.
  assert.deepEqual(searchStep(new Map(), 10, S).next, [8, 10, 12]);
  assert.deepEqual(searchStep(new Map(), 1, S).next, [0, 2, 4]);
  assert.deepEqual(searchStep(new Map(), 24, S).next, [20, 22, 24]);
  // The minimum at the high edge of what ran: extend one start_step higher.
  let s = searchStep(bowl(17, [8, 10, 12]), 10, S);
  assert.deepEqual([s.phase, s.next, s.best, s.bracketed], ["extend", [14], 12, false]);
  s = searchStep(bowl(3, [8, 10, 12]), 10, S);
  assert.deepEqual([s.phase, s.next], ["extend", [6]]);
  // A lone point extends both ways.
  assert.deepEqual(searchStep(bowl(3, [10]), 10, S).next, [8, 12]);
  // Bracketed at 10: fill in at resolution on both sides until 5 consecutive stable LRs.
  s = searchStep(bowl(10, [8, 10, 12]), 10, S);
  assert.deepEqual([s.phase, s.next, s.bracketed, s.basin], ["refine", [9, 11], true, 1]);
  s = searchStep(bowl(10, [8, 9, 10, 11, 12]), 10, S);
  assert.deepEqual([s.phase, s.basin, s.why], ["done", 5, "basin_points reached"]);
  // A diverged LR is a wall: the side stops there, the other side goes on.
  const walled = bowl(10, [8, 9, 10, 11]);
  walled.set(12, div);
  s = searchStep(walled, 10, S);
  assert.deepEqual([s.phase, s.next, s.basin], ["refine", [7], 4]);
  walled.set(7, div);
  s = searchStep(walled, 10, S);
  assert.deepEqual([s.phase, s.basin, s.why, s.bracketed], ["done", 4, "walls diverged", true]);
  // Diverged above the best counts as the bracket's high side.
  const divAbove = bowl(10, [8, 10]);
  divAbove.set(12, div);
  assert.equal(searchStep(divAbove, 10, S).bracketed, true);
  // The minimum at an end of the range: flagged, not extended.
  s = searchStep(bowl(-5, [0, 2, 4]), 2, S);
  assert.deepEqual([s.phase, s.range_edge, s.best, s.next], ["done", "low", 0, []]);
  s = searchStep(bowl(40, [20, 22, 24]), 22, S);
  assert.deepEqual([s.phase, s.range_edge, s.best], ["done", "high", 24]);
  // Everything diverged: go lower; at the low end, give up with the flag.
  assert.deepEqual(searchStep(new Map([[8, div], [10, div]]), 10, S).next, [6]);
  s = searchStep(new Map([[0, div], [2, div]]), 2, S);
  assert.deepEqual([s.phase, s.range_edge, s.why], ["done", "low", "no stable LR in range"]);
});

function searchYaml(o: { range?: string; center?: string; delay?: number; extra?: string } = {}): string {
  return `name: lr-search-test
plugins: [${root}tests/fixtures/synthetic_executor.ts]
base: &base
  data: {corpus: ${corpus}, tokenizer: {name: byte}, seq_len: 16}
  model: {block: ngpt, width: 16, depth: 1, head_dim: 8}
  parameterization: {name: ngpt, base_width: 16, base_depth: 1, base_steps: 6}
  optimizer: {name: adam, lr: 0.01}
  train: {steps: 6, batch_size: 2, eval_every: 2, eval_batches: 1, log_every: 1, backend: wasm}
stages:
  sweep:
    uses: sweep
    with:
      base: *base
      grid:
        parameterization.name: [ngpt, nugpt]
        model.width: [16, 32, 64]
      seeds: [0, 1]
      executor: {name: synthetic, delay_ms: ${o.delay ?? 0}}
      lr_search:
        range: {log2: ${o.range ?? "[-12, 0]"}}
        start_step: 1
        resolution: 0.5
        basin_points: 5
        center: ${o.center ?? "predict"}
${o.extra ?? ""}`;
}

const sweep = sweepCommand;

async function run(file: string, out: string, extra: string[] = []) {
  const r = await sweep(file, out, extra).output();
  const o = { stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
  assert.equal(r.code, 0, o.stderr);
  return o;
}

interface Report {
  group: string;
  family: string;
  scale: Record<string, number>;
  state: string;
  center_lr: number;
  center_from: string;
  best_lr: number;
  bracketed: boolean;
  range_edge: string | null;
  basin: number;
  lrs_run: number;
  flops: number;
  dense_flops: number;
  dense_trials: number;
}
const readSearch = async (out: string) =>
  JSON.parse(await Deno.readTextFile(`${out}/search.json`)) as {
    done: boolean;
    waves: number;
    groups: Report[];
    flops: number;
    dense_flops: number;
  };
const readTrials = async (out: string) =>
  JSON.parse(await Deno.readTextFile(`${out}/trials.json`)) as PlannedTrial[];
const log2 = Math.log2;
/** The lattice point (2^-12 + k/2) nearest to x. */
const nearest = (x: number) => Math.round(x * 2) / 2;

Deno.test({
  name:
    "lr_search sweep: synthetic surface; brackets, extends, refines, predicts; SIGKILL + resume gives the same trials",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dmodel-lrsearch-" });
    const file = `${dir}/s.yaml`;
    const stages = `  analyze:
    uses: analyze
    needs: [sweep]
    with: {by: [parameterization.name], scale: [model.width]}
  report:
    uses: report
    needs: [analyze]
`;
    await Deno.writeTextFile(file, searchYaml({ extra: stages }));
    const a = await run(file, `${dir}/a`);
    const plan = await readSearch(`${dir}/a`);
    const trials = await readTrials(`${dir}/a`);
    assert(plan.done);
    assert.equal(plan.groups.length, 6);
    const byLR = (g: Report) =>
      trials.filter((t) =>
        t.config.parameterization.name === g.family && t.config.model.width === g.scale["model.width"]
      );
    for (const g of plan.groups) {
      const xs = syntheticOptimum(g.family, g.scale["model.width"]);
      const ts = byLR(g);
      const lrs = [...new Set(ts.map((t) => log2(t.config.optimizer.lr as number)))].sort((x, y) => x - y);
      // Bracketed at the lattice LR nearest the true optimum, with basin_points stable LRs around it.
      assert.equal(g.state, "done", g.group);
      assert(g.bracketed && g.range_edge === null, g.group);
      assert.equal(log2(g.best_lr), nearest(xs), g.group);
      assert(g.basin >= 5, `${g.group}: basin ${g.basin}`);
      // The basin: consecutive stable lattice LRs (0.5 apart) through the optimum's.
      const stable = new Set(lrs.filter((x) => x <= xs + DIVERGE_ABOVE));
      let [lo, hi] = [nearest(xs), nearest(xs)];
      while (stable.has(lo - 0.5)) lo -= 0.5;
      while (stable.has(hi + 0.5)) hi += 0.5;
      assert.equal((hi - lo) * 2 + 1, g.basin, `${g.group}: ${lrs}`);
      // All seeds of every LR ran; every LR is on the lattice, inside the range.
      assert.equal(ts.length, 2 * lrs.length);
      for (const x of lrs) assert(Number.isInteger(x * 2) && x >= -12 && x <= 0, `${x}`);
      assert.equal(g.lrs_run, lrs.length);
      // Far fewer LRs than the 25 of the dense grid.
      assert(lrs.length <= 9, `${g.group}: ${lrs.length} LRs`);
    }
    const group = (fam: string, w: number) =>
      plan.groups.find((g) => g.family === fam && g.scale["model.width"] === w)!;
    // The smallest scale starts at the base LR (0.01 -> 2^-6.5 on the lattice); ngpt's optimum (-3.1) is
    // above the coarse LRs (-7.5, -6.5, -5.5), so the search extended upwards, one LR per wave.
    const w16 = group("ngpt", 16);
    assert.equal(log2(w16.center_lr), -6.5);
    const lrs16 = byLR(w16).map((t) => log2(t.config.optimizer.lr as number));
    for (const x of [-7.5, -6.5, -5.5, -4.5, -3.5, -2.5]) assert(lrs16.includes(x), `${x} in ${lrs16}`);
    // Width 32 starts at width 16's eta* (one finished scale); width 64 at the fitted law's prediction
    // from widths 16 and 32: eta* ~ 1/width for ngpt (-5.1), flat for nugpt (-5.1).
    assert.equal(log2(group("ngpt", 32).center_lr), nearest(syntheticOptimum("ngpt", 16)));
    for (const fam of ["ngpt", "nugpt"]) {
      const g = group(fam, 64);
      assert.match(g.center_from, /^predict \(2 scales\)/);
      assert.equal(log2(g.center_lr), nearest(syntheticOptimum(fam, 64)), fam);
      // The coarse LRs of the predicted centre bracket the optimum at once: no extension wave.
      const first = byLR(g).slice(0, 6).map((t) => log2(t.config.optimizer.lr as number));
      assert.deepEqual([...new Set(first)], [-6, -5, -4].map((x) => x + (nearest(-5.1) + 5)));
    }
    // Scales run smallest first: every width-64 trial of a family comes after its width-32 trials.
    for (const fam of ["ngpt", "nugpt"]) {
      const idx = (w: number) =>
        trials.filter((t) => t.config.parameterization.name === fam && t.config.model.width === w).map((t) =>
          t.index
        );
      assert(Math.min(...idx(64)) > Math.max(...idx(32)) && Math.min(...idx(32)) > Math.max(...idx(16)), fam);
    }
    // Compute: trial steps x model FLOPs per step; the dense grid: 25 LRs x 2 seeds per group, the LRs that ran
    // at their cost (diverged ones stopped at half the steps here), the others at full steps.
    const results = aq.fromCSV(await Deno.readTextFile(`${dir}/a/results.csv`));
    assert.equal(results.numRows(), trials.length);
    const cfg = new Map(trials.map((t) => [t.id, t.config]));
    let spent = 0;
    for (const r of results.objects() as { trial_id: string; steps_done: number }[]) {
      spent += r.steps_done * flopsPerStep(cfg.get(r.trial_id)!);
    }
    assert(Math.abs(plan.flops - spent) / spent < 1e-9);
    let dense = 0;
    for (const g of plan.groups) {
      const ts = byLR(g);
      const perStep = flopsPerStep(ts[0].config);
      const ranSteps = ts.reduce(
        (s, t) =>
          s +
          (results.objects().find((r) => (r as { trial_id: string }).trial_id === t.id) as {
            steps_done: number;
          }).steps_done,
        0,
      );
      dense += perStep * (ranSteps + (50 - ts.length) * 6);
      assert.equal(g.dense_trials, 50);
    }
    assert(Math.abs(plan.dense_flops - dense) / dense < 1e-9);
    assert(plan.flops < 0.4 * plan.dense_flops, `${plan.flops} vs ${plan.dense_flops}`);
    assert.match(
      a.stderr,
      /lr_search: wave \d+, finished; compute [\d.e+]+ FLOPs, a dense grid .*: 300 trials/,
    );

    // results.csv and the analysis work unchanged: the law of the surface (eta* ~ width^-1 for ngpt, flat for
    // nugpt) comes back, and the report shows the search's compute against the dense grid.
    const fits = fitScaling(
      optimalLR(await loadResults(`${dir}/a`), { by: ["parameterization.name"], scale: ["model.width"] }),
    );
    const slopes = Object.fromEntries(fits.map((f) => [f.family, f.coefficients[0].slope]));
    assert(Math.abs(slopes.ngpt + 1) < 0.05 && Math.abs(slopes.nugpt) < 0.05, JSON.stringify(slopes));
    const html = await Deno.readTextFile(`${dir}/a/report.html`);
    assert.match(html, /<h2>LR search \(bracket and refine\)<\/h2>/);
    assert.match(
      html,
      new RegExp(`a dense grid at the same resolution over the same range \\(300 trials\\) would cost`),
    );

    // `deno task analyze` rewrites the report with the same section.
    await Deno.remove(`${dir}/a/report.html`);
    const an = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}tasks/analyze.ts`, `${dir}/a`, "--by", "parameterization.name"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(an.code, 0, dec.decode(an.stderr));
    assert.match(
      await Deno.readTextFile(`${dir}/a/report.html`),
      /<h2>LR search \(bracket and refine\)<\/h2>/,
    );

    // tasks/compare_lr_search.ts reads the same compute from the files (here the sweep against itself).
    const cmp = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}tasks/compare_lr_search.ts`, `${dir}/a`, `${dir}/a`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(cmp.code, 0, dec.decode(cmp.stderr));
    const cmpOut = dec.decode(cmp.stdout);
    assert.match(
      cmpOut,
      new RegExp(`compute: adaptive ${plan.flops.toExponential(3).replace("+", "\\+")} FLOPs`),
    );
    assert.match(cmpOut, /: 100\.0%\./);
    assert.equal(cmpOut.match(/^\| (ngpt|nugpt) \d+ \|/gm)?.length, 6);

    // --status: per group how many LRs ran and whether bracketed, and the compute against the dense grid.
    const st = await run(file, `${dir}/a`, ["--status"]);
    assert.match(st.stdout, new RegExp(`^${trials.length}/${trials.length} done`, "m"));
    assert.match(
      st.stdout,
      /model\.width=64, parameterization\.name=ngpt: 5 LRs run \(10 trials planned\), bracketed at 2\^-5, basin 5 LRs; done/,
    );
    assert.match(st.stdout, /\(\d+% of it spent\)/);

    // Kill -9 mid-wave, twice, then resume: the same trials with the same indices, each run once.
    await Deno.writeTextFile(file, searchYaml({ delay: 40 }));
    const out = `${dir}/b`;
    // --status before the first run reads nothing and creates nothing.
    const st0 = await run(file, out, ["--status"]);
    assert.match(st0.stdout, /^0\/\d+ done/m);
    assert.equal(
      await Deno.stat(out).then(() => true, () => false),
      false,
      "--status created the sweep directory",
    );
    for (const after of [9, 31]) {
      const child = sweep(file, out).spawn();
      for (const t0 = Date.now();;) {
        await new Promise((r) => setTimeout(r, 20));
        assert(Date.now() - t0 < 60_000, "no progress");
        const n = (await Deno.readTextFile(`${out}/synthetic-runs.log`).catch(() =>
          ""
        )).trim().split("\n").length;
        if (n >= after) break;
      }
      child.kill("SIGKILL");
      await child.status;
      child.stdout.cancel(), child.stderr.cancel();
      const mid = await readTrials(out);
      assert(mid.length < trials.length, "killed too late");
      // What was planned before the kill is a prefix of the uninterrupted plan.
      assert.deepEqual(
        mid.map((t) => [t.index, t.id]),
        trials.slice(0, mid.length).map((t) => [t.index, t.id]),
      );
    }
    const st2 = await run(file, out, ["--status"]);
    assert.match(st2.stdout, /lr_search: wave \d+, running/);
    await run(file, out);
    const resumed = await readTrials(out);
    assert.deepEqual(resumed.map((t) => [t.index, t.id, t.dir]), trials.map((t) => [t.index, t.id, t.dir]));
    const ran = (await Deno.readTextFile(`${out}/synthetic-runs.log`)).trim().split("\n");
    assert.equal(ran.length, trials.length, "each trial ran once");
    assert.equal(new Set(ran).size, trials.length);
    assert.deepEqual((await readSearch(out)).groups, plan.groups);

    // The centres recorded in search.json win over a recomputation (a resume after the estimator changed
    // replays the same trials); with other options they are ignored.
    const recorded = JSON.parse(await Deno.readTextFile(`${out}/search.json`));
    const g64 = recorded.groups.find((g: Report) => g.family === "ngpt" && g.scale["model.width"] === 64);
    g64.center_lr = 2 ** -8;
    await Deno.writeTextFile(`${out}/search.json`, JSON.stringify(recorded));
    const st3 = await run(file, out, ["--status"]);
    assert.match(st3.stdout, /model\.width=64, parameterization\.name=ngpt: 0 LRs run .*started at 2\^-8 /);
    recorded.options.basin_points = 7;
    await Deno.writeTextFile(`${out}/search.json`, JSON.stringify(recorded));
    const st4 = await run(file, out, ["--status"]);
    assert.match(st4.stdout, /model\.width=64, parameterization\.name=ngpt: 5 LRs run .*started at 2\^-5 /);
  },
});

Deno.test({
  name: "lr_search sweep: an optimum beyond the range is flagged as a range edge; center base and a given LR",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dmodel-lrsearch-edge-" });
    const file = `${dir}/s.yaml`;
    // ngpt's optimum at widths 16 and 32 (-3.1, -4.1) lies above 2^-4.5; at 64 (-5.1) inside, as nugpt's.
    await Deno.writeTextFile(file, searchYaml({ range: "[-12, -4.5]", center: "base" }));
    const r = await run(file, `${dir}/edge`);
    const plan = await readSearch(`${dir}/edge`);
    for (const g of plan.groups) {
      if (g.family === "ngpt" && g.scale["model.width"] < 64) {
        assert.deepEqual([g.range_edge, log2(g.best_lr), g.state], ["high", -4.5, "done"], g.group);
      } else {
        assert.deepEqual([g.range_edge, g.bracketed, log2(g.best_lr)], [null, true, -5], g.group);
      }
    }
    assert.match(r.stderr, /RANGE EDGE \(high\) at 2\^-4\.5/);
    // center: base: larger scales start at the smallest scale's eta*.
    const nu32 = plan.groups.find((g) => g.family === "nugpt" && g.scale["model.width"] === 32)!;
    assert.match(nu32.center_from, /eta\* of model\.width=16/);
    // A given centre: every group starts there, all scales at once (no waiting).
    await Deno.writeTextFile(file, searchYaml({ center: "0.0625" }));
    await run(file, `${dir}/given`);
    const given = await readSearch(`${dir}/given`);
    const trials = await readTrials(`${dir}/given`);
    for (const g of given.groups) {
      assert.deepEqual([log2(g.center_lr), g.center_from, g.bracketed], [-4, "given", true]);
    }
    assert.equal(
      new Set(trials.slice(0, 36).map((t) => `${t.config.parameterization.name}${t.config.model.width}`))
        .size,
      6,
    );
    // center: row: each group starts at its zip row's optimizer.lr, all at once; the LR is not part of the
    // group (its label, its family), and the optimum is the same as from a common start.
    const rows = searchYaml({ center: "row" }).replace(
      "model.width: [16, 32, 64]",
      "model.width: [16, 32, 64]\n      zip:\n        - {model.depth: [1, 2], optimizer.lr: [0.25, 0.00390625]}",
    );
    await Deno.writeTextFile(file, rows);
    await run(file, `${dir}/row`);
    const row = await readSearch(`${dir}/row`);
    assert.equal(row.groups.length, 12);
    for (const g of row.groups) {
      const depth = Number(g.group.match(/model\.depth=(\d)/)![1]);
      const name = g.group.match(/parameterization\.name=(\w+)/)![1];
      assert.deepEqual(
        [log2(g.center_lr), g.center_from, g.bracketed, g.group.includes("optimizer.lr")],
        [depth === 1 ? -2 : -8, "its row's optimizer.lr", true, false],
        g.group,
      );
      assert.equal(log2(g.best_lr), nearest(syntheticOptimum(name, g.scale["model.width"])), g.group);
    }
    const first = (await readTrials(`${dir}/row`)).slice(0, 72);
    assert.equal(new Set(first.map((t) => `${t.config.model.depth}${t.config.model.width}`)).size, 6);
  },
});

Deno.test("lr_search: bad options are refused at load time, naming file, line and key", async () => {
  const cases: [string, RegExp][] = [
    [
      searchYaml().replace(
        "model.width: [16, 32, 64]",
        "model.width: [16, 32, 64]\n        optimizer.lr: [0.01, 0.1]",
      ),
      /s\.yaml:17: stages\.sweep\.with\.grid\.optimizer\.lr: optimizer\.lr cannot be a grid axis together with lr_search/,
    ],
    [
      searchYaml().replace(
        "model.width: [16, 32, 64]",
        "model.width: [16, 32, 64]\n      zip:\n        - {model.depth: [1, 2], optimizer.lr: [0.1, 0.01]}",
      ),
      /s\.yaml:\d+: stages\.sweep\.with\.lr_search\.center: optimizer\.lr in a zip sets where each group's search starts: it needs center: row \(got center: predict\)/,
    ],
    [
      searchYaml({ center: "row" }).replace(
        "model.width: [16, 32, 64]",
        "model.width: [16, 32, 64]\n      zip:\n        - {model.depth: [1, 2], optimizer.lr: [0.1, 8]}",
      ),
      /s\.yaml:18: stages\.sweep\.with\.zip\.0\.optimizer\.lr\.1: 8 \(2\^3\.00\) is outside lr_search\.range 2\^-12\.\.2\^0/,
    ],
    [
      searchYaml().replace("start_step: 1", "start_step: 0.75"),
      /s\.yaml:\d+: stages\.sweep\.with\.lr_search\.start_step: 0\.75 must be a multiple of resolution 0\.5/,
    ],
    [
      searchYaml({ range: "[0, -12]" }),
      /stages\.sweep\.with\.lr_search\.range\.log2: \[0, -12\]: the low end must be below the high end/,
    ],
    [
      searchYaml({ center: "4" }),
      /s\.yaml:24: stages\.sweep\.with\.lr_search\.center: 4 \(2\^2\.00\) is outside range 2\^-12\.\.2\^0/,
    ],
    [searchYaml({ center: "middle" }), /stages\.sweep\.with\.lr_search\.center/],
    [
      searchYaml().replace("mode: bracket", "").replace("basin_points: 5", "basin_points: 2"),
      /lr_search\.basin_points/,
    ],
    [
      searchYaml().replace("center: predict", "center: predict\n        scale: [model.depth]"),
      /lr_search\.scale\.0: "model\.depth" is not a grid or zip axis/,
    ],
    [searchYaml().replace("center: predict", "center: predict\n        bracket: 3"), /lr_search: .*bracket/],
  ];
  for (const [text, re] of cases) {
    try {
      await parsePipeline(text, "s.yaml");
      assert.fail(`no error for ${re}`);
    } catch (e) {
      assert(e instanceof DmodelError, String(e));
      assert.match(e.message, re);
    }
  }
});
