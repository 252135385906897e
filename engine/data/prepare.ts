/**
 * Data preparation: `prepareData` turns a data config (corpus + tokenizer +
 * split) into token shards cached under `data/cache/<key>/`; engine/data/batches.ts
 * cuts the training and evaluation windows from them.
 */
import { join, resolve as resolvePath } from "node:path";
import { sha256Hex } from "./corpus.ts";
import type { Corpus, TextCorpus, TokenCorpus } from "./corpus.ts";
import type { Tokenizer, TokenizerBuilder } from "./tokenizer.ts";
import { type DataConfig, type DataConfigInput, DataConfigSchema, notFileOrFolder } from "../core/config.ts";
import { DmodelError, show, zodError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/fs.ts";
import { hashString, mulberry32, shuffleInPlace } from "../core/random.ts";
import { build, has, listComponents, parseNamed } from "../core/registry.ts";
import { readShard, shardFileName, shardVersionFor, type TokenArray, writeShard } from "./shards.ts";

/** Bumped whenever preparation changes in a way that invalidates cached shards. */
export const DATA_FORMAT = 1;

/** Prepared token data, ready for batching. */
export interface PreparedData {
  /** Cache key: `<corpus>-<tokenizer>-<hash>`, the hash covering config and content fingerprint. */
  key: string;
  /** The cache folder holding the shards, `tokenizer.json` and `meta.json`. */
  dir: string;
  /** Ids run 0..vocabSize-1. */
  vocabSize: number;
  /** Token ids of the train split. */
  train: TokenArray;
  /** Token ids of the val split. */
  val: TokenArray;
  /** null for raw `.bin` shards (their tokenizer is unknown). */
  tokenizer: Tokenizer | null;
  /** Unigram entropy of the val tokens in nats, -sum p log p: the loss of a unigram model. */
  valUnigramEntropy: number;
  /** True when the cache was reused (nothing trained or encoded). */
  reused: boolean;
}

/** Options of {@link prepareData}. */
export interface PrepareOptions {
  /** Cache root (default `data/cache`). */
  root?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/**
 * Parses a data config and the options of its tokenizer (defaults filled,
 * so the result is the fully resolved config); errors name the key
 * (`data.seq_len: ...`, `data.tokenizer.vocab_size: ...`).
 *
 * @example
 * ```ts
 * parseDataConfig({ corpus: "brown" });
 * // { corpus: "brown", tokenizer: { name: "bpe", vocab_size: 1024 }, seq_len: 64, val_fraction: 0.05 }
 * ```
 */
export function parseDataConfig(cfg: unknown, prefix = "data"): DataConfig {
  const r = DataConfigSchema.safeParse(cfg ?? {});
  if (!r.success) throw zodError(r.error, [prefix], cfg, DataConfigSchema);
  const { options } = parseNamed("tokenizer", r.data.tokenizer, [prefix, "tokenizer"]);
  return { ...r.data, tokenizer: { name: r.data.tokenizer.name, ...options } };
}

const said = new Set<string>();

/** Says what a cache folder holds once per process (the data stage, then each trial, use the same). */
function once(dir: string, log: (s: string) => void, line: string): void {
  if (said.has(dir)) return;
  said.add(dir);
  log(line);
}

/** A corpus string resolved to a dataset component and its options. */
export interface ResolvedCorpus {
  dataset: string;
  options: Record<string, unknown>;
  corpus: Corpus;
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Resolves `corpus`: a registered dataset name, else a path (`.bin` ->
 * `shards`, folder of shards -> `shards`, file or folder of `.txt` -> `text`).
 *
 * @example
 * ```ts
 * const { dataset } = await resolveCorpus("brown"); // "brown"
 * ```
 */
export async function resolveCorpus(corpus: string): Promise<ResolvedCorpus> {
  const build = (dataset: string, raw: Record<string, unknown>): ResolvedCorpus => {
    let parsed: ReturnType<typeof parseNamed>;
    try {
      parsed = parseNamed("dataset", { name: dataset, ...raw }, [dataset]);
    } catch (e) {
      if (!(e instanceof DmodelError)) throw e;
      throw new DmodelError(
        `data.corpus: dataset ${show(dataset)} cannot be used by name (${e.message}); ` +
          `give a file or folder path as corpus`,
      );
    }
    const { component, options } = parsed;
    return { dataset, options, corpus: component.create(options) as Corpus };
  };
  if (has("dataset", corpus)) return build(corpus, {});
  const info = await statOrNull(corpus);
  if (!info) {
    const known = listComponents("dataset").map((c) => c.name).join(", ");
    throw new DmodelError(
      `data.corpus: ${
        show(corpus)
      } is neither a registered dataset (known: ${known}) nor an existing file or folder`,
    );
  }
  if (!info.isFile && !info.isDirectory) throw new DmodelError(`data.corpus: ${notFileOrFolder(corpus)}`);
  if (info.isFile) {
    return build(corpus.endsWith(".bin") ? "shards" : "text", { path: corpus });
  }
  let txt = false, bin = false;
  for await (const e of Deno.readDir(corpus)) {
    if (!e.isFile) continue;
    if (e.name.toLowerCase().endsWith(".txt")) txt = true;
    if (/_(train|val)_\d+\.bin$/.test(e.name)) bin = true;
  }
  if (txt) return build("text", { path: corpus });
  if (bin) return build("shards", { path: corpus });
  throw new DmodelError(
    `data.corpus: folder ${corpus} holds neither .txt files nor <name>_train_000000.bin shards`,
  );
}

/**
 * The deterministic train/val split of `n` documents: a fixed shuffle
 * (mulberry32 seeded by a constant), the last round(valFraction * n) (at
 * least 1) documents go to val; both keep corpus order. Identical on every
 * machine.
 *
 * @example
 * ```ts
 * const { train, val } = splitTrainVal(500, 0.05); // 475 and 25 document indices
 * ```
 */
export function splitTrainVal(n: number, valFraction: number): { train: number[]; val: number[] } {
  if (n < 2) {
    throw new DmodelError(
      `corpus has ${n} document(s); at least 2 are needed to split train and val (separate documents with blank lines or put one per line)`,
    );
  }
  const nVal = Math.min(n - 1, Math.max(1, Math.round(valFraction * n)));
  const order = shuffleInPlace(
    Array.from({ length: n }, (_, i) => i),
    mulberry32(hashString("dmodel/train-val-split")),
  );
  const asc = (a: number, b: number) => a - b;
  return { train: order.slice(0, n - nVal).sort(asc), val: order.slice(n - nVal).sort(asc) };
}

/**
 * Unigram entropy in nats, -sum_v p_v log p_v with p_v the frequency of id v.
 *
 * @example
 * ```ts
 * unigramEntropy(new Uint16Array([0, 1, 0, 1])); // Math.log(2)
 * ```
 */
export function unigramEntropy(tokens: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < tokens.length; i++) counts.set(tokens[i], (counts.get(tokens[i]) ?? 0) + 1);
  const n = tokens.length;
  let h = 0;
  for (const c of counts.values()) h -= (c / n) * Math.log(c / n);
  return h;
}

/** A growable uint32 buffer for encoded tokens. */
class TokenBuffer {
  data = new Uint32Array(1 << 16);
  length = 0;
  push(ids: number[]): void {
    if (this.length + ids.length > this.data.length) {
      let cap = this.data.length * 2;
      while (cap < this.length + ids.length) cap *= 2;
      const d = new Uint32Array(cap);
      d.set(this.data.subarray(0, this.length));
      this.data = d;
    }
    this.data.set(ids, this.length);
    this.length += ids.length;
  }
  finish(vocabSize: number): TokenArray {
    const t = this.data.subarray(0, this.length);
    return shardVersionFor(vocabSize) === 1 ? Uint16Array.from(t) : t.slice();
  }
}

interface Meta {
  format: number;
  key: string;
  corpus: { dataset: string; options: Record<string, unknown>; source: string };
  fingerprint: string;
  tokenizer: Record<string, unknown> | null;
  val_fraction: number;
  vocab_size: number;
  train_tokens: number;
  val_tokens: number;
  train_documents?: number;
  val_documents?: number;
  val_unigram_entropy: number;
  files: { train: string[]; val: string[]; tokenizer?: string };
  prepare_seconds: number;
  created: string;
}

async function readMeta(file: string): Promise<Meta | null> {
  try {
    return JSON.parse(await Deno.readTextFile(file)) as Meta;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof SyntaxError) return null;
    throw e;
  }
}

async function cacheKey(prefix: string, material: unknown): Promise<string> {
  return `${prefix}-${(await sha256Hex(JSON.stringify(material))).slice(0, 12)}`;
}

/**
 * Prepares a data config: resolves the corpus, trains the tokenizer on the
 * train documents, encodes both splits and writes
 * `<root>/<key>/{<name>_train_000000.bin, <name>_val_000000.bin,
 * tokenizer.json, meta.json}` (each written atomically, meta.json last). A
 * later call with the same config and unchanged source reuses the cache
 * (`reused: true`). `.bin` shard corpora are read in place; only meta.json
 * is cached.
 *
 * @example
 * ```ts
 * const data = await prepareData({ corpus: "brown", tokenizer: { name: "bpe", vocab_size: 1024 } });
 * console.log(data.vocabSize, data.train.length, data.valUnigramEntropy);
 * ```
 */
export async function prepareData(
  cfg: DataConfigInput | DataConfig,
  opts: PrepareOptions = {},
): Promise<PreparedData> {
  const config = parseDataConfig(cfg);
  const root = opts.root ?? "data/cache";
  const log = opts.log ?? (() => {});
  const resolved = await resolveCorpus(config.corpus);
  if (resolved.corpus.type === "tokens") {
    return await prepareShards(resolved, resolved.corpus, config, root, log);
  }
  return await prepareText(resolved, resolved.corpus, config, root, log);
}

async function prepareShards(
  resolved: ResolvedCorpus,
  corpus: TokenCorpus,
  config: DataConfig,
  root: string,
  log: (s: string) => void,
): Promise<PreparedData> {
  const fingerprint = await corpus.fingerprint();
  const key = await cacheKey(`${corpus.name}-shards`, {
    format: DATA_FORMAT,
    dataset: resolved.dataset,
    path: resolvePath(corpus.source),
    vocab_size: corpus.vocabSize ?? null,
    fingerprint,
  });
  const dir = join(root, key);
  const { train, val, trainFiles, valFiles } = await corpus.load();
  let max = -1;
  for (const t of [train, val]) for (let i = 0; i < t.length; i++) if (t[i] > max) max = t[i];
  const vocabSize = corpus.vocabSize ?? max + 1;
  if (max >= vocabSize) {
    throw new DmodelError(
      `${corpus.source}: token id ${max} is outside vocab_size ${vocabSize}`,
    );
  }
  const metaFile = join(dir, "meta.json");
  const old = await readMeta(metaFile);
  if (old && old.fingerprint === fingerprint && old.format === DATA_FORMAT) {
    once(
      dir,
      log,
      `data: reusing ${dir} (${corpus.source}: ${train.length} train, ${val.length} val tokens, vocab ${vocabSize})`,
    );
    return {
      key,
      dir,
      vocabSize,
      train,
      val,
      tokenizer: null,
      valUnigramEntropy: old.val_unigram_entropy,
      reused: true,
    };
  }
  const t0 = performance.now();
  const valUnigramEntropy = unigramEntropy(val);
  const meta: Meta = {
    format: DATA_FORMAT,
    key,
    corpus: { dataset: resolved.dataset, options: resolved.options, source: corpus.source },
    fingerprint,
    tokenizer: null,
    val_fraction: config.val_fraction,
    vocab_size: vocabSize,
    train_tokens: train.length,
    val_tokens: val.length,
    val_unigram_entropy: valUnigramEntropy,
    files: { train: trainFiles.map((f) => resolvePath(f)), val: valFiles.map((f) => resolvePath(f)) },
    prepare_seconds: (performance.now() - t0) / 1000,
    created: new Date().toISOString(),
  };
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(metaFile, JSON.stringify(meta, null, 2) + "\n");
  once(
    dir,
    log,
    `data: ${corpus.source}: ${train.length} train, ${val.length} val tokens, vocab ${vocabSize}`,
  );
  return { key, dir, vocabSize, train, val, tokenizer: null, valUnigramEntropy, reused: false };
}

function tokenizerBuilder(config: DataConfig): {
  builder: TokenizerBuilder;
  options: Record<string, unknown>;
} {
  const { name, ...options } = config.tokenizer; // validated by parseDataConfig
  const builder = build("tokenizer", { name, ...options }, ["data", "tokenizer"]);
  return { builder, options: { name, ...options } };
}

async function loadCached(
  dir: string,
  meta: Meta,
  builder: TokenizerBuilder,
): Promise<{ tokenizer: Tokenizer; train: TokenArray; val: TokenArray }> {
  const tokFile = join(dir, meta.files.tokenizer ?? "tokenizer.json");
  const tokenizer = builder.load(JSON.parse(await Deno.readTextFile(tokFile)), tokFile);
  const train = await readShard(join(dir, meta.files.train[0]));
  const val = await readShard(join(dir, meta.files.val[0]));
  if (train.length !== meta.train_tokens || val.length !== meta.val_tokens) {
    throw new DmodelError(`${dir}: shard sizes disagree with meta.json`);
  }
  return { tokenizer, train, val };
}

/** A text corpus tokenized into the cache: reused when its meta.json matches the key, else built. */
async function prepareText(
  resolved: ResolvedCorpus,
  corpus: TextCorpus,
  config: DataConfig,
  root: string,
  log: (s: string) => void,
): Promise<PreparedData> {
  const { builder, options: tokOptions } = tokenizerBuilder(config);
  const fingerprint = await corpus.fingerprint();
  const tokTag = `${tokOptions.name}${tokOptions.vocab_size ?? ""}`;
  // seq_len is left out: windows are cut at batch time from the same shards.
  const key = await cacheKey(`${corpus.name}-${tokTag}`, {
    format: DATA_FORMAT,
    dataset: resolved.dataset,
    tokenizer: tokOptions,
    val_fraction: config.val_fraction,
    fingerprint,
  });
  const dir = join(root, key);
  const cached = await reuseText(dir, key, builder, log);
  if (cached) return cached;
  log(`data: preparing ${corpus.source} with tokenizer ${tokTag} into ${dir}`);
  return await buildText({ resolved, corpus, config, key, dir, builder, tokOptions, fingerprint }, log);
}

/** The cached build in `dir` when its meta.json has this key and format and its files are whole; else null. */
async function reuseText(
  dir: string,
  key: string,
  builder: TokenizerBuilder,
  log: (s: string) => void,
): Promise<PreparedData | null> {
  const old = await readMeta(join(dir, "meta.json"));
  if (!old || old.key !== key || old.format !== DATA_FORMAT) return null;
  try {
    const { tokenizer, train, val } = await loadCached(dir, old, builder);
    once(
      dir,
      log,
      `data: reusing ${dir} (${train.length} train, ${val.length} val tokens, vocab ${old.vocab_size})`,
    );
    return {
      key,
      dir,
      vocabSize: old.vocab_size,
      train,
      val,
      tokenizer,
      valUnigramEntropy: old.val_unigram_entropy,
      reused: true,
    };
  } catch (e) {
    if (!(e instanceof DmodelError)) throw e;
    log(`data: cache ${dir} is damaged (${e.message}); rebuilding`);
    return null;
  }
}

/** What {@link buildText} builds: a corpus, its tokenizer and where the build goes. */
interface TextBuild {
  resolved: ResolvedCorpus;
  corpus: TextCorpus;
  config: DataConfig;
  key: string;
  dir: string;
  builder: TokenizerBuilder;
  tokOptions: Record<string, unknown>;
  fingerprint: string;
}

/**
 * Splits the documents into train and val, trains the tokenizer on train, encodes both, and
 * writes the shards, tokenizer.json and meta.json into the build's directory.
 */
async function buildText(b: TextBuild, log: (s: string) => void): Promise<PreparedData> {
  const { corpus, config, key, dir } = b;
  const t0 = performance.now();
  const docs = await corpus.documents();
  const split = splitTrainVal(docs.length, config.val_fraction);
  const trainDocs = split.train.map((i) => docs[i]);
  const valDocs = split.val.map((i) => docs[i]);
  const tokenizer = b.builder.train(trainDocs, log);
  const vocabSize = tokenizer.vocabSize;
  const encode = (ds: string[]) => {
    const buf = new TokenBuffer();
    for (const d of ds) buf.push(tokenizer.encode(d));
    return buf.finish(vocabSize);
  };
  const train = encode(trainDocs);
  const val = encode(valDocs);
  const valUnigramEntropy = unigramEntropy(val);

  await Deno.mkdir(dir, { recursive: true });
  const files = {
    train: [shardFileName(corpus.name, "train")],
    val: [shardFileName(corpus.name, "val")],
    tokenizer: "tokenizer.json",
  };
  const version = shardVersionFor(vocabSize);
  await writeShard(join(dir, files.train[0]), train, version);
  await writeShard(join(dir, files.val[0]), val, version);
  await writeFileAtomic(join(dir, files.tokenizer), JSON.stringify(tokenizer.toJSON()) + "\n");
  const seconds = (performance.now() - t0) / 1000;
  const meta: Meta = {
    format: DATA_FORMAT,
    key,
    corpus: { dataset: b.resolved.dataset, options: b.resolved.options, source: corpus.source },
    fingerprint: b.fingerprint,
    tokenizer: b.tokOptions,
    val_fraction: config.val_fraction,
    vocab_size: vocabSize,
    train_tokens: train.length,
    val_tokens: val.length,
    train_documents: trainDocs.length,
    val_documents: valDocs.length,
    val_unigram_entropy: valUnigramEntropy,
    files,
    prepare_seconds: seconds,
    created: new Date().toISOString(),
  };
  await writeFileAtomic(join(dir, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
  once(
    dir,
    log,
    `data: ${dir}: ${train.length} train / ${val.length} val tokens (${trainDocs.length} / ${valDocs.length} documents), vocab ${vocabSize}, val unigram entropy ${
      valUnigramEntropy.toFixed(4)
    } nats, ${seconds.toFixed(1)} s`,
  );
  return { key, dir, vocabSize, train, val, tokenizer, valUnigramEntropy, reused: false };
}
