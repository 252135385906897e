/**
 * A deterministic synthetic translation task for the layer-wise
 * coordination study (He et al., NeurIPS 2018; docs/reference.md section 7).
 *
 * Content tokens 0..K-1, separator SEP = K. Example i (seeded by (seed, i)):
 * a source of n uniform tokens, its "translation" the source reversed
 * (option) with every token mapped through a fixed permutation pi of the
 * content vocabulary (seeded): tgt_k = pi(src_(n-1-k)).
 *
 * Layout of one window (T = 2n): inputs [src_0..src_(n-1), SEP, tgt_0..tgt_(n-2)],
 * targets at positions n..2n-1 = tgt_0..tgt_(n-1) (teacher forcing); the
 * first n positions carry no loss (mask 0). Blocks for this task split the
 * window in halves: the first T/2 positions are the source.
 */
import { combineSeeds, mulberry32 } from "../../../engine/core/random.ts";

/** Task options. */
export interface TranslationTask {
  /** Source (and target) length n. */
  length: number;
  /** Content vocabulary size K (the model's vocabulary is K + 1). */
  vocab: number;
  /** Reverse the source before mapping (else a monotone token-by-token map). */
  reverse: boolean;
  seed: number;
}

/** The permutation pi of the content vocabulary. */
export function translationPermutation(task: TranslationTask): Int32Array {
  const rand = mulberry32(combineSeeds(task.seed, 0x7065726d));
  const p = Int32Array.from({ length: task.vocab }, (_, i) => i);
  for (let i = p.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Source and target of example `index`. */
export function translationExample(
  task: TranslationTask,
  index: number,
  perm = translationPermutation(task),
) {
  const rand = mulberry32(combineSeeds(task.seed, index));
  const n = task.length;
  const src = Int32Array.from({ length: n }, () => Math.floor(rand() * task.vocab));
  const tgt = Int32Array.from({ length: n }, (_, k) => perm[src[task.reverse ? n - 1 - k : k]]);
  return { src, tgt };
}

/** A batch of windows: inputs x and targets y [B, 2n] row-major, loss mask [B, 2n] (1 on target positions). */
export function translationBatch(task: TranslationTask, first: number, batch: number) {
  const n = task.length, T = 2 * n, sep = task.vocab;
  const perm = translationPermutation(task);
  const x = new Int32Array(batch * T), y = new Int32Array(batch * T), mask = new Float32Array(batch * T);
  for (let b = 0; b < batch; b++) {
    const { src, tgt } = translationExample(task, first + b, perm);
    const o = b * T;
    x.set(src, o);
    x[o + n] = sep;
    x.set(tgt.subarray(0, n - 1), o + n + 1);
    y.set(tgt, o + n);
    mask.fill(1, o + n, o + T);
  }
  return { x, y, mask, T };
}

/** Index of the first held-out example: far from the training stream. */
export const EVAL_OFFSET = 2 ** 30;
