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

/**
 * PG-OP: `not reproduced` when trained gates leave the position-constant fiber
 * at its init value somewhere (`trainedReduces` false); else `reproduced` when
 * the gates shrink the position-constant fiber and also change the fiber of
 * the heads; `partly` when they shrink only the position-constant fiber (the
 * fiber itself stays, as any positive gate is invertible); `not reproduced`
 * when they shrink neither. `trainedReduces` null: no trained run to read.
 *
 * @example
 * ```ts
 * pgopVerdict(counts, true).verdict; // "partly" when the gates leave the fiber as it is
 * ```
 */
export function pgopVerdict(counts: FiberCounts[], trainedReduces: boolean | null): Ruling<FiberNumbers> {
  const n = fiberNumbers(counts);
  if (trainedReduces === false) {
    return {
      verdict: "not reproduced",
      reasons: ["trained gates leave the position-constant fiber at its init value in some block or seed"],
      numbers: n,
    };
  }
  const verdict: Verdict = n.pgopShrinksConstant && !n.pgopNoChange
    ? "reproduced"
    : n.pgopShrinksConstant
    ? "partly"
    : "not reproduced";
  const reasons = [
    n.pgopShrinksConstant
      ? "random gates shrink the position-constant fiber"
      : "random gates do not shrink the position-constant fiber",
    n.pgopNoChange ? "no count of the heads' fiber changes" : "a count of the heads' fiber changes",
  ];
  return { verdict, reasons, numbers: n };
}
