/**
 * Reading one results file, whatever wrote it, as an arquero table with the
 * name of each row for messages: CSV (or TSV), Arrow IPC, JSON lines (or a
 * JSON array of objects), Parquet. Nested JSON objects are flattened by
 * dotted path, as dmodel flattens a trial config; 64-bit integers become
 * numbers. CSV cells are typed per column: a column whose every non-empty
 * cell is a number is numeric, so one stray word never turns a column of
 * losses into strings (the cell checks of ./table.ts then name it).
 */
import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import { parquetReadObjects } from "hyparquet";
import { extname } from "node:path";
import { flatten } from "../core/config.ts";
import { DmodelError } from "../core/errors.ts";

/** The formats a results file may have, by extension. */
export const FORMATS: Record<string, "csv" | "tsv" | "arrow" | "jsonl" | "json" | "parquet"> = {
  ".csv": "csv",
  ".tsv": "tsv",
  ".arrow": "arrow",
  ".feather": "arrow",
  ".ipc": "arrow",
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".json": "json",
  ".parquet": "parquet",
};

/** One results file read: its table and how to name its rows (`row 3 (line 4)`). */
export interface ReadTable {
  /** The file read, as messages name it (a sweep table rebuilt from trial directories says so). */
  file: string;
  /** The rows as an arquero table. */
  table: ColumnTable;
  /** The place of data row `i` (0-based) in the file, for messages. */
  rowName: (i: number) => string;
}

/** Columns always kept as text (ids that may look like numbers). */
const TEXT_COLUMNS = new Set(["trial_id", "trial_dir", "id", "ID", "Name", "name", "run_id"]);

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A cell as a number: numbers as they are; text that spells a number,
 * NaN or inf(inity) parsed; empty, `null`, `none`, `NA` -> null (missing);
 * anything else -> undefined (not a number).
 *
 * @example
 * ```ts
 * parseNumber(" 3.5 "); // 3.5
 * parseNumber("nan");   // NaN
 * parseNumber("");      // null
 * parseNumber("3.5x");  // undefined
 * ```
 */
export function parseNumber(v: unknown): number | null | undefined {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v !== "string") return undefined;
  const s = v.trim();
  if (s === "" || /^(null|none|na|n\/a)$/i.test(s)) return null;
  if (NUMBER.test(s)) return Number(s);
  if (/^nan$/i.test(s)) return NaN;
  if (/^\+?inf(inity)?$/i.test(s)) return Infinity;
  if (/^-inf(inity)?$/i.test(s)) return -Infinity;
  return undefined;
}

/** Text columns of a CSV typed: numbers where every cell is one, booleans where every cell is one. */
function typeColumns(table: ColumnTable): ColumnTable {
  const cols: Record<string, unknown[]> = {};
  for (const name of table.columnNames()) {
    const cells = table.array(name) as (string | null)[];
    const text = Array.from(cells, (c) => (c === null || c === undefined || c.trim() === "" ? null : c));
    const present = text.filter((c) => c !== null) as string[];
    if (!TEXT_COLUMNS.has(name) && present.length && present.every((c) => parseNumber(c) !== undefined)) {
      cols[name] = text.map((c) => parseNumber(c));
    } else if (present.length && present.every((c) => c === "true" || c === "false")) {
      cols[name] = text.map((c) => (c === null ? null : c === "true"));
    } else cols[name] = text;
  }
  return aq.table(cols);
}

/** Rows of objects (flattened) as a table with every key a column. */
function fromObjects(rows: Record<string, unknown>[]): ColumnTable {
  const flat = rows.map((r) => flatten(r));
  const names = [...new Set(flat.flatMap((r) => Object.keys(r)))];
  const cols: Record<string, unknown[]> = {};
  for (const n of names) {
    cols[n] = flat.map((r) => {
      const v = r[n];
      return typeof v === "bigint" ? Number(v) : v === undefined ? null : v;
    });
  }
  return aq.table(cols);
}

/**
 * Parses CSV (or TSV) text; `file` names it in errors.
 *
 * @example
 * ```ts
 * const { table, rowName } = parseCSV("lr,loss\n0.01,3.2\n", "runs.csv");
 * rowName(0); // "row 1 (line 2)"
 * ```
 */
export function parseCSV(text: string, file: string, delimiter = ","): ReadTable {
  let table: ColumnTable;
  try {
    table = aq.fromCSV(text, { autoType: false, delimiter });
  } catch (e) {
    throw new DmodelError(
      `${file}: not a readable ${delimiter === "\t" ? "TSV" : "CSV"} (${(e as Error).message})`,
    );
  }
  // Data row i is on line i + 2 when no cell holds a line break (the header is line 1).
  const multiline = /"[^"]*\n/.test(text);
  return {
    file,
    table: typeColumns(table),
    rowName: (i) => multiline ? `row ${i + 1}` : `row ${i + 1} (line ${i + 2})`,
  };
}

/** Parses JSON lines (one object per line; blank lines skipped), or a JSON array of objects. */
export function parseJSON(text: string, file: string): ReadTable {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[")) {
    let rows: unknown;
    try {
      rows = JSON.parse(text);
    } catch (e) {
      throw new DmodelError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    const list = rows as unknown[];
    const bad = list.findIndex((r) => !r || typeof r !== "object" || Array.isArray(r));
    if (bad >= 0) throw new DmodelError(`${file}: element ${bad + 1} of the array is not an object`);
    return {
      file,
      table: fromObjects(list as Record<string, unknown>[]),
      rowName: (i) => `element ${i + 1}`,
    };
  }
  const rows: Record<string, unknown>[] = [];
  const lines: number[] = [];
  text.split("\n").forEach((line, k) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new DmodelError(`${file}:${k + 1}: not a JSON object (${(e as Error).message})`);
    }
    if (!v || typeof v !== "object" || Array.isArray(v)) {
      throw new DmodelError(`${file}:${k + 1}: not a JSON object`);
    }
    rows.push(v as Record<string, unknown>);
    lines.push(k + 1);
  });
  return { file, table: fromObjects(rows), rowName: (i) => `line ${lines[i]}` };
}

/** Reads a results file by its extension (see {@link FORMATS}). */
export async function readResultsFile(file: string): Promise<ReadTable> {
  const format = FORMATS[extname(file).toLowerCase()];
  if (!format) {
    throw new DmodelError(
      `${file}: unknown results format ${JSON.stringify(extname(file))}; known: ${
        Object.keys(FORMATS).join(", ")
      }`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DmodelError(`${file}: file not found`);
    throw new DmodelError(`${file}: cannot read (${(e as Error).message})`);
  }
  if (format === "arrow") {
    try {
      return { file, table: aq.fromArrow(bytes), rowName: (i) => `row ${i + 1}` };
    } catch (e) {
      throw new DmodelError(`${file}: not an Arrow IPC file (${(e as Error).message})`);
    }
  }
  if (format === "parquet") {
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file: bytes.slice().buffer });
    } catch (e) {
      throw new DmodelError(`${file}: not a readable Parquet file (${(e as Error).message})`);
    }
    return { file, table: fromObjects(rows), rowName: (i) => `row ${i + 1}` };
  }
  const text = new TextDecoder().decode(bytes);
  if (format === "csv" || format === "tsv") return parseCSV(text, file, format === "tsv" ? "\t" : ",");
  return parseJSON(text, file);
}
