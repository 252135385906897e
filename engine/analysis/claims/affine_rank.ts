/**
 * The verdict rule of "LayerNorm is affine-rank-neutral" (arXiv 2604.23681;
 * docs/reference.md section 6), from the affine ranks of token sets before and
 * after LayerNorm (components/probe/affine_rank.ts).
 */
import type { Ruling, Verdict } from "./verdict.ts";

/** One token set: its affine rank before and after LayerNorm, and whether it is generic with T < d. */
export interface AffineRankCase {
  rank: number;
  rankLN: number;
  generic: boolean;
}

/**
 * The rule: `reproduced` when LayerNorm keeps the affine rank of every set;
 * `partly` when it keeps it for the generic sets with T < d only; `not
 * reproduced` otherwise.
 *
 * @example
 * ```ts
 * affineRankVerdict([{ rank: 4, rankLN: 4, generic: true }, { rank: 1, rankLN: 2, generic: false }]).verdict; // "partly"
 * ```
 */
export function affineRankVerdict(cases: AffineRankCase[]): Ruling<{ all: boolean; generic: boolean }> {
  const all = cases.every((c) => c.rank === c.rankLN);
  const generic = cases.every((c) => !c.generic || c.rank === c.rankLN);
  const verdict: Verdict = all ? "reproduced" : generic ? "partly" : "not reproduced";
  const reasons = [
    all
      ? "LayerNorm kept the affine rank in every case"
      : generic
      ? "LayerNorm keeps the affine rank of generic sets with T < d, not of every set"
      : "LayerNorm changes the affine rank of a generic set with T < d",
  ];
  return { verdict, reasons, numbers: { all, generic } };
}
