/**
 * Byte-level BPE (Sennrich et al. 2016; byte-level as in GPT-2, Radford et
 * al. 2019). Text is split into "words" by the GPT-2 pre-tokenization regex
 * (a word carries its leading space), each word is a sequence of UTF-8 bytes
 * (ids 0..255), and merges of the most frequent adjacent pair, counted over
 * the word frequencies, add ids 256, 257, ... Encoding applies the merges in
 * the order they were learned, so any string, seen in training or not,
 * round-trips exactly.
 */
import { z } from "zod";
import { DmodelError, show } from "../../engine/core/errors.ts";
import { register } from "../../engine/core/registry.ts";
import type { Tokenizer, TokenizerBuilder } from "../../engine/data/tokenizer.ts";

/** The GPT-2 pre-tokenization pattern: contractions, letters, digits, other symbols, spaces. */
export const GPT2_PATTERN = "'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Pair key: ids are below 2^24, so a * 2^24 + b is an exact double. */
const PAIR = 16777216;
/** Largest vocabulary the pair keys allow. */
export const MAX_BPE_VOCAB = PAIR;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function compilePattern(pattern: string, file: string): RegExp {
  try {
    return new RegExp(pattern, "gu");
  } catch (e) {
    throw new DmodelError(`${file}: bad pre-tokenization pattern ${show(pattern)}: ${e}`);
  }
}

/**
 * Splits text into pre-tokens covering it exactly (unmatched stretches, if a
 * pattern leaves any, become their own pieces).
 *
 * @example
 * ```ts
 * pretokenize("Hello world!", new RegExp(GPT2_PATTERN, "gu")); // ["Hello", " world", "!"]
 * ```
 */
export function pretokenize(text: string, re: RegExp): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** A max-heap of (pair key, count): highest count first, ties to the smaller key. */
class PairHeap {
  keys: number[] = [];
  counts: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i], cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    const k = this.keys[i], c = this.counts[i];
    this.keys[i] = this.keys[j];
    this.counts[i] = this.counts[j];
    this.keys[j] = k;
    this.counts[j] = c;
  }

  push(key: number, count: number): void {
    this.keys.push(key);
    this.counts.push(count);
    let i = this.keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): [number, number] {
    const top: [number, number] = [this.keys[0], this.counts[0]];
    const k = this.keys.pop()!, c = this.counts.pop()!;
    const n = this.keys.length;
    if (n > 0) {
      this.keys[0] = k;
      this.counts[0] = c;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < n && this.above(l, m)) m = l;
        if (r < n && this.above(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/**
 * Learns BPE merges from documents: count pre-token words, then repeatedly
 * merge the most frequent adjacent pair (ties to the smallest pair of ids),
 * updating pair counts only in the words that contain it. Stops at
 * `vocabSize - 256` merges or when no pair occurs twice.
 *
 * @example
 * ```ts
 * const merges = learnMerges(["the cat sat on the mat"], 260);
 * ```
 */
export function learnMerges(
  docs: readonly string[],
  vocabSize: number,
  pattern = GPT2_PATTERN,
): Array<[number, number]> {
  const re = compilePattern(pattern, "bpe");
  const wordCounts = new Map<string, number>();
  for (const doc of docs) {
    for (const w of pretokenize(doc, re)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  }
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of wordCounts) {
    words.push(Array.from(encoder.encode(w)));
    counts.push(c);
  }

  const pairCounts = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: number, touched?: Set<number>) => {
    const s = words[w], c = counts[w] * sign;
    for (let i = 0; i + 1 < s.length; i++) {
      const k = s[i] * PAIR + s[i + 1];
      pairCounts.set(k, (pairCounts.get(k) ?? 0) + c);
      touched?.add(k);
      if (sign > 0) {
        let set = where.get(k);
        if (!set) where.set(k, set = new Set());
        set.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1);
  const heap = new PairHeap();
  for (const [k, c] of pairCounts) heap.push(k, c);

  const merges: Array<[number, number]> = [];
  const nMerges = vocabSize - 256;
  while (merges.length < nMerges && heap.size > 0) {
    const [best, count] = heap.pop();
    if (pairCounts.get(best) !== count) continue; // stale heap entry
    if (count < 2) break;
    const a = Math.floor(best / PAIR), b = best % PAIR;
    const id = 256 + merges.length;
    merges.push([a, b]);
    const touched = new Set<number>();
    for (const w of where.get(best) ?? []) {
      const s = words[w];
      let has = false;
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] === a && s[i + 1] === b) {
          has = true;
          break;
        }
      }
      if (!has) continue; // stale: the word no longer contains the pair
      addPairs(w, -1, touched);
      const out: number[] = [];
      for (let i = 0; i < s.length;) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(id);
          i += 2;
        } else {
          out.push(s[i]);
          i += 1;
        }
      }
      words[w] = out;
      addPairs(w, 1, touched);
    }
    where.delete(best);
    for (const k of touched) {
      const c = pairCounts.get(k)!;
      if (c <= 0) pairCounts.delete(k);
      else heap.push(k, c);
    }
  }
  return merges;
}

/**
 * A byte-level BPE tokenizer from its merge list (merge i creates id 256 + i).
 *
 * @example
 * ```ts
 * const t = BpeTokenizer.train(["low lower lowest"], 300);
 * t.decode(t.encode("lowest 🙂")); // "lowest 🙂"
 * ```
 */
export class BpeTokenizer implements Tokenizer {
  readonly name = "bpe";
  readonly vocabSize: number;
  readonly merges: ReadonlyArray<readonly [number, number]>;
  readonly pattern: string;
  private readonly re: RegExp;
  private readonly ranks = new Map<number, number>();
  private readonly bytes: Uint8Array[] = [];
  private cache = new Map<string, number[]>();

