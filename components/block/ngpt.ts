/**
 * nGPT, the normalized transformer (Loshchilov et al., arXiv 2410.01131;
 * docs/reference.md section 1). Every vector in the embedding space is unit norm;
 * blocks move the hidden state along the sphere by LERP with learned
 * eigen learning rates alpha_A, alpha_M. Matrices are stored (out, in).
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { NGPT_FAMILY } from "./families.ts";
import { register } from "../../engine/core/registry.ts";
import type { ActivationSink, Block, ModelRule, ModelShape, ParamDecl } from "../../engine/core/contracts.ts";
import {
  causalAttention,
  causalMask,
  embed,
  readoutLogits,
  ropeTables,
  unitNorm,
} from "../../engine/nn/ops.ts";
import { lerpNormTo, ropeNormScale, swiglu } from "../../engine/kernels/fused_ops.ts";
import { inputSinkName } from "../../engine/core/contracts.ts";
import { applyPgop, pgopDim } from "./pgop.ts";

/** Hidden size of the SwiGLU MLP, as a multiple of d. */
const MLP_RATIO = 4;

function params(s: ModelShape): ParamDecl[] {
  const d = s.width, f = MLP_RATIO * d, V = s.vocab_size;
  const out: ParamDecl[] = [
    { name: "E_in", role: "embedding", shape: [V, d], fan_in: V, fan_out: d, embed_axis: 1 },
  ];
  for (let i = 0; i < s.depth; i++) {
    const p = `blocks.${i}.`;
    const mat = (n: string, o: number, inn: number, axis: 0 | 1, tag: string): ParamDecl => ({
      name: p + n,
      role: "hidden",
      shape: [o, inn],
      fan_in: inn,
      fan_out: o,
      embed_axis: axis,
      tag,
    });
    const vec = (n: string, len: number, r: ParamDecl["rescaler"]): ParamDecl => ({
      name: p + n,
      role: "rescaler",
      shape: [len],
      fan_in: len,
      fan_out: len,
      rescaler: r,
    });
    out.push(
      mat("W_q", d, d, 1, "query"),
      mat("W_k", d, d, 1, "key"),
      mat("W_v", d, d, 1, "value"),
      mat("W_o", d, d, 0, "attn_out"),
      vec("alpha_A", d, "alpha_A"),
      vec("s_qk", d, "s_qk"),
      mat("W_u", f, d, 1, "mlp_in"),
      mat("W_nu", f, d, 1, "mlp_gate"),
      mat("W_oMLP", d, f, 0, "mlp_out"),
      vec("s_u", f, "s_u"),
      vec("s_nu", f, "s_nu"),
      vec("alpha_M", d, "alpha_M"),
    );
  }
  out.push(
    { name: "E_out", role: "readout", shape: [V, d], fan_in: d, fan_out: V, embed_axis: 1 },
    { name: "s_z", role: "rescaler", shape: [V], fan_in: V, fan_out: V, rescaler: "s_z" },
  );
  return out;
}

const tables = new Map<string, { cos: tf.Tensor; sin: tf.Tensor; mask: tf.Tensor2D }>();
/** RoPE tables and causal mask, built once per (backend, T, d_k) and kept. */
export function positionTables(seqLen: number, headDim: number) {
  // Per backend: a tensor kept from another backend would be read back synchronously (webgpu cannot).
  const key = `${tf.getBackend()}:${seqLen}x${headDim}`;
  let t = tables.get(key);
  if (!t || t.mask.isDisposed) {
    t = tf.tidy(() => {
      const r = ropeTables(seqLen, headDim);
      return { ...r, mask: causalMask(seqLen) };
    });
    tf.keep(t.cos), tf.keep(t.sin), tf.keep(t.mask);
    tables.set(key, t);
  }
  return t;
}

/** Options of the nGPT block: an optional PG-OP (components/block/pgop.ts) before W_o. */
export interface NgptOptions {
  pgop?: boolean;
  pgop_dim?: number;
}

