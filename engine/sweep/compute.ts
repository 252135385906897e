/**
 * Compute accounting of a sweep: model FLOPs per training step, in the
 * convention of Kaplan et al. 2020 (arXiv 2001.08361, Table 1): a forward
 * pass costs 2 N + 2 n_layer n_ctx d per token, training (forward +
 * backward) three times that, with N = 12 n_layer d^2 non-embedding
 * parameters plus the V x d readout (the embedding lookup is free). The same
 * rule prices every trial, so ratios of sweeps (adaptive vs dense) do not
 * depend on its constants.
 */
import type { TrialConfig } from "../core/config.ts";

/** Training FLOPs of one optimizer step of a trial: 6 (N + n_layer n_ctx d) x tokens per step. */
export function flopsPerStep(t: TrialConfig): number {
  const d = t.model.width, L = t.model.depth, ctx = t.data.seq_len;
  const vocab = (t.data.tokenizer as { vocab_size?: number }).vocab_size ?? 256;
  const n = 12 * L * d * d + vocab * d;
  return 6 * (n + L * ctx * d) * t.train.batch_size * ctx;
}

/** FLOPs of `steps` steps of a trial (the steps it ran: a diverged trial stops early). */
export function trialFlops(t: TrialConfig, steps: number): number {
  return steps * flopsPerStep(t);
}

/** "3.2e12" style, for status lines. */
export function fmtFlops(f: number): string {
  return `${f.toExponential(2)} FLOPs`;
}
