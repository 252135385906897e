/**
 * The trials of a sweep as the analysis shows them: the report's table of
 * trials, their training curves (each trial's metrics.csv), and each
 * family's base scale.
 */
import type { ColumnTable } from "arquero";
import type { z } from "zod";
import { has, resolve } from "../core/registry.ts";
import { objectShape } from "../core/suggest.ts";
import { loadMetrics } from "./load.ts";
import type { Optima } from "./optimum.ts";
import { baseGroup } from "./transfer.ts";
import { familyName, scaleLabel, shortName } from "./naming.ts";
import type { TrainingPoint } from "./figure_specs.ts";

/** One trial in the report's table of trials. */
export interface TrialRow {
  /** The family's name. */
  family: string;
  /** Its scale, as the groups label it ("16", "width=256, depth=4"). */
  label: string;
  /** The trial's learning rate. */
  lr: number;
  /** The trial's seed (null without a seed column). */
  seed: number | null;
  /** How the trial ended: "ok", "diverged" or "failed". */
  status: string;
  /** The analysed loss (optima.loss); NaN when there is none. */
  loss: number;
  /** Its folder inside the sweep directory, when results.csv names it. */
  dir: string | null;
}

/** The base scale a family's costs of transfer are measured from. */
export interface FamilyBase {
  /** The family's name. */
  family: string;
  /** The family's smallest scale in this sweep, as key=value ("width=16"). */
  base: string;
  /** The rule's own base shape when the config names one that differs ("base_width=32"), else null. */
  own: string | null;
}

/** "width=16" for a group's scale (several axes: their label as it is). */
function scaleKV(scale: Record<string, number>): string {
  return Object.entries(scale).map(([k, v]) => `${shortName(k)}=${v}`).join(", ") || "all";
}

/**
 * Each family's base scale: its smallest scale in this sweep, which the costs of transfer start
 * from; and the rule's own base (`parameterization.base_width` for `model.width`, ...) when the
 * results table has it and it differs.
 */
export function familyBases(optima: Optima, table: ColumnTable): FamilyBase[] {
  const rows = table.objects() as Record<string, unknown>[];
  const cols = new Set(table.columnNames());
  const out: FamilyBase[] = [];
  for (const family of [...new Set(optima.groups.map((g) => g.family))]) {
    const groups = optima.groups.filter((g) => g.family === family);
    const base = baseGroup(groups);
    const row = rows.find((r) => familyName(optima.by, r) === family);
    const own = optima.scale.flatMap((a) => {
      const col = `parameterization.base_${shortName(a)}`;
      const v = row && cols.has(col) ? Number(row[col]) : NaN;
      const rule = String(row?.["parameterization.name"] ?? "");
      return Number.isFinite(v) && v !== base.scale[a] && ruleNeeds(rule, `base_${shortName(a)}`)
        ? [`base_${shortName(a)}=${v}`]
        : [];
    });
    out.push({ family, base: scaleKV(base.scale), own: own.length ? own.join(", ") : null });
  }
  return out;
}

/** True when the registered rule `rule` requires option `key` (nuGPT's base_width; nGPT ignores one). */
function ruleNeeds(rule: string, key: string): boolean {
  if (!has("parameterization", rule)) return false;
  const field = objectShape(resolve("parameterization", rule).schema as z.ZodType)?.[key];
  return Boolean(field) && !field!.safeParse(undefined).success;
}

/** The rows of the report's table of trials, from the results table. */
export function trialRows(optima: Optima, table: ColumnTable): TrialRow[] {
  const cols = new Set(table.columnNames());
  return (table.objects() as Record<string, unknown>[]).map((r) => {
    const scale: Record<string, number> = {};
    for (const a of optima.scale) scale[a] = Number(r[a]);
    return {
      family: familyName(optima.by, r),
      label: optima.scale.length ? scaleLabel(scale) : "all",
      lr: Number(r[optima.lr]),
      seed: optima.seed && r[optima.seed] != null ? Number(r[optima.seed]) : null,
      status: String(r.status),
      loss: typeof r[optima.loss] === "number" ? r[optima.loss] as number : NaN,
      dir: cols.has("trial_dir") && r.trial_dir ? String(r.trial_dir) : null,
    };
  }).sort((a, b) =>
    a.family.localeCompare(b.family) || a.label.localeCompare(b.label, undefined, { numeric: true }) ||
    a.lr - b.lr || (a.seed ?? 0) - (b.seed ?? 0)
  );
}

/**
 * Train and val loss points of every trial's metrics.csv, tagged with its
 * group's family and label. A trial's directory lies in `dir`, or, for a
 * table combined from several sweeps, in its row's `source`.
 */
export async function trainingPoints(
  dir: string,
  table: ColumnTable,
  optima: Optima,
): Promise<TrainingPoint[]> {
  if (!table.columnNames().includes("trial_dir")) return [];
  const combined = table.columnNames().includes("source");
  const keys = [...optima.by, ...optima.scale.filter((s) => !optima.by.includes(s))];
  const byKey = new Map(optima.groups.map((g) => [JSON.stringify(keys.map((k) => g.keys[k])), g]));
  const out: TrainingPoint[] = [];
  for (const r of table.objects() as Record<string, string | number>[]) {
    const g = byKey.get(JSON.stringify(keys.map((k) => r[k])));
    if (!g || r.status === "failed") continue;
    const m = await loadMetrics(combined ? String(r.source) : dir, String(r.trial_dir));
    if (!m) continue;
    const names = m.columnNames();
    const steps = m.array("step") as number[];
    for (const split of ["train", "val"] as const) {
      if (!names.includes(`${split}_loss`)) continue;
      const v = m.array(`${split}_loss`) as number[];
      for (let i = 0; i < steps.length; i++) {
        if (typeof v[i] === "number" && !Number.isNaN(v[i])) {
          out.push({
            family: g.family,
            label: g.label,
            trial_id: String(r.trial_id),
            log2_lr: Math.log2(Number(r[optima.lr])),
            step: steps[i],
            split,
            loss: v[i],
            diverged: r.status === "diverged",
          });
        }
      }
    }
  }
  return out;
}
