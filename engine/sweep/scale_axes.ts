/**
 * The scale axes scaling laws are written in, derived from a trial's config
 * so that no one computes them by hand: parameter counts from the block's own
 * parameter declarations, planned training tokens, and training FLOPs.
 *
 * - `n_params`: every parameter of the network.
 * - `n_params_nonembedding`: all but the vocabulary matrices (roles
 *   `embedding` and `readout`), the N of Kaplan et al. 2020 (arXiv
 *   2001.08361, section 2.1).
 * - `tokens`: planned training tokens, D = steps x batch_size x seq_len
 *   (planned, not reached: a diverged trial has the same scale as its grid
 *   neighbours).
 * - `tokens_per_param`: D / n_params (Hoffmann et al. 2022's tokens per parameter).
 * - `flops`: training FLOPs, 6 N_fwd D + 6 L T d D: 6 per parameter used per
 *   token (forward 2, backward 4), N_fwd = every parameter but the input
 *   embedding (a lookup costs nothing), plus attention's scores and mixing,
 *   2 L T d per token forward (Kaplan et al. 2020, Table 1), three times for
 *   training.
 */
import type { TrialConfig } from "../core/config.ts";
import type { Role } from "../core/contracts.ts";
import { modelShape, resolveModel } from "../nn/resolve.ts";

/** The derived scale columns of results.csv, in order. */
export const SCALE_AXES = [
  "n_params",
  "n_params_nonembedding",
  "tokens",
  "tokens_per_param",
  "flops",
] as const;

/** Values of the derived scale columns of one trial. */
export type ScaleAxes = Record<(typeof SCALE_AXES)[number], number>;

/** What the counts need of a parameter declaration (a block's `ParamDecl`, or a row of params.json). */
export interface Counted {
  /** The parameter's role; "embedding" and "readout" count as embedding parameters. */
  role: Role | string;
  /** The parameter's shape; its product is the parameter count. */
  shape: number[];
}

/**
 * Total and non-embedding parameter counts of a list of declarations.
 *
 * @example
 * ```ts
 * countParams([{ role: "embedding", shape: [256, 32] }, { role: "hidden", shape: [32, 32] }]);
 * // { n_params: 9216, n_params_nonembedding: 1024, n_embedding_lookup: 8192 }
 * ```
 */
export function countParams(decls: Counted[]): {
  n_params: number;
  n_params_nonembedding: number;
  n_embedding_lookup: number;
} {
  let all = 0, vocab = 0, lookup = 0;
  for (const p of decls) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    all += n;
    if (p.role === "embedding" || p.role === "readout") vocab += n;
    if (p.role === "embedding") lookup += n;
  }
  return { n_params: all, n_params_nonembedding: all - vocab, n_embedding_lookup: lookup };
}

/**
 * The vocabulary size a trial's config fixes: the tokenizer's `vocab_size`,
 * 256 for the byte tokenizer; null when only the data knows it (a token-file
 * corpus), in which case the trial's params.json tells.
 */
export function configVocab(t: TrialConfig): number | null {
  const tok = t.data.tokenizer as { name?: string; vocab_size?: number } | undefined;
  if (typeof tok?.vocab_size === "number") return tok.vocab_size;
  if (tok?.name === "byte") return 256;
  return null;
}

/**
 * A trial's derived scale axes from its parameter declarations (see the
 * module comment for each definition).
 *
 * @example
 * ```ts
 * const axes = scaleAxesOf(trial, blockParams(trial, 1024));
 * console.log(axes.n_params_nonembedding, axes.flops);
 * ```
 */
export function scaleAxesOf(t: TrialConfig, decls: Counted[]): ScaleAxes {
  const c = countParams(decls);
  const tokens = t.train.steps * t.train.batch_size * t.data.seq_len;
  // Per token: 6 FLOPs per parameter used (2 forward, 4 backward) + 6 L T d for attention.
  const perToken = 6 * (c.n_params - c.n_embedding_lookup) +
    6 * t.model.depth * t.data.seq_len * t.model.width;
  return {
    n_params: c.n_params,
    n_params_nonembedding: c.n_params_nonembedding,
    tokens,
    tokens_per_param: tokens / c.n_params,
    flops: perToken * tokens,
  };
}

/** The parameters the trial's block declares for its shape (the registry must hold the block and rule). */
export function blockParams(t: TrialConfig, vocab: number): Counted[] {
  return resolveModel(t, vocab).block.params(modelShape(t, vocab));
}
