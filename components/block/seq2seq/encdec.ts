/**
 * The standard encoder-decoder (Vaswani et al. 2017) in pre-norm form, the
 * baseline of the layer-wise coordination study (docs/reference.md section 7):
 * an encoder of L layers with bidirectional self-attention over the source
 * (the first T/2 positions), a decoder of L layers with causal
 * self-attention over the target half and cross-attention to the encoder's
 * last layer (after a final RMSNorm). Separate parameters for encoder and
 * decoder. Logits of source positions are 0 (they carry no loss).
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { register } from "../../../engine/core/registry.ts";
import type { Block } from "../../../engine/core/contracts.ts";
import { causalMask, embed, readoutLogits, rmsNorm } from "../../../engine/nn/ops.ts";
import { type BlockParamDecl, SP_FAMILY } from "../families.ts";
import { positionTables } from "../ngpt.ts";
import { layer, layerContext, layerParams, maskFrom } from "./layers.ts";

/** The encoder-decoder block. */
export const encdecBlock: Block = {
  family: SP_FAMILY,
  params(s) {
    const d = s.width, V = s.vocab_size;
    const gain = (name: string): BlockParamDecl => ({
      name,
      role: "gain",
      shape: [d],
      fan_in: d,
      fan_out: d,
    });
    const out: BlockParamDecl[] = [{ name: "E_in", role: "embedding", shape: [V, d], fan_in: V, fan_out: d }];
    for (let i = 0; i < s.depth; i++) out.push(...layerParams(`encoder.${i}.`, s, false));
    out.push(gain("g_enc"));
    for (let i = 0; i < s.depth; i++) out.push(...layerParams(`decoder.${i}.`, s, true));
    out.push(gain("g_final"), { name: "E_out", role: "readout", shape: [V, d], fan_in: d, fan_out: V });
    return out;
  },
  logits(p, tokens, s, rule, sink) {
    const [B, T] = tokens.shape;
    const n = Math.floor(T / 2), m = T - n, V = s.vocab_size;
    const c = layerContext(p, s, B, rule, sink);
    const src = tokens.slice([0, 0], [B, n]), tgt = tokens.slice([0, n], [B, m]);
    let e = embed(p["E_in"] as tf.Tensor2D, src.reshape([B * n]));
    const full = maskFrom(n, () => true);
    for (let i = 0; i < s.depth; i++) {
      e = layer(c, `encoder.${i}.`, e, n, full, positionTables(n, s.head_dim));
    }
    // Every target position sees the whole source.
    const memory = {
      h: tf.mul(rmsNorm(e), p["g_enc"]) as tf.Tensor2D,
      t: n,
      mask: tf.zeros([m, n]) as tf.Tensor2D,
    };
    let h = embed(p["E_in"] as tf.Tensor2D, tgt.reshape([B * m]));
    for (let i = 0; i < s.depth; i++) {
      h = layer(c, `decoder.${i}.`, h, m, causalMask(m), positionTables(m, s.head_dim), memory);
      sink?.(`block${i}.out`, h);
    }
    const f = tf.mul(rmsNorm(h), p["g_final"]) as tf.Tensor2D;
    const z = readoutLogits(f, p["E_out"], rule.logit_multiplier, sink); // target positions
    // Source positions: zero logits, so the output keeps the [B*T, V] layout of every block.
    return tf.concat([tf.zeros([B, n, V]), z.reshape([B, m, V])], 1).reshape([B * T, V]) as tf.Tensor2D;
  },
};

register("block", "encdec", {
  describe: "standard pre-norm encoder-decoder (separate stacks, cross-attention to the last encoder layer)",
  schema: z.object({}).strict(),
  create: () => encdecBlock,
});
