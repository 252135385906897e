import assert from "node:assert/strict";
import { join } from "node:path";
import { brownDocuments, brownParagraph } from "../components/dataset/brown.ts";
import { splitDocuments } from "../components/dataset/text.ts";
import "../components/mod.ts";
import { parseDataConfig, prepareData, splitTrainVal, unigramEntropy } from "../engine/data/prepare.ts";
import { evalBatches, trainBatch } from "../engine/data/batches.ts";
import { DataConfigSchema } from "../engine/core/config.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { mulberry32 } from "../engine/core/random.ts";
import { HEADER_BYTES, readShard, readShardHeader } from "../engine/data/shards.ts";

const isDmodel = (re: RegExp) => (e: Error) => e instanceof DmodelError && re.test(e.message);

/** A small synthetic corpus: `n` paragraphs separated by blank lines. */
function syntheticText(n: number, seed = 7): string {
  const words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away", "🙂", "日本"];
  const rand = mulberry32(seed);
  const paras: string[] = [];
  for (let p = 0; p < n; p++) {
    const len = 20 + Math.floor(rand() * 30);
    const ws = Array.from({ length: len }, () => words[Math.floor(rand() * words.length)]);
    paras.push(`Paragraph ${p}: ${ws.join(" ")}.`);
  }
  return paras.join("\n\n") + "\n";
}

async function withTemp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-data-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("brownParagraph: tags stripped, quotes and punctuation spaced like English", () => {
  assert.equal(
    brownParagraph(
      "``/`` Only/rb a/at handful/nn ''/'' ,/, the/at jury/nn said/vbd (/( in/in 1961/cd )/) ./.",
    ),
    '"Only a handful", the jury said (in 1961).',
  );
  assert.equal(
    brownParagraph("more/ap '/' pro/jj '/' letters/nns ;/. Atlanta's/np$ mayor/nn-tl ?/."),
    "more 'pro' letters; Atlanta's mayor?",
  );
  assert.equal(brownParagraph("he/pps did/dod n't/* go/vb ./."), "he didn't go.");
});

Deno.test("brown: 500 documents of plain text, no POS tags left, fixed order", async () => {
  const docs = await brownDocuments();
  assert.equal(docs.length, 500);
  assert.ok(
    docs[0].startsWith(
      'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.\n',
    ),
  );
  const all = docs.join("");
  assert.ok(all.length > 5_500_000 && all.length < 6_500_000, `${all.length} chars`);
  for (const tagged of ["The/at", "jury/nn", "/vbd", "/np$", "``", " ,", " ."]) {
    assert.equal(all.includes(tagged), false, `found ${tagged}`);
  }
  // what still contains a slash is real text (and/or, 1-1/2): a handful, not ~1.16M tags
  const slashed = all.match(/\S*\/\S*/g) ?? [];
  assert.ok(slashed.length < 300, `${slashed.length} slashed words`);
});

Deno.test("splitDocuments: blank-line blocks, else lines", () => {
  assert.deepEqual(splitDocuments("a\nb\n\n\nc\r\n"), ["a\nb\n\n", "c\n\n"]);
  assert.deepEqual(splitDocuments("\uFEFFa\n\nb"), ["a\n\n", "b\n\n"]);
  assert.deepEqual(splitDocuments("a\nb\n \nx"), ["a\nb\n\n", "x\n\n"]);
  assert.deepEqual(splitDocuments("a\nb\n"), ["a\n", "b\n"]);
});

Deno.test("splitTrainVal: fixed, disjoint, val_fraction of the documents", () => {
  const a = splitTrainVal(500, 0.05);
  assert.equal(a.val.length, 25);
  assert.equal(a.train.length, 475);
  assert.deepEqual([...a.train, ...a.val].sort((x, y) => x - y), Array.from({ length: 500 }, (_, i) => i));
  assert.deepEqual(splitTrainVal(500, 0.05), a);
  // not simply the last documents
  assert.notDeepEqual(a.val, Array.from({ length: 25 }, (_, i) => 475 + i));
  assert.equal(splitTrainVal(3, 0.01).val.length, 1);
  assert.throws(() => splitTrainVal(1, 0.1), isDmodel(/corpus has 1 document/));
});

