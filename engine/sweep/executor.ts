/**
 * Executors run a sweep's unfinished trials: `local` (worker subprocesses on
 * this machine), `slurm` (an array job). Each is a registered component of
 * kind "executor"; the sweep stage hands it the plan.
 */
import type { PlannedTrial } from "./grid.ts";
import type { Progress } from "./progress.ts";

/** What an executor gets. */
export interface ExecutorContext {
  /** The sweep directory (holds trials.json). */
  dir: string;
  /** Every planned trial. */
  trials: PlannedTrial[];
  /** The ones without result.json, cheapest first. */
  todo: PlannedTrial[];
  /** Parallel trials. */
  workers: number;
  /** Stop after this many consecutive failures. */
  maxFailures: number;
  progress: Progress;
  log: (line: string) => void;
  /** Return right after submission (schedulers). */
  detach: boolean;
  /** Aborted on Ctrl-C / SIGTERM: start nothing more, stop what runs (it resumes next time), return. */
  signal: AbortSignal;
  /** Called when a trial finishes (result.json written). */
  onFinished: (t: PlannedTrial) => Promise<void>;
}

/** An executor component's product. */
export interface Executor {
  run(ctx: ExecutorContext): Promise<{ detached?: boolean }>;
  /** Lines for `deno task sweep --status` about work this executor left running (a submitted job). */
  status?(dir: string): Promise<string[]>;
}

declare module "../core/registry.ts" {
  interface Products {
    executor: Executor;
  }
}
