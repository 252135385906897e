/**
 * The sweep's results table: one row per finished trial (status, losses,
 * steps, wall time, tokens/s, probe values, the derived scale axes of
 * ./scale_axes.ts, and the trial config flattened by dotted path), written
 * atomically as results.csv and results.arrow.
 */
import * as aq from "arquero";
import { flatten, type TrialConfig } from "../core/config.ts";
import { DmodelError } from "../core/errors.ts";
import { readJSON, writeFileAtomic } from "../core/fs.ts";
import type { TrialResult } from "../train/result.ts";
import type { PlannedTrial } from "./grid.ts";
import {
  blockParams,
  configVocab,
  type Counted,
  SCALE_AXES,
  type ScaleAxes,
  scaleAxesOf,
} from "./scale_axes.ts";

/** One row of results.csv. */
export type ResultRow = Record<string, unknown>;

/** Reads the result of every finished trial; unfinished ones are absent. */
export async function collectResults(
  dir: string,
  trials: PlannedTrial[],
): Promise<{ trial: PlannedTrial; result: TrialResult }[]> {
  const out: { trial: PlannedTrial; result: TrialResult }[] = [];
  for (const trial of trials) {
    const result = await readJSON<TrialResult>(`${dir}/${trial.dir}/result.json`).catch(() => null);
    if (result) out.push({ trial, result });
  }
  return out;
}

/**
 * The derived scale axes of a trial in sweep directory `dir`: counted from
 * its block's declarations (the vocabulary from the config, or from the
 * trial's params.json when only the data fixes it); from params.json alone
 * when the registry does not hold the block (a plugin not loaded); null when
 * neither can tell.
 */
export async function trialScaleAxes(dir: string, trial: PlannedTrial): Promise<ScaleAxes | null> {
  const t = trial.config as TrialConfig;
  const saved = await readJSON<Counted[]>(`${dir}/${trial.dir}/params.json`).catch(() => null);
  const savedVocab = saved?.find((p) => p.role === "embedding")?.shape[0] ?? null;
  const vocab = configVocab(t) ?? savedVocab;
  if (vocab !== null) {
    try {
      return scaleAxesOf(t, blockParams(t, vocab));
    } catch (e) {
      if (!(e instanceof DmodelError)) throw e;
    }
  }
  return Array.isArray(saved) ? scaleAxesOf(t, saved) : null;
}

/** A results row: outcome columns first, then the derived scale axes, then the flattened config. */
export function resultRow(trial: PlannedTrial, r: TrialResult, axes: ScaleAxes | null = null): ResultRow {
  const row: ResultRow = {
    trial_id: trial.id,
    trial_dir: trial.dir,
    status: r.status,
    final_val_loss: r.final_val_loss ?? NaN,
    best_val_loss: r.best_val_loss ?? NaN,
    step0_val_loss: r.step0_val_loss ?? NaN,
    final_train_loss: r.final_train_loss ?? NaN,
    steps_done: r.steps_done,
    wall_s: r.wall_s,
    tokens_per_s: r.tokens_per_s,
    error: r.error ?? "",
  };
  for (const k of SCALE_AXES) row[k] = axes?.[k] ?? null;
  for (const [probe, metrics] of Object.entries(r.probes ?? {})) {
    for (const [k, v] of Object.entries(metrics)) row[`probe.${probe}.${k}`] = v;
  }
  return { ...row, ...flatten(trial.config as unknown as Record<string, unknown>) };
}

/** Rewrites results.csv and results.arrow from the trial directories. Returns the rows. */
export async function writeResults(dir: string, trials: PlannedTrial[]): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const { trial, result } of await collectResults(dir, trials)) {
    rows.push(resultRow(trial, result, await trialScaleAxes(dir, trial)));
  }
  // Every row gets every column (a probe may be absent from some trials).
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const data: Record<string, unknown[]> = {};
  for (const c of columns) data[c] = rows.map((r) => r[c] ?? null);
  const table = aq.table(data);
  await writeFileAtomic(`${dir}/results.csv`, aq.toCSV(table));
  await writeFileAtomic(`${dir}/results.arrow`, aq.toArrowIPC(table) as Uint8Array);
  return rows;
}