Deno.test("DataConfigSchema and parseDataConfig: defaults, tokenizer options resolved", () => {
  assert.deepEqual(DataConfigSchema.parse({}), {
    corpus: "brown",
    tokenizer: { name: "bpe" },
    seq_len: 64,
    val_fraction: 0.05,
  });
  assert.deepEqual(parseDataConfig({ corpus: "x.txt", tokenizer: { name: "bpe" } }), {
    corpus: "x.txt",
    tokenizer: { name: "bpe", vocab_size: 1024 },
    seq_len: 64,
    val_fraction: 0.05,
  });
  assert.throws(
    () => parseDataConfig({ tokenizer: { name: "byte", vocab_size: 300 } }),
    isDmodel(/^data\.tokenizer: unknown key\(s\) "vocab_size"$/),
  );
});

Deno.test("prepareData: text corpus is cached, reused without retraining, rebuilt on change", async () => {
  await withTemp(async (tmp) => {
    const corpus = join(tmp, "tiny corpus.txt");
    await Deno.writeTextFile(corpus, syntheticText(60));
    const root = join(tmp, "cache");
    const cfg = { corpus, tokenizer: { name: "bpe", vocab_size: 300 }, val_fraction: 0.1 };
    const lines: string[] = [];
    const a = await prepareData(cfg, { root, log: (s) => lines.push(s) });
    assert.equal(a.reused, false);
    assert.ok(lines.some((l) => l.startsWith("bpe: learned")));
    assert.match(a.key, /^tiny_corpus-bpe300-[0-9a-f]{12}$/);
    assert.equal(a.dir, join(root, a.key));
    assert.equal(a.vocabSize, 300);
    assert.ok(a.train instanceof Uint16Array);
    assert.ok(a.val.length > 100 && a.train.length > 8 * a.val.length);
    // files on disk: shards with llm.c headers, tokenizer, meta
    const trainFile = join(a.dir, "tiny_corpus_train_000000.bin");
    assert.deepEqual(await readShardHeader(trainFile), { version: 1, numTokens: a.train.length });
    assert.deepEqual(await readShard(join(a.dir, "tiny_corpus_val_000000.bin")), a.val);
    const meta = JSON.parse(await Deno.readTextFile(join(a.dir, "meta.json")));
    assert.equal(meta.vocab_size, 300);
    assert.equal(meta.train_tokens, a.train.length);
    assert.equal(meta.val_tokens, a.val.length);
    assert.equal(meta.train_documents + meta.val_documents, 60);
    assert.equal(meta.val_documents, 6);
    // unigram entropy of val, by the formula
    const counts = new Map<number, number>();
    for (const t of a.val) counts.set(t, (counts.get(t) ?? 0) + 1);
    let h = 0;
    for (const c of counts.values()) h -= (c / a.val.length) * Math.log(c / a.val.length);
    assert.ok(Math.abs(meta.val_unigram_entropy - h) < 1e-12);
    assert.equal(a.valUnigramEntropy, meta.val_unigram_entropy);
    // the val split decodes to whole paragraphs of the corpus
    const valText = a.tokenizer!.decode(a.val);
    assert.equal(valText.split("\n\n").filter((p) => p).length, 6);
    assert.ok((await Deno.readTextFile(corpus)).includes(valText.split("\n\n")[0]));

    // second call: reused, nothing trained, files untouched
    const tokStat = await Deno.stat(join(a.dir, "tokenizer.json"));
    lines.length = 0;
    const b = await prepareData({ ...cfg, seq_len: 16 }, { root, log: (s) => lines.push(s) });
    assert.equal(b.reused, true);
    assert.equal(b.key, a.key);
    assert.equal(lines.some((l) => l.startsWith("bpe: learned")), false);
    assert.deepEqual((await Deno.stat(join(a.dir, "tokenizer.json"))).mtime, tokStat.mtime);
    assert.deepEqual(b.train, a.train);
    assert.deepEqual(b.tokenizer!.encode("the cat 🙂"), a.tokenizer!.encode("the cat 🙂"));

    // another tokenizer or changed content: another key, rebuilt
    const c = await prepareData({ ...cfg, tokenizer: { name: "byte" } }, { root });
    assert.equal(c.reused, false);
    assert.notEqual(c.key, a.key);
    assert.equal(c.vocabSize, 256);
    await Deno.writeTextFile(corpus, syntheticText(60, 8));
    const d = await prepareData(cfg, { root });
    assert.equal(d.reused, false);
    assert.notEqual(d.key, a.key);
  });
});

