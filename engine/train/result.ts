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
