/**
 * The vanilla transformer: no skip connections, no normalization (He et al.,
 * "Deep Transformers without Shortcuts", arXiv 2302.10322; docs/reference.md
 * section 5). Each layer is
 *
 *   h <- (A(h) (h W_v^T)) W_o^T          attention, A one of components/block/vanilla/attention.ts
 *   h <- phi(h W_1^T) W_2^T              MLP, phi the TAT leaky ReLU (components/block/vanilla/tat.ts)
 *
 * and the logits are h E_out^T. Signal propagation at init comes from the
 * attention variant (option `attention`):
 *
 * - `espa` (default) / `uspa`: A_l = D_l softmax(q k^T / sqrt(d_k) + B_l) - N_l, fixed
 *   bias B_l, rescaling D_l and negative part N_l (0 unless `mlp_aware`) from
 *   components/block/vanilla/espa.ts; W_q = 0 at init;
 * - `shaped`: A = a I + b S - c C, a = b = c = 1, W_q = 0 at init (A = I);
 * - `value-skipinit`: A = a I + b S, a = 1, b = 0 at init;
 * - `naive`: A = S (the plain softmax; collapses with depth).
 *
 * The MLP slope s solves C^L(0) = tat_eta over the L MLP layers of the
 * model (components/block/vanilla/tat.ts). Matrices are declared with roles so SP-style rules
 * drive them; the inits the block needs (W_q = 0, gains) travel in the
 * declaration (components/block/families.ts). Inputs of every matrix go to
 * the sink as `<param>.in` (alignment probe), block outputs as `block<i>.out`.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { register } from "../../../engine/core/registry.ts";
import { DmodelError } from "../../../engine/core/errors.ts";
import type { Block, ModelShape } from "../../../engine/core/contracts.ts";
import { embed, projection, readoutLogits, rope } from "../../../engine/nn/ops.ts";
import { leakyReluGain, tatSlope } from "./tat.ts";
import {
  ATTENTION_KINDS,
  attentionConstants,
  type AttentionKind,
  shapedAttention,
  spaTensors,
  valueSkipInit,
} from "./attention.ts";
import { applyPgop, pgopDim, PgopOptionFields } from "../pgop.ts";
import { type BlockParamDecl, SP_FAMILY } from "../families.ts";
import { positionTables } from "../ngpt.ts";

/** Hidden size of the MLP, as a multiple of d. */
const MLP_RATIO = 4;

/** Options of the vanilla block. */
export const VanillaBlockOptions = z.object({
  /** Attention variant. */
  attention: z.enum(ATTENTION_KINDS).default("espa"),
  /** TAT target: the composed C map of the MLP stack sends 0 to this. */
  tat_eta: z.number().gt(0).lt(1).default(0.9),
  /** E-SPA: gamma_L. */
  gamma_final: z.number().positive().default(0.005),
  /** U-SPA: rho_L. */
  rho_final: z.number().min(0).lt(1).default(0.8),
  /**
   * E-SPA / U-SPA: attention l maps the previous MLP's output kernel C(Sigma_(l-1))
   * (not Sigma_(l-1)) to Sigma_l, so the kernel after every attention layer is the
   * target again (dmodel's; components/block/vanilla/espa.ts).
   */
  mlp_aware: z.boolean().default(false),
  /** Rotary position embedding on q and k. */
  rope: z.boolean().default(true),
  ...PgopOptionFields,
}).strict();

/** Parsed options of the vanilla block. */
export type VanillaBlockOptions = z.infer<typeof VanillaBlockOptions>;

/** Matrix declaration (stored (out, in)). */
export function matrix(
  name: string,
  out: number,
  inn: number,
  tag: string,
  init?: BlockParamDecl["init"],
): BlockParamDecl {
  const d: BlockParamDecl = { name, role: "hidden", shape: [out, inn], fan_in: inn, fan_out: out, tag };
  if (init) d.init = init;
  return d;
}

/** Per-head gain vector [H] with the init the block needs. */
function headGain(name: string, heads: number, value: number, tag: string): BlockParamDecl {
  return {
    name,
    role: "gain",
    shape: [heads],
    fan_in: heads,
    fan_out: heads,
    tag,
    init: value === 0 ? { dist: "zeros" } : { dist: "constant", value },
  };
}

/** PG-OP gate weights W_g [H, r], zero at init (gates 1). */
export function pgopDecl(name: string, s: ModelShape, dim?: number): BlockParamDecl {
  const r = pgopDim(s, dim);
  return {
    name,
    role: "bias",
    shape: [s.heads, r],
    fan_in: r,
    fan_out: s.heads,
    tag: "pgop",
    init: { dist: "zeros" },
  };
}

