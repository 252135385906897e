/**
 * The verdict rules of the representational-collapse claims (Dong et al.
 * 2021, "Attention is not all you need", arXiv 2103.03404; arXiv 2604.23681;
 * docs/reference.md section 6), as pure functions of the collapse probe's
 * numbers (components/probe/collapse.ts, collapse_rate.ts):
 *
 * - collapse: an attention-only stack collapses to rank one doubly
 *   exponentially with depth; skip connections prevent it;
 * - MLP directions: the MLP adds directions beyond the embeddings' that
 *   attention alone cannot;
 * - entropy: attention entropy falls in a collapsing (high-LR) configuration,
 *   not in a stable one.
 */
import type { Ruling, Verdict } from "./verdict.ts";

/** The constants of the collapse rule. */
export const COLLAPSE_RULE = {
  /** Attention-only has collapsed when its last layer keeps less than this share of layer 1's residual. */
  collapsedShare: 0.05,
  /** Skips prevent collapse when their last layer keeps more than this share, at init and after training. */
  keptShare: 0.5,
  /** "Doubly exponential" needs a fitted base b above this (Dong et al.'s bound gives b = 3). */
  doublyBase: 1.5,
};

/** One configuration's residual shrink: last layer's residual / layer 1's, at init and at the end. */
export interface Shrink {
  init: number;
  end: number;
}

/** The doubly-exponential fit at init: base b, its r^2 and the exponential fit's r^2. */
export interface DoublyFit {
  dexp_base: number;
  dexp_r2: number;
  exp_r2: number;
}

/** The four statements the collapse rule reads. */
export interface CollapseNumbers {
  /** (1) Attention-only keeps under `collapsedShare` of layer 1's residual at init. */
  collapsedAtInit: boolean;
  /** (2) The skip stack keeps over `keptShare` at init and after training. */
  skipsKeep: boolean;
  /** (3) At init the doubly-exponential fit has base above `doublyBase` and beats the exponential fit. */
  doubly: boolean;
  /** (4) Attention-only is still collapsed after training. */
  collapsedAfterTraining: boolean;
}

/**
 * The rule (Dong et al.: pure attention loses rank doubly exponentially with
 * depth; skip connections prevent it). Four statements, from one seed per
 * configuration: (1) attention-only collapses with depth at init, (2) skips
 * prevent it at init and after training, (3) the decay at init is doubly
 * exponential, (4) attention-only is still collapsed after training.
 * `reproduced`: all four; `partly`: (1) and (2) but not (3) or (4) (collapse
 * and its prevention hold, the rate or its persistence through training do
 * not); `not reproduced`: (1) or (2) fails; `not yet run` without both
 * configurations. Dong et al.'s rate is an upper bound, so an exponential
 * decay does not contradict their theorem; it does not show its rate.
 *
 * @example
 * ```ts
 * collapseVerdict({ init: 1e-4, end: 1e-3 }, { init: 0.9, end: 0.8 }, { dexp_base: 2.5, dexp_r2: 0.99, exp_r2: 0.9 })
 *   .verdict; // "reproduced"
 * ```
 */
export function collapseVerdict(
  attentionOnly: Shrink | null,
  skips: Shrink | null,
  fit: DoublyFit | null,
): Ruling<CollapseNumbers> {
  const r = COLLAPSE_RULE;
  const doubly = !!fit && fit.dexp_base > r.doublyBase && fit.dexp_r2 > fit.exp_r2;
  const collapsed = (share: number) => share < r.collapsedShare;
  const numbers: CollapseNumbers = {
    collapsedAtInit: !!attentionOnly && collapsed(attentionOnly.init),
    skipsKeep: !!skips && skips.init > r.keptShare && skips.end > r.keptShare,
    doubly,
    collapsedAfterTraining: !!attentionOnly && collapsed(attentionOnly.end),
  };
  if (!attentionOnly || !skips) return { verdict: "not yet run", reasons: [], numbers };
  const n = numbers;
  const verdict: Verdict = !n.collapsedAtInit || !n.skipsKeep
    ? "not reproduced"
    : n.doubly && n.collapsedAfterTraining
    ? "reproduced"
    : "partly";
  const reasons = [
    `(1) attention-only ${n.collapsedAtInit ? "collapses" : "does not collapse"} with depth at init`,
    `(2) skips ${n.skipsKeep ? "prevent it at init and after training" : "do not keep the residual"}`,
    `(3) the decay at init ${n.doubly ? "is" : "is not"} doubly exponential`,
    `(4) after training attention-only ${n.collapsedAfterTraining ? "is still" : "is no longer"} collapsed`,
  ];
  return { verdict, reasons, numbers };
}

