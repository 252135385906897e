/**
 * The results table of an analysis, from any trainer: one or more dmodel
 * sweep directories or results files (CSV, TSV, Arrow IPC, JSON lines,
 * Parquet), combined with a `source` column when there are several, their
 * columns named by a {@link ColumnMap} and every cell the analysis reads
 * checked. A bad cell is a one-line error naming file, row and column,
 * raised before any work starts; no row is silently dropped.
 *
 * Status words (case-insensitive), {@link STATUS_WORDS}:
 * - ok: ok, finished, success, succeeded, completed, complete, done;
 * - diverged: diverged, nan;
 * - failed: failed, crashed, killed, error, errored, failure, preempted, timeout, cancelled, canceled, oom.
 * A run marked ok whose loss is empty or non-finite (NaN, inf) counts as
 * diverged; without a status column every run with a finite loss is ok and
 * every other one diverged. A run still going (running, pending, ...) is an
 * error: finish it or leave it out.
 */
import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import { DmodelError, show } from "../core/errors.ts";
import { detectScales } from "./load.ts";
import { join } from "node:path";
import { parseCSV, parseNumber, readResultsFile, type ReadTable } from "./read.ts";

/** Which columns hold what; the defaults are dmodel's own names. */
export interface ColumnMap {
  /** Learning rate. Default `optimizer.lr`. */
  lr?: string;
  /** The loss eta* minimizes. Default `final_val_loss`. */
  loss?: string;
  /** Seed. Default `train.seed` when present (absent: one seed per LR). */
  seed?: string;
  /** Run status, mapped by {@link STATUS_WORDS}. Default `status` when present (absent: from the loss). */
  status?: string;
  /** Family keys. Default `parameterization.name` when present. */
  by?: string[];
  /** Scale axes: numeric columns > 0. Default: the dmodel config columns that vary (`detectScales`). */
  scale?: string[];
}

/** Status words by outcome, compared case-insensitively. */
export const STATUS_WORDS = {
  ok: ["ok", "finished", "success", "succeeded", "completed", "complete", "done"],
  diverged: ["diverged", "nan"],
  failed: [
    "failed",
    "crashed",
    "killed",
    "error",
    "errored",
    "failure",
    "preempted",
    "timeout",
    "cancelled",
    "canceled",
    "oom",
  ],
} as const;

/** Words of runs not finished yet: refused with a hint. */
const UNFINISHED = ["running", "pending", "queued", "started", "starting", "scheduled"];

type Outcome = keyof typeof STATUS_WORDS;

function outcomeOf(word: string): Outcome | null {
  const w = word.trim().toLowerCase();
  for (const k of Object.keys(STATUS_WORDS) as Outcome[]) {
    if ((STATUS_WORDS[k] as readonly string[]).includes(w)) return k;
  }
  return null;
}

/** The column names a map resolves to on a table (defaults filled in). */
export interface ResolvedColumns {
  lr: string;
  loss: string;
  seed: string | null;
  status: string | null;
  by: string[];
  scale: string[];
}

/**
 * Fills in a map's defaults for a table (see {@link ColumnMap}).
 *
 * @example
 * ```ts
 * resolveColumns(table, { lr: "lr", loss: "val/loss" }).seed; // "train.seed" if the table has it
 * ```
 */
export function resolveColumns(table: ColumnTable, map: ColumnMap = {}): ResolvedColumns {
  const names = table.columnNames();
  return {
    lr: map.lr ?? "optimizer.lr",
    loss: map.loss ?? "final_val_loss",
    seed: map.seed ?? (names.includes("train.seed") ? "train.seed" : null),
    status: map.status ?? (names.includes("status") ? "status" : null),
    by: map.by ?? (names.includes("parameterization.name") ? ["parameterization.name"] : []),
    scale: map.scale ?? detectScales(table),
  };
}