/** The nGPT block family with options; `ngptBlock` is the plain one. */
export function ngptBlockWith(o: NgptOptions): Block {
  if (!o.pgop) return ngptBlock;
  return {
    family: NGPT_FAMILY,
    params(s) {
      const out = params(s);
      const r = pgopDim(s, o.pgop_dim);
      // W_g [H, r] after each block's W_o; zero init wanted (gates 1), see components/block/pgop.ts.
      for (let i = s.depth - 1; i >= 0; i--) {
        const at = out.findIndex((d) => d.name === `blocks.${i}.W_o`) + 1;
        const decl = {
          name: `blocks.${i}.W_g`,
          role: "bias" as const,
          shape: [s.heads, r],
          fan_in: r,
          fan_out: s.heads,
          tag: "pgop",
          init: { dist: "zeros" as const },
        };
        out.splice(at, 0, decl);
      }
      return out;
    },
    logits: (p, tokens, s, rule, sink) => ngptLogits(p, tokens, s, rule, sink, true),
  };
}

/** The nGPT block family. */
export const ngptBlock: Block = {
  family: NGPT_FAMILY,
  params,
  logits: (p, tokens, s, rule, sink) => ngptLogits(p, tokens, s, rule, sink, false),
};

function ngptLogits(
  p: Record<string, tf.Tensor>,
  tokens: tf.Tensor2D,
  s: ModelShape,
  rule: ModelRule,
  sink: ActivationSink | undefined,
  pgop: boolean,
): tf.Tensor2D {
  const [B, T] = tokens.shape;
  const d = s.width, H = s.heads, dk = s.head_dim;
  const pos = positionTables(T, dk);
  // h <- Norm(h + |alpha| (h_target - h)) with h_target = Norm(u): one fused op (engine/kernels/fused_ops.ts).
  // A sink (probes) gets h_target itself, computed on the side.
  const lerp = (h: tf.Tensor2D, u: tf.Tensor2D, alpha: tf.Tensor, name: string) => {
    if (sink) sink(name, unitNorm(u));
    return lerpNormTo(h, u, alpha);
  };
  // Rows of E_in are unit norm, so no Norm on the lookup.
  let h = embed(p["E_in"] as tf.Tensor2D, tokens.reshape([B * T]));
  sink?.("embed", h);
  for (let i = 0; i < s.depth; i++) {
    const w = (n: string) => p[`blocks.${i}.${n}`];
    const proj = (x: tf.Tensor2D, n: string): tf.Tensor2D => {
      sink?.(inputSinkName(`blocks.${i}.${n}`), x); // the input of each matrix (alignment probe)
      return tf.matMul(x, w(n) as tf.Tensor2D, false, true);
    };
    const heads = (x: tf.Tensor2D) => x.reshape([B, T, H, dk]) as tf.Tensor4D;
    // Per-head Norm after RoPE, times s_qk viewed as H x d_k.
    const q = ropeNormScale(heads(proj(h, "W_q")), pos, w("s_qk"));
    const k = ropeNormScale(heads(proj(h, "W_k")), pos, w("s_qk"));
    const v = heads(proj(h, "W_v"));
    // Softmax scale sqrt(d_k) for nGPT: it comes from the rule, not from here.
    let y = causalAttention(q, k, v, rule.attention_scale, pos.mask, sink, `block${i}.`);
    if (pgop) y = applyPgop(y, w("W_g"), B, T, H);
    h = lerp(h, proj(y, "W_o"), w("alpha_A"), `block${i}.attn_out`); // h_A = Norm(y W_o)
    // SwiGLU: u = h W_u * s_u, nu = h W_nu * s_nu * sqrt(d); u * SiLU(nu).
    const g = swiglu(proj(h, "W_u"), proj(h, "W_nu"), w("s_u"), w("s_nu"), Math.sqrt(d));
    h = lerp(h, proj(g, "W_oMLP"), w("alpha_M"), `block${i}.mlp_out`); // h_M = Norm(g W_oMLP)
    sink?.(`block${i}.out`, h);
  }
  // logits = (h E_out^T) * s_z; no final norm, no weight tying.
  return readoutLogits(h, p["E_out"], rule.logit_multiplier, sink, p["s_z"]);
}

register("block", "ngpt", {
  describe: "nGPT normalized transformer: unit-norm states, LERP updates, s_qk/s_u/s_nu/s_z",
  schema: z.object({
    /** Position-gated output projection before W_o (components/block/pgop.ts); absent = off. */
    pgop: z.boolean().optional(),
    /** PG-OP feature dimension r (default: largest with overhead < 1.6%). */
    pgop_dim: z.number().int().positive().optional(),
  }).strict(),
  create: (o: NgptOptions) => ngptBlockWith(o),
});
