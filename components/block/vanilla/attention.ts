/**
 * Attention variants for transformers without skips or normalization
 * (docs/reference.md section 5), as tensor ops on the softmax S [B, H, T, T]:
 *
 * - naive:           A = S
 * - Value-SkipInit:  A = a I + b S            (a = 1, b = 0 at init)
 * - shaped:          A = a I + b S - c C      (a = b = c = 1 and W_q = 0 at init: A = I)
 * - E-SPA / U-SPA:   A = D softmax(scores + B) - N (B, D, N fixed per layer, components/block/vanilla/espa.ts;
 *                    N = 0 unless the schedule is MLP-aware)
 *
 * C is the softmax at zero logits under the causal mask: row i uniform over
 * the i + 1 visible positions. a, b, c are per-head vectors [H].
 */
import * as tf from "@tensorflow/tfjs";
import { type SpaKind, spaLayers, type SpaOptions } from "./espa.ts";

/** The attention variants of the vanilla block. */
export const ATTENTION_KINDS = ["naive", "value-skipinit", "shaped", "espa", "uspa"] as const;
/** One attention variant. */
export type AttentionKind = typeof ATTENTION_KINDS[number];

/** C [T, T]: row i is 1/(i+1) on columns 0..i, 0 after. */
export function uniformCausal(seqLen: number): Float32Array {
  const c = new Float32Array(seqLen * seqLen);
  for (let i = 0; i < seqLen; i++) for (let j = 0; j <= i; j++) c[i * seqLen + j] = 1 / (i + 1);
  return c;
}

interface Constants {
  eye: tf.Tensor2D;
  uniform: tf.Tensor2D;
}
const constants = new Map<number, Constants>();

/** I and C for sequence length T, built once and kept. */
export function attentionConstants(seqLen: number): Constants {
  let c = constants.get(seqLen);
  if (!c || c.eye.isDisposed) {
    c = {
      eye: tf.keep(tf.eye(seqLen) as tf.Tensor2D),
      uniform: tf.keep(tf.tensor2d(uniformCausal(seqLen), [seqLen, seqLen])),
    };
    constants.set(seqLen, c);
  }
  return c;
}

const perHead = (g: tf.Tensor) => g.reshape([1, -1, 1, 1]);

/**
 * Shaped attention A = a I + b S - c C for S [B, H, T, T] and per-head
 * a, b, c [H]. With b = c and S = C (zero logits) the last two terms cancel
 * exactly, so A = a I.
 *
 * @example
 * ```ts
 * const A = shapedAttention(S, a, b, c, attentionConstants(T));
 * ```
 */
export function shapedAttention(
  s: tf.Tensor4D,
  a: tf.Tensor,
  b: tf.Tensor,
  c: tf.Tensor,
  k: Constants,
): tf.Tensor4D {
  const centered = tf.sub(tf.mul(perHead(b), s), tf.mul(perHead(c), k.uniform));
  return tf.add(tf.mul(perHead(a), k.eye), centered) as tf.Tensor4D;
}

/** Value-SkipInit A = a I + b S. */
export function valueSkipInit(s: tf.Tensor4D, a: tf.Tensor, b: tf.Tensor, k: Constants): tf.Tensor4D {
  return tf.add(tf.mul(perHead(a), k.eye), tf.mul(perHead(b), s)) as tf.Tensor4D;
}

interface SpaTensors {
  /** Fixed bias B_l [T, T] (masked entries MASKED: includes the causal mask). */
  bias: tf.Tensor2D[];
  /** Row rescaling D_l [T, 1]. */
  scale: tf.Tensor2D[];
  /** Fixed negative part N_l [T, T], or null where it is all zero. */
  minus: (tf.Tensor2D | null)[];
}
const spaCache = new Map<string, SpaTensors>();

/**
 * Bias B_l and rescaling D_l of every layer of an E-SPA / U-SPA stack, as
 * float32 tensors built once per (kind, T, L, options) and kept.
 */
export function spaTensors(kind: SpaKind, seqLen: number, depth: number, opts: SpaOptions = {}): SpaTensors {
  const key = `${kind}:${seqLen}:${depth}:${opts.gammaFinal ?? ""}:${opts.rhoFinal ?? ""}:${
    opts.mlpSlope ?? ""
  }`;
  let t = spaCache.get(key);
  if (!t || t.bias[0].isDisposed) {
    const layers = spaLayers(kind, seqLen, depth, opts);
    t = {
      bias: layers.map((l) => tf.keep(tf.tensor2d(Float32Array.from(l.B), [seqLen, seqLen]))),
      scale: layers.map((l) => tf.keep(tf.tensor2d(Float32Array.from(l.D), [seqLen, 1]))),
      minus: layers.map((l) =>
        l.N.some((v) => v !== 0) ? tf.keep(tf.tensor2d(Float32Array.from(l.N), [seqLen, seqLen])) : null
      ),
    };
    spaCache.set(key, t);
  }
  return t;
}
