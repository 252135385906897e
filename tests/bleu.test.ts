/** Corpus BLEU-4 (components/block/seq2seq/bleu.ts) against hand-computed examples. */
import assert from "node:assert/strict";
import { corpusBleu } from "../components/block/seq2seq/bleu.ts";

const close = (a: number, b: number, msg = "") => assert(Math.abs(a - b) < 1e-12, `${msg}: ${a} vs ${b}`);

Deno.test("BLEU: identical corpus scores 1", () => {
  const r = corpusBleu([[1, 2, 3, 4, 5], [6, 7, 8, 9]], [[1, 2, 3, 4, 5], [6, 7, 8, 9]]);
  close(r.bleu, 1);
  assert.deepEqual(r.precisions, [1, 1, 1, 1]);
});

Deno.test("BLEU: one wrong last token, by hand", () => {
  // 1-grams 5/6, 2-grams 4/5, 3-grams 3/4, 4-grams 2/3; product 1/3; BP = 1
  const r = corpusBleu([[1, 2, 3, 4, 5, 7]], [[1, 2, 3, 4, 5, 6]]);
  assert.deepEqual(r.precisions, [5 / 6, 4 / 5, 3 / 4, 2 / 3]);
  close(r.bleu, Math.pow(1 / 3, 1 / 4), "bleu");
  close(r.brevity_penalty, 1, "bp");
});

Deno.test("BLEU: clipping and corpus-level sums, by hand", () => {
  // pair 1 exact (6, 5, 4, 3 n-grams all matched); pair 2 [7 7 7 7] vs [7 8 9 10]:
  // unigram 7 clipped to 1 of 4, no higher-order match.
  const r = corpusBleu([[1, 2, 3, 4, 5, 6], [7, 7, 7, 7]], [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10]]);
  assert.deepEqual(r.precisions, [7 / 10, 5 / 8, 4 / 6, 3 / 4]);
  close(r.bleu, Math.pow((7 / 10) * (5 / 8) * (4 / 6) * (3 / 4), 1 / 4), "bleu");
  // the same second pair alone has no bigram match: BLEU 0 (no smoothing)
  assert.equal(corpusBleu([[7, 7, 7, 7]], [[7, 8, 9, 10]]).bleu, 0);
});

Deno.test("BLEU: brevity penalty exp(1 - r / c) when the hypotheses are shorter", () => {
  const r = corpusBleu([[1, 2, 3, 4]], [[1, 2, 3, 4, 5, 6, 7, 8]]);
  close(r.brevity_penalty, Math.exp(-1), "bp");
  close(r.bleu, Math.exp(-1), "bleu");
  close(corpusBleu([[1, 2, 3, 4, 5, 6, 7, 8]], [[1, 2, 3, 4]]).brevity_penalty, 1, "longer: no penalty");
  assert.throws(() => corpusBleu([[1]], []), /1 hypotheses but 0 references/);
});
