/**
 * A trial's result.json. Kept apart from the trainer (no tfjs, no kernels) so
 * that executors and the sweep can read and write results cheaply.
 */
/** What result.json holds. */
export interface TrialResult {
  status: "ok" | "diverged" | "failed";
  error: string | null;
  steps_done: number;
  final_val_loss: number | null;
  best_val_loss: number | null;
  step0_val_loss: number | null;
  final_train_loss: number | null;
  val_unigram_entropy: number | null;
  tokens: number;
  wall_s: number;
  tokens_per_s: number;
  backend: string;
  n_params: number;
  /** Last value of each probe metric: probes[probe][metric]. */
  probes: Record<string, Record<string, number>>;
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
