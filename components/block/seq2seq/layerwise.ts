/**
 * Layer-wise coordination (He et al., "Layer-Wise Coordination between
 * Encoder and Decoder for Neural Machine Translation", NeurIPS 2018;
 * docs/reference.md section 7): decoder layer i attends to encoder layer i,
 * encoder layer i and decoder layer i share parameters, and the decoder's
 * attention is "mixed" (one softmax over [source states; target prefix]).
 * That is one pre-norm stack over the window [source; target] under a
 * prefix-LM mask: a source position sees every source position, a target
 * position sees the whole source and the target up to itself. The first T/2
 * positions are the source (components/block/seq2seq/translation.ts). RoPE over the whole
 * window, final RMSNorm, untied readout.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { register } from "../../../engine/core/registry.ts";
import type { Block } from "../../../engine/core/contracts.ts";
import { embed, readoutLogits, rmsNorm } from "../../../engine/nn/ops.ts";
import { type BlockParamDecl, SP_FAMILY } from "../families.ts";
import { positionTables } from "../ngpt.ts";
import { layer, layerContext, layerParams, maskFrom } from "./layers.ts";

/** The prefix-LM mask of a window of T positions with a source of n: allowed iff j < n or j <= i. */
export function prefixLMAllowed(n: number): (i: number, j: number) => boolean {
  return (i, j) => j < n || j <= i;
}

/** The layer-wise coordination block. */
export const layerwiseBlock: Block = {
  family: SP_FAMILY,
  params(s) {
    const d = s.width, V = s.vocab_size;
    const out: BlockParamDecl[] = [{ name: "E_in", role: "embedding", shape: [V, d], fan_in: V, fan_out: d }];
    for (let i = 0; i < s.depth; i++) out.push(...layerParams(`blocks.${i}.`, s, false));
    out.push(
      { name: "g_final", role: "gain", shape: [d], fan_in: d, fan_out: d },
      { name: "E_out", role: "readout", shape: [V, d], fan_in: d, fan_out: V },
    );
    return out;
  },
  logits(p, tokens, s, rule, sink) {
    const [B, T] = tokens.shape;
    const n = Math.floor(T / 2);
    const mask = maskFrom(T, prefixLMAllowed(n));
    const pos = positionTables(T, s.head_dim);
    const c = layerContext(p, s, B, rule, sink);
    let h = embed(p["E_in"] as tf.Tensor2D, tokens.reshape([B * T]));
    sink?.("embed", h);
    for (let i = 0; i < s.depth; i++) {
      h = layer(c, `blocks.${i}.`, h, T, mask, pos);
      sink?.(`block${i}.out`, h);
    }
    const f = tf.mul(rmsNorm(h), p["g_final"]) as tf.Tensor2D;
    return readoutLogits(f, p["E_out"], rule.logit_multiplier, sink);
  },
};

register("block", "layerwise", {
  describe: "layer-wise coordination encoder-decoder: one shared stack over [source; target], prefix-LM mask",
  schema: z.object({}).strict(),
  create: () => layerwiseBlock,
});
