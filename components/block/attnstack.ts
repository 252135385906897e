/**
 * A configurable attention stack for the representational-collapse study
 * (Dong et al. 2021, "pure attention loses rank doubly exponentially";
 * docs/reference.md section 6). Per layer, with N(x) = RMSNorm(x) * gain when
 * `layernorm` is on and the identity otherwise:
 *
 *   a = SA(N(h));        h <- residual ? h + m a : a
 *   f = MLP(N(h));       h <- residual ? h + m f : f      (only when `mlp`)
 *
 * SA is causal softmax attention (RoPE, scale from the rule), MLP is
 * sqrt(2) ReLU(x W_1^T) W_2^T, m the rule's residual multiplier. Dong et al.'s
 * configurations: attention-only (all off), +MLP, +skip (residual), full
 * (all on, pre-norm). `residual: false, layernorm: true, mlp: true` is the
 * "prenorm-noskip" control. A final N(h) precedes the readout when
 * `layernorm` is on.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Block } from "../../engine/core/contracts.ts";
import { causalAttention, embed, projection, readoutLogits, rmsNorm, rope } from "../../engine/nn/ops.ts";
import { applyPgop, PgopOptionFields } from "./pgop.ts";
import { type BlockParamDecl, SP_FAMILY } from "./families.ts";
import { positionTables } from "./ngpt.ts";
import { matrix, pgopDecl } from "./vanilla/block.ts";

/** Hidden size of the MLP, as a multiple of d. */
const MLP_RATIO = 4;

/** Options of the attnstack block. */
export const AttnStackOptions = z.object({
  /** Skip connections around each sublayer. */
  residual: z.boolean().default(false),
  /** An MLP sublayer after each attention. */
  mlp: z.boolean().default(false),
  /** Pre-norm RMSNorm (with gain) before each sublayer and before the readout. */
  layernorm: z.boolean().default(false),
  ...PgopOptionFields,
}).strict();

/** Parsed options of the attnstack block. */
export type AttnStackOptions = z.infer<typeof AttnStackOptions>;

function gainDecl(name: string, d: number): BlockParamDecl {
  return { name, role: "gain", shape: [d], fan_in: d, fan_out: d, tag: "norm_gain" };
}

/** The attnstack block with the given options. */
export function attnStackBlock(o: AttnStackOptions): Block {
  return {
    family: SP_FAMILY,
    params(s) {
      const d = s.width, f = MLP_RATIO * d, V = s.vocab_size;
      const out: BlockParamDecl[] = [{
        name: "E_in",
        role: "embedding",
        shape: [V, d],
        fan_in: V,
        fan_out: d,
      }];
      for (let i = 0; i < s.depth; i++) {
        const p = `blocks.${i}.`;
        if (o.layernorm) out.push(gainDecl(p + "g_attn", d));
        out.push(
          matrix(p + "W_q", d, d, "query"),
          matrix(p + "W_k", d, d, "key"),
          matrix(p + "W_v", d, d, "value"),
          matrix(p + "W_o", d, d, "attn_out"),
        );
        if (o.pgop) out.push(pgopDecl(p + "W_g", s, o.pgop_dim));
        if (o.mlp) {
          if (o.layernorm) out.push(gainDecl(p + "g_mlp", d));
          out.push(matrix(p + "W_1", f, d, "mlp_in"), matrix(p + "W_2", d, f, "mlp_out"));
        }
      }
      if (o.layernorm) out.push(gainDecl("g_final", d));
      out.push({ name: "E_out", role: "readout", shape: [V, d], fan_in: d, fan_out: V });
      return out;
    },
    logits(p, tokens, s, rule, sink) {
      const [B, T] = tokens.shape;
      const H = s.heads, dk = s.head_dim;
      const pos = positionTables(T, dk);
      const norm = (x: tf.Tensor2D, g: string) => (o.layernorm ? tf.mul(rmsNorm(x), p[g]) as tf.Tensor2D : x);
      const branch = (h: tf.Tensor2D, f: tf.Tensor2D) =>
        o.residual
          ? tf.add(h, rule.residual_multiplier === 1 ? f : tf.mul(f, rule.residual_multiplier)) as tf.Tensor2D
          : f;
      let h = embed(p["E_in"] as tf.Tensor2D, tokens.reshape([B * T]));
      sink?.("embed", h);
      for (let i = 0; i < s.depth; i++) {
        const name = (n: string) => `blocks.${i}.${n}`;
        const proj = projection(p, `blocks.${i}.`, sink);
        const heads = (x: tf.Tensor2D) => x.reshape([B, T, H, dk]) as tf.Tensor4D;
        const x = norm(h, name("g_attn"));
        const q = rope(heads(proj(x, "W_q")), pos),
          k = rope(heads(proj(x, "W_k")), pos),
          v = heads(proj(x, "W_v"));
        let y = causalAttention(q, k, v, rule.attention_scale, pos.mask, sink, `block${i}.`);
        if (o.pgop) y = applyPgop(y, p[name("W_g")], B, T, H);
        const a = proj(y, "W_o");
        sink?.(`block${i}.attn_out`, a);
        h = branch(h, a);
        if (o.mlp) {
          const z = proj(norm(h, name("g_mlp")), "W_1");
          const m = proj(tf.mul(tf.relu(z), Math.SQRT2) as tf.Tensor2D, "W_2");
          sink?.(`block${i}.mlp_out`, m);
          h = branch(h, m);
        }
        sink?.(`block${i}.out`, h);
      }
      const hf = norm(h, "g_final");
      return readoutLogits(hf, p["E_out"], rule.logit_multiplier, sink);
    },
  };
}

register("block", "attnstack", {
  describe:
    "attention stack for the collapse study: options residual, mlp, layernorm (Dong et al. configurations)",
  schema: AttnStackOptions,
  create: (o: AttnStackOptions) => attnStackBlock(o),
});
