import assert from "node:assert/strict";
import { join } from "node:path";
import { DmodelError } from "../engine/core/errors.ts";
import {
  decodeShard,
  encodeShard,
  HEADER_BYTES,
  readShard,
  readShardHeader,
  SHARD_MAGIC,
  shardFileName,
  shardVersionFor,
  writeShard,
} from "../engine/data/shards.ts";

/** A shard built by hand with a DataView, independent of encodeShard. */
function handShard(magic: number, version: number, declared: number, tokens: number[]): Uint8Array {
  const width = version === 2 ? 4 : 2;
  const bytes = new Uint8Array(HEADER_BYTES + tokens.length * width);
  const v = new DataView(bytes.buffer);
  v.setInt32(0, magic, true);
  v.setInt32(4, version, true);
  v.setInt32(8, declared, true);
  tokens.forEach((t, i) =>
    width === 2 ? v.setUint16(HEADER_BYTES + 2 * i, t, true) : v.setUint32(HEADER_BYTES + 4 * i, t, true)
  );
  return bytes;
}

const isDmodel = (re: RegExp) => (e: Error) => e instanceof DmodelError && re.test(e.message);

Deno.test("encodeShard: llm.c header (256 int32 LE) then little-endian tokens, both versions", () => {
  const v1 = encodeShard([1, 258, 65535], 1);
  assert.equal(v1.length, 1024 + 6);
  assert.deepEqual(v1, handShard(SHARD_MAGIC, 1, 3, [1, 258, 65535]));
  assert.deepEqual([...v1.subarray(1024)], [1, 0, 2, 1, 255, 255]);
  const v2 = encodeShard([70000, 0], 2);
  assert.equal(v2.length, 1024 + 8);
  assert.deepEqual(v2, handShard(SHARD_MAGIC, 2, 2, [70000, 0]));
  assert.deepEqual([...v2.subarray(12, 1024)], new Array(1012).fill(0));
  assert.throws(() => encodeShard([65536], 1), /token 65536 at position 0 does not fit a version 1/);
  assert.equal(shardVersionFor(65536), 1);
  assert.equal(shardVersionFor(65537), 2);
  assert.equal(shardFileName("brown", "val"), "brown_val_000000.bin");
});

Deno.test("decodeShard: reads hand-built shards of both versions", () => {
  const a = decodeShard(handShard(SHARD_MAGIC, 1, 4, [5, 6, 7, 65000]), "a.bin");
  assert.ok(a instanceof Uint16Array);
  assert.deepEqual([...a], [5, 6, 7, 65000]);
  const b = decodeShard(handShard(SHARD_MAGIC, 2, 2, [100000, 3]), "b.bin");
  assert.ok(b instanceof Uint32Array);
  assert.deepEqual([...b], [100000, 3]);
  // a view at an odd offset (unaligned) decodes the same
  const src = handShard(SHARD_MAGIC, 1, 2, [9, 10]);
  const padded = new Uint8Array(src.length + 1);
  padded.set(src, 1);
  assert.deepEqual([...decodeShard(padded.subarray(1), "c.bin")], [9, 10]);
});

Deno.test("decodeShard: errors name the file and the bad value", () => {
  assert.throws(
    () => decodeShard(handShard(12345, 1, 1, [1]), "x_train_000000.bin"),
    isDmodel(/^x_train_000000\.bin: bad shard magic 12345 \(expected 20240520\)/),
  );
  assert.throws(
    () => decodeShard(handShard(SHARD_MAGIC, 3, 1, [1]), "v.bin"),
    isDmodel(/^v\.bin: unsupported shard version 3/),
  );
  assert.throws(
    () => decodeShard(handShard(SHARD_MAGIC, 1, 10, [1, 2, 3]), "t.bin"),
    isDmodel(/^t\.bin: truncated shard: header says 10 tokens \(1044 bytes\) but the file has 1030 bytes/),
  );
  assert.throws(
    () => decodeShard(new Uint8Array(100), "h.bin"),
    isDmodel(/^h\.bin: truncated shard: 100 bytes, shorter than the 1024-byte header/),
  );
  assert.throws(
    () => decodeShard(handShard(SHARD_MAGIC, 1, 2, [1, 2, 3]), "o.bin"),
    isDmodel(/^o\.bin: shard has 2 bytes beyond the 2 tokens/),
  );
});

Deno.test("writeShard/readShard: file round-trip, atomic (no temp files left), errors on disk", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p1 = join(dir, "d_train_000000.bin");
    await writeShard(p1, new Uint16Array([3, 1, 4, 1, 5]));
    assert.deepEqual([...(await readShard(p1))], [3, 1, 4, 1, 5]);
    assert.deepEqual(await readShardHeader(p1), { version: 1, numTokens: 5 });
    const p2 = join(dir, "d_val_000000.bin");
    await writeShard(p2, [1, 200000]); // version chosen from the largest id
    assert.deepEqual(await readShardHeader(p2), { version: 2, numTokens: 2 });
    assert.deepEqual([...(await readShard(p2))], [1, 200000]);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names.sort(), ["d_train_000000.bin", "d_val_000000.bin"]);

    const missing = join(dir, "nope_train_000000.bin");
    await assert.rejects(
      () => readShard(missing),
      isDmodel(/shard file not found: .*nope_train_000000\.bin/),
    );
    // truncate the file on disk: both readers report it
    const bytes = await Deno.readFile(p1);
    await Deno.writeFile(p1, bytes.subarray(0, bytes.length - 3));
    await assert.rejects(
      () => readShard(p1),
      isDmodel(/d_train_000000\.bin: truncated shard: header says 5 tokens/),
    );
    await assert.rejects(() => readShardHeader(p1), isDmodel(/d_train_000000\.bin: truncated shard/));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
