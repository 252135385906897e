/** Alignment exponents on synthetic matrices: 1/2 for independent factors, 1 for aligned rank-one updates. */
import assert from "node:assert/strict";
import {
  alignmentAcrossWidths,
  alignmentRatios,
  fitExponent,
  localExponent,
  productRms,
  rms,
} from "../components/probe/alignment_exponents.ts";
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