Deno.test("prepareData: a folder of .txt files is read in sorted order", async () => {
  await withTemp(async (tmp) => {
    const folder = join(tmp, "texts");
    await Deno.mkdir(folder);
    await Deno.writeTextFile(join(folder, "b.txt"), "second line one\nsecond line two\n");
    await Deno.writeTextFile(join(folder, "a.txt"), "first line one\nfirst line two\n");
    await Deno.writeTextFile(join(folder, "skip.md"), "not a text file\n");
    const data = await prepareData(
      { corpus: folder, tokenizer: { name: "byte" }, val_fraction: 0.25 },
      { root: join(tmp, "cache") },
    );
    const text = data.tokenizer!.decode(data.train) + "|" + data.tokenizer!.decode(data.val);
    assert.equal(text.includes("not a text"), false);
    const all = ["first line one\n", "first line two\n", "second line one\n", "second line two\n"];
    const trainDocs = all.filter((d) => data.tokenizer!.decode(data.train).includes(d));
    assert.equal(trainDocs.length, 3);
    assert.equal(data.tokenizer!.decode(data.train), trainDocs.join("")); // corpus order kept
  });
});

Deno.test("prepareData: llm.c .bin shards with a hand-built header are read as a corpus", async () => {
  await withTemp(async (tmp) => {
    const write = async (name: string, tokens: number[]) => {
      const bytes = new Uint8Array(HEADER_BYTES + 2 * tokens.length);
      const v = new DataView(bytes.buffer);
      v.setInt32(0, 20240520, true);
      v.setInt32(4, 1, true);
      v.setInt32(8, tokens.length, true);
      tokens.forEach((t, i) => v.setUint16(HEADER_BYTES + 2 * i, t, true));
      await Deno.writeFile(join(tmp, name), bytes);
    };
    const train = Array.from({ length: 500 }, (_, i) => (i * 37) % 1000);
    const val = [0, 1, 1, 2, 2, 2, 2, 3, 999, 3, 3, 3];
    await write("gpt_train_000000.bin", train);
    await write("gpt_val_000000.bin", val);
    const root = join(tmp, "cache");
    for (const corpus of [join(tmp, "gpt_train_000000.bin"), join(tmp, "gpt_val_000000.bin"), tmp]) {
      const d = await prepareData({ corpus }, { root });
      assert.equal(d.tokenizer, null);
      assert.deepEqual([...d.train], train);
      assert.deepEqual([...d.val], val);
      assert.equal(d.vocabSize, 1000); // largest id + 1
      assert.ok(Math.abs(d.valUnigramEntropy - unigramEntropy(val)) < 1e-12);
    }
    const again = await prepareData({ corpus: tmp }, { root });
    assert.equal(again.reused, true);
    await Deno.remove(join(tmp, "gpt_val_000000.bin"));
    await assert.rejects(
      () => prepareData({ corpus: join(tmp, "gpt_train_000000.bin") }, { root }),
      isDmodel(/shard file not found: .*gpt_val_000000\.bin/),
    );
  });
});