/** The vanilla block family with the given options. */
export function vanillaBlock(o: VanillaBlockOptions): Block {
  const kind: AttentionKind = o.attention;
  if (o.mlp_aware && kind !== "espa" && kind !== "uspa") {
    throw new DmodelError(`model.mlp_aware: only for attention espa or uspa, not ${kind}`);
  }
  return {
    family: SP_FAMILY,
    params: (s) => vanillaParams(o, s),
    logits(p, tokens, s, rule, sink) {
      const [B, T] = tokens.shape;
      const H = s.heads, dk = s.head_dim;
      const pos = positionTables(T, dk);
      const k = attentionConstants(T);
      const slope = tatSlope(s.depth, o.tat_eta), gain = leakyReluGain(slope);
      const spa = kind === "espa" || kind === "uspa"
        ? spaTensors(kind, T, s.depth, {
          gammaFinal: o.gamma_final,
          rhoFinal: o.rho_final,
          mlpSlope: o.mlp_aware ? slope : undefined,
        })
        : null;
      let h = embed(p["E_in"] as tf.Tensor2D, tokens.reshape([B * T]));
      sink?.("embed", h);
      for (let i = 0; i < s.depth; i++) {
        const name = (n: string) => `blocks.${i}.${n}`;
        const proj = projection(p, `blocks.${i}.`, sink);
        const heads = (x: tf.Tensor2D) => tf.transpose(x.reshape([B, T, H, dk]), [0, 2, 1, 3]) as tf.Tensor4D;
        const rot = (x: tf.Tensor2D) =>
          o.rope
            ? tf.transpose(rope(x.reshape([B, T, H, dk]) as tf.Tensor4D, pos), [0, 2, 1, 3]) as tf.Tensor4D
            : heads(x);
        const q = rot(proj(h, "W_q")), kk = rot(proj(h, "W_k")), v = heads(proj(h, "W_v"));
        const scores = tf.add(
          tf.mul(tf.matMul(q, kk, false, true), rule.attention_scale),
          spa ? spa.bias[i] : pos.mask,
        );
        const S = tf.softmax(scores) as tf.Tensor4D;
        sink?.(`block${i}.attn_probs`, S);
        const layerSpa = spa ? { scale: spa.scale[i], minus: spa.minus[i] } : undefined;
        const A = attentionMatrix(kind, S, (n) => p[name(n)], k, layerSpa);
        sink?.(`block${i}.attn_matrix`, A);
        let y = tf.transpose(tf.matMul(A, v), [0, 2, 1, 3]).reshape([B * T, H * dk]) as tf.Tensor2D;
        if (o.pgop) y = applyPgop(y, p[name("W_g")], B, T, H);
        h = proj(y, "W_o");
        sink?.(`block${i}.attn_out`, h);
        // phi(z) = gain (max(z, 0) + slope min(z, 0)) = gain (relu(z) - slope relu(-z))
        const z = proj(h, "W_1");
        const act = tf.mul(tf.sub(tf.relu(z), tf.mul(tf.relu(tf.neg(z)), slope)), gain) as tf.Tensor2D;
        h = proj(act, "W_2");
        sink?.(`block${i}.out`, h);
      }
      return readoutLogits(h, p["E_out"], rule.logit_multiplier, sink);
    },
  };
}

/** The block's parameters: embedding; per layer W_q, W_k, W_v, W_o, the attention gains, W_g, the MLP; readout. */
function vanillaParams(o: VanillaBlockOptions, s: ModelShape): BlockParamDecl[] {
  const kind = o.attention, zeroQuery = kind !== "naive";
  const d = s.width, f = MLP_RATIO * d, V = s.vocab_size, H = s.heads;
  tatSlope(s.depth, o.tat_eta); // fail early, with the message, when TAT cannot be met
  const out: BlockParamDecl[] = [
    { name: "E_in", role: "embedding", shape: [V, d], fan_in: V, fan_out: d },
  ];
  for (let i = 0; i < s.depth; i++) {
    const p = `blocks.${i}.`;
    out.push(
      matrix(p + "W_q", d, d, "query", zeroQuery ? { dist: "zeros" } : undefined),
      matrix(p + "W_k", d, d, "key"),
      matrix(p + "W_v", d, d, "value"),
      matrix(p + "W_o", d, d, "attn_out"),
    );
    if (kind === "value-skipinit") {
      out.push(headGain(p + "attn_a", H, 1, "attn_a"), headGain(p + "attn_b", H, 0, "attn_b"));
    }
    if (kind === "shaped") {
      out.push(
        headGain(p + "attn_a", H, 1, "attn_a"),
        headGain(p + "attn_b", H, 1, "attn_b"),
        headGain(p + "attn_c", H, 1, "attn_c"),
      );
    }
    if (o.pgop) out.push(pgopDecl(p + "W_g", s, o.pgop_dim));
    out.push(matrix(p + "W_1", f, d, "mlp_in"), matrix(p + "W_2", d, f, "mlp_out"));
  }
  out.push({ name: "E_out", role: "readout", shape: [V, d], fan_in: d, fan_out: V });
  return out;
}

/**
 * A_l of one layer from its softmax S: shaped attention, value-skipinit, E-SPA / U-SPA's
 * D P (minus N under the MLP-aware schedule), else S itself. `param` gives the layer's parameters.
 */
function attentionMatrix(
  kind: AttentionKind,
  S: tf.Tensor4D,
  param: (n: string) => tf.Tensor,
  k: ReturnType<typeof attentionConstants>,
  spa: { scale: tf.Tensor; minus: tf.Tensor | null } | undefined,
): tf.Tensor4D {
  if (kind === "shaped") return shapedAttention(S, param("attn_a"), param("attn_b"), param("attn_c"), k);
  if (kind === "value-skipinit") return valueSkipInit(S, param("attn_a"), param("attn_b"), k);
  if (!spa) return S;
  let A = tf.mul(S, spa.scale) as tf.Tensor4D; // A = D P: rows rescaled by D_l
  if (spa.minus) A = tf.sub(A, spa.minus) as tf.Tensor4D; // A = D P - N (MLP-aware schedule)
  return A;
}

register("block", "vanilla", {
  describe:
    "vanilla transformer (no skips, no norms): E-SPA/U-SPA/shaped/value-skipinit/naive attention, TAT MLP",
  schema: VanillaBlockOptions,
  create: (o: VanillaBlockOptions) => vanillaBlock(o),
});
