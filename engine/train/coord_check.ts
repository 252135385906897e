/**
 * The coordinate check, muP's debugging tool (Tensor Programs V; microsoft/mup;
 * docs/reference.md section 4): train the same model at several widths for a few steps
 * at a large learning rate and watch mean |x| of every activation. Under a
 * parameterization that transfers, each curve is flat in width; under SP the
 * logits (and whatever a full-width update feeds) grow with width.
 *
 * For each parameterization and width: build the trial at that width (base
 * width fixed), take `steps` Adam steps at a constant LR on the trial's data,
 * and after each step (and at step 0) run the forward pass on one fixed batch,
 * recording mean |x| of each activation the block reports, and mean |dW| of
 * each parameter's update. The headline number is the logit growth slope:
 * the least-squares slope of log2 mean|logits| against log2 width after the
 * last step (0 = flat; 1 = logits double when the width doubles).
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { blocksFor, parseTrial, type TrialConfig } from "../core/config.ts";
import { useBackend } from "../kernels/backend.ts";
import { prepareData, type PreparedData } from "../data/prepare.ts";
import { evalBatches, trainBatch } from "../data/batches.ts";
import { DmodelError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/fs.ts";
import type { Parameterization } from "../core/contracts.ts";
import { build } from "../core/registry.ts";
import { buildNetwork } from "../nn/resolve.ts";
import { trainLoop } from "./loop.ts";
import { toCSV } from "../core/csv.ts";
import { VEGA_THEME } from "../analysis/theme.ts";
import { lineSlope } from "../core/least_squares.ts";
import { renderPNG, renderSVG, type VegaLiteSpec } from "../analysis/render.ts";

/** Options of a coordinate check. */
export interface CoordCheckOptions {
  /** Model widths to compare (each divisible by head_dim). */
  widths: number[];
  /** Optimizer steps after step 0. */
  steps: number;
  /** Constant global LR for every step (default: the trial's optimizer.lr). */
  lr?: number;
  /**
   * Parameterization names to compare (default: the trial's own). A name
   * other than the trial's gets the trial's base shape options; a rule that
   * does not apply to the trial's block runs on the first block it lists.
   */
  parameterizations?: string[];
  /** Seeds averaged per point (train.seed, train.seed + 1, ...). */
  seeds?: number;
  /** Where built data lives (default data/cache). */
  dataRoot?: string;
  log?: (line: string) => void;
}

/** One measurement: mean |x| of an activation, or mean |dW| of a parameter's update at `step`. */
export interface CoordRow {
  parameterization: string;
  width: number;
  step: number;
  kind: "activation" | "update";
  name: string;
  mean_abs: number;
}

/** Growth of one activation with width at one step. */
export interface CoordSlope {
  parameterization: string;
  name: string;
  step: number;
  /** d log2 mean|x| / d log2 width (least squares over the widths). */
  slope: number;
}

/** Everything a coordinate check measured. */
export interface CoordCheckResult {
  rows: CoordRow[];
  /** The parameterizations in the order run. */
  parameterizations: string[];
  /** Logit growth slope per parameterization after the last step. */
  logitSlopes: Record<string, number>;
  /** Block each parameterization ran on. */
  blocks: Record<string, string>;
  steps: number;
  lr: number;
}

/** The columns of coord_check.csv, in order. */
export const COORD_COLUMNS = ["parameterization", "width", "step", "kind", "name", "mean_abs"] as const;

/**
 * The trial of one parameterization at one width: base shape kept (the
 * trial's base_width, else `baseWidth`), the block switched when the rule
 * does not apply to the trial's block.
 */
