/**
 * CSV, the one way dmodel writes and reads it: arquero's `toCSV` and
 * `fromCSV`. Numbers are written with 7 significant digits (non-finite ones
 * as NaN / Infinity), null and undefined as an empty cell; strings are
 * quoted when they hold a comma, quote or newline.
 */
import * as aq from "arquero";

/** A number as a CSV cell: 7 significant digits; "" for null or undefined. */
export function csvNumber(x: number | null | undefined): string {
  if (x === null || x === undefined) return "";
  return Number.isFinite(x) ? String(+x.toPrecision(7)) : String(x);
}

/**
 * CSV text of records: a header (unless `header: false`, for appending
 * rows to a file) and one line per record, each line ending in a newline.
 *
 * @example
 * ```ts
 * toCSV([{ step: 1, loss: 2.3456789012 }]); // "step,loss\n1,2.345679\n"
 * ```
 */
export function toCSV(
  rows: Record<string, unknown>[],
  columns: readonly string[] = Object.keys(rows[0] ?? {}),
  opts: { header?: boolean } = {},
): string {
  const cell = (v: unknown) => typeof v === "number" ? csvNumber(v) : v ?? null;
  const data = Object.fromEntries(columns.map((c) => [c, rows.map((r) => cell(r[c]))]));
  return aq.table(data).toCSV({ header: opts.header ?? true });
}

/** The records of a CSV text, every cell as written (an empty cell is null). */
export function fromCSV(text: string): { columns: string[]; rows: Record<string, string | null>[] } {
  const t = aq.fromCSV(text, { autoType: false });
  return { columns: t.columnNames(), rows: t.objects() as Record<string, string | null>[] };
}
