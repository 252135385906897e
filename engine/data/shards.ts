/**
 * Token shards in the llm.c / modded-nanogpt layout (docs/reference.md section 8):
 * a header of 256 little-endian int32, [0] magic 20240520, [1] version
 * (1 = uint16 tokens, 2 = uint32 tokens), [2] number of tokens; then the
 * tokens, little-endian. Files are named `<name>_train_000000.bin` and
 * `<name>_val_000000.bin`, and are readable by the Python ecosystem as is.
 */
import { DmodelError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/fs.ts";

/** The magic number in word 0 of every shard header. */
export const SHARD_MAGIC = 20240520;
/** Header size in int32 words. */
export const HEADER_WORDS = 256;
/** Header size in bytes. */
export const HEADER_BYTES = HEADER_WORDS * 4;

/** A split's tokens: uint16 (shard version 1) or uint32 (version 2). */
export type TokenArray = Uint16Array | Uint32Array;

/** What a shard header says. */
export interface ShardHeader {
  /** 1 = uint16 tokens, 2 = uint32 tokens. */
  version: 1 | 2;
  /** Number of tokens after the header. */
  numTokens: number;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The shard version able to hold ids below `vocabSize`: 1 (uint16) when
 * vocabSize <= 65536, else 2 (uint32).
 *
 * @example
 * ```ts
 * shardVersionFor(1024); // 1
 * ```
 */
export function shardVersionFor(vocabSize: number): 1 | 2 {
  return vocabSize <= 65536 ? 1 : 2;
}

/**
 * Serializes tokens into shard bytes (header + tokens).
 * Throws when a token does not fit the version's width.
 *
 * @example
 * ```ts
 * const bytes = encodeShard(new Uint16Array([1, 2, 3]), 1); // 1024 + 6 bytes
 * ```
 */
export function encodeShard(tokens: ArrayLike<number>, version: 1 | 2): Uint8Array {
  const width = version === 1 ? 2 : 4;
  const n = tokens.length;
  const bytes = new Uint8Array(HEADER_BYTES + n * width);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, SHARD_MAGIC, true);
  view.setInt32(4, version, true);
  view.setInt32(8, n, true);
  const max = version === 1 ? 0xffff : 0xffffffff;
  for (let i = 0; i < n; i++) {
    const t = tokens[i];
    if (!(Number.isInteger(t) && t >= 0 && t <= max)) {
      throw new DmodelError(
        `token ${t} at position ${i} does not fit a version ${version} shard (${
          version === 1 ? "uint16" : "uint32"
        })`,
      );
    }
    if (version === 1) view.setUint16(HEADER_BYTES + 2 * i, t, true);
    else view.setUint32(HEADER_BYTES + 4 * i, t, true);
  }
  return bytes;
}

/**
 * Reads and checks a shard header. `file` names the shard in error messages.
 *
 * @example
 * ```ts
 * const { version, numTokens } = decodeShardHeader(bytes, "x_train_000000.bin");
 * ```
 */
export function decodeShardHeader(bytes: Uint8Array, file: string): ShardHeader {
  if (bytes.length < HEADER_BYTES) {
    throw new DmodelError(
      `${file}: truncated shard: ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const magic = view.getInt32(0, true);
  if (magic !== SHARD_MAGIC) {
    throw new DmodelError(
      `${file}: bad shard magic ${magic} (expected ${SHARD_MAGIC}); not an llm.c token shard`,
    );
  }
  const version = view.getInt32(4, true);
  if (version !== 1 && version !== 2) {
    throw new DmodelError(
      `${file}: unsupported shard version ${version} (expected 1 = uint16 tokens or 2 = uint32 tokens)`,
    );
  }
  const numTokens = view.getInt32(8, true);
  if (numTokens < 0) {
    throw new DmodelError(`${file}: bad token count ${numTokens} in shard header`);
  }
  return { version, numTokens };
}

/**
 * Parses shard bytes into tokens. `file` names the shard in error messages
 * (bad magic, bad version, truncated or oversized file).
 *
 * @example
 * ```ts
 * const tokens = decodeShard(encodeShard([5, 6], 2), "t.bin"); // Uint32Array [5, 6]
 * ```
 */
export function decodeShard(bytes: Uint8Array, file: string): TokenArray {
  const { version, numTokens } = decodeShardHeader(bytes, file);
  const width = version === 1 ? 2 : 4;
  const expected = HEADER_BYTES + numTokens * width;
  if (bytes.length < expected) {
    throw new DmodelError(
      `${file}: truncated shard: header says ${numTokens} tokens (${expected} bytes) but the file has ${bytes.length} bytes`,
    );
  }
  if (bytes.length > expected) {
    throw new DmodelError(
      `${file}: shard has ${
        bytes.length - expected
      } bytes beyond the ${numTokens} tokens its header declares`,
    );
  }
  const start = bytes.byteOffset + HEADER_BYTES;
  if (LITTLE_ENDIAN && start % width === 0) {
    // Copy so the result owns a compact buffer (and the file bytes can go).
    const body = bytes.buffer.slice(start, start + numTokens * width);
    return version === 1 ? new Uint16Array(body) : new Uint32Array(body);
  }
  const view = new DataView(bytes.buffer, start, numTokens * width);
  if (version === 1) {
    const out = new Uint16Array(numTokens);
    for (let i = 0; i < numTokens; i++) out[i] = view.getUint16(2 * i, true);
    return out;
  }
  const out = new Uint32Array(numTokens);
  for (let i = 0; i < numTokens; i++) out[i] = view.getUint32(4 * i, true);
  return out;
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DmodelError(`shard file not found: ${path}`);
    }
    throw e;
  }
}

/**
 * Reads a shard file. Missing file, bad magic or version, and a size that
 * disagrees with the header all fail with a DmodelError naming the file.
 *
 * @example
 * ```ts
 * const train = await readShard("data/cache/k/brown_train_000000.bin");
 * ```
 */
export async function readShard(path: string): Promise<TokenArray> {
  return decodeShard(await readBytes(path), path);
}

/**
 * Reads only a shard's header (first 1024 bytes) and checks the file size.
 *
 * @example
 * ```ts
 * const { numTokens } = await readShardHeader("x_val_000000.bin");
 * ```
 */
export async function readShardHeader(path: string): Promise<ShardHeader> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DmodelError(`shard file not found: ${path}`);
    }
    throw e;
  }
  try {
    const head = new Uint8Array(HEADER_BYTES);
    let got = 0;
    while (got < HEADER_BYTES) {
      const n = await file.read(head.subarray(got));
      if (n === null) break;
      got += n;
    }
    const header = decodeShardHeader(head.subarray(0, got), path);
    const size = (await file.stat()).size;
    const expected = HEADER_BYTES + header.numTokens * (header.version === 1 ? 2 : 4);
    if (size !== expected) {
      throw new DmodelError(
        `${path}: ${
          size < expected ? "truncated shard" : "oversized shard"
        }: header says ${header.numTokens} tokens (${expected} bytes) but the file has ${size} bytes`,
      );
    }
    return header;
  } finally {
    file.close();
  }
}

/**
 * Writes tokens as a shard file, atomically. The version defaults to the
 * narrowest that holds the largest token.
 *
 * @example
 * ```ts
 * await writeShard("data/x_train_000000.bin", new Uint16Array([1, 2, 3]));
 * ```
 */
export async function writeShard(
  path: string,
  tokens: ArrayLike<number>,
  version?: 1 | 2,
): Promise<void> {
  let v = version;
  if (v === undefined) {
    let max = 0;
    for (let i = 0; i < tokens.length; i++) if (tokens[i] > max) max = tokens[i];
    v = shardVersionFor(max + 1);
  }
  await writeFileAtomic(path, encodeShard(tokens, v));
}

/**
 * The llm.c file name of shard `index` of a split.
 *
 * @example
 * ```ts
 * shardFileName("brown", "train"); // "brown_train_000000.bin"
 * ```
 */
export function shardFileName(name: string, split: "train" | "val", index = 0): string {
  return `${name}_${split}_${String(index).padStart(6, "0")}.bin`;
}
