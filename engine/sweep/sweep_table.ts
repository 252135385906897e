/**
 * A dmodel sweep directory as a results table: its `results.csv`, with the
 * derived columns an older sweep lacks (`final_train_loss` and the scale
 * axes of ../sweep/scale_axes.ts) filled in from each trial's config.yaml,
 * result.json and params.json; or, when there is no `results.csv` (an
 * archive restored into runs/), the table rebuilt from the trial directories
 * the way the sweep writes it. Nothing is written: the directory is read only.
 *
 * Importing this module makes it the analysis's reader of sweep directories
 * (engine/analysis sits below the sweep and cannot import it; without it the
 * analysis reads `results.csv` as it is).
 */
import * as aq from "arquero";
import { join } from "node:path";
import { parse as parseYAML } from "yaml";
import { flatten, type TrialConfig, trialId } from "../core/config.ts";
import { DmodelError } from "../core/errors.ts";
import { exists, readJSON, readTextIfExists } from "../core/fs.ts";
import type { TrialResult } from "../train/result.ts";
import { parseCSV, type ReadTable } from "../analysis/read.ts";
import { useSweepReader } from "../analysis/table.ts";
import type { PlannedTrial } from "./grid.ts";
import { type ResultRow, resultRow, trialScaleAxes } from "./results.ts";
import { SCALE_AXES } from "./scale_axes.ts";

/** Columns a sweep's results.csv has today that older ones may lack, derived from the trial directories. */
export const DERIVED_COLUMNS = ["final_train_loss", ...SCALE_AXES];

/** A trial directory's config.yaml as a config (not re-validated: it was resolved when the trial ran). */
async function readConfig(path: string): Promise<TrialConfig | null> {
  const text = await readTextIfExists(path);
  if (text === null) return null;
  try {
    return parseYAML(text) as TrialConfig;
  } catch (e) {
    throw new DmodelError(`${path}: not readable YAML (${(e as Error).message.split("\n")[0]})`);
  }
}

/** The derived columns of one trial directory: final train loss and scale axes (null where unknown). */
async function derivedRow(dir: string, trialDir: string): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = Object.fromEntries(DERIVED_COLUMNS.map((c) => [c, null]));
  const config = await readConfig(join(dir, trialDir, "config.yaml"));
  if (!config) return out;
  const result = await readJSON<TrialResult>(join(dir, trialDir, "result.json")).catch(() => null);
  out.final_train_loss = result?.final_train_loss ?? null;
  const axes = await trialScaleAxes(dir, { id: "", dir: trialDir, config } as PlannedTrial);
  for (const k of SCALE_AXES) out[k] = axes?.[k] ?? null;
  return out;
}

/** The finished trials of a directory without results.csv, as the sweep would tabulate them. */
async function rebuildRows(dir: string): Promise<ResultRow[]> {
  const plan = await readJSON<PlannedTrial[]>(join(dir, "trials.json")).catch(() => null);
  const byDir = new Map((Array.isArray(plan) ? plan : []).filter((t) => t?.config).map((t) => [t.dir, t]));
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isDirectory) names.push(e.name);
  const rows: ResultRow[] = [];
  for (const name of names.sort()) {
    const result = await readJSON<TrialResult>(join(dir, name, "result.json")).catch(() => null);
    if (!result) continue;
    const config = byDir.get(name)?.config ?? await readConfig(join(dir, name, "config.yaml"));
    if (!config) continue;
    const trial: PlannedTrial = byDir.get(name) ??
      { id: trialId(config as TrialConfig), dir: name, config } as PlannedTrial;
    rows.push(resultRow(trial, result, await trialScaleAxes(dir, trial)));
  }
  return rows;
}

/**
 * The grid axes of a sweep (config keys that vary across its trials.json)
 * that results.csv lacks: a hand-edited table that lost a key column.
 */
async function missingGridAxes(dir: string, columns: string[]): Promise<string[]> {
  const plan = await readJSON<PlannedTrial[]>(join(dir, "trials.json")).catch(() => null);
  const configs = Array.isArray(plan)
    ? plan.map((t) => t?.config).filter((c) => c && typeof c === "object")
    : [];
  if (!configs.length) return [];
  const flat = configs.map((c) => flatten(c as unknown as Record<string, unknown>));
  const keys = [...new Set(flat.flatMap((r) => Object.keys(r)))];
  return keys.filter((k) => !columns.includes(k) && new Set(flat.map((r) => JSON.stringify(r[k]))).size > 1);
}

/**
 * Reads sweep directory `dir` as a results table (see the module comment).
 *
 * @example
 * ```ts
 * const { table } = await readSweepDir("runs/nugpt-width");
 * table.select("model.width", "n_params_nonembedding").dedupe().print();
 * ```
 */
export async function readSweepDir(dir: string): Promise<ReadTable & { rebuilt: boolean }> {
  const file = join(dir, "results.csv");
  let text: string | null = null;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new DmodelError(`${file}: cannot read (${(e as Error).message})`);
    }
  }
  if (text === null) {
    if (!(await exists(dir))) throw new DmodelError(`${dir}: no such file or directory`);
    const rows = await rebuildRows(dir);
    if (!rows.length) {
      throw new DmodelError(`${file}: file not found, and no finished trial (result.json) in ${dir}`);
    }
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const data: Record<string, unknown[]> = {};
    for (const c of columns) data[c] = rows.map((r) => r[c] ?? null);
    return {
      file: `${dir} (rebuilt from its trial directories)`,
      table: aq.table(data),
      rowName: (i) => `trial ${rows[i].trial_dir}`,
      rebuilt: true,
    };
  }
  const read = parseCSV(text, file);
  const names = read.table.columnNames();
  const lost = await missingGridAxes(dir, names);
  if (lost.length) {
    throw new DmodelError(
      `${file}: missing column${lost.length > 1 ? "s" : ""} ${lost.join(", ")} ` +
        `(a grid axis of this sweep: it varies across the trials of trials.json)`,
    );
  }
  const absent = DERIVED_COLUMNS.filter((c) => !names.includes(c));
  if (!absent.length || !names.includes("trial_dir")) return { ...read, rebuilt: false };
  const dirs = read.table.array("trial_dir") as unknown[];
  const derived = await Promise.all(dirs.map((d) => derivedRow(dir, String(d))));
  const cols: Record<string, unknown[]> = {};
  for (const c of absent) cols[c] = derived.map((r) => r[c]);
  return { ...read, table: read.table.assign(aq.table(cols)), rebuilt: false };
}

useSweepReader(readSweepDir);
