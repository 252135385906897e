/**
 * Token shards made elsewhere (llm.c / modded-nanogpt layout, e.g. GPT-2
 * tokenized FineWeb): `<name>_train_NNNNNN.bin` and `<name>_val_NNNNNN.bin`.
 * The path is one shard file (its train/val partner is found by name) or a
 * folder holding them; each split's shards are concatenated in name order.
 */
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { DmodelError } from "../../engine/core/errors.ts";
import { register } from "../../engine/core/registry.ts";
import { readShard, type TokenArray } from "../../engine/data/shards.ts";
import type { TokenCorpus } from "../../engine/data/corpus.ts";

const SHARD_NAME = /^(.*)_(train|val)_(\d+)\.bin$/;

function concat(parts: TokenArray[]): TokenArray {
  if (parts.length === 1) return parts[0];
  const n = parts.reduce((s, p) => s + p.length, 0);
  const wide = parts.some((p) => p instanceof Uint32Array);
  const out = wide ? new Uint32Array(n) : new Uint16Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function fileInfo(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Finds the train and val shard files for a path: a shard file (its partner
 * found by swapping `_train_` / `_val_`) or a folder of shards.
 *
 * @example
 * ```ts
 * await findShards("data/fineweb_train_000001.bin");
 * // { name: "fineweb", train: [".../fineweb_train_000001.bin"], val: [".../fineweb_val_000000.bin"] }
 * ```
 */
export async function findShards(
  path: string,
): Promise<{ name: string; train: string[]; val: string[] }> {
  const info = await fileInfo(path);
  if (!info) throw new DmodelError(`shard file not found: ${path}`);
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  if (info.isDirectory) {
    const found: Record<string, { train: string[]; val: string[] }> = {};
    for await (const e of Deno.readDir(path)) {
      const m = e.isFile ? SHARD_NAME.exec(e.name) : null;
      if (!m) continue;
      found[m[1]] ??= { train: [], val: [] };
      found[m[1]][m[2] as "train" | "val"].push(join(path, e.name));
    }
    const names = Object.keys(found).sort(byName);
    if (names.length !== 1) {
      throw new DmodelError(
        names.length === 0
          ? `no <name>_train_000000.bin / <name>_val_000000.bin shards in folder ${path}`
          : `folder ${path} holds shards of several names (${names.join(", ")}); name one shard file instead`,
      );
    }
    const { train, val } = found[names[0]];
    if (train.length === 0) throw new DmodelError(`no ${names[0]}_train_*.bin shard in ${path}`);
    if (val.length === 0) throw new DmodelError(`no ${names[0]}_val_*.bin shard in ${path}`);
    return { name: names[0], train: train.sort(byName), val: val.sort(byName) };
  }
  const m = SHARD_NAME.exec(basename(path));
  if (!m) {
    throw new DmodelError(
      `${path}: shard files must be named <name>_train_000000.bin or <name>_val_000000.bin`,
    );
  }
  const dir = dirname(path);
  const other = m[2] === "train" ? "val" : "train";
  const partner = join(dir, `${m[1]}_${other}_${"0".repeat(m[3].length)}.bin`);
  if (!(await fileInfo(partner))) {
    throw new DmodelError(`shard file not found: ${partner} (the ${other} partner of ${path})`);
  }
  return m[2] === "train"
    ? { name: m[1], train: [path], val: [partner] }
    : { name: m[1], train: [partner], val: [path] };
}

/** A corpus of ready-made token shards at `path` (see {@link findShards}). */
export function shardsCorpus(path: string, vocabSize?: number): TokenCorpus {
  const m = SHARD_NAME.exec(basename(path));
  return {
    type: "tokens",
    name: m ? m[1] : basename(path.replace(/[\\/]+$/, "")),
    source: path,
    vocabSize,
    async fingerprint() {
      const { train, val } = await findShards(path);
      const parts: string[] = [];
      for (const f of [...train, ...val]) {
        const s = await fileInfo(f);
        if (!s) throw new DmodelError(`shard file not found: ${f}`);
        parts.push(`${basename(f)}:${s.size}:${s.mtime?.getTime() ?? 0}`);
      }
      return parts.join(";");
    },
    async load() {
      const { train, val } = await findShards(path);
      const read = async (fs: string[]) => {
        const parts: TokenArray[] = [];
        for (const f of fs) parts.push(await readShard(f));
        return concat(parts);
      };
      return { train: await read(train), val: await read(val), trainFiles: train, valFiles: val };
    },
  };
}

/** Options of the `shards` dataset. */
export const ShardsOptionsSchema = z.strictObject({
  /** A `<name>_train_000000.bin` / `<name>_val_000000.bin` file, or their folder. */
  path: z.string().min(1),
  /** Vocabulary size of the tokens (default: largest id + 1). */
  vocab_size: z.int().positive().optional(),
});

register("dataset", "shards", {
  schema: ShardsOptionsSchema,
  describe: "llm.c token shards (<name>_train_000000.bin + <name>_val_000000.bin), no tokenizer",
  create: (opts: z.infer<typeof ShardsOptionsSchema>) => shardsCorpus(opts.path, opts.vocab_size),
});
