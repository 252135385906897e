/**
 * The block families, and the initializations a block itself requires.
 *
 * Each block declares its family (`Block.family`), each parameterization
 * the families it drives (`Parameterization.families`): `sp` for blocks
 * written for SP-style rules (matrices with roles embedding / hidden /
 * readout, optional gain and bias vectors, no nGPT rescalers: the sp, mup,
 * completep and vanilla rules), `ngpt` for blocks with nGPT rescalers
 * (alpha_A, alpha_M, s_qk, s_u, s_nu, s_z: the ngpt and nugpt rules). A
 * plugin block names its family and works with those rules, no list to edit.
 *
 * Some blocks need a specific start regardless of the rule: shaped attention
 * and E-SPA need W_q = 0 (so the attention is the designed matrix at init),
 * Value-SkipInit needs its gain b = 0, PG-OP its gate weights at 0. Such a
 * parameter is declared with an `init` field ({@link BlockParamDecl}); a rule
 * should use {@link blockInit} in place of its own init (it still chooses
 * LR, multipliers and weight decay).
 */
import type { Init, ParamDecl } from "../../engine/core/contracts.ts";

/** The family of blocks an SP-style parameterization can drive (`sp`, `mup`, `completep`, `vanilla`). */
export const SP_FAMILY = "sp";

/** The family of blocks with nGPT rescalers: the `ngpt` and `nugpt` rules. */
export const NGPT_FAMILY = "ngpt";

/** A parameter declaration that may carry the init its block requires. */
export interface BlockParamDecl extends ParamDecl {
  /** Init the block requires (overrides the rule's init); absent: the rule decides. */
  init?: Init;
}

/**
 * The init a block requires for this parameter, if any.
 *
 * @example
 * ```ts
 * const init = blockInit(decl) ?? { dist: "normal", std: 1 / Math.sqrt(decl.fan_in) };
 * ```
 */
export function blockInit(decl: ParamDecl): Init | undefined {
  return (decl as BlockParamDecl).init;
}
