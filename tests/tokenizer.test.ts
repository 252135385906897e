import assert from "node:assert/strict";
import { ByteTokenizer } from "../components/tokenizer/byte.ts";
import { BpeTokenizer, GPT2_PATTERN, learnMerges, pretokenize } from "../components/tokenizer/bpe.ts";
import type { TokenizerBuilder } from "../engine/data/tokenizer.ts";
import { brownDocuments } from "../components/dataset/brown.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { mulberry32 } from "../engine/core/random.ts";
import { resolve } from "../engine/core/registry.ts";

const SAMPLES = [
  "",
  "Hello, world! It's 1961 and the jury said so.",
  "emoji 🙂👩‍👩‍👧 flags 🇫🇷 end",
  "中文文本，日本語のテキスト、한국어 텍스트",
  "tabs\tand\r\nnewlines\n\n  leading   spaces   ",
  "never-seen xyzzy QWJKZ 0x7fffffff ∑∫√ ÿ\u0301 \u200b\uFEFF",
];

/** Strings made by decoding random bytes as UTF-8 (invalid sequences become U+FFFD). */
function randomStrings(count: number, seed: number): string[] {
  const rand = mulberry32(seed);
  const dec = new TextDecoder();
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    const bytes = new Uint8Array(1 + Math.floor(rand() * 200));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
    out.push(dec.decode(bytes));
  }
  return out;
}

const TRAIN_TEXT = [
  "the quick brown fox jumps over the lazy dog\n",
  "the lazy dog sleeps; the quick fox runs, and the dog's owner laughs.\n",
  "lower lowest low newer newest new wider widest wide\n",
];

/** Reference BPE: recount every pair over the word list before each merge. */
function naiveMerges(docs: string[], vocabSize: number): Array<[number, number]> {
  const re = new RegExp(GPT2_PATTERN, "gu");
  const counts = new Map<string, number>();
  for (const d of docs) for (const w of pretokenize(d, re)) counts.set(w, (counts.get(w) ?? 0) + 1);
  let words = [...counts].map(([w, c]) => ({ s: [...new TextEncoder().encode(w)], c }));
  const merges: Array<[number, number]> = [];
  while (merges.length < vocabSize - 256) {
    const pc = new Map<string, number>();
    for (const { s, c } of words) {
      for (let i = 0; i + 1 < s.length; i++) {
        const k = `${s[i]},${s[i + 1]}`;
        pc.set(k, (pc.get(k) ?? 0) + c);
      }
    }
    let best: [number, number] | null = null, bestC = 0;
    for (const [k, c] of pc) {
      const [a, b] = k.split(",").map(Number);
      if (
        c > bestC || (c === bestC && best && (a < best[0] || (a === best[0] && b < best[1])))
      ) {
        best = [a, b];
        bestC = c;
      }
    }
    if (!best || bestC < 2) break;
    const id = 256 + merges.length;
    merges.push(best);
    words = words.map(({ s, c }) => {
      const o: number[] = [];
      for (let i = 0; i < s.length;) {
        if (i + 1 < s.length && s[i] === best![0] && s[i + 1] === best![1]) {
          o.push(id);
          i += 2;
        } else o.push(s[i++]);
      }
      return { s: o, c };
    });
  }
  return merges;
}

Deno.test("byte tokenizer: UTF-8 bytes, exact round-trip", () => {
  const t = new ByteTokenizer();
  assert.equal(t.vocabSize, 256);
  assert.deepEqual(t.encode("hé🙂"), [104, 195, 169, 240, 159, 153, 130]);
  for (const s of [...SAMPLES, ...randomStrings(50, 1)]) {
    const ids = t.encode(s);
    assert.equal(ids.length, new TextEncoder().encode(s).length);
    assert.equal(t.decode(ids), s);
  }
  assert.throws(() => t.decode([256]), /id 256 at position 0/);
});

Deno.test("pretokenize: GPT-2 words with leading space, covering the text exactly", () => {
  const re = new RegExp(GPT2_PATTERN, "gu");
  assert.deepEqual(pretokenize("Hello world's  end!!", re), [
    "Hello",
    " world",
    "'s",
    " ",
    " end",
    "!!",
  ]);
  for (const s of [...SAMPLES, ...randomStrings(20, 2)]) {
    assert.equal(pretokenize(s, re).join(""), s);
  }
});

