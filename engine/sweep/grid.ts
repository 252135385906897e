/**
 * Grid expansion: a base trial config plus axes (dotted paths with a list of
 * values, or a log-spaced range), zip groups (axes that move together) and
 * seeds -> the list of resolved trials, each with a stable id.
 *
 *   grid:
 *     parameterization.name: [ngpt, nugpt]
 *     optimizer.lr: {log2: [-12, -4], step: 0.5}     # 2^-12, 2^-11.5, ..., 2^-4
 *   zip:
 *     - {model.width: [64, 128, 256], train.steps: [100, 200, 400]}
 *   seeds: [0, 1, 2]
 */
import { z } from "zod";
import {
  checkTrial,
  DIR_NAME_PATHS,
  flatten,
  getPath,
  issueUnder,
  setPath,
  type TrialConfig,
  trialDirName,
  trialId,
} from "../core/config.ts";
import { shortKeys } from "../analysis/naming.ts";
import type { Issue } from "../core/errors.ts";

/** A log-spaced range: base^lo .. base^hi in steps of `step` in the exponent (inclusive). */
const LogRange = z.object({
  log2: z.tuple([z.number(), z.number()]).optional(),
  log10: z.tuple([z.number(), z.number()]).optional(),
  step: z.number().positive().default(1),
}).strict().refine((r) => (r.log2 ? 1 : 0) + (r.log10 ? 1 : 0) === 1, "give exactly one of log2 or log10");

/** Values of one axis: a list, or a log-spaced range. */
export const AxisSchema = z.union([z.array(z.unknown()).min(1), LogRange]);

/** The grid part of a sweep's options. */
export const GridSchema = {
  grid: z.record(z.string(), AxisSchema).default({}),
  zip: z.array(z.record(z.string(), z.array(z.unknown()).min(1))).default([]),
  seeds: z.array(z.number().int().nonnegative()).optional(),
};

/** The values of an axis. */
export function axisValues(v: z.infer<typeof AxisSchema>): unknown[] {
  if (Array.isArray(v)) return v;
  const [base, [lo]] = v.log2 ? [2, v.log2] : [10, v.log10!];
  const out: number[] = [];
  for (let i = 0; i < axisLength(v); i++) out.push(Math.pow(base, lo + i * v.step));
  return out;
}

/** How many values an axis has, counted without listing them (a log range may be huge). */
export function axisLength(v: z.infer<typeof AxisSchema>): number {
  if (Array.isArray(v)) return v.length;
  const [lo, hi] = v.log2 ?? v.log10!;
  return Math.max(0, Math.floor((hi - lo) / v.step + 1e-9) + 1);
}

/** The trials a sweep may plan unless told otherwise (`max_trials:`, `--max-trials`). */
export const DEFAULT_MAX_TRIALS = 100_000;

let maxTrialsOverride: number | undefined;
/** `--max-trials N`: the limit for every sweep loaded from now on in this process (over `max_trials:`). */
export function setMaxTrials(n: number | undefined): void {
  maxTrialsOverride = n;
}
/** The limit in force for a sweep whose pipeline says `max_trials` (or nothing). */
export function maxTrials(fromPipeline?: number): number {
  return maxTrialsOverride ?? fromPipeline ?? DEFAULT_MAX_TRIALS;
}

/**
 * The number of grid points base x grid x zip x seeds, by multiplication
 * (before expanding, which for a huge grid would exhaust memory), and the
 * factors as words for a message: "optimizer.lr 200001 x seeds 2".
 */
export function gridSize(spec: {
  grid: Record<string, z.infer<typeof AxisSchema>>;
  zip: Record<string, unknown[]>[];
  seeds?: number[];
}): { size: number; factors: string } {
  const factors: [string, number][] = Object.entries(spec.grid).map(([k, v]) => [k, axisLength(v)]);
  spec.zip.forEach((g, i) => {
    factors.push([`zip.${i}`, Math.max(0, ...Object.values(g).map((v) => v.length))]);
  });
  if (spec.seeds) factors.push(["seeds", spec.seeds.length]);
  return {
    size: factors.reduce((a, [, n]) => a * n, 1),
    factors: factors.map(([k, n]) => `${k} ${n}`).join(" x ") || "no axes",
  };
}

