/**
 * Corpus BLEU-4 (Papineni et al. 2002) on token-id sequences, one reference
 * per hypothesis, for the greedy translations of the layer-wise coordination
 * study (docs/reference.md section 7):
 *
 *   p_n = sum_s sum_g min(count_hyp_s(g), count_ref_s(g)) / sum_s (#n-grams of hyp_s),
 *   BP  = 1 if c > r else exp(1 - r / c),   c, r = total hypothesis / reference length,
 *   BLEU = BP exp(sum_(n=1..4) (1/4) log p_n)   (0 when some p_n is 0; no smoothing).
 *
 * The npm package `bleu-score` (1.0.4, one release) scores single sentences
 * only; corpus BLEU sums the clipped counts over the corpus before the
 * geometric mean, which is what MT papers report.
 */

/** Clipped n-gram matches and hypothesis n-gram count of one pair. */
function ngramCounts(hyp: ArrayLike<number>, ref: ArrayLike<number>, n: number) {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= ref.length; i++) {
    const g = Array.prototype.slice.call(ref, i, i + n).join(",");
    counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  let match = 0, total = 0;
  for (let i = 0; i + n <= hyp.length; i++) {
    total++;
    const g = Array.prototype.slice.call(hyp, i, i + n).join(",");
    const left = counts.get(g) ?? 0;
    if (left > 0) {
      match++;
      counts.set(g, left - 1);
    }
  }
  return { match, total };
}

/** Corpus BLEU and its parts. */
export interface Bleu {
  /** BLEU in [0, 1]. */
  bleu: number;
  /** Modified n-gram precisions p_1..p_N. */
  precisions: number[];
  brevity_penalty: number;
  hyp_length: number;
  ref_length: number;
}

/**
 * Corpus BLEU-N (default N = 4, uniform weights) of hypotheses against one
 * reference each.
 *
 * @example
 * ```ts
 * corpusBleu([[1, 2, 3, 4, 5, 7]], [[1, 2, 3, 4, 5, 6]]).bleu; // (5/6 4/5 3/4 2/3)^(1/4) = 3^(-1/4)
 * ```
 */
export function corpusBleu(
  hyps: ArrayLike<number>[],
  refs: ArrayLike<number>[],
  maxN = 4,
): Bleu {
  if (hyps.length !== refs.length) {
    throw new Error(`corpusBleu: ${hyps.length} hypotheses but ${refs.length} references`);
  }
  const match = new Array(maxN).fill(0), total = new Array(maxN).fill(0);
  let c = 0, r = 0;
  hyps.forEach((h, s) => {
    c += h.length;
    r += refs[s].length;
    for (let n = 1; n <= maxN; n++) {
      const k = ngramCounts(h, refs[s], n);
      match[n - 1] += k.match;
      total[n - 1] += k.total;
    }
  });
  const precisions = match.map((m, i) => (total[i] > 0 ? m / total[i] : 0));
  const bp = c === 0 ? 0 : c > r ? 1 : Math.exp(1 - r / c);
  const logMean = precisions.reduce((s, p) => s + Math.log(p) / maxN, 0);
  const bleu = precisions.some((p) => p === 0) ? 0 : bp * Math.exp(logMean);
  return { bleu, precisions, brevity_penalty: bp, hyp_length: c, ref_length: r };
}