Deno.test("bpe: incremental training equals the naive recount algorithm", () => {
  for (const vocab of [260, 300, 400]) {
    assert.deepEqual(learnMerges(TRAIN_TEXT, vocab), naiveMerges(TRAIN_TEXT, vocab));
  }
  // " l", "ow", "er", "th", "he" all occur 5 times; ties go to the smallest pair (32, 108)
  const merges = learnMerges(TRAIN_TEXT, 300);
  assert.deepEqual(merges[0], [32, 108]);
});

Deno.test("bpe: exact round-trip on any string, seen or unseen", () => {
  const t = BpeTokenizer.train(TRAIN_TEXT, 320);
  assert.ok(t.merges.length > 20);
  for (const s of [...SAMPLES, ...TRAIN_TEXT, ...randomStrings(100, 3)]) {
    const ids = t.encode(s);
    assert.ok(ids.every((i) => Number.isInteger(i) && i >= 0 && i < t.usedVocab));
    assert.equal(t.decode(ids), s);
  }
  // merged tokens are used on training text
  assert.ok(t.encode(TRAIN_TEXT[0]).length < TRAIN_TEXT[0].length / 2);
});

Deno.test("bpe: JSON save/load restores the same tokenizer; bad JSON names the file", () => {
  const t = BpeTokenizer.train(TRAIN_TEXT, 300);
  const json = JSON.parse(JSON.stringify(t.toJSON()));
  const u = BpeTokenizer.fromJSON(json, "tok.json");
  assert.equal(u.vocabSize, 300);
  for (const s of SAMPLES) assert.deepEqual(u.encode(s), t.encode(s));
  assert.throws(
    () => BpeTokenizer.fromJSON({ ...json, merges: [[1, 999]] }, "tok.json"),
    (e: Error) => e instanceof DmodelError && /tok\.json: bad merge \[1,999\] at merges\[0\]/.test(e.message),
  );
  assert.throws(
    () => BpeTokenizer.fromJSON({ type: "byte" }, "tok.json"),
    /tok\.json: expected a bpe tokenizer, found type "byte"/,
  );
});

Deno.test("tokenizer components: registered with their option schemas", () => {
  const bpe = resolve("tokenizer", "bpe");
  assert.deepEqual(bpe.schema.parse({}), { vocab_size: 1024 });
  assert.equal(bpe.schema.safeParse({ vocab_size: 256 }).success, false);
  assert.equal(bpe.schema.safeParse({ vocab_size: 300.5 }).success, false);
  const byte = resolve("tokenizer", "byte");
  assert.deepEqual(byte.schema.parse({}), {});
  assert.equal(byte.schema.safeParse({ vocab_size: 300 }).success, false);
  const builder = bpe.create({ vocab_size: 280 }) as TokenizerBuilder;
  const tok = builder.train(TRAIN_TEXT);
  assert.equal(tok.vocabSize, 280);
  assert.throws(
    () => (bpe.create({ vocab_size: 512 }) as TokenizerBuilder).load(tok.toJSON(), "t.json"),
    /t\.json: tokenizer has vocab_size 280, config asks for 512/,
  );
});

Deno.test("bpe: compresses held-out Brown text well below one token per byte", async () => {
  const docs = await brownDocuments();
  const train = docs.filter((_, i) => i % 5 === 0); // 100 documents
  const test = docs.filter((_, i) => i % 5 === 1).join("");
  const t = BpeTokenizer.train(train, 1024);
  assert.equal(t.merges.length, 768);
  const ids = t.encode(test);
  const bytes = new TextEncoder().encode(test).length;
  const ratio = ids.length / bytes;
  assert.ok(ratio < 0.45, `tokens per byte ${ratio}`);
  assert.equal(t.decode(ids), test);
  // on real text too, the incremental trainer learns the reference merges
  assert.deepEqual(learnMerges(docs.slice(0, 3), 400), naiveMerges(docs.slice(0, 3), 400));
});