/** The missing mapped columns of a table, as "\"x\" (--flag)" strings. */
function missingColumns(names: string[], c: ResolvedColumns): string[] {
  const wanted: [string, string][] = [
    [c.lr, "--lr"],
    [c.loss, "--loss"],
    ...(c.seed ? [[c.seed, "--seed"] as [string, string]] : []),
    ...(c.status ? [[c.status, "--status"] as [string, string]] : []),
    ...c.by.map((b) => [b, "--by"] as [string, string]),
    ...c.scale.map((s) => [s, "--scale"] as [string, string]),
  ];
  return wanted.filter(([col]) => !names.includes(col)).map(([col, flag]) => `${show(col)} (${flag})`);
}

/** Fails naming the missing columns of `file`, with the columns it has. */
function requireMapped(file: string, names: string[], c: ResolvedColumns): void {
  const missing = missingColumns(names, c);
  if (missing.length) {
    const list = names.length > 40 ? `${names.slice(0, 40).join(", ")}, ...` : names.join(", ");
    throw new DmodelError(
      `${file}: missing column${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; it has: ${list}`,
    );
  }
}

/**
 * Checks and types the cells an analysis reads, and writes the canonical
 * `status` column (ok | diverged | failed): LR and scale cells must be
 * numbers > 0, loss cells numbers (empty, NaN or inf for a run without a
 * finite loss), seed cells non-empty, status cells a word of
 * {@link STATUS_WORDS}. The first bad cell fails with
 * `<file>: <row>: column "<name>": <what>`.
 *
 * @example
 * ```ts
 * const t = checkTable(aq.from(rows), { lr: "lr", loss: "val_loss", scale: ["d_model"] });
 * ```
 */
export function checkTable(
  table: ColumnTable,
  map: ColumnMap = {},
  where: (i: number) => string = (i) => `table: row ${i + 1}`,
): ColumnTable {
  const c = resolveColumns(table, map);
  requireMapped("table", table.columnNames(), c);
  const n = table.numRows();
  const bad = (i: number, col: string, what: string) =>
    new DmodelError(`${where(i)}: column ${show(col)}: ${what}`);
  const positive = (col: string, kind: string): number[] => {
    const cells = table.array(col) as unknown[];
    return Array.from({ length: n }, (_, i) => {
      const v = parseNumber(cells[i]);
      if (v === null) throw bad(i, col, `empty; every run needs its ${kind}`);
      if (v === undefined || !(v > 0 && Number.isFinite(v))) {
        throw bad(i, col, `${show(cells[i])} is not ${kind === "LR" ? "an LR" : "a scale"} (a number > 0)`);
      }
      return v;
    });
  };
  const cols: Record<string, unknown[]> = {};
  cols[c.lr] = positive(c.lr, "LR");
  for (const s of c.scale) cols[s] = positive(s, "scale value");
  const lossCells = table.array(c.loss) as unknown[];
  const loss = Array.from({ length: n }, (_, i) => {
    const v = parseNumber(lossCells[i]);
    if (v === undefined) {
      throw bad(
        i,
        c.loss,
        `${
          show(lossCells[i])
        } is not a number (a loss is a number; empty, NaN or inf marks a run without a finite loss)`,
      );
    }
    return v === null ? NaN : v;
  });
  cols[c.loss] = loss;
  // An empty family key is a value (an option some families do not have); an empty seed is a gap.
  if (c.seed) {
    (table.array(c.seed) as unknown[]).forEach((v, i) => {
      if (v === null || v === undefined || (typeof v === "string" && !v.trim())) {
        throw bad(i, c.seed!, "empty; every run needs its seed");
      }
    });
  }
  const statusCells = c.status ? table.array(c.status) as unknown[] : null;
  cols.status = Array.from({ length: n }, (_, i) => {
    let outcome: Outcome = "ok";
    if (statusCells) {
      const v = statusCells[i];
      const word = v === null || v === undefined ? "" : String(v);
      const o = outcomeOf(word);
      if (!o) {
        const hint = UNFINISHED.includes(word.trim().toLowerCase())
          ? "a run not finished yet: finish it or leave it out"
          : `known: ${STATUS_WORDS.ok.join(", ")} (ok); ${STATUS_WORDS.diverged.join(", ")} (diverged); ` +
            `${STATUS_WORDS.failed.join(", ")} (failed)`;
        throw bad(i, c.status!, `${word.trim() ? show(v) : "empty"} is not a run status; ${hint}`);
      }
      outcome = o;
    }
    return outcome === "ok" && !Number.isFinite(loss[i]) ? "diverged" : outcome;
  });
  return table.assign(aq.table(cols));
}

