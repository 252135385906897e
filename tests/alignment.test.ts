/** Alignment exponents on synthetic matrices: 1/2 for independent factors, 1 for aligned rank-one updates. */
import assert from "node:assert/strict";
import {
  alignmentAcrossWidths,
  alignmentRatios,
  fitExponent,
  localExponent,
  lossWeightedAverage,
  productRms,
  rms,
  weightedAlignment,
} from "../components/probe/alignment.ts";
import { normals } from "../engine/nn/init.ts";

const WIDTHS = [64, 128, 256, 512];

/** Ratios of random W, dW, h, dh (independent Gaussians) at one width. */
function randomRatios(d: number, n: number, seed: number) {
  const dout = d;
  return alignmentRatios(
    normals(dout * d, seed),
    normals(dout * d, seed + 1),
    normals(n * d, seed + 2),
    normals(n * d, seed + 3),
    dout,
    d,
    n,
  );
}

Deno.test("alignment: rms and productRms match their formulas", () => {
  assert.equal(rms([3, 4]), Math.sqrt(12.5));
  // M = [[1, 2]], H = [[1, 1], [2, 0]] -> H M^T = [[3], [2]], rms = sqrt(13/2)
  assert(Math.abs(productRms([1, 2], [1, 1, 2, 0], 1, 2, 2) - Math.sqrt(6.5)) < 1e-15);
  assert(Math.abs(localExponent(8, 64) - 0.5) < 1e-15);
});

Deno.test("alignment: independent random updates give exponents near 1/2", () => {
  const per = WIDTHS.map((d, i) => randomRatios(d, 8, 100 + 10 * i));
  for (const e of ["alpha", "omega", "nu"] as const) {
    const fit = fitExponent(WIDTHS, per.map((r) => r[e]))!;
    assert(Math.abs(fit.exponent - 0.5) < 0.05, `${e}: ${fit.exponent}`);
  }
});

Deno.test("alignment: a rank-one update aligned with the input gives exponents near 1", () => {
  const alphas: number[] = [], nus: number[] = [], omegas: number[] = [];
  for (const [i, d] of WIDTHS.entries()) {
    const h = normals(d, 7 + i), dh = normals(d, 17 + i), u = normals(d, 27 + i);
    // dW = u h^T: dW h = u ||h||^2, fully aligned with h (alpha); W = u dh^T aligned with dh (omega);
    // for nu, dW' = u dh^T aligned with dh.
    const dw = new Float64Array(d * d), w = new Float64Array(d * d);
    for (let o = 0; o < d; o++) {
      for (let k = 0; k < d; k++) dw[o * d + k] = u[o] * h[k], w[o * d + k] = u[o] * dh[k];
    }
    alphas.push(alignmentRatios(w, dw, h, dh, d, d, 1).alpha);
    omegas.push(alignmentRatios(w, dw, h, dh, d, d, 1).omega);
    nus.push(alignmentRatios(w, w, h, dh, d, d, 1).nu);
  }
  for (const [name, r] of [["alpha", alphas], ["omega", omegas], ["nu", nus]] as const) {
    const fit = fitExponent(WIDTHS, r)!;
    assert(Math.abs(fit.exponent - 1) < 0.05, `${name}: ${fit.exponent}`);
    assert(fit.r2 > 0.99);
  }
  // exactly aligned: ratio = d_in, so the single-width estimate is 1 too
  assert(Math.abs(localExponent(alphas[0], 64) - 1) < 1e-9);
});