export function coordTrial(t: TrialConfig, name: string, width: number, baseWidth: number): TrialConfig {
  const own = t.parameterization as Record<string, unknown>;
  const p: Record<string, unknown> = name === own.name ? { ...own } : { name };
  for (const k of ["base_width", "base_depth", "base_steps"]) if (own[k] !== undefined) p[k] ??= own[k];
  p.base_width ??= baseWidth;
  p.base_depth ??= t.model.depth;
  p.base_steps ??= t.train.steps;
  let model: Record<string, unknown> = { ...t.model, width };
  let rule: Parameterization | null = null;
  try {
    rule = build("parameterization", { ...p, name }, ["parameterization"]);
  } catch { /* refused with its key path by parseTrial below */ }
  if (rule) {
    const blocks = blocksFor(rule);
    if (!blocks.includes(t.model.block)) {
      const { width: _w, depth, head_dim } = t.model;
      model = { block: blocks[0], width, depth, head_dim };
    }
  }
  try {
    return parseTrial({ ...t, model, parameterization: p }, `coord-check ${name} width ${width}`);
  } catch (e) {
    throw e instanceof DmodelError
      ? e
      : new DmodelError(`coord-check ${name} width ${width}: ${(e as Error).message}`);
  }
}

/** Growth slope (log2 mean|x| per doubling of width) of every activation of every parameterization at `step`. */
export function activationSlopes(rows: CoordRow[], step: number): CoordSlope[] {
  const groups = new Map<string, CoordRow[]>();
  for (const r of rows) {
    if (r.kind !== "activation" || r.step !== step) continue;
    const k = `${r.parameterization}\u0000${r.name}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) => ({
    parameterization: g[0].parameterization,
    name: g[0].name,
    step,
    slope: lineSlope(g.map((r) => Math.log2(r.width)), g.map((r) => Math.log2(r.mean_abs))),
  }));
}

/**
 * Runs the coordinate check of a trial.
 *
 * @example
 * ```ts
 * const r = await coordCheck(trial, { widths: [32, 64, 128, 256], steps: 3, parameterizations: ["sp", "mup"] });
 * console.log(r.logitSlopes); // { sp: ~1, mup: ~0 }
 * ```
 */
export async function coordCheck(t: TrialConfig, o: CoordCheckOptions): Promise<CoordCheckResult> {
  const log = o.log ?? ((s: string) => console.error(s));
  const widths = [...o.widths].sort((a, b) => a - b);
  if (widths.length < 2) {
    throw new DmodelError(`coord-check: widths: need at least two widths (value: ${o.widths})`);
  }
  const names = o.parameterizations?.length ? o.parameterizations : [t.parameterization.name];
  const lr = o.lr ?? Number(t.optimizer.lr);
  const baseWidth = (t.parameterization as { base_width?: number }).base_width ?? widths[0];
  const trials = names.map((n) => widths.map((w) => coordTrial(t, n, w, baseWidth)));
  await useBackend(t.train.backend, log);
  const data = await prepareData(t.data, { root: o.dataRoot, log });
  const { batch_size: B, seed } = t.train;
  const T = t.data.seq_len;
  const fixed = tf.tensor2d(evalBatches(data, 1, B, T)[0].x, [B, T], "int32");
  const setting: CoordSetting = { data, fixed, B, T, seed, seeds: o.seeds ?? 1, steps: o.steps, lr, log };
  const rows: CoordRow[] = [];
  const blocks: Record<string, string> = {};
  try {
    for (const [i, name] of names.entries()) {
      blocks[name] = trials[i][0].model.block;
      if (blocks[name] !== t.model.block) {
        log(`coord-check: ${name} does not apply to ${t.model.block}; runs on ${blocks[name]}`);
      }
      for (const trial of trials[i]) rows.push(...await measureWidth(name, trial, setting));
    }
  } finally {
    fixed.dispose();
  }
  const logitSlopes: Record<string, number> = {};
  for (const s of activationSlopes(rows, o.steps)) {
    if (s.name === "logits") logitSlopes[s.parameterization] = s.slope;
  }
  return { rows, parameterizations: names, logitSlopes, blocks, steps: o.steps, lr };
}

/** What every width of a coordinate check shares. */
interface CoordSetting {
  data: PreparedData;
  /** The fixed batch [B, T] whose activations are measured. */
  fixed: tf.Tensor2D;
  B: number;
  T: number;
  /** The first seed; `seeds` seeds from it are averaged. */
  seed: number;
  seeds: number;
  steps: number;
  lr: number;
  log: (line: string) => void;
}

/** Sums of measurements over seeds, by (kind, step, name). */
type CoordSums = Map<string, { kind: CoordRow["kind"]; step: number; name: string; sum: number }>;

/** The rows of one parameterization at one width, each averaged over the seeds; logs the train losses. */
async function measureWidth(name: string, trial: TrialConfig, c: CoordSetting): Promise<CoordRow[]> {
  const sums: CoordSums = new Map();
  const losses: number[] = [];
  for (let s = 0; s < c.seeds; s++) await runSeed(trial, c.seed + s, c, sums, losses);
  const width = trial.model.width;
  const rows = [...sums.values()].map((e) => ({
    parameterization: name,
    width,
    step: e.step,
    kind: e.kind,
    name: e.name,
    mean_abs: e.sum / c.seeds,
  }));
  // losses[s * steps + k]: seed s, step k; logged as the mean over seeds per step.
  const mean = Array.from({ length: c.steps }, (_, k) => {
    let sum = 0;
    for (let s = 0; s < c.seeds; s++) sum += losses[s * c.steps + k];
    return (sum / c.seeds).toFixed(3);
  });
  c.log(
    `coord-check: ${name} width ${width}: train loss per step${
      c.seeds > 1 ? ` (mean of ${c.seeds} seeds)` : ""
    }: ${mean.join(" ")}`,
  );
  return rows;
}

/**
 * Trains one seed of a trial for `steps` steps at the constant LR, adding to `sums` the mean |x| of
 * every activation on the fixed batch (at step 0 and after each update) and the mean |dW| of every
 * parameter's update; the step losses are appended to `losses`.
 */
async function runSeed(trial: TrialConfig, seed: number, c: CoordSetting, sums: CoordSums, losses: number[]) {
  const add = (kind: CoordRow["kind"], step: number, n: string, v: number) => {
    const k = `${kind}\u0000${step}\u0000${n}`;
    const e = sums.get(k) ?? { kind, step, name: n, sum: 0 };
    e.sum += v;
    sums.set(k, e);
  };
  const net = buildNetwork({ ...trial, train: { ...trial.train, seed } }, c.data.vocabSize);
  try {
    const opt = build("optimizer", trial.optimizer, ["optimizer"]).create(net);
    const measure = (step: number) =>
      tf.tidy(() => {
        net.logits(c.fixed, (n, x) => {
          // Softmax rows sum to one: their mean |x| is set by the mask, not by the model.
          if (!n.endsWith("attn_probs")) add("activation", step, n, tf.mean(tf.abs(x)).dataSync()[0]);
        });
      });
    measure(0);
    let before: Float32Array[] = [];
    await trainLoop({
      net,
      optimizer: opt,
      steps: c.steps,
      lr: () => c.lr,
      batch: (step) => ({ ...trainBatch(c.data, step, c.B, c.T, seed), B: c.B, T: c.T }),
      beforeUpdate: ({ loss }) => {
        losses.push(loss);
        before = net.params.map((p) => p.host.slice());
      },
      afterStep: ({ step }) => {
        net.params.forEach((p, j) => {
          let sum = 0;
          for (let k = 0; k < p.host.length; k++) sum += Math.abs(p.host[k] - before[j][k]);
          add("update", step + 1, p.decl.name, sum / p.host.length);
        });
        measure(step + 1);
      },
    });
  } finally {
    net.dispose();
  }
}

/** coord_check.csv text. */
export function coordCSV(rows: CoordRow[]): string {
  return toCSV(rows as unknown as Record<string, unknown>[], COORD_COLUMNS);
}

/**
 * One parameterization's figure: log2 mean |x| of every activation against
 * log2 width, one line per activation, one panel per step (the last panel is
 * the state after the last step). Flat lines are what muP asks for; in the
 * nGPT family the hidden states are unit vectors, so their mean |x| falls as
 * d^(-1/2) (slope -0.5) by construction, and the logits are what should stay flat.
 */
export function coordCheckSpec(r: CoordCheckResult, name: string): VegaLiteSpec {
  // Exact zeros (muP's zero-init readout gives zero logits at step 0) have no log: left out. So are the
  // matrix inputs some blocks report for the alignment probe (`<param>.in`, in the CSV): they repeat
  // the block's own activations and would crowd the legend.
  const values = r.rows.filter((x) =>
    x.parameterization === name && x.kind === "activation" && x.mean_abs > 0 && !x.name.endsWith(".in")
  )
    .map((x) => ({
      name: x.name,
      step: x.step,
      log2_width: Math.log2(x.width),
      log2_mean_abs: Math.log2(x.mean_abs),
    }));
  const s = r.logitSlopes[name];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: {
      text: `coordinate check: ${name} (${r.blocks[name]}), LR ${r.lr}`,
      subtitle: `mean |x| of each activation vs width, per step; logit growth slope after step ${r.steps}: ${
        Number.isFinite(s) ? s.toFixed(2) : "n/a"
      } (flat = 0)`,
    },
    data: { values },
    facet: { column: { field: "step", type: "ordinal", title: "after step" } },
    spec: {
      width: 170,
      height: 200,
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "log2_width", type: "quantitative", title: "log2 width", scale: { zero: false } },
        y: { field: "log2_mean_abs", type: "quantitative", title: "log2 mean |x|", scale: { zero: false } },
        color: { field: "name", type: "nominal", title: "activation", scale: { scheme: "tableau20" } },
      },
    },
    config: VEGA_THEME,
  };
}

/** A file-name-safe form of a parameterization name ("nugpt-2/3" -> "nugpt-2_3"). */
export function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}

/**
 * Writes `coord_check.csv` and `figures/coord_check_<parameterization>.svg|png`
 * into `dir`; returns the paths written (relative to `dir`). PNGs are skipped,
 * with a log line, when no font is available.
 */
export async function writeCoordCheck(
  dir: string,
  r: CoordCheckResult,
  opts: { figures?: boolean; log?: (line: string) => void } = {},
): Promise<string[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, "coord_check.csv"), coordCSV(r.rows));
  const files = ["coord_check.csv"];
  if (opts.figures ?? true) {
    await Deno.mkdir(join(dir, "figures"), { recursive: true });
    for (const name of r.parameterizations) {
      const base = `figures/coord_check_${fileSafe(name)}`;
      const svg = await renderSVG(coordCheckSpec(r, name));
      await writeFileAtomic(join(dir, `${base}.svg`), svg);
      files.push(`${base}.svg`);
      try {
        await writeFileAtomic(join(dir, `${base}.png`), await renderPNG(svg));
        files.push(`${base}.png`);
      } catch (e) {
        if (!(e instanceof DmodelError)) throw e;
        log(`coord-check: PNG skipped: ${e.message}`);
      }
    }
  }
  return files;
}

/**
 * Two lines per parameterization: its logit growth slope, and the growth
 * slope of every activation, after the last step.
 */
export function slopeSummary(r: CoordCheckResult): string[] {
  const all = activationSlopes(r.rows, r.steps);
  return r.parameterizations.flatMap((n) => [
    `coord-check: ${n} (${r.blocks[n]}): logit growth slope after step ${r.steps}: ${
      r.logitSlopes[n]?.toFixed(3)
    } (log2 mean|logits| per doubling of width; flat = 0)`,
    `coord-check: ${n}: slopes: ${
      all.filter((s) => s.parameterization === n).map((s) => `${s.name} ${s.slope.toFixed(2)}`).join(", ")
    }`,
  ]);
}

/**
 * Runs a coordinate check and writes its files into `dir`; logs the slopes.
 *
 * @example
 * ```ts
 * const { result, files } = await coordCheckToDir(trial, { widths: [32, 64, 128], steps: 3 }, "runs/cc");
 * ```
 */
export async function coordCheckToDir(
  t: TrialConfig,
  o: CoordCheckOptions & { figures?: boolean },
  dir: string,
): Promise<{ result: CoordCheckResult; files: string[] }> {
  const log = o.log ?? ((s: string) => console.error(s));
  const result = await coordCheck(t, o);
  const files = await writeCoordCheck(dir, result, { figures: o.figures, log });
  for (const l of slopeSummary(result)) log(l);
  log(`coord-check: wrote ${files.join(", ")} in ${dir}`);
  return { result, files };
}
