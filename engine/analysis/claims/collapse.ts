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
  /** Attention-only collapses when its last layer keeps less than this share of layer 1's residual. */
  collapsedShare: 0.05,
  /** Skips prevent collapse when their last layer keeps more than this share. */
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

/** What the collapse rule read. */
export interface CollapseNumbers {
  collapsedAtInit: boolean;
  collapsedAtEnd: boolean;
  doubly: boolean;
}

/**
 * The rule: attention-only has collapsed at a step when its shrink is below
 * `collapsedShare` while the skip stack's is above `keptShare`; `reproduced`
 * when that holds at init and at the end and the fit at init is doubly
 * exponential (base above `doublyBase`, better r^2 than the exponential);
 * `partly` when it holds at one of the two steps; `not reproduced` otherwise;
 * `not yet run` without both configurations.
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
  if (!attentionOnly || !skips) {
    return {
      verdict: "not yet run",
      reasons: [],
      numbers: { collapsedAtInit: false, collapsedAtEnd: false, doubly },
    };
  }
  const collapsed = (a: number, s: number) => a < r.collapsedShare && s > r.keptShare;
  const atInit = collapsed(attentionOnly.init, skips.init), atEnd = collapsed(attentionOnly.end, skips.end);
  const verdict: Verdict = atInit && atEnd && doubly
    ? "reproduced"
    : atInit || atEnd
    ? "partly"
    : "not reproduced";
  const reasons = [
    `attention-only ${atInit ? "has" : "has not"} collapsed at init and ${
      atEnd ? "has" : "has not"
    } at the end`,
    `the fit at init ${doubly ? "is" : "is not"} doubly exponential`,
  ];
  return { verdict, reasons, numbers: { collapsedAtInit: atInit, collapsedAtEnd: atEnd, doubly } };
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
  /** A head's entropy has collapsed when it ends below this share of its value at init. */
  collapsedShare: 0.25,
};

/** Smallest end/init ratio of a head's attention entropy, per configuration. */
export interface EntropyDrop {
  /** The usual LR. */
  stable: number;
  /** The collapsing configuration (high LR). */
  collapsing: number;
}

/**
 * The rule: `reproduced` when the collapsing configuration's smallest ratio is
 * below `collapsedShare` and the stable one's is higher; `partly` when only
 * the latter holds; `not reproduced` otherwise; `not yet run` without both.
 *
 * @example
 * ```ts
 * entropyVerdict({ stable: 0.8, collapsing: 0.1 }).verdict; // "reproduced"
 * ```
 */
export function entropyVerdict(drop: EntropyDrop | null): Ruling<EntropyDrop | null> {
  if (!drop) return { verdict: "not yet run", reasons: [], numbers: null };
  const { stable, collapsing } = drop;
  const verdict: Verdict = collapsing < ENTROPY_RULE.collapsedShare && stable > collapsing
    ? "reproduced"
    : collapsing < stable
    ? "partly"
    : "not reproduced";
  return {
    verdict,
    reasons: [
      `smallest end/init entropy ratio ${stable} at the usual LR, ${collapsing} in the collapsing run`,
    ],
    numbers: drop,
  };
}
