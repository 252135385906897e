/**
 * Archiving a sweep's finished trials in git: the finished trials of a run
 * directory (runs/ is not tracked), small files only, are packed into a
 * tracked folder's `trials/` tables (engine/sweep/trial_pack.ts), and
 * unpacked from there into runs/ byte for byte, so that a later sweep skips
 * what finished (a trial is done iff its `result.json` exists, and its
 * directory name carries the hash of its resolved config).
 *
 * Kept per finished trial: the files named in {@link TRIAL_FILES} and the
 * probe tables (`probes/*.csv`); never checkpoints or model weights. Kept
 * per sweep: its top-level tables and figures ({@link isSweepFile}). Trials
 * without a `result.json` (running or partial) are left out: a restored sweep
 * runs them again from the start.
 *
 * A sweep can also reuse another sweep's finished trials ({@link reuseTrials}),
 * from its run directory or its archive: a trial whose resolved config (its
 * id) matches is copied in instead of run.
 */
import { dirname } from "node:path";
import { DmodelError } from "../core/errors.ts";
import { exists, readJSON, writeFileAtomic } from "../core/fs.ts";
import type { PlannedTrial } from "./grid.ts";
import { PACK_DIR, PACK_INDEX, packTrials, type TrialFiles, unpackTrials } from "./trial_pack.ts";

/** A finished trial's small files. */
export const TRIAL_FILES = ["config.yaml", "result.json", "metrics.csv", "params.json"];
/** A top-level file of a sweep or study directory worth keeping: tables, plans, figures (not locks, logs, arrow). */
export function isSweepFile(name: string): boolean {
  return /\.(csv|json|yaml|md|png|svg)$/.test(name) && !name.includes(".tmp-");
}