  constructor(
    vocabSize: number,
    merges: ReadonlyArray<readonly [number, number]>,
    pattern = GPT2_PATTERN,
  ) {
    if (merges.length > vocabSize - 256) {
      throw new DmodelError(
        `bpe: ${merges.length} merges do not fit vocab_size ${vocabSize} (at most ${vocabSize - 256})`,
      );
    }
    this.vocabSize = vocabSize;
    this.merges = merges;
    this.pattern = pattern;
    this.re = compilePattern(pattern, "bpe");
    for (let i = 0; i < 256; i++) this.bytes.push(Uint8Array.of(i));
    merges.forEach(([a, b], i) => {
      const x = this.bytes[a], y = this.bytes[b];
      const xy = new Uint8Array(x.length + y.length);
      xy.set(x);
      xy.set(y, x.length);
      this.bytes.push(xy);
      this.ranks.set(a * PAIR + b, i);
    });
  }

  /** Trains on documents; see {@link learnMerges}. */
  static train(docs: readonly string[], vocabSize: number): BpeTokenizer {
    return new BpeTokenizer(vocabSize, learnMerges(docs, vocabSize));
  }

  /** Number of ids actually produced by encoding (256 + merges). */
  get usedVocab(): number {
    return 256 + this.merges.length;
  }

  private encodeWord(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let s = Array.from(encoder.encode(word));
    while (s.length > 1) {
      let rank = Infinity;
      for (let i = 0; i + 1 < s.length; i++) {
        const r = this.ranks.get(s[i] * PAIR + s[i + 1]);
        if (r !== undefined && r < rank) rank = r;
      }
      if (rank === Infinity) break;
      const [a, b] = this.merges[rank];
      const out: number[] = [];
      for (let i = 0; i < s.length;) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(256 + rank);
          i += 2;
        } else {
          out.push(s[i]);
          i += 1;
        }
      }
      s = out;
    }
    if (this.cache.size >= 200_000) this.cache = new Map();
    this.cache.set(word, s);
    return s;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const w of pretokenize(text, this.re)) {
      for (const t of this.encodeWord(w)) out.push(t);
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = this.bytes[ids[i]];
      if (b === undefined) {
        throw new DmodelError(
          `bpe: id ${ids[i]} at position ${i} is not a token (known ids 0..${this.bytes.length - 1})`,
        );
      }
      n += b.length;
    }
    const out = new Uint8Array(n);
    let o = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = this.bytes[ids[i]];
      out.set(b, o);
      o += b.length;
    }
    return decoder.decode(out);
  }

  toJSON(): Record<string, unknown> {
    return {
      type: "bpe",
      vocab_size: this.vocabSize,
      pattern: this.pattern,
      merges: this.merges.map(([a, b]) => [a, b]),
    };
  }

  /** Restores a tokenizer from {@link toJSON} output; `file` names the source in errors. */
  static fromJSON(json: unknown, file: string): BpeTokenizer {
    const j = json as Record<string, unknown> | null;
    if (j?.type !== "bpe") {
      throw new DmodelError(`${file}: expected a bpe tokenizer, found type ${show(j?.type)}`);
    }
    const v = j.vocab_size;
    if (!Number.isInteger(v) || (v as number) < 257 || (v as number) > MAX_BPE_VOCAB) {
      throw new DmodelError(`${file}: bad vocab_size ${show(v)} (an integer 257..${PAIR})`);
    }
    if (typeof j.pattern !== "string") {
      throw new DmodelError(`${file}: bad pattern ${show(j.pattern)} (a regex string)`);
    }
    if (!Array.isArray(j.merges)) {
      throw new DmodelError(`${file}: bad merges ${show(j.merges)} (a list of id pairs)`);
    }
    const merges: Array<[number, number]> = [];
    j.merges.forEach((m: unknown, i: number) => {
      const ok = Array.isArray(m) && m.length === 2 &&
        m.every((x) => Number.isInteger(x) && x >= 0 && x < 256 + i);
      if (!ok) {
        throw new DmodelError(
          `${file}: bad merge ${show(m)} at merges[${i}] (two ids below ${256 + i})`,
        );
      }
      merges.push([m[0], m[1]]);
    });
    return new BpeTokenizer(v as number, merges, j.pattern);
  }
}

/** Options of the `bpe` tokenizer. */
export const BpeOptionsSchema = z.strictObject({
  /** Vocabulary size: 256 byte ids plus up to vocab_size - 256 merges. */
  vocab_size: z.int().min(257).max(MAX_BPE_VOCAB).default(1024),
});

/** Parsed `bpe` options. */
export type BpeOptions = z.infer<typeof BpeOptionsSchema>;

register("tokenizer", "bpe", {
  schema: BpeOptionsSchema,
  describe: "byte-level BPE trained on the corpus (GPT-2 pre-tokenization), vocab_size ids",
  create: (opts: BpeOptions): TokenizerBuilder => ({
    name: "bpe",
    train: (docs, log) => {
      const t0 = performance.now();
      const tok = BpeTokenizer.train(docs, opts.vocab_size);
      log?.(
        `bpe: learned ${tok.merges.length} merges (vocab_size ${opts.vocab_size}) in ${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s`,
      );
      return tok;
    },
    load: (json, file) => {
      const tok = BpeTokenizer.fromJSON(json, file);
      if (tok.vocabSize !== opts.vocab_size) {
        throw new DmodelError(
          `${file}: tokenizer has vocab_size ${tok.vocabSize}, config asks for ${opts.vocab_size}`,
        );
      }
      return tok;
    },
  }),
});
