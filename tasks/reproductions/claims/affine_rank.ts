/**
 * LayerNorm and the affine rank of a token set (arXiv 2604.23681; docs/reference.md
 * section 6): computed here by components/probe/affine_rank.ts on the seeded
 * sets of tests/affine_rank.test.ts.
 */
import {
  affineRank,
  flatTokens,
  layerNorm,
  linearRank,
  rmsNormTokens,
} from "../../../components/probe/affine_rank.ts";
import { type AffineRankCase, affineRankVerdict } from "../../../engine/analysis/claims/affine_rank.ts";
import type { Verdict } from "../../../engine/analysis/claims/verdict.ts";
import { normals } from "../../../engine/nn/init.ts";

const f64 = (n: number, seed: number) => Float64Array.from(normals(n, seed));

/** Affine-rank cases: the same constructions as tests/affine_rank.test.ts. */
export function affineRankRows(): { rows: (string | number)[][]; verdict: Verdict; note: string } {
  const d = 8;
  const flat = (T: number, basis: Float64Array, k: number, p: ArrayLike<number>, seed: number) =>
    flatTokens(T, d, basis, k, p, seed);
  const B1 = Float64Array.from([...f64(2 * d, 29), ...new Float64Array(d).fill(1)]);
  const cases: [string, Float64Array, number, boolean][] = [
    ["random, T = 5 < d", f64(5 * d, 205), 5, true],
    ["random, T = 7 < d", f64(7 * d, 207), 7, true],
    ["random, T = 12 > d", f64(12 * d, 212), 12, false],
    ["a line, tokens of unequal spread", flat(5, f64(d, 21), 1, f64(d, 22), 23), 5, false],
    ["a 3-flat containing the direction 1", flat(10, B1, 3, f64(d, 30), 31), 10, false],
    ["collapsed (all tokens equal)", flat(6, f64(d, 26), 0, f64(d, 27), 28), 6, false],
  ];
  const ranks: AffineRankCase[] = [];
  const rows = cases.map(([name, x, T, generic]) => {
    const a = affineRank(x, T, d), aln = affineRank(layerNorm(x, T, d), T, d);
    const arms = affineRank(rmsNormTokens(x, T, d), T, d);
    ranks.push({ rank: a, rankLN: aln, generic });
    return [
      name,
      a,
      aln,
      arms,
      linearRank(x, T, d),
      linearRank(layerNorm(x, T, d), T, d),
      linearRank(rmsNormTokens(x, T, d), T, d),
    ];
  });
  const rule = affineRankVerdict(ranks);
  return {
    rows,
    verdict: rule.verdict,
    note: rule.numbers.all
      ? "LayerNorm kept the affine rank in every case."
      : "LayerNorm keeps the affine rank of generic token sets with T < d, but not in general: the per-token " +
        "scale 1/sigma(x) bends a line of tokens with unequal spreads into a plane, and the centering removes " +
        "the direction 1, so more than d generic tokens lose one dimension. What holds exactly is the matrix-rank " +
        "statement with zero bias, up to the direction 1: rank LN(X) = rank(P X), P = I - 1 1^T/d, and the " +
        "affine rank of LN(X) is rank(P X) or one less (tests/affine_rank.test.ts). RMSNorm keeps the linear rank " +
        "exactly (a positive scale per token) and, having no centering, keeps d for T > d, but bends lines and " +
        "flats just as LayerNorm does.",
  };
}