/** What one snapshot or restore did. */
export interface ArchiveCount {
  /** Finished trials now present in the destination from the source. */
  trials: number;
  /** Of those, written by this call (the rest were there already). */
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

/** The small files of one finished trial ({@link TRIAL_FILES}, `probes/*.csv`), as text. */
async function smallFiles(path: string): Promise<string[]> {
  const out = TRIAL_FILES.filter((f) => f !== "result.json");
  if (await exists(`${path}/probes`)) {
    for await (const e of Deno.readDir(`${path}/probes`)) {
      if (e.isFile && e.name.endsWith(".csv")) out.push(`probes/${e.name}`);
    }
  }
  return [...out.sort(), "result.json"];
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A trial directory's small files, as text (they are UTF-8; a file that is not is an error naming it). */
export async function readTrialFiles(dir: string): Promise<TrialFiles> {
  const files: TrialFiles = new Map();
  for (const f of await smallFiles(dir)) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(`${dir}/${f}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    try {
      files.set(f, UTF8.decode(bytes));
    } catch {
      throw new DmodelError(`${dir}/${f}: not UTF-8 text, cannot be archived`);
    }
  }
  return files;
}

/** Writes a trial's files into `dir`, result.json last, so that the trial counts as done only once the rest is in place. */
export async function writeTrialFiles(dir: string, files: TrialFiles): Promise<void> {
  const paths = [...files.keys()].sort((a, b) => Number(a === "result.json") - Number(b === "result.json"));
  for (const f of paths) {
    await Deno.mkdir(dirname(`${dir}/${f}`), { recursive: true });
    await writeFileAtomic(`${dir}/${f}`, files.get(f)!);
  }
}

/**
 * Copies one finished trial's small files ({@link TRIAL_FILES}, `probes/*.csv`)
 * from directory `from` to `to`; result.json last, so that the trial counts
 * as done only once the rest is in place.
 */
export async function copyTrial(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for (const f of await smallFiles(from)) {
    if (f.startsWith("probes/")) await Deno.mkdir(`${to}/probes`, { recursive: true });
    await copyIfPresent(`${from}/${f}`, `${to}/${f}`);
  }
}

/** The finished trial directories of a sweep directory (those with config.yaml and result.json), and the unfinished count. */
async function finishedTrials(dir: string): Promise<{ names: string[]; unfinished: number }> {
  const names: string[] = [];
  let unfinished = 0;
  if (!(await exists(dir))) return { names, unfinished };
  for (const name of await subdirs(dir)) {
    if (!(await exists(`${dir}/${name}/config.yaml`))) continue; // not a trial (figures/, trials/, slurm/, ...)
    if (await exists(`${dir}/${name}/result.json`)) names.push(name);
    else unfinished++;
  }
  return { names, unfinished };
}

async function readPack(archiveDir: string): Promise<Map<string, TrialFiles>> {
  const where = `${archiveDir}/${PACK_DIR}`;
  const texts = new Map<string, string | null>();
  for (const path of await packFiles(where)) texts.set(path, await Deno.readTextFile(`${where}/${path}`));
  return unpackTrials(where, (path) => texts.get(path) ?? null);
}

/** The files of a `trials/` folder, relative to it. */
async function packFiles(where: string, sub = ""): Promise<string[]> {
  const out: string[] = [];
  if (!(await exists(`${where}${sub}`))) return out;
  for await (const e of Deno.readDir(`${where}${sub}`)) {
    const rel = `${sub}/${e.name}`;
    if (e.isDirectory) out.push(...await packFiles(where, rel));
    else if (e.isFile && !e.name.includes(".tmp-")) out.push(rel.slice(1));
  }
  return out;
}

/**
 * The finished trials an archive holds: its packed `trials/` folder, and any
 * trial directories beside it (an archive written before the packed form;
 * these win, being what a copy in place would have replaced).
 */
export async function readArchive(archiveDir: string): Promise<Map<string, TrialFiles>> {
  const trials = await readPack(archiveDir);
  for (const name of (await finishedTrials(archiveDir)).names) {
    trials.set(name, await readTrialFiles(`${archiveDir}/${name}`));
  }
  return trials;
}

/**
 * Writes `trials` as the packed `trials/` folder of `archiveDir`, then reads it
 * back and checks every file comes back byte-identical before anything else
 * in the archive is removed (a mismatch is an error naming trial and file).
 */
async function writePack(archiveDir: string, trials: Map<string, TrialFiles>): Promise<void> {
  if (!trials.size) return;
  const where = `${archiveDir}/${PACK_DIR}`;
  const pack = packTrials(trials);
  for (const [path, text] of pack) {
    await Deno.mkdir(dirname(`${where}/${path}`), { recursive: true });
    await writeFileAtomic(`${where}/${path}`, text);
  }
  for (const path of await packFiles(where)) {
    if (!pack.has(path)) await Deno.remove(`${where}/${path}`);
  }
  const back = await readPack(archiveDir);
  for (const [name, files] of trials) {
    for (const [f, text] of files) {
      if (back.get(name)?.get(f) !== text) {
        throw new DmodelError(
          `${where}: ${name}/${f} does not unpack to the same bytes (a bug in trial_pack.ts)`,
        );
      }
    }
  }
}

/**
 * Archives the finished trials of run directory `runDir` (small files only)
 * into the tracked folder `archiveDir`, packed (engine/sweep/trial_pack.ts):
 * trials already archived are kept, a trial in both is replaced by the run's
 * copy. Trial directories of an unpacked archive are packed and removed.
 * The sweep's top-level tables and figures ({@link isSweepFile}) are copied.
 */
export async function snapshotRun(runDir: string, archiveDir: string): Promise<ArchiveCount> {
  if (!(await exists(runDir))) throw new DmodelError(`${runDir}: no such run directory`);
  await Deno.mkdir(archiveDir, { recursive: true });
  const trials = await readArchive(archiveDir);
  const legacy = (await finishedTrials(archiveDir)).names;
  const { names, unfinished } = await finishedTrials(runDir);
  for (const name of names) trials.set(name, await readTrialFiles(`${runDir}/${name}`));
  await writePack(archiveDir, trials);
  for (const name of legacy) await Deno.remove(`${archiveDir}/${name}`, { recursive: true });
  for await (const e of Deno.readDir(runDir)) {
    if (e.isFile && isSweepFile(e.name)) {
      await copyIfPresent(`${runDir}/${e.name}`, `${archiveDir}/${e.name}`);
    }
  }
  return { trials: names.length, copied: names.length, unfinished };
}

/**
 * Unpacks the trials of `archiveDir` into trial directories under `runDir`:
 * trials the run directory already has finished are kept as they are; the
 * sweep's tables are not copied (the next sweep run rewrites them). Returns
 * the count and the trial directories it wrote.
 */
export async function unpackArchive(
  archiveDir: string,
  runDir: string,
): Promise<ArchiveCount & { written: string[] }> {
  if (!(await exists(archiveDir))) throw new DmodelError(`${archiveDir}: no such archive directory`);
  const trials = await readArchive(archiveDir);
  const written: string[] = [];
  await Deno.mkdir(runDir, { recursive: true });
  for (const [name, files] of [...trials].sort(([a], [b]) => a < b ? -1 : 1)) {
    if (await exists(`${runDir}/${name}/result.json`)) continue;
    await writeTrialFiles(`${runDir}/${name}`, files);
    written.push(name);
  }
  return { trials: trials.size, copied: written.length, unfinished: 0, written };
}

/** Restores an archived sweep into a run directory, so that a sweep run skips its finished trials ({@link unpackArchive}). */
export async function restoreRun(archiveDir: string, runDir: string): Promise<ArchiveCount> {
  const { trials, copied, unfinished } = await unpackArchive(archiveDir, runDir);
  return { trials, copied, unfinished };
}

/**
 * Runs `fn` with every packed study under `root` (`root/<study>/trials/`)
 * unpacked in place into its trial directories, as readers of run directories
 * expect; the trial directories it wrote are removed afterwards.
 */
export async function withUnpackedArchives<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const written: string[] = [];
  try {
    for (const study of (await exists(root)) ? await subdirs(root) : []) {
      if (!(await exists(`${root}/${study}/${PACK_DIR}/${PACK_INDEX}`))) continue;
      const u = await unpackArchive(`${root}/${study}`, `${root}/${study}`);
      written.push(...u.written.map((n) => `${root}/${study}/${n}`));
    }
    return await fn();
  } finally {
    for (const dir of written) await Deno.remove(dir, { recursive: true });
  }
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
 * resolved config, engine/core/config.ts trialId) and its result.json exists,
 * in a trial directory or packed (an archive's `trials/`).
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
    const packed = await readPack(source);
    for (const s of plan) {
      const t = left.get(s.id);
      if (!t) continue;
      if (packed.has(s.dir)) await writeTrialFiles(`${dst}/${t.dir}`, packed.get(s.dir)!);
      else if (await exists(`${source}/${s.dir}/result.json`)) {
        await copyTrial(`${source}/${s.dir}`, `${dst}/${t.dir}`);
      } else continue;
      left.delete(s.id);
      c.reused++;
      c.ids.push(s.id);
    }
  }
  return out;
}
