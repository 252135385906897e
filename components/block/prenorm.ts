/**
 * The standard GPT baseline: pre-norm blocks (RMSNorm, no bias), RoPE,
 * SwiGLU MLP, untied embeddings, final norm. The model SP, muP and
 * CompleteP were written for (docs/reference.md section 4). The residual branch
 * multiplier and attention scale come from the parameterization.
 *
 *   h <- h + r * Attn(RMSNorm(h) * g_attn)
 *   h <- h + r * MLP(RMSNorm(h) * g_mlp)
 *   logits = (RMSNorm(h) * g_final) E_out^T * logit_multiplier
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { SP_FAMILY } from "./families.ts";
import { register } from "../../engine/core/registry.ts";
import type { Block, ModelShape, ParamDecl } from "../../engine/core/contracts.ts";
import { causalAttention, embed, readoutLogits, rmsNorm, rope, silu } from "../../engine/nn/ops.ts";
import { positionTables } from "./ngpt.ts";

const MLP_RATIO = 4;

function params(s: ModelShape): ParamDecl[] {
  const d = s.width, f = MLP_RATIO * d, V = s.vocab_size;
  const out: ParamDecl[] = [{ name: "E_in", role: "embedding", shape: [V, d], fan_in: V, fan_out: d }];
  for (let i = 0; i < s.depth; i++) {
    const p = `blocks.${i}.`;
    const mat = (n: string, o: number, inn: number, tag: string): ParamDecl => ({
      name: p + n,
      role: "hidden",
      shape: [o, inn],
      fan_in: inn,
      fan_out: o,
      tag,
    });
    const gain = (n: string): ParamDecl => ({ name: p + n, role: "gain", shape: [d], fan_in: d, fan_out: d });
    out.push(
      gain("g_attn"),
      mat("W_q", d, d, "query"),
      mat("W_k", d, d, "key"),
      mat("W_v", d, d, "value"),
      mat("W_o", d, d, "attn_out"),
      gain("g_mlp"),
      mat("W_u", f, d, "mlp_in"),
      mat("W_nu", f, d, "mlp_gate"),
      mat("W_oMLP", d, f, "mlp_out"),
    );
  }
  out.push(
    { name: "g_final", role: "gain", shape: [d], fan_in: d, fan_out: d },
    { name: "E_out", role: "readout", shape: [V, d], fan_in: d, fan_out: V },
  );
  return out;
}

/** The pre-norm block family. */
export const prenormBlock: Block = {
  family: SP_FAMILY,
  params,
  logits(p, tokens, s, rule, sink) {
    const [B, T] = tokens.shape;
    const H = s.heads, dk = s.head_dim;
    const pos = positionTables(T, dk);
    const r = rule.residual_multiplier;
    let h = embed(p["E_in"] as tf.Tensor2D, tokens.reshape([B * T]));
    sink?.("embed", h);
    for (let i = 0; i < s.depth; i++) {
      const w = (n: string) => p[`blocks.${i}.${n}`];
      const proj = (x: tf.Tensor2D, n: string): tf.Tensor2D => tf.matMul(x, w(n) as tf.Tensor2D, false, true);
      const heads = (x: tf.Tensor2D) => x.reshape([B, T, H, dk]) as tf.Tensor4D;
      const a = tf.mul(rmsNorm(h), w("g_attn")) as tf.Tensor2D;
      const q = rope(heads(proj(a, "W_q")), pos);
      const k = rope(heads(proj(a, "W_k")), pos);
      const v = heads(proj(a, "W_v"));
      const attn = proj(causalAttention(q, k, v, rule.attention_scale, pos.mask, sink, `block${i}.`), "W_o");
      sink?.(`block${i}.attn_out`, attn);
      h = tf.add(h, r === 1 ? attn : tf.mul(attn, r)) as tf.Tensor2D;
      const m = tf.mul(rmsNorm(h), w("g_mlp")) as tf.Tensor2D;
      const mlp = proj(tf.mul(proj(m, "W_u"), silu(proj(m, "W_nu"))) as tf.Tensor2D, "W_oMLP");
      sink?.(`block${i}.mlp_out`, mlp);
      h = tf.add(h, r === 1 ? mlp : tf.mul(mlp, r)) as tf.Tensor2D;
      sink?.(`block${i}.out`, h);
    }
    const f = tf.mul(rmsNorm(h), p["g_final"]) as tf.Tensor2D;
    return readoutLogits(f, p["E_out"], rule.logit_multiplier, sink);
  },
};

register("block", "prenorm", {
  describe: "pre-norm GPT baseline: RMSNorm, RoPE, SwiGLU, untied embeddings, final norm",
  schema: z.object({}).strict(),
  create: () => prenormBlock,
});
