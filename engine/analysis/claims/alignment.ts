/**
 * The verdict rule of the nuGPT paper's alignment claim (arXiv 2604.27077
 * section 4.3): omega = 1/2 "decisively", and the loss-decrease-weighted
 * average of max(alpha, nu) is about 3/4 (the exponent of eta_hidden). Both
 * are read from 95% intervals across seeds (engine/analysis/t_interval.ts).
 * Written before the 3-seed run was read.
 */
import type { MeanInterval } from "../t_interval.ts";
import type { ClaimVerdict } from "./verdict.ts";

/** How far from the paper's value still counts as "about" it. */
export const ALIGNMENT_TOLERANCE = 0.1;

/** How an interval stands against a target value t with tolerance tol. */
export type Agreement = "agrees" | "excludes" | "undecided";

/**
 * `agrees`: the interval contains t, or lies wholly inside t +- tol;
 * `excludes`: it lies wholly outside t +- tol; otherwise `undecided` (it
 * crosses an edge of the band, or has no width: fewer than two seeds).
 *
 * @example
 * ```ts
 * agreement({ mean: 0.7, lo: 0.66, hi: 0.74, n: 3 }, 0.75, 0.1); // "agrees"
 * ```
 */
export function agreement(ci: MeanInterval, t: number, tol: number): Agreement {
  if (!Number.isFinite(ci.lo) || !Number.isFinite(ci.hi)) return "undecided";
  if (ci.lo <= t && t <= ci.hi) return "agrees";
  if (ci.lo >= t - tol && ci.hi <= t + tol) return "agrees";
  if (ci.hi < t - tol || ci.lo > t + tol) return "excludes";
  return "undecided";
}

/** The alignment claim's verdict and the two readings it rests on. */
export interface AlignmentVerdict {
  verdict: ClaimVerdict;
  omega: Agreement;
  maxAlphaNu: Agreement;
}

/**
 * The rule: `reproduced` when both the weighted omega (hidden roles, across
 * widths) agrees with 1/2 and the weighted max(alpha, nu) agrees with 3/4;
 * `not reproduced` when both exclude; `partly` otherwise.
 *
 * @example
 * ```ts
 * alignmentVerdict(omegaCI, maxCI).verdict; // "partly"
 * ```
 */
export function alignmentVerdict(omega: MeanInterval, maxAlphaNu: MeanInterval): AlignmentVerdict {
  const o = agreement(omega, 0.5, ALIGNMENT_TOLERANCE);
  const m = agreement(maxAlphaNu, 0.75, ALIGNMENT_TOLERANCE);
  const verdict = o === "agrees" && m === "agrees"
    ? "reproduced"
    : o === "excludes" && m === "excludes"
    ? "not reproduced"
    : "partly";
  return { verdict, omega: o, maxAlphaNu: m };
}