/** A sweep directory's `results.csv` as it is. */
async function readResultsCsv(dir: string): Promise<ReadTable> {
  const file = join(dir, "results.csv");
  try {
    return parseCSV(await Deno.readTextFile(file), file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      const there = await Deno.stat(dir).then(() => true, () => false);
      throw new DmodelError(there ? `${file}: file not found` : `${dir}: no such file or directory`);
    }
    throw e instanceof DmodelError ? e : new DmodelError(`${file}: cannot read (${(e as Error).message})`);
  }
}

let sweepReader: (dir: string) => Promise<ReadTable> = readResultsCsv;

/**
 * Sets how a sweep directory is read. engine/sweep/sweep_table.ts installs
 * its reader on import (derived columns for older sweeps, the table rebuilt
 * from trial directories, lost grid columns named); the tasks and `mod.ts`
 * import it. Until then a directory's `results.csv` is read as it is.
 */
export function useSweepReader(read: (dir: string) => Promise<ReadTable>): void {
  sweepReader = read;
}

/** Sweep directory or results file, read. */
async function readInput(path: string): Promise<ReadTable> {
  let isDir = false;
  try {
    isDir = (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new DmodelError(`${path}: cannot read (${(e as Error).message})`);
    }
    // A path that does not exist: a directory unless it names a file format.
    isDir = !/\.[a-z]+$/i.test(path);
  }
  return isDir ? sweepReader(path) : readResultsFile(path);
}

/**
 * Loads one or more sweep directories or results files as one checked table
 * (see {@link checkTable}); with several, a `source` column holds each row's
 * path. A mapped column missing from one input fails naming that input.
 *
 * @example
 * ```ts
 * const runs = await loadResults("export.csv", { lr: "lr", loss: "val/loss", status: "State" });
 * const both = await loadResults(["runs/nugpt-width", "runs/nugpt-width-256"]);
 * ```
 */
export async function loadResults(paths: string | string[], map: ColumnMap = {}): Promise<ColumnTable> {
  const list = typeof paths === "string" ? [paths] : paths;
  if (!list.length) throw new DmodelError("analysis: no results given");
  const inputs: ReadTable[] = [];
  for (const p of list) inputs.push(await readInput(p));
  let table: ColumnTable;
  if (inputs.length === 1) table = inputs[0].table;
  else {
    for (const r of inputs) {
      if (r.table.columnNames().includes("source")) {
        throw new DmodelError(`${r.file}: has a column "source", which combining inputs would overwrite`);
      }
    }
    const names = [...new Set(inputs.flatMap((r) => r.table.columnNames()))];
    const cols: Record<string, unknown[]> = {
      source: inputs.flatMap((r, k) => Array(r.table.numRows()).fill(list[k])),
    };
    for (const name of names) {
      cols[name] = inputs.flatMap((r) =>
        r.table.columnNames().includes(name)
          ? Array.from(r.table.array(name) as unknown[])
          : Array(r.table.numRows()).fill(null)
      );
    }
    table = aq.table(cols);
  }
  const resolved = resolveColumns(table, map);
  for (const r of inputs) requireMapped(r.file, r.table.columnNames(), resolved);
  const offsets = inputs.map((_, k) => inputs.slice(0, k).reduce((a, r) => a + r.table.numRows(), 0));
  const where = (i: number) => {
    let k = inputs.length - 1;
    while (offsets[k] > i) k--;
    return `${inputs[k].file}: ${inputs[k].rowName(i - offsets[k])}`;
  };
  return checkTable(
    table,
    { ...resolved, seed: resolved.seed ?? undefined, status: resolved.status ?? undefined },
    where,
  );
}
