/**
 * Reading a sweep's results: the results table (./table.ts: a sweep's
 * `results.csv` or any trainer's results file) and each trial's
 * `metrics.csv` (one row per logged step), as arquero tables.
 */
import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import { join } from "node:path";
import { DmodelError, show } from "../core/errors.ts";

export type { ColumnTable };

/** Trial outcomes the analysis distinguishes (the canonical `status` column). */
export const STATUSES = ["ok", "diverged", "failed"] as const;

/** Config columns tried, in order, when the scale axes are not given: those that vary are used. */
export const SCALE_CANDIDATES = [
  "model.width",
  "model.depth",
  "train.steps",
  "train.tokens",
  "data.seq_len",
];

/** Sweep directories or results files of any trainer, checked: see ./table.ts. */
export { checkTable, type ColumnMap, loadResults, STATUS_WORDS } from "./table.ts";

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
