/**
 * A user's text corpus: one UTF-8 file, or a folder of `.txt` files read in
 * sorted name order. Documents are blocks separated by blank lines; a file
 * without blank lines has one document per line.
 */
import { basename, extname, join } from "node:path";
import { z } from "zod";
import { DmodelError } from "../../engine/core/errors.ts";
import { register } from "../../engine/core/registry.ts";
import { sha256Hex, type TextCorpus } from "../../engine/data/corpus.ts";

/**
 * Splits text into documents: blocks separated by blank lines (each ending
 * "\n\n"), or, when there is no blank line, non-empty lines (each ending "\n").
 *
 * @example
 * ```ts
 * splitDocuments("a\nb\n\nc\n"); // ["a\nb\n\n", "c\n\n"]
 * splitDocuments("a\nb\n"); // ["a\n", "b\n"]
 * ```
 */
export function splitDocuments(text: string): string[] {
  const t = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  if (/\n[ \t]*\n/.test(t.trim())) {
    return t.split(/\n(?:[ \t]*\n)+/).map((b) => b.replace(/^\n+|\n+$/g, ""))
      .filter((b) => b.trim().length > 0).map((b) => b + "\n\n");
  }
  return t.split("\n").filter((l) => l.trim().length > 0).map((l) => l + "\n");
}

async function statOrFail(path: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DmodelError(`corpus path not found: ${path}`);
    }
    throw e;
  }
}

/**
 * The files of a text corpus: the file itself, or a folder's `.txt` files
 * sorted by name (code-point order, the same on every machine).
 */
export async function textFiles(path: string): Promise<string[]> {
  const info = await statOrFail(path);
  if (info.isFile) return [path];
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) {
    if (e.isFile && e.name.toLowerCase().endsWith(".txt")) names.push(e.name);
  }
  if (names.length === 0) throw new DmodelError(`corpus folder has no .txt files: ${path}`);
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names.map((n) => join(path, n));
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new DmodelError(`${file}: not valid UTF-8 text`);
  }
}

/** A shard-name-safe stem of a path ("my corpus.txt" -> "my_corpus"). */
export function corpusName(path: string): string {
  const stem = basename(path.replace(/[\\/]+$/, ""), extname(path));
  return stem.replace(/[^A-Za-z0-9.-]+/g, "_").replace(/^_+|_+$/g, "") || "corpus";
}

/** A text corpus at `path` (a UTF-8 file, or a folder of `.txt` files). */
export function textCorpus(path: string): TextCorpus {
  return {
    type: "text",
    name: corpusName(path),
    source: path,
    async fingerprint() {
      // Content hash: the key is the same on every machine holding the same text.
      const parts: string[] = [];
      for (const f of await textFiles(path)) {
        parts.push(`${basename(f)}:${await sha256Hex(await Deno.readFile(f))}`);
      }
      return await sha256Hex(parts.join("\n"));
    },
    async documents() {
      const docs: string[] = [];
      for (const f of await textFiles(path)) {
        docs.push(...splitDocuments(decodeUtf8(await Deno.readFile(f), f)));
      }
      return docs;
    },
  };
}

/** Options of the `text` dataset. */
export const TextOptionsSchema = z.strictObject({
  /** A UTF-8 text file, or a folder of `.txt` files. */
  path: z.string().min(1),
});

register("dataset", "text", {
  schema: TextOptionsSchema,
  describe: "a UTF-8 text file or a folder of .txt files (documents split at blank lines)",
  create: (opts: z.infer<typeof TextOptionsSchema>) => textCorpus(opts.path),
});
