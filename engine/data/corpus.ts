/**
 * What a dataset component produces: a corpus, either text (tokenized by the
 * configured tokenizer when data is prepared) or ready-made token shards.
 */
import type { TokenArray } from "./shards.ts";

/** A text corpus: an ordered list of documents. */
export interface TextCorpus {
  readonly type: "text";
  /** Short name used in shard file names (`<name>_train_000000.bin`). */
  readonly name: string;
  /** Where the text comes from (a path, or a package and version). */
  readonly source: string;
  /** A string that changes whenever the content changes (content hash, or package version). */
  fingerprint(): Promise<string>;
  /** The documents in a fixed order; each ends with its separator ("\n" or "\n\n"). */
  documents(): Promise<string[]>;
}

/** Token shards made elsewhere (llm.c layout), used as they are: no tokenizer. */
export interface TokenCorpus {
  readonly type: "tokens";
  /** The shard name prefix. */
  readonly name: string;
  /** The path given by the user. */
  readonly source: string;
  /** Vocabulary size given by the user, or undefined to use max id + 1. */
  readonly vocabSize?: number;
  /** Names, sizes and modification times of the shard files. */
  fingerprint(): Promise<string>;
  /** Reads the shards (each split's shards concatenated in name order). */
  load(): Promise<{ train: TokenArray; val: TokenArray; trainFiles: string[]; valFiles: string[] }>;
}

/** The product of a `dataset` component. */
export type Corpus = TextCorpus | TokenCorpus;

/**
 * SHA-256 of bytes or a string, as lowercase hex.
 *
 * @example
 * ```ts
 * await sha256Hex("abc"); // "ba7816bf..."
 * ```
 */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

declare module "../core/registry.ts" {
  interface Products {
    dataset: Corpus;
  }
}
