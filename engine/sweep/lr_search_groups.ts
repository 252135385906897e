/**
 * The groups of an LR search (./lr_search.ts) and their trials: a group is
 * one point of the sweep's expansion without LR (every other axis fixed), all
 * its seeds together; its trial at an LR is the config a dense `optimizer.lr`
 * axis would make, so an adaptive sweep's trials match its dense twin's.
 */
import { checkTrial, getPath, trialDirName, trialId } from "../core/config.ts";
import { DmodelError } from "../core/errors.ts";
import { SCALE_CANDIDATES } from "../analysis/mod.ts";
import { type PlannedTrial, trialCost } from "./grid.ts";

/** A group of the search: one grid point without LR, its trials (one per seed) at the base LR. */
export interface SearchGroup {
  /** "model.width=32, parameterization.name=ngpt". */
  label: string;
  /** Values of the family axes joined by "/" ("all" without any). */
  family: string;
  /** Values of the scale axes. */
  scale: Record<string, number>;
  /** One template trial per seed (the base config's LR). */
  seeds: PlannedTrial[];
  /** Relative cost of one trial: scales run smallest first. */
  cost: number;
}

/** The scale axes of a sweep: the given ones, or the grid / zip paths among the usual scale columns. */
export function scaleAxes(axes: string[], given?: string[]): string[] {
  return given ?? SCALE_CANDIDATES.filter((c) => axes.includes(c));
}

/** An axis value in a group label: objects (a zipped `model: {...}`) as JSON, so distinct ones stay apart. */
const axisValue = (v: unknown) => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));

/**
 * Groups the expansion of a sweep (base x grid x zip x seeds) by everything but the seed and the LR (a zip
 * row's `optimizer.lr` is only where its group's search starts: `center: row`).
 */
export function searchGroups(templates: PlannedTrial[], scale: string[]): SearchGroup[] {
  const groups = new Map<string, SearchGroup>();
  for (const t of templates) {
    const keys = Object.entries(t.point).filter(([k]) => k !== "train.seed" && k !== "optimizer.lr").sort((
      [a],
      [b],
    ) => a.localeCompare(b));
    const label = keys.map(([k, v]) => `${k}=${axisValue(v)}`).join(", ") || "all";
    let g = groups.get(label);
    if (!g) {
      const fam = keys.filter(([k]) => !scale.includes(k)).map(([, v]) => axisValue(v));
      g = {
        label,
        family: fam.join("/") || "all",
        scale: Object.fromEntries(scale.map((a) => [a, Number(getPath(t.config, a.split(".")))])),
        seeds: [],
        cost: trialCost(t.config),
      };
      groups.set(label, g);
    }
    g.seeds.push(t);
  }
  return [...groups.values()];
}

/**
 * The trial of a template at another LR (the same config a dense `optimizer.lr` axis would make), and with
 * another seed when `seed` is given (the sequential search's extra seeds).
 */
export function lrTrial(tpl: PlannedTrial, lr: number, index: number, seed?: number): PlannedTrial {
  // A replay asks for the same trials again and again: resolve each (template, LR, seed) once.
  let memo = lrTrialMemo.get(tpl);
  if (!memo) lrTrialMemo.set(tpl, memo = new Map());
  const key = `${lr}/${seed ?? ""}`;
  const known = memo.get(key);
  if (known) return { ...known, index };
  const made = makeLrTrial(tpl, lr, index, seed);
  memo.set(key, made);
  return made;
}

const lrTrialMemo = new WeakMap<PlannedTrial, Map<string, PlannedTrial>>();

function makeLrTrial(tpl: PlannedTrial, lr: number, index: number, seed?: number): PlannedTrial {
  const raw = structuredClone(tpl.config) as unknown as {
    optimizer: { lr: number };
    train: { seed: number };
  };
  raw.optimizer.lr = lr;
  if (seed !== undefined) raw.train.seed = seed;
  const r = checkTrial(raw);
  if (!r.trial) throw new DmodelError(`lr_search: lr ${lr} makes an invalid trial: ${r.issues[0]?.message}`);
  const id = trialId(r.trial);
  return {
    index,
    id,
    dir: trialDirName(r.trial, id),
    point: { ...tpl.point, "optimizer.lr": lr, ...(seed !== undefined ? { "train.seed": seed } : {}) },
    config: r.trial,
  };
}
