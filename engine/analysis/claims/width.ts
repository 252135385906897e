/**
 * The verdict rule of the nuGPT paper's width claim (arXiv 2604.27077 Fig. 2):
 * nGPT's optimal LR moves with width, nuGPT's does not. Each rule's slope b
 * (eta* proportional to width^b) is read by the analysis library's call
 * ("transfers": its 95% interval inside +-tolerance; "drifts": outside it;
 * "inconclusive" otherwise), and the paired difference nuGPT - nGPT by its
 * interval.
 */
import type { Call } from "../fit.ts";
import { excludesZero, type Ruling } from "./verdict.ts";

/**
 * The nuGPT claims' band on a slope of log2 eta* per doubling of a scale:
 * "transfers" when its 95% interval lies inside +-SLOPE_TOLERANCE (the
 * analysis library's call, given this tolerance).
 */
export const SLOPE_TOLERANCE = 0.1;

/** What the width rule read. */
export interface WidthNumbers {
  /** The interval of the difference of slopes nuGPT - nGPT excludes 0. */
  differs: boolean;
}

/**
 * The rule: `reproduced` when nGPT drifts and nuGPT transfers; `not
 * reproduced` when a rule has no fitted slope, when nGPT transfers, or when
 * nuGPT drifts no less than nGPT (the difference's interval includes 0);
 * `partly` otherwise (nuGPT drifts significantly less than nGPT, or a
 * reading is inconclusive).
 *
 * @example
 * ```ts
 * widthVerdict("drifts", "transfers", [0.3, 0.7]).verdict; // "reproduced"
 * widthVerdict("drifts", "drifts", [0.1, 0.4]).verdict; // "partly"
 * ```
 */
export function widthVerdict(
  ngpt: Call | null,
  nugpt: Call | null,
  difference: [number, number] | null,
): Ruling<WidthNumbers> {
  const differs = excludesZero(difference);
  const numbers = { differs };
  if (!ngpt || !nugpt) {
    return {
      verdict: "not reproduced",
      reasons: ["a rule has no fitted slope (optima not bracketed)"],
      numbers,
    };
  }
  if (ngpt === "drifts" && nugpt === "transfers") {
    return {
      verdict: "reproduced",
      reasons: ["nGPT's eta* drifts with width and nuGPT's stays within the band"],
      numbers,
    };
  }
  const readings = `nGPT ${ngpt}, nuGPT ${nugpt}`;
  if (ngpt === "transfers" || (nugpt === "drifts" && !differs)) {
    return { verdict: "not reproduced", reasons: [readings], numbers };
  }
  return { verdict: "partly", reasons: [readings], numbers };
}
