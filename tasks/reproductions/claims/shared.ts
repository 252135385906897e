/**
 * What the other-claims subsections share (tasks/reproductions/other_claims.ts):
 * reading archived tables, table cells, trial wall times, where the archive is.
 */
import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import { normals } from "../../../engine/nn/init.ts";
import { readJSON } from "../../../engine/core/fs.ts";

/** A CSV as an arquero table, or null when the file does not exist. */
export async function readTable(path: string): Promise<ColumnTable | null> {
  try {
    return aq.fromCSV(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** A number for a table cell: `digits` significant digits, "–" when missing. */
export function sig(v: unknown, digits = 3): string {
  return typeof v === "number" && Number.isFinite(v) ? String(+v.toPrecision(digits)) : "–";
}

/** A markdown table (cells may hold "|"). */
export function mdTable(head: string[], rows: (string | number)[][]): string {
  const line = (r: (string | number)[]) =>
    `| ${r.map((c) => String(c).replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Sum of the trials' wall_s (result.json) of a study run directory, in minutes; null when none is archived. */
export async function studyWallMinutes(dir: string): Promise<number | null> {
  let total = 0, any = false;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isDirectory) continue;
      const r = await readJSON<{ wall_s?: number }>(`${dir}/${e.name}/result.json`).catch(() => null);
      if (typeof r?.wall_s === "number") {
        total += r.wall_s;
        any = true;
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return any ? total / 60 : null;
}

/** "measured wall time: 26.5 min ..." for a run directory. */
export function wallText(minutes: number | null): string {
  return minutes === null
    ? ""
    : `Measured wall time: ${sig(minutes, 3)} min (sum over its trials, on the shared 2-core machine ` +
      "running about ten jobs at once: an upper bound for an idle machine).";
}

/** Where runs live and how the page links to them. */
export interface ReproContext {
  /** The archive: one run directory per pipeline name. */
  repro: string;
  /** The archive's path relative to the markdown file's folder (figure links). */
  link: string;
}

export type Row = Record<string, unknown>;
export const rowsOf = (t: ColumnTable) => t.objects() as Row[];
export const f64 = (n: number, seed: number) => Float64Array.from(normals(n, seed));
