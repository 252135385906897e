/**
 * The nuGPT paper's horizon claim (arXiv 2604.27077 section 4.6, Fig. 9;
 * Bjorck et al. arXiv 2409.19913), decided as the paper tests it: the optimal
 * LR of nuGPT *without* its m_data^(-1/3) correction falls as
 * steps^(-1/3). The correction multiplies every group's LR by
 * m_data^(-1/3), so the corrected family is the uncorrected one shifted along
 * the log LR axis by -1/3 log2 m_data: "the correction removes the drift" is
 * the same statement as "the uncorrected exponent is -1/3", and what the
 * correction leaves over is the uncorrected exponent + 1/3.
 */
import type { LocalExponent } from "./segments.ts";
import type { ClaimVerdict } from "./verdict.ts";

/** The paper's horizon exponent: eta* proportional to steps^(-1/3). */
export const PAPER_HORIZON_EXPONENT = -1 / 3;

/** The verdict of the horizon claim and what it rests on. */
export interface HorizonVerdict {
  verdict: ClaimVerdict;
  /** The fitted exponent's interval contains -1/3. */
  containsThird: boolean;
  /** The fitted exponent's interval lies wholly below 0 (eta* falls with the horizon). */
  falls: boolean;
  /** The longest-horizon segment's interval contains -1/3. */
  lastSegmentThird: boolean;
  /** What the m_data^(-1/3) correction leaves over: the exponent + 1/3, with its interval. */
  residual: { value: number; ci: [number, number] | null };
}

/**
 * The rule (the paper's test, on uncorrected nuGPT's fitted exponent over all
 * horizons): `reproduced` when its interval contains -1/3; `partly` when it
 * misses -1/3 but lies wholly below 0 (eta* falls, at another rate, so the
 * correction removes only part of the drift or over-corrects) or when the
 * longest-horizon segment's interval contains -1/3 (the law holds where the
 * horizon is long); `not reproduced` otherwise (no fall, or no fit).
 *
 * @example
 * ```ts
 * horizonVerdict({ slope: -0.61, ci: [-0.84, -0.37] }, segments).verdict; // "partly"
 * ```
 */
export function horizonVerdict(
  uncorrected: { slope: number; ci: [number, number] | null } | null,
  segments: LocalExponent[],
): HorizonVerdict {
  const t = PAPER_HORIZON_EXPONENT;
  const ci = uncorrected?.ci ?? null;
  const containsThird = !!ci && ci[0] <= t && t <= ci[1];
  const falls = !!ci && ci[1] < 0;
  const last = segments[segments.length - 1]?.ci;
  const lastSegmentThird = !!last && last[0] <= t && t <= last[1];
  const verdict = containsThird ? "reproduced" : falls || lastSegmentThird ? "partly" : "not reproduced";
  return {
    verdict,
    containsThird,
    falls,
    lastSegmentThird,
    residual: {
      value: (uncorrected?.slope ?? NaN) - t,
      ci: ci ? [ci[0] - t, ci[1] - t] : null,
    },
  };
}
