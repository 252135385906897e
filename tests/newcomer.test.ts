/**
 * What a newcomer meets: families and trial folders named by what differs,
 * `describe` on one trial of a sweep, the sweep's ETA by scale, and error
 * messages (real cause first, did you mean, Infinity/NaN, option ranges).
 */
import assert from "node:assert/strict";
import "../components/mod.ts";
import { familyName, familySeedKey, shortKeys } from "../engine/analysis/naming.ts";
import { expandGrid, matchingTrials } from "../engine/sweep/grid.ts";
import { adoptExistingDirs } from "../engine/sweep/plan.ts";
import { Progress } from "../engine/sweep/progress.ts";
import { editDistance, nearest } from "../engine/core/suggest.ts";
import { show } from "../engine/core/errors.ts";
import { parsePipeline } from "../engine/core/pipeline.ts";
import { build } from "../engine/core/registry.ts";
import { errorOf } from "./helpers.ts";
import { cropToContent, renderPNG } from "../engine/analysis/render.ts";
import { analyzeSweep } from "../engine/analysis/analyze.ts";
import { reportHTML } from "../engine/analysis/report.ts";
import { writeSyntheticSweep } from "./fixtures/synthetic_sweep.ts";

Deno.test("naming: a family is key=value with the short key; a component's name reads alone", () => {
  assert.equal(
    familyName(["parameterization.hidden_exponent"], { "parameterization.hidden_exponent": 1 }),
    "hidden_exponent=1",
  );
  assert.equal(familyName(["parameterization.name"], { "parameterization.name": "nugpt" }), "nugpt");
  assert.equal(
    familyName(["parameterization.name", "parameterization.horizon_correction"], {
      "parameterization.name": "nugpt",
      "parameterization.horizon_correction": false,
    }),
    "nugpt/horizon_correction=false",
  );
  assert.equal(familyName([], {}), "all");
  // Two keys with the same last segment keep enough of their paths to differ.
  assert.deepEqual(shortKeys(["optimizer.eps", "parameterization.eps", "model.width"]), [
    "optimizer.eps",
    "parameterization.eps",
    "width",
  ]);
  // The bootstrap seed key is the bare values, as before the key=value names.
  assert.equal(familySeedKey(["a.b", "c"], { "a.b": 1, c: "x" }), "1/x");
});

const BASE = {
  data: { corpus: "brown", tokenizer: { name: "byte" }, seq_len: 16 },
  model: { block: "ngpt", width: 16, depth: 1, head_dim: 8 },
  parameterization: { name: "nugpt", base_width: 16, base_depth: 1, base_steps: 4 },
  optimizer: { name: "adam", lr: 0.01 },
  train: { steps: 4, batch_size: 2 },
};

Deno.test("trial folders: options the readable name does not show are carried as key=value when they tell trials apart", () => {
  const plain = expandGrid(BASE, { grid: { "optimizer.lr": [0.01, 0.02] }, zip: [] });
  assert.deepEqual(plain.trials.map((t) => t.dir.replace(/-[0-9a-f]{6}$/, "")), [
    "ngpt-nugpt-w16-L1-n4-lr0.01-s0",
    "ngpt-nugpt-w16-L1-n4-lr0.02-s0",
  ]);
  const { trials } = expandGrid(BASE, { grid: { "parameterization.hidden_exponent": [0.75, 1] }, zip: [] });
  assert.deepEqual(trials.map((t) => t.dir.replace(/-[0-9a-f]{6}$/, "")), [
    "ngpt-nugpt-w16-L1-n4-lr0.01-s0-hidden_exponent=0.75",
    "ngpt-nugpt-w16-L1-n4-lr0.01-s0-hidden_exponent=1",
  ]);
  for (const t of trials) assert(t.dir.endsWith(`-${t.id.slice(0, 6)}`), t.dir);
});

