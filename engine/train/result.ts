/**
 * A trial's result.json. Kept apart from the trainer (no tfjs, no kernels) so
 * that executors and the sweep can read and write results cheaply.
 */
/** What result.json holds. */
export interface TrialResult {
  /**
   * How the trial ended: "ok", "diverged" (non-finite train loss, or val loss above the divergence
   * threshold) or "failed" (an exception).
   */
  status: "ok" | "diverged" | "failed";
  /** One-line reason when diverged or failed; null when ok. */
  error: string | null;
  /** Optimizer steps completed, including those before a resume. */
  steps_done: number;
  /** Mean val loss (nats per token) at the last evaluation after step 0; null if none ran. */
  final_val_loss: number | null;
  /** Lowest val loss (nats per token) over all evaluations, step 0 included. */
  best_val_loss: number | null;
  /** Val loss (nats per token) of the initial model, before the first step. */
  step0_val_loss: number | null;
  /** Train loss (nats per token) of the last step; null if no step ran. */
  final_train_loss: number | null;
  /** Entropy (nats) of the val split's unigram distribution: the loss of predicting token frequencies. */
  val_unigram_entropy: number | null;
  /** Training tokens processed: steps_done x batch_size x seq_len. */
  tokens: number;
  /** Wall-clock seconds spent on the trial, summed over resumed runs. */
  wall_s: number;
  /** Training throughput: tokens / wall_s, rounded (tokens per second). */
  tokens_per_s: number;
  /** The compute backend that ran the trial (e.g. "wasm", "cpu"); empty if it failed before choosing one. */
  backend: string;
  /** Number of scalar parameters of the model. */
  n_params: number;
  /** Last value of each probe metric: probes[probe][metric]. */
  probes: Record<string, Record<string, number>>;
  /**
   * Stopped from outside (a signal, the scheduler, a full disk, a lost device: engine/train/faults.ts):
   * the next run of the sweep runs the trial again, from its checkpoint.
   */
  requeue?: boolean;
}

const STATUSES = new Set(["ok", "diverged", "failed"]);

/** The problem with a parsed result.json that is not a trial result (a damaged file), or null. */
export function resultProblem(r: unknown): string | null {
  const status = (r as { status?: unknown } | null)?.status;
  if (!r || typeof r !== "object" || Array.isArray(r)) return "not a JSON object";
  return STATUSES.has(String(status))
    ? null
    : `status ${JSON.stringify(status)} is not ok, diverged or failed`;
}

/** A result with nothing measured yet (also what executors write for a trial that died without one). */
export function emptyResult(status: TrialResult["status"], error: string | null, backend = ""): TrialResult {
  return {
    status,
    error,
    steps_done: 0,
    final_val_loss: null,
    best_val_loss: null,
    step0_val_loss: null,
    final_train_loss: null,
    val_unigram_entropy: null,
    tokens: 0,
    wall_s: 0,
    tokens_per_s: 0,
    backend,
    n_params: 0,
    probes: {},
  };
}
