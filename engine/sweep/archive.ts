/**
 * Archiving a sweep's finished trials in git: a run directory (runs/ is not
 * tracked) is copied, small files only, into a tracked folder, and restored
 * from there into runs/ so that a later sweep skips what finished
 * (a trial is done iff its `result.json` exists).
 *
 * Copied per finished trial: the files named in {@link TRIAL_FILES} and the
 * probe tables (`probes/*.csv`); never checkpoints or model weights. Copied
 * per sweep: {@link SWEEP_FILES}. Trials without a `result.json` (running or
 * partial) are left out: a restored sweep runs them again from the start.
 *
 * A sweep can also reuse another sweep's finished trials ({@link reuseTrials}):
 * a trial whose resolved config (its id) matches is copied in instead of run.
 */
import { DmodelError } from "../core/errors.ts";
import { exists, readJSON, writeFileAtomic } from "../core/fs.ts";
import type { PlannedTrial } from "./grid.ts";

/** A finished trial's small files. */
export const TRIAL_FILES = ["config.yaml", "result.json", "metrics.csv", "params.json"];
/** A top-level file of a sweep or study directory worth keeping: tables, plans, figures (not locks, logs, arrow). */
export function isSweepFile(name: string): boolean {
  return /\.(csv|json|yaml|md|png|svg)$/.test(name) && !name.includes(".tmp-");
}

/** What one copy did. */
export interface ArchiveCount {
  /** Finished trials now present in the destination. */
  trials: number;
  /** Of those, copied by this call (the rest were there already). */
  copied: number;
  /** Trial directories without result.json, left out. */
  unfinished: number;
}

async function copyIfPresent(from: string, to: string): Promise<boolean> {
  if (!(await exists(from))) return false;
  await writeFileAtomic(to, await Deno.readFile(from));
  return true;
}

async function subdirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isDirectory) out.push(e.name);
  return out.sort();
}

/**
 * Copies one finished trial's small files ({@link TRIAL_FILES}, `probes/*.csv`)
 * from directory `from` to `to`; result.json last, so that the trial counts
 * as done only once the rest is in place.
 */
export async function copyTrial(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for (const f of TRIAL_FILES.filter((f) => f !== "result.json")) {
    await copyIfPresent(`${from}/${f}`, `${to}/${f}`);
  }
  if (await exists(`${from}/probes`)) {
    await Deno.mkdir(`${to}/probes`, { recursive: true });
    for await (const e of Deno.readDir(`${from}/probes`)) {
      if (e.isFile && e.name.endsWith(".csv")) {
        await copyIfPresent(`${from}/probes/${e.name}`, `${to}/probes/${e.name}`);
      }
    }
  }
  await copyIfPresent(`${from}/result.json`, `${to}/result.json`);
}

/**
 * Copies the finished trials of sweep directory `src` (small files only) into
 * `dst`. A trial already in `dst` is overwritten only when `overwrite`.
 */
export async function copyFinishedTrials(
  src: string,
  dst: string,
  opts: { overwrite?: boolean; sweepFiles?: boolean } = {},
): Promise<ArchiveCount> {
  if (!(await exists(src))) throw new DmodelError(`${src}: no such run directory`);
  await Deno.mkdir(dst, { recursive: true });
  const count: ArchiveCount = { trials: 0, copied: 0, unfinished: 0 };
  for (const name of await subdirs(src)) {
    const from = `${src}/${name}`, to = `${dst}/${name}`;
    if (!(await exists(`${from}/config.yaml`))) continue; // not a trial (figures/, slurm/, ...)
    if (!(await exists(`${from}/result.json`))) {
      count.unfinished++;
      continue;
    }
    count.trials++;
    if (!opts.overwrite && (await exists(`${to}/result.json`))) continue;
    await copyTrial(from, to);
    count.copied++;
  }
  if (opts.sweepFiles ?? true) {
    for await (const e of Deno.readDir(src)) {
      if (!e.isFile || !isSweepFile(e.name)) continue;
      if (opts.overwrite || !(await exists(`${dst}/${e.name}`))) {
        await copyIfPresent(`${src}/${e.name}`, `${dst}/${e.name}`);
      }
    }
  }
  return count;
}

/** Archives a run directory into a tracked folder (replacing what the archive had for each trial). */
export function snapshotRun(runDir: string, archiveDir: string): Promise<ArchiveCount> {
  return copyFinishedTrials(runDir, archiveDir, { overwrite: true, sweepFiles: true });
}

/**
 * Restores an archived sweep into a run directory: trials the run directory
 * already has are kept as they are; the sweep's tables are not copied (the
 * next sweep run rewrites them).
 */
export function restoreRun(archiveDir: string, runDir: string): Promise<ArchiveCount> {
  return copyFinishedTrials(archiveDir, runDir, { overwrite: false, sweepFiles: false });
}

/** What reusing finished trials of other sweeps found, per source directory. */
export interface ReuseCount {
  source: string;
  /** Trials copied in. */
  reused: number;
  /** The ids of the trials copied in. */
  ids: string[];
  /** Why nothing could be read there (no such directory, no trials.json), if so. */
  skipped?: string;
}

/**
 * Copies into sweep directory `dst` the trials of `pending` that another
 * sweep has already finished with the same resolved config: a trial matches
 * when the source's trials.json lists the same trial id (the hash of the whole
 * resolved config, engine/core/config.ts trialId) and its result.json exists.
 * The first source that has a trial wins.
 */
export async function reuseTrials(
  sources: string[],
  dst: string,
  pending: PlannedTrial[],
): Promise<ReuseCount[]> {
  const left = new Map(pending.map((t) => [t.id, t]));
  const out: ReuseCount[] = [];
  for (const source of sources) {
    const c: ReuseCount = { source, reused: 0, ids: [] };
    out.push(c);
    if (!(await exists(source))) {
      c.skipped = "no such directory";
      continue;
    }
    const plan = await readJSON<PlannedTrial[]>(`${source}/trials.json`).catch(() => null);
    if (!plan) {
      c.skipped = "no trials.json (not a sweep directory)";
      continue;
    }
    for (const s of plan) {
      const t = left.get(s.id);
      if (!t || !(await exists(`${source}/${s.dir}/result.json`))) continue;
      await copyTrial(`${source}/${s.dir}`, `${dst}/${t.dir}`);
      left.delete(s.id);
      c.reused++;
      c.ids.push(s.id);
    }
  }
  return out;
}
