/**
 * A sweep on disk: `<dir>/trials.json` lists every planned trial (index,
 * id, directory, grid point, resolved config), so that any process (a local
 * worker, a Slurm array task) can run trial i by index.
 */
import { DmodelError } from "../core/errors.ts";
import { exists, readJSON, writeFileAtomic } from "../core/fs.ts";
import type { TrialResult } from "../train/result.ts";
import type { PlannedTrial } from "./grid.ts";

/** Writes trials.json atomically. */
export async function writePlan(dir: string, trials: PlannedTrial[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(`${dir}/trials.json`, JSON.stringify(trials, null, 1));
}

/**
 * Keeps the folder a trial already has: where `<dir>/<t.dir>` does not exist but exactly one
 * folder there ends in the same id suffix (`-a8d934`: a trial run or restored under an earlier
 * naming, before its name carried the options that vary), the trial uses that folder, so finished
 * and archived trials are still found and partial ones resume. Returns how many were adopted.
 */
export async function adoptExistingDirs(dir: string, trials: PlannedTrial[]): Promise<number> {
  const bySuffix = new Map<string, string[]>();
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = e.isDirectory ? /-([0-9a-f]{6})$/.exec(e.name) : null;
      if (m) bySuffix.set(m[1], [...(bySuffix.get(m[1]) ?? []), e.name]);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
  let n = 0;
  for (const t of trials) {
    const found = bySuffix.get(t.id.slice(0, 6)) ?? [];
    if (found.includes(t.dir) || found.length !== 1) continue;
    t.dir = found[0];
    n++;
  }
  return n;
}

/** Reads trials.json; a missing one means the directory is not a sweep. */
export async function readPlan(dir: string): Promise<PlannedTrial[]> {
  const plan = await readJSON<PlannedTrial[]>(`${dir}/trials.json`);
  if (!plan) throw new DmodelError(`${dir}/trials.json: not found (is ${dir} a sweep directory?)`);
  return plan;
}

/** Where a trial stands: done (result.json), partial (a checkpoint) or pending. */
export async function trialState(dir: string, t: PlannedTrial): Promise<{
  state: "done" | "partial" | "pending";
  result: TrialResult | null;
}> {
  const result = await readJSON<TrialResult>(`${dir}/${t.dir}/result.json`).catch(() => null);
  if (result) return { state: "done", result };
  return {
    state: (await exists(`${dir}/${t.dir}/checkpoint.safetensors`)) ? "partial" : "pending",
    result: null,
  };
}

/** Counts by outcome. */
export interface SweepSummary {
  total: number;
  done: number;
  ok: number;
  diverged: number;
  failed: number;
  partial: number;
  pending: number;
}

/** Summarizes a sweep from its files alone. */
export async function summarize(dir: string, trials: PlannedTrial[]): Promise<SweepSummary> {
  const s: SweepSummary = {
    total: trials.length,
    done: 0,
    ok: 0,
    diverged: 0,
    failed: 0,
    partial: 0,
    pending: 0,
  };
  for (const t of trials) {
    const { state, result } = await trialState(dir, t);
    if (state === "done") {
      s.done++;
      s[result!.status]++;
    } else s[state]++;
  }
  return s;
}

/** One line: "12/36 done (10 ok, 1 diverged, 1 failed), 2 partial, 22 pending". */
export function summaryLine(s: SweepSummary): string {
  return `${s.done}/${s.total} done (${s.ok} ok, ${s.diverged} diverged, ${s.failed} failed), ` +
    `${s.partial} partial, ${s.pending} pending`;
}

/**
 * Appends one line to `<dir>/events.jsonl` for a finished trial: written by
 * the process that finished it, right after its result.json, so a sweep
 * killed in between loses no record.
 */
export async function recordFinished(dir: string, t: PlannedTrial, status: string): Promise<void> {
  const line = JSON.stringify({ id: t.id, dir: t.dir, status, time: new Date().toISOString() }) + "\n";
  await Deno.writeTextFile(`${dir}/events.jsonl`, line, { append: true });
}

/** True when events.jsonl already records this trial finishing with this status. */
export async function finishRecorded(dir: string, id: string, status: string): Promise<boolean> {
  const text = await Deno.readTextFile(`${dir}/events.jsonl`).catch(() => "");
  return text.split("\n").some((l) => l.includes(`"id":"${id}"`) && l.includes(`"status":"${status}"`));
}
