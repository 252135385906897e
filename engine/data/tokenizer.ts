/**
 * What a tokenizer component is: a `TokenizerBuilder` (the registry product)
 * that either trains a `Tokenizer` on a corpus or restores one from its saved
 * JSON.
 */

/** Text <-> token ids. Round-trips exactly: decode(encode(s)) === s for any well-formed string. */
export interface Tokenizer {
  /** The component name (`byte`, `bpe`, ...). */
  readonly name: string;
  /** Number of ids the model must embed (ids are 0 .. vocabSize-1). */
  readonly vocabSize: number;
  /** Token ids of a string. */
  encode(text: string): number[];
  /** The string of a sequence of ids (invalid UTF-8 becomes U+FFFD). */
  decode(ids: ArrayLike<number>): string;
  /** A JSON-serializable description that `TokenizerBuilder.load` restores. */
  toJSON(): Record<string, unknown>;
}

/** The registry product of a `tokenizer` component. */
export interface TokenizerBuilder {
  /** The component name. */
  readonly name: string;
  /** Builds a tokenizer from training documents (fixed tokenizers ignore them). */
  train(docs: readonly string[], log?: (line: string) => void): Tokenizer;
  /** Restores a tokenizer saved with `toJSON`; `file` names the source in errors. */
  load(json: unknown, file: string): Tokenizer;
}

declare module "../core/registry.ts" {
  interface Products {
    tokenizer: TokenizerBuilder;
  }
}
