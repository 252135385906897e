/**
 * Pieces shared by the translation blocks (`layerwise`, `encdec`): a
 * pre-norm layer (RMSNorm with gain, softmax attention with an arbitrary
 * additive mask, optional cross-attention, ReLU MLP) and its parameters.
 * The first T/2 positions of a window are the source, the rest the target
 * (components/block/seq2seq/translation.ts).
 */
import { MASKED } from "../../../engine/kernels/kernel_tasks.ts";
import * as tf from "@tensorflow/tfjs";
import type { ActivationSink, ModelRule, ModelShape } from "../../../engine/core/contracts.ts";
import { projection, rmsNorm, rope } from "../../../engine/nn/ops.ts";
import type { BlockParamDecl } from "../families.ts";
import { matrix } from "../vanilla/block.ts";

/** Hidden size of the MLP, as a multiple of d. */
const MLP_RATIO = 4;

/** Parameters of one pre-norm layer named `<prefix>...`; with `cross`, a cross-attention sublayer. */
export function layerParams(prefix: string, s: ModelShape, cross: boolean): BlockParamDecl[] {
  const d = s.width, f = MLP_RATIO * d;
  const gain = (n: string): BlockParamDecl => ({
    name: prefix + n,
    role: "gain",
    shape: [d],
    fan_in: d,
    fan_out: d,
  });
  const out: BlockParamDecl[] = [
    gain("g_attn"),
    matrix(prefix + "W_q", d, d, "query"),
    matrix(prefix + "W_k", d, d, "key"),
    matrix(prefix + "W_v", d, d, "value"),
    matrix(prefix + "W_o", d, d, "attn_out"),
  ];
  if (cross) {
    out.push(
      gain("g_cross"),
      matrix(prefix + "C_q", d, d, "cross_query"),
      matrix(prefix + "C_k", d, d, "cross_key"),
      matrix(prefix + "C_v", d, d, "cross_value"),
      matrix(prefix + "C_o", d, d, "cross_out"),
    );
  }
  out.push(gain("g_mlp"), matrix(prefix + "W_1", f, d, "mlp_in"), matrix(prefix + "W_2", d, f, "mlp_out"));
  return out;
}

/** Additive mask [T, T] from an allowed(i, j) predicate: 0 allowed, MASKED not. */
export function maskFrom(t: number, allowed: (i: number, j: number) => boolean): tf.Tensor2D {
  const m = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) if (!allowed(i, j)) m[i * t + j] = MASKED;
  return tf.tensor2d(m, [t, t]);
}

/** softmax(scale q k^T + mask) v for q [B, Tq, H, dk], k, v [B, Tk, H, dk] -> [B*Tq, H*dk]. */
export function attend(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  scale: number,
  mask: tf.Tensor2D,
  sink?: ActivationSink,
  name = "",
): tf.Tensor2D {
  const [b, tq, h, dk] = q.shape;
  const t = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]);
  const att = tf.softmax(tf.add(tf.mul(tf.matMul(t(q), t(k), false, true), scale), mask));
  sink?.(`${name}attn_probs`, att);
  return tf.transpose(tf.matMul(att, t(v)), [0, 2, 1, 3]).reshape([b * tq, h * dk]) as tf.Tensor2D;
}

/** What one layer call needs. */
export interface LayerContext {
  p: Record<string, tf.Tensor>;
  shape: ModelShape;
  batch: number;
  scale: number;
  residual: number;
  sink?: ActivationSink;
}

/** The context of one forward pass: parameters, shape, batch size and the rule's attention scale and residual multiplier. */
export function layerContext(
  p: Record<string, tf.Tensor>,
  shape: ModelShape,
  batch: number,
  rule: ModelRule,
  sink?: ActivationSink,
): LayerContext {
  return { p, shape, batch, scale: rule.attention_scale, residual: rule.residual_multiplier, sink };
}

/**
 * One pre-norm layer on h [B*T, d] (T positions): self-attention under
 * `mask` with RoPE tables `pos`, then (with `memory` [B*Tm, d]) cross-attention
 * to it, then the MLP; each branch added to h times the residual multiplier.
 */
export function layer(
  c: LayerContext,
  prefix: string,
  h: tf.Tensor2D,
  t: number,
  mask: tf.Tensor2D,
  pos: { cos: tf.Tensor; sin: tf.Tensor },
  memory?: { h: tf.Tensor2D; t: number; mask: tf.Tensor2D },
): tf.Tensor2D {
  const { p, batch: B, sink } = c;
  const H = c.shape.heads, dk = c.shape.head_dim;
  const proj = projection(p, prefix, sink);
  const heads = (x: tf.Tensor2D, len: number) => x.reshape([B, len, H, dk]) as tf.Tensor4D;
  const norm = (x: tf.Tensor2D, g: string) => tf.mul(rmsNorm(x), p[prefix + g]) as tf.Tensor2D;
  const add = (x: tf.Tensor2D, f: tf.Tensor2D) =>
    tf.add(x, c.residual === 1 ? f : tf.mul(f, c.residual)) as tf.Tensor2D;
  const a = norm(h, "g_attn");
  const q = rope(heads(proj(a, "W_q"), t), pos), k = rope(heads(proj(a, "W_k"), t), pos);
  h = add(h, proj(attend(q, k, heads(proj(a, "W_v"), t), c.scale, mask, sink, prefix), "W_o"));
  if (memory) {
    const x = norm(h, "g_cross");
    const cq = heads(proj(x, "C_q"), t);
    const ck = heads(proj(memory.h, "C_k"), memory.t), cv = heads(proj(memory.h, "C_v"), memory.t);
    h = add(h, proj(attend(cq, ck, cv, c.scale, memory.mask, sink, `${prefix}cross.`), "C_o"));
  }
  const m = proj(tf.mul(tf.relu(proj(norm(h, "g_mlp"), "W_1")), Math.SQRT2) as tf.Tensor2D, "W_2");
  return add(h, m);
}