Deno.test("trial folders: a folder of an earlier naming with the same id suffix is kept (archived trials are found)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-adopt-" });
  const { trials } = expandGrid(BASE, { grid: { "parameterization.hidden_exponent": [0.75, 1] }, zip: [] });
  const old = `ngpt-nugpt-w16-L1-n4-lr0.01-s0-${trials[0].id.slice(0, 6)}`;
  await Deno.mkdir(`${dir}/${old}`);
  await Deno.mkdir(`${dir}/${trials[1].dir}`);
  const second = trials[1].dir;
  assert.equal(await adoptExistingDirs(dir, trials), 1);
  assert.equal(trials[0].dir, old);
  assert.equal(trials[1].dir, second);
  assert.equal(await adoptExistingDirs(`${dir}/missing`, trials), 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("describe: --set values pick the grid rows that have them", () => {
  const { trials } = expandGrid(BASE, {
    grid: {
      parameterization: [{ name: "ngpt" }, {
        name: "nugpt",
        base_width: 16,
        base_depth: 1,
        base_steps: 4,
        rescaler_scale: 0.25,
      }],
      "model.width": [16, 32],
    },
    zip: [],
  });
  const hits = matchingTrials(trials, [{ path: ["parameterization", "name"], value: "nugpt" }, {
    path: ["model", "width"],
    value: 32,
  }]);
  assert.equal(hits.length, 1);
  assert.equal(hits[0].config.parameterization.rescaler_scale, 0.25);
  assert.equal(matchingTrials(trials, [{ path: ["model", "width"], value: 64 }]).length, 0);
});

Deno.test("sweep progress: no loss before the first step; ETA from measured seconds per step by scale", async () => {
  const p = new Progress(3, 0, 1);
  p.plan([
    { dir: "a", cost: 100, steps: 10 },
    { dir: "b", cost: 100, steps: 10 },
    { dir: "c", cost: 800, steps: 10 }, // 8x the per-step cost: a scale not yet measured
  ]);
  assert(Number.isNaN(p.eta()), "no ETA before a step was measured");
  const w = { trial: "a", step: 0, steps: 10, loss: NaN, tokens_per_s: 0 };
  p.workers.set(0, w);
  assert.equal(p.workerText(0, w), "  worker 0: a starting (10 steps)");
  await new Promise((r) => setTimeout(r, 200));
  p.workers.set(0, { ...w, step: 2, loss: 5 });
  await new Promise((r) => setTimeout(r, 200));
  p.workers.set(0, { ...w, step: 4, loss: 4.5 });
  // 0.1 s per step at the measured scale; the other scale by the prior exponent 0.6 (8^0.6 = 3.48):
  // a: 6 steps left, b: 10, c: 10 x 3.48 -> (0.6 + 1 + 3.48) s for one worker.
  const want = 0.1 * (6 + 10 + 10 * Math.pow(8, 0.6));
  assert(Math.abs(p.eta() / want - 1) < 0.35, `ETA ${p.eta()} s, expected ${want.toFixed(2)} s`);
  assert.match(p.workerText(0, { ...w, step: 4, loss: 4.5 }), /step 4\/10 loss 4\.500/);
});

Deno.test("suggest: edit distance and the nearest known word", () => {
  assert.equal(editDistance("stepss", "steps"), 1);
  assert.equal(editDistance("optimiser", "optimizer"), 1);
  assert.equal(editDistance("ab", "ba"), 1); // a swap is one edit
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(nearest("stepss", ["steps", "seed", "batch_size"]), "steps");
  assert.equal(nearest("learning_rate", ["lr", "beta1"]), null);
});

function pipe(train: string, opt = "{name: adam, lr: 0.01}", axis = "optimizer.lr: [0.01, 0.02]"): string {
  return `name: x
base: &base
  data: {corpus: brown, tokenizer: {name: byte}, seq_len: 16}
  model: {block: ngpt, width: 16, depth: 1, head_dim: 8}
  parameterization: {name: ngpt}
  optimizer: ${opt}
  train: ${train}
stages:
  sweep:
    uses: sweep
    with:
      base: *base
      grid:
        ${axis}
`;
}

async function pipelineError(text: string): Promise<string> {
  try {
    await parsePipeline(text, "p.yaml");
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("no error");
}

Deno.test("messages: the misspelt key first, with did you mean; no separate 'missing' line for it", async () => {
  assert.equal(
    await pipelineError(pipe("{stepss: 4, batch_size: 2}")),
    'p.yaml:7: stages.sweep.with.base.train: unknown key(s) "stepss" (did you mean "steps"? it is required and missing)',
  );
  assert.equal(
    await pipelineError(pipe("{steps: 4, batch_size: 2}", undefined, "optimiser.lr: [0.01, 0.02]")),
    'p.yaml:14: stages.sweep.with.grid.optimiser.lr: unknown key(s) "optimiser" (did you mean "optimizer"?)',
  );
  assert.match(
    errorOf(() => build("block", { name: "ngtp" } as never)),
    /unknown block "ngtp" \(did you mean "ngpt"\?\)/,
  );
});

Deno.test("messages: Infinity and NaN named as such; Adam's ranges checked at load time", async () => {
  assert.equal(show(Infinity), "Infinity");
  assert.equal(show([1, -Infinity, NaN]), "[1,-Infinity,NaN]");
  const e = await pipelineError(
    pipe(
      "{steps: 4, batch_size: 2}",
      "{name: adam, lr: 0.01, beta1: 1, eps: 0}",
      "optimizer.lr: [0.01, .inf]",
    ),
  );
  const lines = e.split("\n");
  assert(lines.some((l) => /optimizer\.beta1: beta1 must be in \[0, 1\).*\(value: 1\)$/.test(l)), e);
  assert(lines.some((l) => /optimizer\.eps: eps must be > 0.*\(value: 0\)$/.test(l)), e);
  assert(lines.some((l) => /grid\.optimizer\.lr: expected a finite number, got Infinity/.test(l)), e);
  assert.match(
    errorOf(() => build("optimizer", { name: "adam", lr: 0.01, beta2: 1 })),
    /beta2 must be in \[0, 1\)/,
  );
  assert.match(errorOf(() => build("optimizer", { name: "adam", lr: -1 })), /lr must be > 0/);
  // 0 and just below 1 stay valid.
  build("optimizer", { name: "adam", lr: 0.01, beta1: 0, beta2: 0.999999 });
});

Deno.test("figures: an SVG is cut to what is drawn on it (PNG and report alike)", async () => {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" viewBox="0 0 200 100">' +
    '<rect width="200" height="100" fill="white"/><rect x="20" y="10" width="50" height="30" fill="black"/></svg>';
  const cut = await cropToContent(svg);
  assert.match(cut, /width="62" height="42" viewBox="14 4 62 42"/);
  const png = await renderPNG(svg, { scale: 1 });
  const dv = new DataView(png.buffer, png.byteOffset);
  assert.deepEqual([dv.getUint32(16), dv.getUint32(20)], [62, 42]); // the IHDR width and height
});

Deno.test("report: a table of trials with status, loss and folder link; every n/a numbered with its reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-newcomer-report-" });
  const n = await writeSyntheticSweep(dir, {
    widths: [64, 128, 256, 512],
    // The LR grid ends above the widest model's optimum (2^-9): that group is not bracketed (n/a cells).
    lrExps: [-8, -7, -6, -5],
    seeds: [1, 2],
    families: [{ name: "sp", exponent: -1, log2Eta0: -6 }],
    failedIdx: [3],
  });
  const a = await analyzeSweep(dir, { resamples: 50, figures: false });
  const html = reportHTML(a);
  const table = html.slice(html.indexOf('<table class="trials">'), html.indexOf("</table></details>"));
  assert.equal((table.match(/<tr/g) ?? []).length - 1, n, "one row per trial");
  assert.equal((table.match(/<a href="[^"]+\/">/g) ?? []).length, n, "each with its folder");
  assert.match(table, /failed/);
  assert.match(
    html,
    /The base scale is each family&#39;s smallest scale in this sweep \(width=64 for every family\)/,
  );
  const start = html.indexOf('<table class="optima">');
  const optima = html.slice(start, html.indexOf("</table>", start));
  const na = optima.match(/n\/a(<sup class="na">\d+<\/sup>)?/g) ?? [];
  assert(na.length > 0, "the synthetic grid leaves some n/a");
  assert(na.every((x) => x.includes("<sup")), `an n/a without its reason: ${na.join(" ")}`);
  assert.match(html, /<ol class="na">\n<li>n\/a: /);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("./dmodel: set-up says which optional packages it skipped and what that costs, then runs the task", async () => {
  // A PATH with Deno and the basic tools but no dpkg / apt-get: every optional package counts as missing.
  const bin = await Deno.makeTempDir({ prefix: "dmodel-path-" });
  for (const tool of ["bash", "dirname", "grep", "head", "id", "cmp", "cp", "mkdir", "sed", "cat", "env"]) {
    const found = ["/usr/bin", "/bin"].map((d) => `${d}/${tool}`).find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
    if (found) await Deno.symlink(found, `${bin}/${tool}`);
  }
  await Deno.symlink(Deno.execPath(), `${bin}/deno`);
  const out = await new Deno.Command("./dmodel", {
    args: ["list", "optimizer"],
    env: { PATH: bin, DMODEL_NO_APT: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr), std = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, err);
  assert.match(err, /^dmodel: deno 2\.9\./m);
  assert.match(err, /dmodel: skipped OpenBLAS: matrix products in WebAssembly, training ~5x slower/);
  assert.match(err, /dmodel: skipped fonts-dejavu-core: no PNG figures/);
  assert.doesNotMatch(err, /chromium/, "the sweep's set-up does not ask for the test tools");
  assert.match(std, /adam {2,}Adam/);
  await Deno.remove(bin, { recursive: true });
});
