// deno-lint-ignore-file no-explicit-any -- arquero parses row expressions from source; rows are untyped.
/**
 * Reading a sweep's results: `results.csv` (one row per trial, config
 * flattened by dotted path) and each trial's `metrics.csv` (one row per
 * logged step), as arquero tables.
 */
import * as aq from "arquero";
import { op } from "arquero";
import type { ColumnTable } from "arquero";
import { join } from "node:path";
import { DmodelError, show } from "../core/errors.ts";

export type { ColumnTable };

/** Trial outcomes the sweep writes in the `status` column. */
export const STATUSES = ["ok", "diverged", "failed"] as const;

/** Columns every `results.csv` must have. */
export const REQUIRED_COLUMNS = ["trial_id", "status", "final_val_loss", "optimizer.lr"];

/** Config columns tried, in order, when the scale axes are not given: those that vary are used. */
export const SCALE_CANDIDATES = [
  "model.width",
  "model.depth",
  "train.steps",
  "train.tokens",
  "data.seq_len",
];

/** Reads a text file, failing with a one-line DmodelError that names it. */
async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DmodelError(`${path}: file not found`);
    throw new DmodelError(`${path}: cannot read (${(e as Error).message})`);
  }
}

/**
 * Loads `<dir>/results.csv` as an arquero table. Checks the required columns
 * and the `status` values; a trial marked `ok` whose final loss is NaN is
 * re-marked `diverged`, one whose loss is empty `failed`.
 *
 * @example
 * ```ts
 * const trials = await loadResults("runs/width-transfer");
 * trials.groupby("model.width").count().print();
 * ```
 */
export async function loadResults(dir: string): Promise<ColumnTable> {
  const file = join(dir, "results.csv");
  const text = await readText(file);
  let table: ColumnTable;
  try {
    table = aq.fromCSV(text);
  } catch (e) {
    throw new DmodelError(`${file}: not a readable CSV (${(e as Error).message})`);
  }
  const names = table.columnNames();
  const missing = REQUIRED_COLUMNS.filter((c) => !names.includes(c));
  if (missing.length) {
    throw new DmodelError(
      `${file}: missing column${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`,
    );
  }
  const status = table.array("status") as unknown[];
  const ids = table.array("trial_id") as unknown[];
  for (let i = 0; i < status.length; i++) {
    if (!(STATUSES as readonly unknown[]).includes(status[i])) {
      throw new DmodelError(
        `${file}: trial ${show(ids[i])} has status ${show(status[i])}; expected ${STATUSES.join(" | ")}`,
      );
    }
  }
  return table.derive({
    status: (d: any) =>
      d.status === "ok" && !op.is_finite(d.final_val_loss)
        ? (op.is_nan(d.final_val_loss) ? "diverged" : "failed")
        : d.status,
  });
}

/**
 * Loads one trial's `metrics.csv` (`step,train_loss,val_loss,lr,tokens,elapsed`).
 * Returns null when the file does not exist (a trial that failed early).
 *
 * @example
 * ```ts
 * const m = await loadMetrics("runs/width-transfer", "a1b2c3d4");
 * if (m) console.log(m.filter((d) => d.val_loss != null).numRows());
 * ```
 */
export async function loadMetrics(dir: string, trialDir: string): Promise<ColumnTable | null> {
  const file = join(dir, trialDir, "metrics.csv");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new DmodelError(`${file}: cannot read (${(e as Error).message})`);
  }
  if (!text.trim()) return null;
  const t = aq.fromCSV(text);
  if (!t.columnNames().includes("step")) throw new DmodelError(`${file}: missing column step`);
  return t;
}

/**
 * The scale axes of a sweep: the candidates in `SCALE_CANDIDATES` that are
 * columns of the table and take more than one value.
 *
 * @example
 * ```ts
 * detectScales(await loadResults("runs/width-transfer")); // ["model.width"]
 * ```
 */
export function detectScales(table: ColumnTable): string[] {
  const names = table.columnNames();
  return SCALE_CANDIDATES.filter((c) => names.includes(c) && new Set(table.array(c) as unknown[]).size > 1);
}

/** Fails with a DmodelError when a named column is absent. */
export function requireColumns(table: ColumnTable, cols: string[], what: string): void {
  const names = table.columnNames();
  for (const c of cols) {
    if (!names.includes(c)) {
      const near = names.filter((n) => n.includes(".")).join(", ");
      throw new DmodelError(`${what}: no column ${show(c)} in results.csv; config columns: ${near}`);
    }
  }
}
