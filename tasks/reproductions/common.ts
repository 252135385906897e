/**
 * What the sections of docs/reproductions.md share: where the committed run
 * directories live, copying a finished run's small files there, reading
 * their CSVs (arquero) and the verdict vocabulary.
 */
import * as aq from "arquero";
import type { ColumnTable } from "arquero";

/** Where the page and its run directories live (relative to the repository root). */
export interface ReproContext {
  /** docs/ */
  docs: string;
  /** docs/repro/: one committed directory per run, named as the pipeline. */
  repro: string;
}

/** The verdicts a claim can get. */
export type Verdict = "reproduced" | "partly" | "not reproduced" | "not yet run";

/** Files of a run directory worth keeping: tables, metrics, configs, results (no weights, no figures). */
const KEEP = /\.(csv|json|yaml)$/;

/**
 * Copies the small files of run directory `src` (top level, each trial
 * directory and its probes/) to `<repro>/<basename of src>/`; returns the
 * destination.
 *
 * @example
 * ```ts
 * await collectRun("runs/collapse-depth", "docs/repro"); // "docs/repro/collapse-depth"
 * ```
 */
export async function collectRun(src: string, repro: string): Promise<string> {
  const name = src.replace(/\/+$/, "").split("/").pop()!;
  const dst = `${repro}/${name}`;
  const copyDir = async (from: string, to: string, depth: number) => {
    for await (const e of Deno.readDir(from)) {
      if (e.isFile && KEEP.test(e.name) && !e.name.includes("checkpoint")) {
        await Deno.mkdir(to, { recursive: true });
        await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
      } else if (e.isDirectory && depth < 2 && e.name !== "checkpoints" && e.name !== "figures") {
        await copyDir(`${from}/${e.name}`, `${to}/${e.name}`, depth + 1);
      }
    }
  };
  await copyDir(src, dst, 0);
  return dst;
}

/** A CSV as an arquero table, or null when the file does not exist. */
export async function readTable(path: string): Promise<ColumnTable | null> {
  try {
    return aq.fromCSV(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** A JSON file, or null when it does not exist. */
export async function readJSON<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** A number for a table cell: `digits` significant digits, "–" when missing. */
export function num(v: unknown, digits = 3): string {
  return typeof v === "number" && Number.isFinite(v) ? String(+v.toPrecision(digits)) : "–";
}

/** A markdown table. */
export function mdTable(head: string[], rows: (string | number)[][]): string {
  const line = (r: (string | number)[]) =>
    `| ${r.map((c) => String(c).replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}