Deno.test("prepareData: bad config and missing corpus fail with one clear line", async () => {
  await assert.rejects(
    () => prepareData({ corpus: "/no/such/corpus.txt" }),
    isDmodel(
      /data\.corpus: "\/no\/such\/corpus\.txt" is neither a registered dataset \(known: brown, shards, text\)/,
    ),
  );
  await assert.rejects(() => prepareData({ seq_len: 0 }), isDmodel(/^data\.seq_len: .*\(value: 0\)$/));
  await assert.rejects(
    () => prepareData({ tokenizer: { name: "bpe", vocab_size: 100 } }),
    isDmodel(/^data\.tokenizer\.vocab_size: .*\(value: 100\)$/),
  );
  await assert.rejects(
    () => prepareData({ tokenizer: { name: "wordpiece" } }),
    isDmodel(/unknown tokenizer "wordpiece"; known: .*bpe.*byte/),
  );
  await assert.rejects(
    () => prepareData({ corpus: "text" }),
    isDmodel(/dataset "text" cannot be used by name \(text\.path: .*expected string/),
  );
});

Deno.test("trainBatch: contiguous windows, y = x shifted, determined by (seed, step) only", () => {
  const data = { train: Uint16Array.from({ length: 5000 }, (_, i) => i) };
  const a = trainBatch(data, 3, 4, 16, 42);
  assert.equal(a.x.length, 64);
  for (let r = 0; r < 4; r++) {
    const start = a.x[r * 16];
    for (let t = 0; t < 16; t++) {
      assert.equal(a.x[r * 16 + t], start + t);
      assert.equal(a.y[r * 16 + t], start + t + 1);
    }
    assert.ok(start + 16 < 5000);
  }
  assert.deepEqual(trainBatch(data, 3, 4, 16, 42), a); // same seed and step, same batch
  trainBatch(data, 99, 4, 16, 42); // whatever happened before
  assert.deepEqual(trainBatch(data, 3, 4, 16, 42), a);
  assert.notDeepEqual(trainBatch(data, 4, 4, 16, 42).x, a.x);
  assert.notDeepEqual(trainBatch(data, 3, 4, 16, 43).x, a.x);
  // windows cover the split: offsets spread over [0, n - seqLen - 1]
  const starts: number[] = [];
  for (let s = 0; s < 200; s++) starts.push(trainBatch(data, s, 1, 16, 1).x[0]);
  assert.ok(Math.min(...starts) < 500 && Math.max(...starts) > 4400);
  // the last token can be a target: a split of exactly seq_len + 1 tokens works
  const tiny = { train: Uint16Array.from([1, 2, 3]) };
  assert.deepEqual([...trainBatch(tiny, 0, 2, 2, 0).y], [2, 3, 2, 3]);
  assert.throws(
    () => trainBatch(tiny, 0, 1, 3, 0),
    isDmodel(/train split has 3 tokens, fewer than seq_len \+ 1 = 4/),
  );
});

Deno.test("evalBatches: evenly spaced val windows, identical on every call", () => {
  const data = { val: Uint32Array.from({ length: 1001 }, (_, i) => i) };
  const a = evalBatches(data, 2, 3, 10);
  assert.equal(a.length, 2);
  const starts = a.flatMap((b) => [0, 1, 2].map((r) => b.x[r * 10]));
  assert.deepEqual(starts, [0, 198, 396, 594, 792, 990]); // floor(i * 990 / 5)
  assert.equal(a[1].y[2 * 10 + 9], 1000); // the last val token is used
  assert.deepEqual(evalBatches(data, 2, 3, 10), a);
  assert.throws(
    () => evalBatches({ val: new Uint16Array(10) }, 1, 1, 10),
    isDmodel(/val split has 10 tokens, too few for one window of seq_len \+ 1 = 11/),
  );
});
