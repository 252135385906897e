/**
 * Local exponents of eta* between consecutive scales (per doubling), with
 * intervals from the optima's bootstrap draws: the per-segment reading of a
 * scaling law (the bend of a horizon law, a per-width drift).
 */
import { quantile } from "../statistics.ts";

/** The optimum at one scale (width, steps, depth): log2 eta* and its bootstrap draws (GroupOptimum.log2_eta, .draws). */
export interface ScaleOptimum {
  scale: number;
  log2_eta: number;
  draws: ArrayLike<number>;
}

/** The exponent of eta* between two scales. */
export interface LocalExponent {
  from: number;
  to: number;
  /** (log2 eta*(to) - log2 eta*(from)) / log2(to / from): per doubling of the scale. */
  exponent: number;
  /** Percentile interval at `level` from the two optima's draws, paired by index; null without draws. */
  ci: [number, number] | null;
}

/**
 * The local exponent on each consecutive pair of the given scales (sorted):
 * a bend in a power law shows as segments that disagree. The
 * two optima's bootstrap draws are independent, so pairing them by index
 * gives draws of the difference.
 *
 * @example
 * ```ts
 * localExponents([{ scale: 500, log2_eta: -5, draws: [] }, { scale: 2000, log2_eta: -5.8, draws: [] }]);
 * // [{ from: 500, to: 2000, exponent: -0.4, ci: null }]
 * ```
 */
export function localExponents(points: ScaleOptimum[], level = 0.95): LocalExponent[] {
  const p = [...points].filter((x) => Number.isFinite(x.log2_eta)).sort((a, b) => a.scale - b.scale);
  const out: LocalExponent[] = [];
  for (let i = 1; i < p.length; i++) {
    const a = p[i - 1], b = p[i], span = Math.log2(b.scale / a.scale);
    const n = Math.min(a.draws.length, b.draws.length);
    let ci: [number, number] | null = null;
    if (n >= 2) {
      const d = Float64Array.from({ length: n }, (_, k) => (b.draws[k] - a.draws[k]) / span).sort();
      ci = [quantile(d, (1 - level) / 2), quantile(d, (1 + level) / 2)];
    }
    out.push({ from: a.scale, to: b.scale, exponent: (b.log2_eta - a.log2_eta) / span, ci });
  }
  return out;
}
