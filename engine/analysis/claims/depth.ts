/**
 * The verdict rule of the nuGPT paper's depth claim (arXiv 2604.27077 Fig. 3,
 * section 4.5 / Fig. 8): (1) nGPT transfers over depth, (2) nuGPT transfers,
 * (3) an m_depth^(-1/2) factor on eta_hidden (depth-muP) makes eta* drift to
 * the right. The band rule (the fitted slope's interval inside +-tolerance)
 * can leave (1) and (2) undecided at this scale while the LR tuned at the
 * smallest depth costs nothing at the deepest: that is transfer in practice,
 * and counts as support for (1) and (2). (3) needs the band rule.
 */
import type { ClaimVerdict } from "./verdict.ts";

/** A loss difference this small (nats) is "no cost": about one trial's seed-to-seed noise here. */
export const PRACTICAL_COST = 0.01;

/** One depth of a rule: its grid arg-min LR and the cost of carrying the smallest depth's LR there. */
export interface DepthGroup {
  depth: number;
  eta_star_grid: number;
  transfer_cost: number;
}

/**
 * Transfer in practice: the grid optimum is the same LR at every depth and
 * carrying the smallest depth's LR costs at most `tol` nats at each.
 *
 * @example
 * ```ts
 * transfersInPractice([{ depth: 2, eta_star_grid: 2 ** -5, transfer_cost: 0 }, { depth: 8, eta_star_grid: 2 ** -5, transfer_cost: 0 }]); // true
 * ```
 */
export function transfersInPractice(groups: DepthGroup[], tol = PRACTICAL_COST): boolean {
  if (groups.length < 2) return false;
  const same = groups.every((g) => Math.abs(Math.log2(g.eta_star_grid / groups[0].eta_star_grid)) < 1e-9);
  return same && groups.every((g) => Number.isFinite(g.transfer_cost) && g.transfer_cost <= tol);
}

/** How one statement stands. */
export type DepthSupport = "holds" | "supported in practice" | "not supported";

/** The depth claim's verdict and each statement's support. */
export interface DepthVerdict {
  verdict: ClaimVerdict;
  ngpt: DepthSupport;
  nugpt: DepthSupport;
  depthMuP: DepthSupport;
}

/**
 * The rule: statements (1) and (2) hold when the band rule calls the slope
 * "transfers", else are supported in practice when {@link transfersInPractice};
 * (3) holds when the band rule calls depth-muP's slope "drifts" with a positive
 * slope. Reproduced: all three hold or are supported; partly: two; not
 * reproduced otherwise.
 *
 * @example
 * ```ts
 * depthVerdict({ call: "inconclusive", practical: true }, { call: "inconclusive", practical: true }, { call: "inconclusive", slope: 0.02 });
 * // { verdict: "partly", ngpt: "supported in practice", nugpt: "supported in practice", depthMuP: "not supported" }
 * ```
 */
export function depthVerdict(
  ngpt: { call: string | null; practical: boolean },
  nugpt: { call: string | null; practical: boolean },
  depthMuP: { call: string | null; slope: number },
): DepthVerdict {
  const transfer = (s: { call: string | null; practical: boolean }): DepthSupport =>
    s.call === "transfers" ? "holds" : s.practical ? "supported in practice" : "not supported";
  const a = transfer(ngpt), b = transfer(nugpt);
  const c: DepthSupport = depthMuP.call === "drifts" && depthMuP.slope > 0 ? "holds" : "not supported";
  const n = [a, b, c].filter((s) => s !== "not supported").length;
  return {
    verdict: n === 3 ? "reproduced" : n === 2 ? "partly" : "not reproduced",
    ngpt: a,
    nugpt: b,
    depthMuP: c,
  };
}
