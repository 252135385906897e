/**
 * The verdict rules of the head-channel claims (arXiv 2604.23681;
 * docs/reference.md section 6), as pure functions of the fiber counts
 * (components/probe/head_fiber.ts) and of what trained PG-OP gates do
 * (components/probe/head_fiber_probe.ts):
 *
 * - non-identifiability: n(H-1)d_k per-head degrees of freedom are not
 *   identifiable after the heads are combined;
 * - PG-OP: position-gated output projection partly restores identifiability.
 */
import type { Ruling, Verdict } from "./verdict.ts";

/** The fiber counts of one shape (n tokens, H heads of d_k). */
export interface FiberCounts {
  /** The paper's count n(H-1)d_k. */
  predicted: number;
  /** Heads summed in one shared space, without / with PG-OP gates. */
  shared: number;
  sharedPgop: number;
  /** Through dmodel's full-rank W_o (d x H d_k), without / with gates. */
  full: number;
  fullPgop: number;
  /** Position-constant signals' fiber: no gates / random W_g. */
  constNone: number;
  constPgop: number;
}

/** What the head-channel rules read, over every shape. */
export interface FiberNumbers {
  /** The shared-space count equals n(H-1)d_k at every shape. */
  sharedMatches: boolean;
  /** The count through a full-rank W_o is 0 at every shape. */
  fullRankZero: boolean;
  /** PG-OP changes neither count at any shape. */
  pgopNoChange: boolean;
  /** PG-OP shrinks the position-constant fiber at every shape. */
  pgopShrinksConstant: boolean;
}

/** The four facts the two rules read, from the counts of every shape. */
export function fiberNumbers(counts: FiberCounts[]): FiberNumbers {
  return {
    sharedMatches: counts.every((c) => c.shared === c.predicted),
    fullRankZero: counts.every((c) => c.full === 0),
    pgopNoChange: counts.every((c) => c.sharedPgop === c.shared && c.fullPgop === c.full),
    pgopShrinksConstant: counts.every((c) => c.constPgop < c.constNone),
  };
}

/**
 * Non-identifiability: `reproduced` when the shared-space count is the paper's
 * at every shape and dmodel's full-rank W_o does not remove it; `partly` when
 * the count matches but a full-rank W_o makes the heads recoverable;
 * `not reproduced` when the count does not match.
 *
 * @example
 * ```ts
 * headFiberVerdict([{ predicted: 8, shared: 8, sharedPgop: 8, full: 0, fullPgop: 0, constNone: 2, constPgop: 0 }])
 *   .verdict; // "partly"
 * ```
 */
export function headFiberVerdict(counts: FiberCounts[]): Ruling<FiberNumbers> {
  const n = fiberNumbers(counts);
  const verdict: Verdict = n.sharedMatches && !n.fullRankZero
    ? "reproduced"
    : n.sharedMatches
    ? "partly"
    : "not reproduced";
  const reasons = [
    n.sharedMatches
      ? "the shared-space fiber is n(H-1)d_k at every shape"
      : "the shared-space fiber is not n(H-1)d_k",
    ...(n.fullRankZero ? ["through a full-rank W_o the per-head outputs are recoverable (fiber 0)"] : []),
  ];
  return { verdict, reasons, numbers: n };
}

/** The constant of the PG-OP rule. */
export const PGOP_RULE = {
  /**
   * Trained gates tell the heads' position-constant signals apart usefully when
   * sigma_H / sigma_1 of the gate matrix G is at least this in every block and
   * seed: below it, recovering them amplifies noise more than 100-fold.
   */
  minSpread: 0.01,
};

/** What trained PG-OP gates did (pgop-trained run, every block and seed at the last step). */
export interface TrainedGates {
  /** The position-constant fiber (H - rank G) d_k fell below its init value in every block and seed. */
  reduces: boolean;
  /** The smallest sigma_H / sigma_1 of G over blocks and seeds. */
  minSpread: number;
}

/** What the PG-OP rule read. */
export interface PgopNumbers extends FiberNumbers {
  /** Trained gates' smallest spread, NaN without a trained run. */
  minSpread: number;
}

/**
 * PG-OP "partly restores head identifiability": it cannot remove the fiber of
 * heads summed in one space (any positive gate is invertible), only the
 * ambiguity of position-constant head signals. `reproduced` when random gates
 * shrink that ambiguity at every shape and trained gates shrink it in every
 * block and seed with a usable spread (sigma_H / sigma_1 of G at least
 * `minSpread` everywhere); `partly` when trained gates shrink it only with an
 * ill-conditioned G (below `minSpread` somewhere), or no trained run is
 * archived yet (random gates only); `not reproduced` when random gates do not
 * shrink it or trained gates leave it at its init value in some block or seed.
 *
 * @example
 * ```ts
 * pgopVerdict(counts, { reduces: true, minSpread: 1e-5 }).verdict; // "partly"
 * ```
 */
export function pgopVerdict(counts: FiberCounts[], trained: TrainedGates | null): Ruling<PgopNumbers> {
  const n = { ...fiberNumbers(counts), minSpread: trained?.minSpread ?? NaN };
  if (!n.pgopShrinksConstant) {
    return {
      verdict: "not reproduced",
      reasons: ["random gates do not shrink the position-constant fiber"],
      numbers: n,
    };
  }
  if (trained && !trained.reduces) {
    return {
      verdict: "not reproduced",
      reasons: ["trained gates leave the position-constant fiber at its init value in some block or seed"],
      numbers: n,
    };
  }
  const usable = !!trained && trained.minSpread >= PGOP_RULE.minSpread;
  const verdict: Verdict = usable ? "reproduced" : "partly";
  const reasons = [
    "random gates shrink the position-constant fiber",
    !trained
      ? "no trained run read"
      : usable
      ? "trained gates shrink it with a usable spread"
      : "trained gates shrink it, but are nearly alike across heads (ill-conditioned)",
  ];
  return { verdict, reasons, numbers: n };
}
