/**
 * Where one group of an LR search (./lr_search.ts) stands while the search is
 * replayed: its centre, its planned trials by lattice point and the
 * sequential search's extra ones, their results, its last step; and what
 * follows from that: its compute, its report row, and the view the
 * sequential search's planner takes of it (./answer_plan.ts).
 */
import { getPath } from "../core/config.ts";
import type { TrialResult } from "../train/result.ts";
import type { Compute } from "./answer.ts";
import type { PlanGroup } from "./answer_plan.ts";
import { trialFlops } from "./compute.ts";
import type { PlannedTrial } from "./grid.ts";
import type { SearchGroup } from "./lr_search_groups.ts";
import type { Lattice } from "./lr_search_options.ts";
import type { LrPoint, SearchStep } from "./lr_search_rule.ts";

/** Where one group stands, for --status, search.json and the report. */
export interface GroupReport {
  group: string;
  family: string;
  scale: Record<string, number>;
  state: "waiting" | "running" | "done";
  phase: SearchStep["phase"] | "waiting";
  /** LRs with every seed finished. */
  lrs_run: number;
  /** LRs planned so far (run or running). */
  lrs_planned: number;
  trials: number;
  center_lr: number | null;
  /** How the centre was chosen. */
  center_from: string;
  best_lr: number | null;
  bracketed: boolean;
  range_edge: "low" | "high" | null;
  basin: number;
  why: string;
  /** FLOPs of the finished trials (steps run x model FLOPs per step). */
  flops: number;
  /** FLOPs of the dense grid at `resolution` over `range` (the LRs that ran at their cost, the rest at full steps). */
  dense_flops: number;
  dense_trials: number;
}

/** One group while the search is replayed. */
export interface GroupState {
  g: SearchGroup;
  center: number | null;
  center_from: string;
  /** Lattice point -> the seeds' trials. */
  planned: Map<number, PlannedTrial[]>;
  points: Map<number, LrPoint>;
  results: Map<string, TrialResult>;
  step: SearchStep | null;
  done: boolean;
  /** The sequential search's trials (half-lattice index h: log2 eta = lo + h resolution / 2). */
  extra: { h: number; seed: number; trial: PlannedTrial }[];
}

/** A group before any trial: no centre, nothing planned. */
export function newGroupState(g: SearchGroup): GroupState {
  return {
    g,
    center: null,
    center_from: "",
    planned: new Map(),
    points: new Map(),
    results: new Map(),
    step: null,
    done: false,
    extra: [],
  };
}

/** Every trial a group planned: the bracketing's, then the sequential search's. */
export const groupTrials = (
  s: GroupState,
) => [...[...s.planned.values()].flat(), ...s.extra.map((e) => e.trial)];

/** Compute of the finished trials of some groups: FLOPs of the steps run, and wall time. */
export function spentOf(states: GroupState[]): Compute & { trials: number } {
  let flops = 0, hours = 0, trials = 0;
  for (const s of states) {
    for (const t of groupTrials(s)) {
      const r = s.results.get(t.id);
      if (!r) continue;
      flops += trialFlops(t.config, r.steps_done), hours += (r.wall_s ?? 0) / 3600, trials++;
    }
  }
  return { flops, hours, trials };
}

/** The family of a group as the analysis names it: the values of the `by` axes, in their order, joined by "/". */
export const familyOf = (s: GroupState, by: string[]) =>
  by.map((k) => String(getPath(s.g.seeds[0].config, k.split(".")))).join("/") || "all";

/** A group as the planner of the sequential search sees it (./answer_plan.ts). */
export function planGroup(s: GroupState, scale: string): PlanGroup {
  const points = new Map<number, { seeds: Set<number>; ok: number; unstable: boolean }>();
  const add = (h: number, t: PlannedTrial) => {
    const p = points.get(h) ?? { seeds: new Set<number>(), ok: 0, unstable: false };
    points.set(h, p);
    p.seeds.add(t.config.train.seed);
    const r = s.results.get(t.id);
    if (!r) return;
    const loss = r.final_val_loss;
    if (r.status === "ok" && loss !== null && Number.isFinite(loss)) p.ok++;
    else p.unstable = true;
  };
  for (const [k, ts] of s.planned) for (const t of ts) add(2 * k, t);
  for (const e of s.extra) add(e.h, e.trial);
  const tpl = s.g.seeds[0].config;
  const walls = groupTrials(s).map((t) => s.results.get(t.id)).filter((r) => r?.status === "ok")
    .map((r) => r!.wall_s ?? 0);
  return {
    label: s.g.label,
    scale: s.g.scale[scale],
    cost: {
      flops: trialFlops(tpl, tpl.train.steps),
      hours: walls.length ? walls.reduce((a, b) => a + b, 0) / walls.length / 3600 : 0,
    },
    points,
    baseSeeds: s.g.seeds.map((t) => t.config.train.seed),
  };
}

/** The report row of a group: where it stands, its compute and the dense grid's. */
export function groupReport(s: GroupState, lat: Lattice): GroupReport {
  let flops = 0, dense = 0;
  const ran = new Map<string, number>(); // `${k}/${seed index}` -> FLOPs it cost
  for (const [k, ts] of s.planned) {
    ts.forEach((t, j) => {
      const r = s.results.get(t.id);
      if (!r) return;
      const f = trialFlops(t.config, r.steps_done);
      flops += f;
      ran.set(`${k}/${j}`, f);
    });
  }
  for (const e of s.extra) {
    const r = s.results.get(e.trial.id);
    if (r) flops += trialFlops(e.trial.config, r.steps_done);
  }
  for (let k = 0; k < lat.n; k++) {
    s.g.seeds.forEach((tpl, j) => {
      dense += ran.get(`${k}/${j}`) ?? trialFlops(tpl.config, tpl.config.train.steps);
    });
  }
  const step = s.step;
  return {
    group: s.g.label,
    family: s.g.family,
    scale: s.g.scale,
    state: s.done ? "done" : s.center === null ? "waiting" : "running",
    phase: s.done ? "done" : step?.phase ?? "waiting",
    lrs_run: s.points.size,
    lrs_planned: s.planned.size,
    trials: groupTrials(s).length,
    center_lr: s.center === null ? null : lat.lr(s.center),
    center_from: s.center_from,
    best_lr: step?.best != null ? lat.lr(step.best) : null,
    bracketed: step?.bracketed ?? false,
    range_edge: step?.range_edge ?? null,
    basin: step?.basin ?? 0,
    why: step?.why ?? "",
    flops,
    dense_flops: dense,
    dense_trials: lat.n * s.g.seeds.length,
  };
}
