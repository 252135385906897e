/** General statistics of the analysis: quantiles, a robust sd of bootstrap draws, a seeded normal sampler. */

/**
 * Linear-interpolated quantile of sorted values (NaN when empty).
 *
 * @example
 * ```ts
 * quantile([1, 2, 3, 4], 0.5); // 2.5
 * ```
 */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (!sorted.length) return NaN;
  const p = (sorted.length - 1) * q, i = Math.floor(p), f = p - i;
  return i + 1 < sorted.length ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

/**
 * Robust sd of sorted draws: half their central 68.3% range (the sd of a
 * normal), NaN with fewer than 3 draws.
 */
export function centralSd(sorted: ArrayLike<number>): number {
  return sorted.length > 2 ? (quantile(sorted, 0.8413) - quantile(sorted, 0.1587)) / 2 : NaN;
}

/** Robust sd of draws in any order, non-finite ones left out (`centralSd`). */
export function robustSd(v: ArrayLike<number>): number {
  return centralSd(Array.from(v).filter(Number.isFinite).sort((a, b) => a - b));
}

/** A normal(0, 1) sampler on a seeded uniform generator (Box-Muller). */
export function normalSampler(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