/** One trial of a sweep. */
export interface PlannedTrial {
  /** Position in the expanded plan, from 0. */
  index: number;
  /** Stable id: the first 12 hex digits of the sha256 of the canonical resolved config. */
  id: string;
  /** Directory name inside the sweep directory. */
  dir: string;
  /** The axis values that made this trial, by dotted path. */
  point: Record<string, unknown>;
  /** The resolved trial configuration. */
  config: TrialConfig;
}

/**
 * Expands base x grid x zip x seeds. Invalid combinations are reported with
 * the axis that produced them; duplicates (same resolved config) are merged.
 */
export function expandGrid(
  base: unknown,
  spec: {
    grid: Record<string, z.infer<typeof AxisSchema>>;
    zip: Record<string, unknown[]>[];
    seeds?: number[];
  },
): { trials: PlannedTrial[]; issues: Issue[] } {
  // Each factor is a list of partial assignments {path: value}; `source` says where each path is written.
  const factors: Record<string, unknown>[][] = [];
  const source = new Map<string, (string | number)[]>();
  for (const [path, axis] of Object.entries(spec.grid)) {
    factors.push(axisValues(axis).map((v) => ({ [path]: v })));
    source.set(path, ["grid", path]);
  }
  const issues: Issue[] = [];
  spec.zip.forEach((group, gi) => {
    const lens = Object.values(group).map((v) => v.length);
    if (new Set(lens).size > 1) {
      issues.push({ path: ["zip", gi], message: `zip axes must have equal lengths, got ${lens.join(", ")}` });
      return;
    }
    factors.push(Array.from({ length: lens[0] }, (_, i) => {
      const a: Record<string, unknown> = {};
      for (const [path, vals] of Object.entries(group)) a[path] = vals[i];
      return a;
    }));
    for (const path of Object.keys(group)) source.set(path, ["zip", gi, path]);
  });
  if (spec.seeds) {
    factors.push(spec.seeds.map((s) => ({ "train.seed": s })));
    source.set("train.seed", ["seeds"]);
  }
  let points: Record<string, unknown>[] = [{}];
  for (const f of factors) points = points.flatMap((p) => f.map((a) => ({ ...p, ...a })));

  // A problem an axis value causes is reported once, at the axis; one of the base once, at the base.
  const found = new Map<string, { issue: Issue; count: number; where: string }>();
  const trials: PlannedTrial[] = [];
  const seen = new Set<string>();
  for (const point of points) {
    const raw = structuredClone(base) as Record<string, unknown>;
    for (const [path, v] of Object.entries(point)) setPath(raw, path.split("."), structuredClone(v));
    const r = checkTrial(raw);
    if (!r.trial) {
      for (const i of r.issues) {
        const axis = Object.keys(point).find((p) => issueUnder(i, p.split(".")));
        const issue: Issue = axis
          ? {
            path: source.get(axis)!,
            message: i.message,
            ...(i.keys ? { keys: [] } : { value: point[axis] }),
          }
          : i;
        const key = JSON.stringify([issue.path, issue.message, issue.keys, issue.value]);
        const f = found.get(key);
        if (f) f.count++;
        else {
          const where = Object.entries(point).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
          found.set(key, { issue, count: 1, where: axis ? "" : where });
        }
      }
      continue;
    }
    const id = trialId(r.trial);
    if (seen.has(id)) continue;
    seen.add(id);
    trials.push({ index: trials.length, id, dir: trialDirName(r.trial, id), point, config: r.trial });
  }
  nameApart(trials);
  for (const { issue, count, where } of found.values()) {
    const some = where && count < points.length
      ? ` (in ${count} of ${points.length} trials, e.g. ${where})`
      : "";
    issues.push({ ...issue, message: issue.message + some });
  }
  return { trials, issues };
}