Deno.test("alignment: the cross-width fit reads trial dirs' probe tables", async () => {
  const root = await Deno.makeTempDir({ prefix: "dmodel-align-" });
  const dirs: string[] = [];
  for (const w of [32, 64, 128]) {
    const dir = `${root}/w${w}`;
    await Deno.mkdir(`${dir}/probes`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/config.yaml`,
      `model: {block: ngpt, width: ${w}, depth: 2, head_dim: 16}\n`,
    );
    await Deno.writeTextFile(`${dir}/result.json`, JSON.stringify({ status: "ok" }));
    // ratio_alpha ~ 3 w^0.75, ratio_nu ~ w^0.5 at step 10; NaN at step 0
    await Deno.writeTextFile(
      `${dir}/probes/alignment.csv`,
      `step,ratio_alpha.query,alpha.query,ratio_nu.query,nu.query\n0,NaN,NaN,NaN,NaN\n10,${3 * w ** 0.75},0,${
        w ** 0.5
      },0\n`,
    );
    dirs.push(dir);
  }
  const fits = await alignmentAcrossWidths(dirs);
  assert.equal(fits.length, 2); // step 0 has no usable points
  const a = fits.find((f) => f.exponent === "alpha")!, n = fits.find((f) => f.exponent === "nu")!;
  assert.equal(a.step, 10);
  assert.equal(a.role, "query");
  assert(Math.abs(a.value - 0.75) < 1e-9 && Math.abs(n.value - 0.5) < 1e-9 && a.widths === 3);
  await assert.rejects(alignmentAcrossWidths(dirs.slice(0, 1)), /at least two widths/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("alignment: the loss-decrease-weighted average weighs each interval by its loss drop", () => {
  // drops 1, 0.5, 0.25 (and a rise, weight 0) carrying the values measured at their ends
  const got = lossWeightedAverage([
    { step: 0, loss: 5, value: NaN },
    { step: 10, loss: 4, value: 1 },
    { step: 20, loss: 3.5, value: 0.5 },
    { step: 30, loss: 3.25, value: 0.5 },
    { step: 40, loss: 3.3, value: 9 },
  ])!;
  assert(Math.abs(got.value - (1 * 1 + 0.5 * 0.5 + 0.25 * 0.5) / 1.75) < 1e-12);
  assert.equal(got.n, 3);
  assert(Math.abs(got.weight - 1.75) < 1e-12);
  // order of the rows does not matter; no decrease at all: null
  assert.equal(
    lossWeightedAverage([{ step: 10, loss: 4, value: 1 }, { step: 0, loss: 5, value: NaN }])!.value,
    1,
  );
  assert.equal(lossWeightedAverage([{ step: 0, loss: 5, value: NaN }, { step: 1, loss: 6, value: 1 }]), null);
});

Deno.test("alignment: weighted averages per width and across widths from probe tables", async () => {
  const root = await Deno.makeTempDir({ prefix: "dmodel-alignw-" });
  const dirs: string[] = [];
  // ratio_alpha.query = w^a(t), ratio_nu.query = w^0.5, a = 0.9 at step 10 and 0.6 at step 20;
  // single-model exponents equal to those (d_in = w); losses 6 -> 5 -> 4.5 at every width.
  const a = { 10: 0.9, 20: 0.6 } as Record<number, number>;
  for (const w of [16, 64]) {
    const dir = `${root}/w${w}`;
    await Deno.mkdir(`${dir}/probes`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/config.yaml`,
      `model: {block: ngpt, width: ${w}, depth: 2, head_dim: 8}\n`,
    );
    await Deno.writeTextFile(`${dir}/result.json`, JSON.stringify({ status: "ok" }));
    const rows = [[0, 6, NaN, NaN, NaN, NaN, NaN, NaN]];
    for (const [step, loss] of [[10, 5], [20, 4.5]]) {
      rows.push([step, loss, w ** a[step], a[step], w ** 0.5, 0.5, w ** 0.5, 0.5]);
    }
    await Deno.writeTextFile(
      `${dir}/probes/alignment.csv`,
      "step,probe_loss,ratio_alpha.query,alpha.query,ratio_omega.query,omega.query,ratio_nu.query,nu.query\n" +
        rows.map((r) => r.join(",")).join("\n") + "\n",
    );
    dirs.push(dir);
  }
  const fits = await alignmentAcrossWidths(dirs);
  const got = await weightedAlignment(dirs, fits);
  const want = (1 * 0.9 + 0.5 * 0.6) / 1.5; // 0.8
  for (const method of ["local", "across-width"] as const) {
    const rows = got.filter((g) => g.method === method && g.quantity === "max_alpha_nu");
    assert.equal(rows.length, method === "local" ? 4 : 2); // query and hidden, per width or once
    for (const r of rows) assert(Math.abs(r.value - want) < 1e-9, `${method} ${r.role}: ${r.value}`);
    const nu = got.find((g) => g.method === method && g.quantity === "nu" && g.role === "query")!;
    assert(Math.abs(nu.value - 0.5) < 1e-9);
  }
  assert.deepEqual(got.filter((g) => g.method === "local").map((g) => g.width).sort(), [
    ...Array(8).fill(16),
    ...Array(8).fill(64),
  ]);
  await Deno.writeTextFile(`${dirs[0]}/probes/alignment.csv`, "step,alpha.query\n0,NaN\n");
  await assert.rejects(weightedAlignment(dirs, fits), /no probe_loss column/);
  await Deno.remove(root, { recursive: true });
});
