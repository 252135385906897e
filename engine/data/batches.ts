/**
 * Batching: `trainBatch` and `evalBatches` cut deterministic windows from
 * prepared token data (engine/data/prepare.ts), independent of the model
 * and of anything that ran before (so a resumed run sees the same batches).
 */
import { DmodelError, show } from "../core/errors.ts";
import { combineSeeds, mulberry32 } from "../core/random.ts";
import type { TokenArray } from "./shards.ts";

/** One batch: `x` and its next-token targets `y`, each batchSize * seqLen ids, row-major. */
export interface Batch {
  /** Input token ids, batchSize * seqLen, row-major. */
  x: Int32Array;
  /** Next-token targets: y[i] is the token after x[i]. */
  y: Int32Array;
}

function checkShape(batchSize: number, seqLen: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new DmodelError(`batch_size must be a positive integer, got ${show(batchSize)}`);
  }
  if (!Number.isInteger(seqLen) || seqLen < 1) {
    throw new DmodelError(`seq_len must be a positive integer, got ${show(seqLen)}`);
  }
}

function fillWindow(tokens: TokenArray, start: number, row: number, seqLen: number, b: Batch) {
  const o = row * seqLen;
  for (let t = 0; t < seqLen; t++) {
    b.x[o + t] = tokens[start + t];
    b.y[o + t] = tokens[start + t + 1];
  }
}

/**
 * Training batch number `step`: batchSize windows of seqLen + 1 tokens at
 * uniformly random offsets of the train split, drawn from mulberry32 seeded
 * by (seed, step) only, so batch k is the same whatever ran before.
 *
 * @example
 * ```ts
 * const { x, y } = trainBatch(data, 0, 16, 64, 1234); // y[i] is the token after x[i]
 * ```
 */
export function trainBatch(
  data: { train: TokenArray },
  step: number,
  batchSize: number,
  seqLen: number,
  seed: number,
): Batch {
  checkShape(batchSize, seqLen);
  const n = data.train.length;
  if (n < seqLen + 1) {
    throw new DmodelError(
      `train split has ${n} tokens, fewer than seq_len + 1 = ${
        seqLen + 1
      }; use a larger corpus or a shorter seq_len`,
    );
  }
  const rand = mulberry32(combineSeeds(seed, step));
  const starts = n - seqLen; // valid offsets 0 .. n - seqLen - 1
  const b: Batch = {
    x: new Int32Array(batchSize * seqLen),
    y: new Int32Array(batchSize * seqLen),
  };
  for (let r = 0; r < batchSize; r++) {
    fillWindow(data.train, Math.floor(rand() * starts), r, seqLen, b);
  }
  return b;
}

/**
 * The fixed evaluation set: nBatches * batchSize windows evenly spaced over
 * the val split (no randomness), identical for every trial with the same
 * data. Fails when the val split is shorter than seqLen + 1.
 *
 * @example
 * ```ts
 * const batches = evalBatches(data, 4, 16, 64); // 4 batches of 16 windows
 * ```
 */
export function evalBatches(
  data: { val: TokenArray },
  nBatches: number,
  batchSize: number,
  seqLen: number,
): Batch[] {
  checkShape(batchSize, seqLen);
  if (!Number.isInteger(nBatches) || nBatches < 1) {
    throw new DmodelError(`number of eval batches must be a positive integer, got ${show(nBatches)}`);
  }
  const n = data.val.length;
  if (n < seqLen + 1) {
    throw new DmodelError(
      `val split has ${n} tokens, too few for one window of seq_len + 1 = ${
        seqLen + 1
      }; raise data.val_fraction, use a larger corpus, or lower seq_len`,
    );
  }
  const windows = nBatches * batchSize;
  const maxStart = n - seqLen - 1;
  const out: Batch[] = [];
  for (let k = 0; k < nBatches; k++) {
    const b: Batch = {
      x: new Int32Array(batchSize * seqLen),
      y: new Int32Array(batchSize * seqLen),
    };
    for (let r = 0; r < batchSize; r++) {
      const i = k * batchSize + r;
      const start = windows === 1 ? 0 : Math.floor((i * maxStart) / (windows - 1));
      fillWindow(data.val, start, r, seqLen, b);
    }
    out.push(b);
  }
  return out;
}
