/**
 * The packed form of a sweep's finished trials: a few reviewable tables in
 * place of one directory per trial, from which every trial directory comes
 * back byte for byte (the format is in docs/reproducing.md, "The archive").
 *
 * Under `<study>/trials/`:
 * - `index.jsonl`: one line per trial, `{"trial": <directory name>, ...}`,
 *   then one key per file of the trial: a `.json` file's parsed value
 *   (written back as `JSON.stringify(value, null, 1)`, as the trainer writes
 *   it), a `.yaml` file's parsed document (written back by `YAML.stringify`),
 *   a `.csv` file's column names (its rows are in the table below); a file
 *   that would not come back byte-identical that way is kept verbatim under
 *   `"text": {<path>: <content>}`.
 * - one long table per CSV file name (`metrics.csv`, `probes/<kind>.csv`):
 *   column `trial`, then the union of the trials' columns; each trial's rows in
 *   order, its cells verbatim, empty where the trial lacks the column.
 *
 * JSON Lines rather than CSV for the index: configs, results and parameter
 * lists are nested documents, which in a CSV cell would be escaped JSON
 * (every quote doubled) or YAML spread over many lines.
 */
import * as aq from "arquero";
import YAML from "yaml";
import { DmodelError, show } from "../core/errors.ts";

/** The folder of a study that holds its packed trials. */
export const PACK_DIR = "trials";
/** The index of a packed folder: one JSON line per trial. */
export const PACK_INDEX = "index.jsonl";

/** One trial's files: path inside the trial directory -> text. */
export type TrialFiles = Map<string, string>;

/** A packed folder: path inside `trials/` -> text. */
export type Pack = Map<string, string>;

/** A CSV the long table can hold exactly: plain cells (no quotes, no CR), one `\n` per line, equal field counts. */
function csvColumns(text: string): { columns: string[]; rows: string[][] } | null {
  if (!text.endsWith("\n") || text.includes('"') || text.includes("\r")) return null;
  const [head, ...rows] = text.slice(0, -1).split("\n").map((l) => l.split(","));
  if (head.includes("trial") || new Set(head).size !== head.length || head.some((c) => c === "")) return null;
  return rows.every((r) => r.length === head.length) ? { columns: head, rows } : null;
}

/** The value an index line keeps for a file, or undefined when only its verbatim text reproduces it. */
function encodeFile(path: string, text: string): unknown {
  let value: unknown;
  try {
    if (path.endsWith(".json")) value = JSON.parse(text);
    else if (path.endsWith(".yaml")) value = JSON.parse(JSON.stringify(YAML.parse(text)));
    else if (path.endsWith(".csv")) value = csvColumns(text)?.columns;
  } catch {
    return undefined;
  }
  if (value === undefined || path.endsWith(".csv")) return value;
  return decodeDocument(path, value) === text ? value : undefined;
}

function decodeDocument(path: string, value: unknown): string {
  return path.endsWith(".json") ? JSON.stringify(value, null, 1) : YAML.stringify(value);
}

/** Index key order: the small files first, params.json (long) last. */
function fileOrder(a: string, b: string): number {
  const rank = (p: string) => p === "result.json" ? 0 : p === "params.json" ? 3 : p.endsWith(".csv") ? 2 : 1;
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Packs trials (directory name -> files) into the files of a `trials/` folder. */
export function packTrials(trials: Map<string, TrialFiles>): Pack {
  const lines: string[] = [];
  const tables = new Map<string, { columns: string[]; cells: Map<string, string[]> }>();
  for (const dir of [...trials.keys()].sort()) {
    const entry: Record<string, unknown> = { trial: dir };
    const text: Record<string, string> = {};
    const files = trials.get(dir)!;
    for (const path of [...files.keys()].sort(fileOrder)) {
      const value = encodeFile(path, files.get(path)!);
      if (value === undefined) {
        text[path] = files.get(path)!;
        continue;
      }
      entry[path] = value;
      if (!path.endsWith(".csv")) continue;
      const { columns, rows } = csvColumns(files.get(path)!)!;
      const t = tables.get(path) ?? { columns: [], cells: new Map([["trial", []]]) };
      tables.set(path, t);
      for (const c of columns) {
        if (!t.cells.has(c)) {
          t.columns.push(c);
          t.cells.set(c, new Array(t.cells.get("trial")!.length).fill(""));
        }
      }
      for (const row of rows) {
        t.cells.get("trial")!.push(dir);
        for (const c of t.columns) t.cells.get(c)!.push(row[columns.indexOf(c)] ?? "");
      }
    }
    if (Object.keys(text).length) entry.text = text;
    lines.push(JSON.stringify(entry));
  }
  const pack: Pack = new Map([[PACK_INDEX, lines.map((l) => `${l}\n`).join("")]]);
  for (const [path, t] of tables) {
    pack.set(path, aq.table(Object.fromEntries(t.cells)).toCSV());
  }
  return pack;
}

/** One line of the index, checked: a plain directory name, file paths inside it, column lists, verbatim texts. */
function indexEntry(file: string, line: number, text: string): Record<string, unknown> {
  const fail = (msg: string) => new DmodelError(`${file}:${line}: ${msg}`);
  let e: unknown;
  try {
    e = JSON.parse(text);
  } catch (err) {
    throw fail(`not a JSON line: ${(err as Error).message}`);
  }
  const isObject = (x: unknown): x is Record<string, unknown> =>
    typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObject(e)) throw fail(`expected an object {"trial": ...}, got ${show(e)}`);
  if (typeof e.trial !== "string" || !/^[^/\\]+$/.test(e.trial) || e.trial === "." || e.trial === "..") {
    throw fail(`key "trial" must be a directory name, got ${show(e.trial)}`);
  }
  const verbatim = e.text ?? {};
  if (!isObject(verbatim)) throw fail(`key "text" must be an object, got ${show(verbatim)}`);
  const files = Object.entries(e).filter(([k]) => k !== "trial" && k !== "text");
  for (const [path, v] of [...files, ...Object.entries(verbatim)]) {
    if (!/^[\w.-]+(\/[\w.-]+)*$/.test(path) || path.split("/").some((p) => p === "." || p === "..")) {
      throw fail(`key ${show(path)} is not a file path inside a trial`);
    }
    if (Object.hasOwn(verbatim, path) && typeof verbatim[path] !== "string") {
      throw fail(`text.${path} must be a string, got ${show(verbatim[path])}`);
    }
    if (Object.hasOwn(verbatim, path)) continue;
    if (!/\.(json|yaml|csv)$/.test(path)) {
      throw fail(
        `key ${show(path)}: only .json, .yaml and .csv files are kept as values (others under "text")`,
      );
    }
    if (path.endsWith(".csv") && (!Array.isArray(v) || !v.every((c) => typeof c === "string"))) {
      throw fail(`key ${show(path)} must list column names`);
    }
  }
  return e;
}

