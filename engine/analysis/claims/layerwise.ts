/**
 * The verdict rule of the layer-wise coordination claim (He et al. 2018,
 * "Layer-Wise Coordination between Encoder and Decoder for Neural Machine
 * Translation"): a layer-wise model beats an encoder-decoder, at matched
 * compute and at matched parameters, read on held-out BLEU over seeds with
 * Welch's interval of the difference of means.
 */
import { tQuantile975 } from "../t_interval.ts";
import type { Ruling, Verdict } from "./verdict.ts";

/** The difference of two groups' means with Welch's 95% interval (null with fewer than 2 values a side). */
export interface MeanDifference {
  diff: number;
  ci: [number, number] | null;
  /** Welch-Satterthwaite degrees of freedom, rounded down (conservative). */
  df: number;
}

/**
 * mean(a) - mean(b) and its 95% Welch interval, t at the Welch-Satterthwaite
 * degrees of freedom rounded down.
 *
 * @example
 * ```ts
 * welchDifference([3, 4, 5], [1, 2, 3]).diff; // 2
 * ```
 */
export function welchDifference(a: number[], b: number[]): MeanDifference {
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const diff = mean(a) - mean(b);
  if (a.length < 2 || b.length < 2) return { diff, ci: null, df: NaN };
  const v = (x: number[]) => x.reduce((s, y) => s + (y - mean(x)) ** 2, 0) / (x.length - 1) / x.length;
  const va = v(a), vb = v(b), se = Math.sqrt(va + vb);
  if (se === 0) return { diff, ci: [diff, diff], df: a.length + b.length - 2 };
  const df = Math.max(1, Math.floor((va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1))));
  const half = tQuantile975(df) * se;
  return { diff, ci: [diff - half, diff + half], df };
}

/**
 * The rule, on BLEU per seed: `reproduced` when the 95% Welch interval of
 * mean(layer-wise) - mean(encoder-decoder) lies wholly above 0; `partly` when
 * the mean difference is positive but the interval includes 0 (or there is no
 * interval: one seed a side); `not reproduced` when the mean difference is 0
 * or negative; `not yet run` when either has no seed.
 *
 * @example
 * ```ts
 * beatsVerdict([0.30, 0.31, 0.32], [0.20, 0.21, 0.22]).verdict; // "reproduced"
 * ```
 */
export function beatsVerdict(layerwise: number[], encDec: number[]): Ruling<MeanDifference | null> {
  if (!layerwise.length || !encDec.length) return { verdict: "not yet run", reasons: [], numbers: null };
  const d = welchDifference(layerwise, encDec);
  const verdict: Verdict = d.diff <= 0 ? "not reproduced" : d.ci && d.ci[0] > 0 ? "reproduced" : "partly";
  const reasons = [
    d.diff <= 0
      ? "layer-wise's mean BLEU is not above the encoder-decoder's"
      : d.ci && d.ci[0] > 0
      ? "layer-wise's mean BLEU is above the encoder-decoder's beyond the seed noise"
      : d.ci
      ? "layer-wise's mean BLEU is above, within the seed noise (the interval includes 0)"
      : "layer-wise's BLEU is above, on one seed (no interval)",
  ];
  return { verdict, reasons, numbers: d };
}
