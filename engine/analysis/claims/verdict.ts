/**
 * The vocabulary every claim's rule answers in: a verdict word, the reasons
 * behind it (plain sentences), and the numbers it read. A rule is a pure
 * function of fitted results; tasks/reproductions only loads runs, calls the
 * rule and renders what it returns.
 */

/** The verdict of a claim that has run. */
export type ClaimVerdict = "reproduced" | "partly" | "not reproduced";

/** A claim's verdict, "not yet run" while its inputs are missing. */
export type Verdict = ClaimVerdict | "not yet run";

/** What a rule returns: its verdict, why (sentences), and the numbers it read. */
export interface Ruling<N = Record<string, never>> {
  verdict: Verdict;
  reasons: string[];
  numbers: N;
}

/**
 * An interval excludes 0 (a difference is significant at its level); false
 * without an interval.
 *
 * @example
 * ```ts
 * excludesZero([0.1, 0.4]); // true
 * excludesZero([-0.1, 0.4]); // false
 * ```
 */
export function excludesZero(ci: [number, number] | null | undefined): boolean {
  return !!ci && (ci[0] > 0 || ci[1] < 0);
}
