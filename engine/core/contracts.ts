/**
 * The contract between a block family (the transformer's shape) and a
 * parameterization (its scaling rule). The block declares its parameters with
 * a role; the parameterization says, per parameter and per model, how to
 * initialize, multiply, and update them (DESIGN.md, "How parameterization
 * plugs in"). Neither hard-codes the other.
 */
import type * as tf from "@tensorflow/tfjs";

/** What a parameter is for; rules are written per role. */
export type Role = "embedding" | "hidden" | "readout" | "rescaler" | "gain" | "bias";

/** Learnable scaling vectors of the nGPT family (docs/reference.md section 1). */
export type RescalerName = "alpha_A" | "alpha_M" | "s_qk" | "s_u" | "s_nu" | "s_z";

/** The size of a model. Width grows by adding heads at a fixed head_dim. */
export interface ModelShape {
  /** d = d_model. */
  width: number;
  /** L = number of blocks. */
  depth: number;
  /** d_k. */
  head_dim: number;
  /** H = width / head_dim. */
  heads: number;
  /** V. */
  vocab_size: number;
  /** T. */
  seq_len: number;
}

/** One parameter as a block declares it. Matrices are stored (out, in): y = x W^T. */
export interface ParamDecl {
  /** Unique parameter name (e.g. "E_in", "blocks.0.W_q"), the key in checkpoints and describe. */
  name: string;
  /** What the parameter is for; rules are written per role. */
  role: Role;
  /** Stored shape, (out, in) for matrices. */
  shape: number[];
  /** Input dimension of the product this parameter takes part in. */
  fan_in: number;
  /** Output dimension. */
  fan_out: number;
  /**
   * Axis of `shape` that lies in the embedding space: the vectors along it
   * are unit-norm in a normalized block and are renormalized after each step
   * when the model rule says so (rows of E_in, W_q, ...: axis 1; columns of
   * W_o, W_oMLP: axis 0).
   */
  embed_axis?: 0 | 1;
  /** For role "rescaler": which nGPT vector it is. */
  rescaler?: RescalerName;
  /** Free-form hint for rules (e.g. "query", "attn_out", "mlp_out"). */
  tag?: string;
}

/** How a parameter starts. */
export type Init =
  | { dist: "normal"; std: number }
  | { dist: "unit-norm" }
  | { dist: "constant"; value: number }
  | { dist: "zeros" }
  | { dist: "orthogonal"; gain: number };

/** What a parameterization says about one parameter. */
export interface ParamRule {
  /** How the parameter starts. */
  init: Init;
  /** W_eff = forward_multiplier * W_stored in the forward pass. */
  forward_multiplier: number;
  /** Effective LR of this parameter = global LR x lr_factor x lr_multiplier. */
  lr_multiplier: number;
  /** Adam epsilon of this parameter = optimizer eps x eps_multiplier. */
  eps_multiplier: number;
  /** Multiplier of the optimizer's decoupled weight decay (0 exempts the parameter). */
  weight_decay: number;
}

/** init/scale pair of an nGPT rescaler: stored value starts at `scale`, forward uses s * init / scale. */
export interface RescalerRule {
  /** Effective initial value of the rescaler (nuGPT: alpha_A, alpha_M at 0.05 / m_depth, s_qk at 1). */
  init: number;
  /** Stored initial value; the forward pass multiplies the stored value by init / scale. */
  scale: number;
}

/** What a parameterization says about the whole model. */
export interface ModelRule {
  /** Multiplies q.k inside the softmax (nGPT: sqrt(d_k); SP: 1/sqrt(d_k); muP: 1/d_k). */
  attention_scale: number;
  /** Multiplies each residual branch (CompleteP: m_depth^-a). */
  residual_multiplier: number;
  /** Rescaler init/scale values (nGPT family). */
  rescalers: Partial<Record<RescalerName, RescalerRule>>;
  /** Multiplies the logits. */
  logit_multiplier: number;
  /** Renormalize every parameter with an `embed_axis` after each step (nGPT). */
  renormalize: boolean;
}

/** Everything a rule may depend on: the shape, the base shape, and the run length. */
export interface ScaleContext {
  /** The registered name of the model's block (`model.block`). */
  block: string;
  /** The model's shape. */
  shape: ModelShape;
  /** The base shape the multipliers are relative to: d_base, L_base and steps_base. */
  base: { width: number; depth: number; steps: number };
  /** Training steps of the run. */
  steps: number;
  /** d / d_base. */
  m_width: number;
  /** L / L_base. */
  m_depth: number;
  /** steps / steps_base. */
  m_data: number;
}

/** A scaling rule, as data. */
export interface Parameterization {
  /**
   * Block families this rule was written for (`sp`, `ngpt`, ...): it drives
   * every block that declares one of them; others are refused with a clear error.
   */
  families: string[];
  /** Model-wide values (attention scale, residual multiplier, rescalers, ...) for a model in this context. */
  model(ctx: ScaleContext): ModelRule;
  /** How to initialize, multiply and update one parameter of a model in this context. */
  param(decl: ParamDecl, ctx: ScaleContext, model: ModelRule): ParamRule;
  /** Global LR factor from the token horizon (nuGPT: m_data^-1/3). */
  lr_factor(ctx: ScaleContext): number;
}

/** Tensors the forward pass may report to probes, by name (e.g. "block0.attn_out"). */
export type ActivationSink = (name: string, value: tf.Tensor) => void;

/** Name under which a block reports the input of a matrix parameter to the activation sink. */
export function inputSinkName(param: string): string {
  return `${param}.in`;
}

/** Multiplier of the peak LR at step t of a run of `steps` steps (a schedule component's product). */
export type Schedule = (t: number, steps: number) => number;

/** A block: declares parameters and computes logits. */
export interface Block {
  /**
   * Which rules can drive it: `sp` (matrices with roles embedding / hidden /
   * readout, optional gains and biases, no nGPT rescalers: sp, mup,
   * completep, vanilla) or `ngpt` (nGPT rescalers: ngpt, nugpt). A rule
   * applies to the block when its `families` include this.
   */
  family: string;
  /** The parameters of a model of this shape. */
  params(shape: ModelShape): ParamDecl[];
  /**
   * Logits [B*T, V] for int32 tokens [B, T], from effective parameters
   * (stored values already multiplied by their forward multipliers).
   */
  logits(
    p: Record<string, tf.Tensor>,
    tokens: tf.Tensor2D,
    shape: ModelShape,
    rule: ModelRule,
    sink?: ActivationSink,
  ): tf.Tensor2D;
}

declare module "./registry.ts" {
  interface Products {
    block: Block;
    parameterization: Parameterization;
    schedule: Schedule;
  }
}
