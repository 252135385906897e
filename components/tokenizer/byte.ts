/**
 * The byte tokenizer: one token per UTF-8 byte, vocabulary 256. Nothing to
 * train; round-trips any string exactly.
 */
import { z } from "zod";
import { DmodelError, show } from "../../engine/core/errors.ts";
import { register } from "../../engine/core/registry.ts";
import type { Tokenizer, TokenizerBuilder } from "../../engine/data/tokenizer.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes text as its UTF-8 bytes.
 *
 * @example
 * ```ts
 * const t = new ByteTokenizer();
 * t.encode("hé"); // [104, 195, 169]
 * t.decode([104, 195, 169]); // "hé"
 * ```
 */
export class ByteTokenizer implements Tokenizer {
  readonly name = "byte";
  readonly vocabSize = 256;

  encode(text: string): number[] {
    return Array.from(encoder.encode(text));
  }

  decode(ids: ArrayLike<number>): string {
    const bytes = new Uint8Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const t = ids[i];
      if (!(Number.isInteger(t) && t >= 0 && t < 256)) {
        throw new DmodelError(`byte tokenizer: id ${t} at position ${i} is outside 0..255`);
      }
      bytes[i] = t;
    }
    return decoder.decode(bytes);
  }

  toJSON(): Record<string, unknown> {
    return { type: "byte", vocab_size: 256 };
  }
}

/** Options of the `byte` tokenizer: none. */
export const ByteOptionsSchema = z.strictObject({});

register("tokenizer", "byte", {
  schema: ByteOptionsSchema,
  describe: "UTF-8 bytes, vocabulary 256, no training",
  create: (): TokenizerBuilder => ({
    name: "byte",
    train: () => new ByteTokenizer(),
    load: (json: unknown, file: string) => {
      const j = json as Record<string, unknown> | null;
      if (j?.type !== "byte") {
        throw new DmodelError(`${file}: expected a byte tokenizer, found type ${show(j?.type)}`);
      }
      return new ByteTokenizer();
    },
  }),
});
