/**
 * The verdict rule of the layer-wise coordination claim (He et al. 2018,
 * "Layer-Wise Coordination between Encoder and Decoder for Neural Machine
 * Translation"): a layer-wise model beats an encoder-decoder, at matched
 * compute and at matched parameters, read on held-out BLEU over seeds.
 */
import type { Ruling, Verdict } from "./verdict.ts";

/** A configuration's BLEU over its seeds. */
export interface BleuOverSeeds {
  mean: number;
  min: number;
  max: number;
}

/**
 * The rule: `reproduced` when the layer-wise model's worst seed beats the
 * encoder-decoder's best; `partly` when only its mean is higher; `not
 * reproduced` otherwise; `not yet run` when either is missing.
 *
 * @example
 * ```ts
 * beatsVerdict({ mean: 0.3, min: 0.28, max: 0.32 }, { mean: 0.2, min: 0.19, max: 0.21 }).verdict; // "reproduced"
 * ```
 */
export function beatsVerdict(
  layerwise?: BleuOverSeeds,
  encDec?: BleuOverSeeds,
): Ruling<Record<string, never>> {
  if (!layerwise || !encDec) return { verdict: "not yet run", reasons: [], numbers: {} };
  const verdict: Verdict = layerwise.min > encDec.max
    ? "reproduced"
    : layerwise.mean > encDec.mean
    ? "partly"
    : "not reproduced";
  const reasons = [
    verdict === "reproduced"
      ? "layer-wise's worst seed beats the encoder-decoder's best"
      : verdict === "partly"
      ? "layer-wise's mean beats the encoder-decoder's, its worst seed does not beat the best"
      : "layer-wise's mean does not beat the encoder-decoder's",
  ];
  return { verdict, reasons, numbers: {} };
}
