/**
 * A sweep on disk: `<dir>/trials.json` lists every planned trial (index,
 * id, directory, grid point, resolved config), and `<dir>/plugins.json` the
 * pipeline's plugin modules (absolute paths) that register components the
 * configs name, so that any process (a local worker, a Slurm array task,
 * `deno task trial`) can run trial i by index.
 */
import { DmodelError } from "../core/errors.ts";
import { exists, readJSON, writeFileAtomic } from "../core/fs.ts";
import { resultProblem, type TrialResult } from "../train/result.ts";
import type { PlannedTrial } from "./grid.ts";

/** Writes trials.json and plugins.json (the plugin modules' absolute paths) atomically. */
export async function writePlan(dir: string, trials: PlannedTrial[], plugins: string[] = []): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(`${dir}/plugins.json`, JSON.stringify(plugins, null, 1));
  await writeFileAtomic(`${dir}/trials.json`, JSON.stringify(trials, null, 1));
}

/** The plugin modules a sweep's trials import before they are built ([] for a sweep without plugins.json). */
export async function readPlugins(dir: string): Promise<string[]> {
  const plugins = await readJSON<unknown>(`${dir}/plugins.json`);
  if (plugins === null) return [];
  if (!Array.isArray(plugins) || plugins.some((p) => typeof p !== "string")) {
    throw new DmodelError(`${dir}/plugins.json: expected a list of plugin file paths`);
  }
  return plugins;
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

/**
 * Where a trial stands: done (a readable result.json), partial (a checkpoint) or pending. A result.json
 * that a fault damaged (`unreadable` says how) does not count: the trial runs again.
 */
export async function trialState(dir: string, t: PlannedTrial): Promise<{
  state: "done" | "partial" | "pending";
  result: TrialResult | null;
  unreadable?: string;
}> {
  let unreadable: string | undefined;
  try {
    const result = await readJSON<TrialResult>(`${dir}/${t.dir}/result.json`);
    const problem = result === null ? null : resultProblem(result);
    if (result && !problem) return { state: "done", result };
    if (problem) unreadable = problem;
  } catch (e) {
    unreadable = (e as Error).message.replace(`${dir}/${t.dir}/result.json: `, "");
  }
  return {
    state: (await exists(`${dir}/${t.dir}/checkpoint.safetensors`)) ? "partial" : "pending",
    result: null,
    ...(unreadable ? { unreadable } : {}),
  };
}

/** Counts by outcome. */
export interface SweepSummary {
  /** Planned trials. */
  total: number;
  /** Trials with a result.json: ok + diverged + failed. */
  done: number;
  /** Finished trials with status "ok". */
  ok: number;
  /** Finished trials with status "diverged". */
  diverged: number;
  /** Finished trials with status "failed". */
  failed: number;
  /** Unfinished trials with a checkpoint to resume from. */
  partial: number;
  /** Trials not started, or started without a checkpoint yet. */
  pending: number;
}

/**
 * The names in a sweep directory, listed once: a trial without a directory is pending, no file looked
 * up (the --status of a 100,000-trial plan that has barely started stays quick). Empty when it is absent.
 */
async function entries(dir: string): Promise<Set<string>> {
  const present = new Set<string>();
  try {
    for await (const e of Deno.readDir(dir)) present.add(e.name);
  } catch { /* no sweep directory yet */ }
  return present;
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
  const present = await entries(dir);
  for (const t of trials) {
    if (!present.has(t.dir)) {
      s.pending++;
      continue;
    }
    const { state, result } = await trialState(dir, t);
    if (state === "done") {
      s.done++;
      s[result!.status]++;
    } else s[state]++;
  }
  return s;
}

/**
 * What `--status` says below the summary line: each failed trial with its one-line error (and whether the
 * next run resumes it), each unreadable result.json; at most `max` lines, then a count of the rest.
 */
export async function problemLines(dir: string, trials: PlannedTrial[], max = 20): Promise<string[]> {
  const lines: string[] = [];
  const present = await entries(dir);
  for (const t of trials) {
    if (!present.has(t.dir)) continue; // never started
    const { result, unreadable } = await trialState(dir, t);
    if (unreadable) {
      lines.push(`unreadable: ${t.dir}/result.json (${unreadable}): the next run runs the trial again`);
    } else if (result?.status === "failed") {
      const again = result.requeue ? " [runs again on the next run]" : "";
      lines.push(`failed: ${t.dir}: ${(result.error ?? "no message").split("\n")[0]}${again}`);
    }
  }
  if (lines.length > max) {
    const n = lines.length - max;
    lines.splice(max, n, `... and ${n} more (results.csv has every error)`);
  }
  return lines;
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
