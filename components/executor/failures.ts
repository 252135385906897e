/**
 * What every executor does with failed trials: a trial process that died
 * without a result gets a failed result.json naming the cause and its log
 * (`requeue` when it was stopped from outside, so the next sweep run resumes
 * it); a trial that caught its own exception gets its log path added to its
 * error; and `max_failures` consecutive failures stop the sweep.
 */
import { writeFileAtomic } from "../../engine/core/fs.ts";
import type { PlannedTrial } from "../../engine/sweep/grid.ts";
import { emptyResult } from "../../engine/train/result.ts";

/** The failed result.json of a trial that ended without writing one. */
export async function writeLostResult(trialDir: string, error: string, requeue: boolean): Promise<void> {
  await writeFileAtomic(
    `${trialDir}/result.json`,
    JSON.stringify({ ...emptyResult("failed", error), requeue }, null, 1),
  );
}

/** A failed trial's error without a log path (it caught its own exception): points at `log` too. */
export async function pointAtLog(
  trialDir: string,
  result: { status: string; error?: string | null },
  log: string,
): Promise<void> {
  if (result.status !== "failed" || result.error?.includes("; log: ")) return;
  result.error = `${result.error}; log: ${log}`;
  await writeFileAtomic(`${trialDir}/result.json`, JSON.stringify(result, null, 1));
}

/** Counts consecutive failed trials, in the order they finish. */
export class FailureStreak {
  #count = 0;
  constructor(readonly maxFailures: number) {}

  /** Records a finished trial (any other status ends the streak); true when the streak reaches max_failures. */
  finished(status: string | undefined): boolean {
    if (status !== "failed") {
      this.#count = 0;
      return false;
    }
    return ++this.#count >= this.maxFailures;
  }

  /** Why the sweep stops, with what was done about it (`action`) and the last failed trial. */
  stopMessage(last: PlannedTrial, error: string | null | undefined, action?: string): string {
    return `sweep stopped: ${this.#count} consecutive trials failed (max_failures ${this.maxFailures}); ` +
      `${action ? `${action}; ` : ""}last: ${last.dir}: ${error}`;
  }
}
