/** Small tensor ops shared by the blocks, written once. */
import { MASKED } from "../kernels/kernel_tasks.ts";
import * as tf from "@tensorflow/tfjs";
import { type ActivationSink, inputSinkName } from "../core/contracts.ts";
import {
  attentionCore,
  colScale,
  fusedOpActive,
  rmsNormalize,
  ropeRotate,
  rowNormalize,
  softmaxCrossEntropy,
} from "../kernels/fused_ops.ts";

/** Norm(x) = x / ||x||_2 along the last axis, no gain, no epsilon (nGPT's justnorm). */
export function unitNorm<T extends tf.Tensor>(x: T): T {
  if (fusedOpActive("rowNorm") && x.dtype === "float32") return rowNormalize(x); // one kernel each way (engine/kernels/fused_ops.ts)
  return tf.mul(x, tf.rsqrt(tf.sum(tf.square(x), -1, true))) as T;
}

/** RMSNorm without gain: x / sqrt(mean(x^2) + eps) along the last axis. */
export function rmsNorm<T extends tf.Tensor>(x: T, eps = 1e-6): T {
  if (fusedOpActive("rowNorm") && x.dtype === "float32") return rmsNormalize(x, eps);
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))) as T;
}

/** SiLU(x) = x * sigmoid(x). */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x)) as T;
}

/**
 * Rotary position tables for interleaved pairs (x[2j], x[2j+1]) rotated by
 * pos * base^(-2j/d_k). RoPE(x) = x * cos + swap(x) * sin_signed, where
 * swap exchanges the two entries of each pair and sin_signed = (-sin, +sin).
 */
export function ropeTables(seqLen: number, headDim: number, base = 10000): {
  cos: tf.Tensor;
  sin: tf.Tensor;
} {
  const half = headDim / 2;
  const cos = new Float32Array(seqLen * headDim);
  const sin = new Float32Array(seqLen * headDim);
  for (let t = 0; t < seqLen; t++) {
    for (let j = 0; j < half; j++) {
      const angle = t * Math.pow(base, -(2 * j) / headDim);
      const c = Math.cos(angle), s = Math.sin(angle);
      cos[t * headDim + 2 * j] = c;
      cos[t * headDim + 2 * j + 1] = c;
      sin[t * headDim + 2 * j] = -s;
      sin[t * headDim + 2 * j + 1] = s;
    }
  }
  // Shape [T, 1, d_k]: broadcasts over batch and heads of x [B, T, H, d_k].
  return {
    cos: tf.tensor3d(cos, [seqLen, 1, headDim]),
    sin: tf.tensor3d(sin, [seqLen, 1, headDim]),
  };
}

/** Applies RoPE to x [B, T, H, d_k] (interleaved pairs). */
export function rope(x: tf.Tensor4D, tables: { cos: tf.Tensor; sin: tf.Tensor }): tf.Tensor4D {
  if (fusedOpActive("rope")) return ropeRotate(x, tables);
  const [b, t, h, dk] = x.shape;
  // Pairs as rows of 2: a 5-D reverse fails on tfjs-backend-webgpu 4.22 (engine/kernels/fused_ops.ts).
  const pairs = x.reshape([b * t * h * dk / 2, 2]);
  const swapped = tf.reverse(pairs, -1).reshape([b, t, h, dk]);
  return tf.add(tf.mul(x, tables.cos), tf.mul(swapped, tables.sin)) as tf.Tensor4D;
}

/** Additive causal mask [T, T]: 0 on and below the diagonal, MASKED above. */
export function causalMask(seqLen: number): tf.Tensor2D {
  const m = new Float32Array(seqLen * seqLen);
  for (let i = 0; i < seqLen; i++) {
    for (let j = i + 1; j < seqLen; j++) m[i * seqLen + j] = MASKED;
  }
  return tf.tensor2d(m, [seqLen, seqLen]);
}

/**
 * Multi-head causal attention core: q, k, v [B, T, H, d_k] ->
 * softmax(scale * q k^T + mask) v, returned as [B*T, H*d_k].
 */
export function causalAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  scale: number,
  mask: tf.Tensor2D,
  sink?: (name: string, t: tf.Tensor) => void,
  prefix = "",
): tf.Tensor2D {
  // Without a sink (which wants the probabilities), one fused op: no transposes (engine/kernels/fused_ops.ts).
  if (!sink && fusedOpActive("attention")) return attentionCore(q, k, v, scale, mask);
  const [b, t, h, dk] = q.shape;
  const qh = tf.transpose(q, [0, 2, 1, 3]);
  const kh = tf.transpose(k, [0, 2, 1, 3]);
  const vh = tf.transpose(v, [0, 2, 1, 3]);
  const scores = tf.add(tf.mul(tf.matMul(qh, kh, false, true), scale), mask);
  const att = tf.softmax(scores);
  sink?.(`${prefix}attn_probs`, att);
  const y = tf.matMul(att, vh);
  return tf.transpose(y, [0, 2, 1, 3]).reshape([b * t, h * dk]);
}

/** Mean cross-entropy of logits [N, V] against int32 targets [N], in nats. */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  if (fusedOpActive("crossEntropy") && targets.dtype === "int32") return softmaxCrossEntropy(logits, targets);
  const v = logits.shape[1];
  const picked = tf.sum(tf.mul(logits, tf.oneHot(targets, v)), 1);
  return tf.mean(tf.sub(tf.logSumExp(logits, 1), picked));
}

/**
 * x W^T for the matrix parameters named `prefix + n`, reporting each input x to the sink
 * under the matrix's name (the alignment probe reads them: components/probe/alignment_probe.ts).
 */
export function projection(
  p: Record<string, tf.Tensor>,
  prefix: string,
  sink?: ActivationSink,
): (x: tf.Tensor2D, n: string) => tf.Tensor2D {
  return (x, n) => {
    sink?.(inputSinkName(prefix + n), x);
    return tf.matMul(x, p[prefix + n] as tf.Tensor2D, false, true);
  };
}

/** Embedding lookup E[tokens] -> [N, D] for int32 tokens [N]. */
export function embed(table: tf.Tensor2D, tokens: tf.Tensor1D): tf.Tensor2D {
  return tf.gather(table, tokens);
}

/**
 * The readout every block shares: logits [N, V] = (h E_out^T), times nGPT's s_z per
 * column when given, times the rule's logit multiplier. A sink (probes) gets h, the
 * input of E_out (components/probe/alignment.ts), and the logits.
 */
export function readoutLogits(
  h: tf.Tensor2D,
  eOut: tf.Tensor,
  logitMultiplier: number,
  sink?: ActivationSink,
  sZ?: tf.Tensor,
): tf.Tensor2D {
  sink?.(inputSinkName("E_out"), h);
  let z = tf.matMul(h, eOut as tf.Tensor2D, false, true);
  if (sZ) z = colScale(z, sZ);
  const logits = (logitMultiplier === 1 ? z : tf.mul(z, logitMultiplier)) as tf.Tensor2D;
  sink?.("logits", logits);
  return logits;
}