/**
 * Trial folder names that say what differs: where two trials of a sweep would get the same
 * readable name (they differ only in options the name does not show, e.g.
 * `parameterization.hidden_exponent`), every trial's name also carries those options as
 * `key=value` (`...-s0-hidden_exponent=0.75-a8d934`). Names of sweeps without such
 * trials are unchanged.
 */
export function nameApart(trials: PlannedTrial[]): void {
  const plain = new Map<string, Record<string, unknown>[]>();
  const flat = trials.map((t) => flatten(t.config as unknown as Record<string, unknown>));
  trials.forEach((t, i) => {
    const key = trialDirName(t.config, "").slice(0, -1);
    plain.set(key, [...(plain.get(key) ?? []), flat[i]]);
  });
  const differ = new Set<string>();
  for (const group of plain.values()) {
    if (group.length < 2) continue;
    const keys = new Set(group.flatMap((f) => Object.keys(f)));
    for (const k of keys) {
      if (DIR_NAME_PATHS.includes(k)) continue;
      if (new Set(group.map((f) => JSON.stringify(f[k]))).size > 1) differ.add(k);
    }
  }
  if (!differ.size) return;
  const paths = [...differ].sort();
  const names = shortKeys(paths);
  trials.forEach((t, i) => {
    const extra: Record<string, unknown> = {};
    paths.forEach((p, j) => {
      if (flat[i][p] !== undefined) extra[names[j]] = flat[i][p];
    });
    t.dir = trialDirName(t.config, t.id, extra);
  });
}

/** Relative cost of a trial (tokens x parameters), to run the cheapest first. */
export function trialCost(t: TrialConfig): number {
  const d = t.model.width, L = t.model.depth;
  const vocab = (t.data.tokenizer as { vocab_size?: number }).vocab_size ?? 256;
  return t.train.steps * t.train.batch_size * t.data.seq_len * (12 * d * d * L + 2 * vocab * d);
}

/**
 * The order a sweep runs its pending trials in: cheapest first; among trials of equal cost,
 * seed by seed (every grid point's first seed before any second seed), so that a sweep stopped
 * part-way through its costliest trials leaves every group with the same seeds done.
 */
export function runOrder(a: PlannedTrial, b: PlannedTrial): number {
  return trialCost(a.config) - trialCost(b.config) || a.config.train.seed - b.config.train.seed ||
    a.index - b.index;
}

/**
 * The trials of a sweep whose resolved config has every given value (`--set` overrides read
 * as a grid row: `parameterization.name=nugpt`, `model.width=64`), in plan order.
 *
 * @example
 * ```ts
 * matchingTrials(trials, [{ path: ["model", "width"], value: 64 }]).map((t) => t.index);
 * ```
 */
export function matchingTrials(
  trials: PlannedTrial[],
  sets: { path: string[]; value: unknown }[],
): PlannedTrial[] {
  const same = (a: unknown, b: unknown) =>
    typeof a === "number" && typeof b === "number"
      ? Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b))
      : JSON.stringify(a) === JSON.stringify(b);
  return trials.filter((t) => sets.every((s) => same(getPath(t.config, s.path), s.value)));
}

/** A grid point as one line: `parameterization={name: nugpt, ...}, model.width=16, optimizer.lr=0.0156`. */
export function pointText(point: Record<string, unknown>): string {
  const v = (x: unknown): string =>
    typeof x === "number"
      ? String(+x.toPrecision(4))
      : x && typeof x === "object"
      ? `{${Object.entries(x).map(([k, y]) => `${k}: ${v(y)}`).join(", ")}}`
      : String(x);
  return Object.entries(point).map(([k, x]) => `${k}=${v(x)}`).join(", ");
}
