/**
 * Which block families each kind of scaling rule applies to. Standard
 * rules (SP, muP, CompleteP) drive any un-normalized block; the nGPT-family
 * rules (ngpt, nugpt) need the normalized block's rescalers. Block authors
 * add their block's name here.
 */

/** Blocks that SP / muP / CompleteP can drive (plain matrices, gains, no rescalers). */
export const SP_COMPATIBLE_BLOCKS: string[] = ["prenorm"];

/** Blocks with nGPT rescalers (alpha_A, alpha_M, s_qk, s_u, s_nu, s_z). */
export const NGPT_FAMILY_BLOCKS: string[] = ["ngpt"];