/** Largest rank beyond the embeddings' (max over layers of rank X_l - rank X_0), over init and the end. */
export interface RankExcess {
  /** Attention-only with one head. */
  oneHead: number;
  /** Attention + MLP with one head. */
  mlpOneHead: number;
  /** Attention-only with four heads. */
  fourHeads: number;
}

/**
 * The rule: `reproduced` when one-head attention adds no direction beyond the
 * embeddings, the MLP does, and four heads of attention add none either;
 * `partly` when only the first two hold; `not reproduced` otherwise; `not yet
 * run` without the one-head runs.
 *
 * @example
 * ```ts
 * mlpDirectionsVerdict({ oneHead: 0, mlpOneHead: 3, fourHeads: 0 }).verdict; // "reproduced"
 * ```
 */
export function mlpDirectionsVerdict(x: RankExcess): Ruling<RankExcess> {
  if (!Number.isFinite(x.oneHead) || !Number.isFinite(x.mlpOneHead)) {
    return { verdict: "not yet run", reasons: [], numbers: x };
  }
  const base = x.oneHead <= 0 && x.mlpOneHead > 0;
  const verdict: Verdict = base && x.fourHeads <= 0 ? "reproduced" : base ? "partly" : "not reproduced";
  const reasons = [
    `one-head attention adds ${x.oneHead} direction(s) beyond the embeddings, with the MLP ${x.mlpOneHead}, ` +
    `four heads ${x.fourHeads}`,
  ];
  return { verdict, reasons, numbers: x };
}

/** The constants of the entropy rule. */
export const ENTROPY_RULE = {
  /** Entropy collapse: the mean head entropy ends below this share of its value at init. */
  collapsedShare: 0.5,
  /** A stable run's mean head entropy ends above this share of its value at init. */
  keptShare: 0.8,
  /** A loss spike: the logged train loss rises by more than this (nats) between consecutive logs. */
  spike: 0.1,
};

/** One run of the entropy claim: mean head entropy at init and at the end, and how stable its training was. */
export interface EntropyRun {
  /** Mean over layers and heads of the attention entropy (nats), at step 0 and at the last step. */
  init: number;
  end: number;
  /** Largest rise of the logged train loss between consecutive logs (nats). */
  maxRise: number;
  diverged: boolean;
}

/** What the entropy rule read. */
export interface EntropyNumbers {
  /** End / init mean entropy of the stable and the high-LR run. */
  stableShare: number;
  collapsingShare: number;
  /** The high-LR run's entropy collapses and the stable run's does not. */
  collapseContrast: boolean;
  /** The high-LR run is unstable (a spike or divergence) and the stable run is not. */
  instabilityContrast: boolean;
}

/**
 * The rule (Zhai et al. 2023, arXiv 2303.06296: pathologically low attention
 * entropy, "entropy collapse", accompanies training instability, oscillating
 * loss or divergence). `reproduced` when the high-LR run's mean head entropy
 * ends below `collapsedShare` of its init value while the stable run's stays
 * above `keptShare`, and the high-LR run is unstable (it diverged, or its
 * train loss rose by more than `spike` nats between two logs) while the stable
 * run is not; `partly` when only the entropy contrast holds; `not reproduced`
 * otherwise; `not yet run` without both runs. One seed per run: no seed noise
 * is measured.
 *
 * @example
 * ```ts
 * const run = (init: number, end: number, maxRise = 0) => ({ init, end, maxRise, diverged: false });
 * entropyVerdict({ stable: run(2.9, 2.8), collapsing: run(2.9, 0.6, 0.5) }).verdict; // "reproduced"
 * ```
 */
export function entropyVerdict(
  runs: { stable: EntropyRun; collapsing: EntropyRun } | null,
): Ruling<EntropyNumbers | null> {
  if (!runs) return { verdict: "not yet run", reasons: [], numbers: null };
  const R = ENTROPY_RULE, { stable, collapsing } = runs;
  const share = (r: EntropyRun) => r.end / r.init;
  const unstable = (r: EntropyRun) => r.diverged || r.maxRise > R.spike;
  const n: EntropyNumbers = {
    stableShare: share(stable),
    collapsingShare: share(collapsing),
    collapseContrast: share(collapsing) < R.collapsedShare && share(stable) > R.keptShare,
    instabilityContrast: unstable(collapsing) && !unstable(stable),
  };
  const verdict: Verdict = n.collapseContrast && n.instabilityContrast
    ? "reproduced"
    : n.collapseContrast
    ? "partly"
    : "not reproduced";
  const reasons = [
    n.collapseContrast
      ? "the high-LR run's attention entropy collapses and the stable run's does not"
      : "the entropy contrast does not hold",
    n.instabilityContrast
      ? "the high-LR run is unstable and the stable run is not"
      : "no instability accompanies the collapse (no loss spike, no divergence)",
  ];
  return { verdict, reasons, numbers: n };
}