/** The rows of a packed long table, by trial, cells as text; checked against the index. */
function tableRows(
  file: string,
  text: string,
  columnsOf: Map<string, string[]>,
): Map<string, Record<string, string>[]> {
  let t: aq.ColumnTable;
  try {
    t = aq.fromCSV(text, { autoType: false });
  } catch (e) {
    throw new DmodelError(`${file}: not a CSV table: ${(e as Error).message}`);
  }
  const names = t.columnNames();
  if (!names.includes("trial")) throw new DmodelError(`${file}:1: no "trial" column`);
  for (const [trial, cols] of columnsOf) {
    const missing = cols.find((c) => !names.includes(c));
    if (missing) throw new DmodelError(`${file}:1: no column ${show(missing)} (trial ${trial})`);
  }
  const out = new Map<string, Record<string, string>[]>();
  (t.objects() as Record<string, string | null>[]).forEach((row, i) => {
    const cols = columnsOf.get(row.trial ?? "");
    if (!cols) {
      throw new DmodelError(
        `${file}:${i + 2}: trial ${show(row.trial)} is not in ${PACK_INDEX} with this file's key`,
      );
    }
    for (const [c, v] of Object.entries(row)) {
      if (c !== "trial" && v !== null && v !== "" && !cols.includes(c)) {
        throw new DmodelError(
          `${file}:${i + 2}: trial ${row.trial} has no column ${show(c)}, but a value ${show(v)}`,
        );
      }
    }
    out.set(row.trial!, [...(out.get(row.trial!) ?? []), row as Record<string, string>]);
  });
  return out;
}

/**
 * Unpacks a `trials/` folder (`read(path)`: a file's text, null when absent)
 * into trials (directory name -> files). `where` names the folder in errors.
 */
export function unpackTrials(where: string, read: (path: string) => string | null): Map<string, TrialFiles> {
  const index = read(PACK_INDEX);
  if (index === null) return new Map();
  const entries = index.split("\n").map((l, i) => ({ l, line: i + 1 })).filter((x) => x.l.trim() !== "")
    .map(({ l, line }) => ({ line, e: indexEntry(`${where}/${PACK_INDEX}`, line, l) }));
  const columnsOf = new Map<string, Map<string, string[]>>();
  for (const { e } of entries) {
    for (const [path, v] of Object.entries(e)) {
      if (!path.endsWith(".csv")) continue;
      const m = columnsOf.get(path) ?? new Map<string, string[]>();
      columnsOf.set(path, m.set(e.trial as string, v as string[]));
    }
  }
  const rowsOf = new Map<string, Map<string, Record<string, string>[]>>();
  for (const [path, cols] of columnsOf) {
    const text = read(path);
    if (text === null) throw new DmodelError(`${where}/${path}: missing (named in ${PACK_INDEX})`);
    rowsOf.set(path, tableRows(`${where}/${path}`, text, cols));
  }
  const out = new Map<string, TrialFiles>();
  for (const { line, e } of entries) {
    const trial = e.trial as string;
    if (out.has(trial)) throw new DmodelError(`${where}/${PACK_INDEX}:${line}: trial ${trial} listed twice`);
    const files: TrialFiles = new Map();
    for (const [path, v] of Object.entries(e)) {
      if (path === "trial" || path === "text") continue;
      if (!path.endsWith(".csv")) files.set(path, decodeDocument(path, v));
      else {
        const cols = v as string[], rows = rowsOf.get(path)!.get(trial) ?? [];
        const lines = [cols, ...rows.map((r) => cols.map((c) => r[c] ?? ""))];
        files.set(path, lines.map((r) => `${r.join(",")}\n`).join(""));
      }
    }
    for (const [path, v] of Object.entries((e.text ?? {}) as Record<string, string>)) files.set(path, v);
    out.set(trial, files);
  }
  return out;
}
