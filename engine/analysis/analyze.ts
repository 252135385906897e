/**
 * The whole analysis of a sweep directory or results file(s): optima per
 * group, fitted laws and verdicts, predictions, figures; written as
 * `analysis.json`, `optima.csv`, `analysis.md` and `figures/*.svg|png` into
 * the sweep directory, or for a results file into `<name>-analysis/` beside
 * it (see {@link outputDir}).
 */
import { basename, dirname, extname, join } from "node:path";
import type { ColumnTable } from "arquero";
import { DmodelError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/fs.ts";
import { type ColumnMap, loadResults } from "./table.ts";
import { collectProvenance, type Provenance } from "./provenance.ts";
import { type Optima, optimalLR, type OptimaOptions, optimaTable } from "./optimum.ts";
import { shortName } from "./naming.ts";
import {
  compareAll,
  type Comparison,
  type FitOptions,
  fitScaling,
  type Prediction,
  predictLR,
  type ScalingFit,
} from "./fit.ts";
import { type JointFit, jointScaling } from "./joint.ts";
import { plainAnswers } from "./answer.ts";
import { etaVsScaleSpec, lossVsLRSpec, trainingCurvesSpec } from "./figure_specs.ts";
import { cropToContent, renderPNG, renderSVG, type VegaLiteSpec } from "./render.ts";
import { type AnalysisJSON, analysisJSON } from "./analysis_json.ts";
import { analysisMarkdown } from "./markdown.ts";
import { type FamilyBase, familyBases, trainingPoints, type TrialRow, trialRows } from "./trials.ts";

/** Options of `analyzeSweep`: those of `optimalLR` and `fitScaling`, plus output choices. */
export interface AnalyzeOptions extends OptimaOptions, Omit<FitOptions, "scale" | "resamples" | "level"> {
  /** Status column (see ./table.ts for the words it may hold). Default `status` when present. */
  status?: string;
  /** Output directory. Default: the sweep directory, or `<name>-analysis/` beside a results file. */
  out?: string;
  /** Scales to extrapolate the fitted laws to, e.g. `[{ width: 4096 }]`. */
  predict?: Record<string, number>[];
  /** Render figures (SVG, and PNG when a font is available). Default true. */
  figures?: boolean;
  /** Also rasterize figures to PNG. Default true. */
  png?: boolean;
  /** Write the output files into the output directory. Default true. */
  write?: boolean;
  /** Progress and notices. */
  log?: (line: string) => void;
}

/** One rendered figure. */
export interface Figure {
  /** File name stem under figures/ (e.g. "loss_vs_lr", "eta_vs_width"). */
  name: string;
  /** Title of the figure in the report. */
  title: string;
  /** The Vega-Lite spec it is rendered from. */
  spec: VegaLiteSpec;
  /** The rendered SVG text (cropped to what is drawn when PNGs are rendered). */
  svg: string;
  /** PNG path relative to the sweep dir, when rendered. */
  png?: string;
  /** Size of the PNG file in bytes, when rendered. */
  pngBytes?: number;
}

/** The result of `analyzeSweep`. */
export interface Analysis {
  /** Tag that marks the value as an analysis (see `isAnalysis`). */
  kind: "dmodel.analysis";
  /** The output directory (the sweep directory for one sweep). */
  dir: string;
  /** The sweep directories and results files analysed. */
  inputs: string[];
  /** The optimal LR of every group (family x scale), with intervals. */
  optima: Optima;
  /** The verdicts' laws: the joint fit of every trial per family (./joint.ts). */
  fits: JointFit[];
  /** The two-stage cross-check: per-scale optima, then a weighted regression (./fit.ts). */
  twoStage: ScalingFit[];
  /** Two or three plain sentences per family (./answer.ts). */
  answers: [string, string[]][];
  /** Optimal LRs predicted at the scales asked for (`predict`), per family with a fitted law. */
  predictions: Prediction[];
  /** Paired comparisons of the families' slopes. */
  comparisons: Comparison[];
  /** What `--json` prints and `analysis.json` holds. */
  json: AnalysisJSON;
  /** The analysis as Markdown (what analysis.md holds). */
  markdown: string;
  /** The rendered figures (empty with `figures: false`). */
  figures: Figure[];
  /** Files written, relative to `dir`. */
  files: string[];
  /** Notices about what was left out (predictions without a law, skipped figures, ...). */
  notes: string[];
  /** Status counts over all trials. */
  counts: { ok: number; diverged: number; failed: number };
  /** Code, runtime, machine and compute behind the results. */
  provenance: Provenance;
  /** Every trial of the results table, for the report's table of trials. */
  trials?: TrialRow[];
  /** Per family: its base scale here, and the rule's own base where the config names one. */
  bases?: FamilyBase[];
}

/** True for the value `analyzeSweep` returns (used by the report stage to reuse it). */
export function isAnalysis(v: unknown): v is Analysis {
  return typeof v === "object" && v !== null && (v as Analysis).kind === "dmodel.analysis";
}

/** Creates an output directory, failing with one line that names it. */
async function makeDir(path: string): Promise<void> {
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (e) {
    throw new DmodelError(`${path}: cannot create the output directory (${(e as Error).message})`);
  }
}

/** True when `path` is a directory. */
async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Where an analysis writes: `out` when given; else the sweep directory of a
 * single sweep, or `<name>-analysis/` beside a single results file
 * (`runs/export.csv` -> `runs/export-analysis/`). Several inputs need `out`.
 *
 * @example
 * ```ts
 * await outputDir(["runs/export.csv"]); // "runs/export-analysis"
 * ```
 */
export async function outputDir(inputs: string[], out?: string): Promise<string> {
  if (out !== undefined) {
    if (!out.trim()) throw new DmodelError(`--out: empty path`);
    return out;
  }
  if (inputs.length !== 1) {
    throw new DmodelError(`analysis of ${inputs.length} inputs: name the output directory with --out DIR`);
  }
  const [p] = inputs;
  if (await isDirectory(p)) return p;
  return join(dirname(p), `${basename(p, extname(p))}-analysis`);
}

/**
 * The per-group cost of transfer from the joint law's fitted curves (./joint.ts, item 7) in place of the
 * per-group basin fits' (whose base LR is one scale's own noisy optimum).
 */
function useJointCosts(optima: Optima, fits: JointFit[]): void {
  for (const f of fits) {
    for (const s of f.per_scale) {
      const g = optima.groups.find((g) => g.family === f.family && g.label === s.label);
      if (!g) continue;
      g.transfer_cost_fit = s.cost;
      g.transfer_cost_ci = s.cost_ci ?? [NaN, NaN];
    }
  }
}

/**
 * Analyzes a sweep directory, a results file of any trainer, or several of
 * them combined (./table.ts): finds eta* per group, fits the scaling law per
 * family with bootstrap intervals, extrapolates, renders the figures, and
 * writes `analysis.json`, `optima.csv`, `analysis.md` and `figures/` into
 * the output directory ({@link outputDir}). The table is loaded and checked
 * before anything is written: a bad cell leaves earlier outputs as they were.
 *
 * @example
 * ```ts
 * const a = await analyzeSweep("runs/width-transfer", { predict: [{ width: 4096 }] });
 * const b = await analyzeSweep("export.csv", { lr: "lr", loss: "val/loss", status: "State", scale: ["d_model"] });
 * console.log(a.markdown, b.dir);
 * ```
 */
export async function analyzeSweep(input: string | string[], opts: AnalyzeOptions = {}): Promise<Analysis> {
  const log = opts.log ?? (() => {});
  const inputs = typeof input === "string" ? [input] : input;
  const map: ColumnMap = {
    lr: opts.lr,
    loss: opts.loss,
    seed: opts.seed,
    status: opts.status,
    by: opts.by,
    scale: opts.scale,
  };
  const dir = await outputDir(inputs, opts.out);
  const table = await loadResults(inputs, map);
  // Trial directories (metrics.csv, result.json) live in the sweep directory analysed.
  const home = inputs.length === 1 && (await isDirectory(inputs[0])) ? inputs[0] : dir;
  const optima = optimalLR(table, opts);
  const twoStage = fitScaling(optima, { ...opts, resamples: undefined, level: undefined });
  const fits = jointScaling(optima, {
    tolerance: opts.tolerance,
    bootstrapSeed: opts.bootstrapSeed,
    resamples: opts.resamples === 0 ? 0 : undefined,
  });
  useJointCosts(optima, fits);
  const { predictions, notes } = predictScales(fits, opts.predict ?? []);
  const write = opts.write ?? true;
  if (write) await makeDir(dir);
  const out: SweepOutput = { dir, write, png: opts.png ?? true, files: [], notes };
  const figures = opts.figures ?? true
    ? await sweepFigures(out, await figureSpecs(home, table, optima, fits, notes))
    : [];
  const comparisons = compareAll(fits);
  const provenance = await collectProvenance(home, table);
  const stepsCol = table.columnNames().includes("train.steps")
    ? (table.array("train.steps") as unknown[]).filter((v): v is number => typeof v === "number")
    : [];
  const answers = plainAnswers(fits, {
    predictions,
    ...(stepsCol.length ? { steps: Math.max(...stepsCol) } : {}),
  });
  const json = {
    ...analysisJSON(
      optima,
      fits,
      predictions,
      opts.tolerance ?? 0.1,
      comparisons,
      provenance,
      twoStage,
      answers,
    ),
    inputs,
  };
  const analysis: Analysis = {
    kind: "dmodel.analysis",
    dir,
    inputs,
    optima,
    fits,
    twoStage,
    answers,
    predictions,
    comparisons,
    json,
    markdown: "",
    figures,
    files: out.files,
    notes,
    counts: statusCounts(table),
    provenance,
    trials: trialRows(optima, table),
    bases: familyBases(optima, table),
  };
  analysis.markdown = analysisMarkdown(analysis);
  if (write) await writeAnalysis(analysis);
  for (const n of notes) log(`analyze: ${n}`);
  for (const p of predictions) if (p.warning) log(`analyze: predict ${p.family}: warning: ${p.warning}`);
  return analysis;
}

/** Where an analysis writes (when it writes), whether PNGs are still rendered, and what it wrote and noted. */
interface SweepOutput {
  dir: string;
  write: boolean;
  png: boolean;
  files: string[];
  notes: string[];
}

/** Trials per status: ok, diverged, failed. */
function statusCounts(table: ColumnTable): Analysis["counts"] {
  const status = table.array("status") as string[];
  return {
    ok: status.filter((s) => s === "ok").length,
    diverged: status.filter((s) => s === "diverged").length,
    failed: status.filter((s) => s === "failed").length,
  };
}

/**
 * The law's eta* at each requested scale, per family with a fitted law. A
 * prediction needs a fitted law; without one (too few bracketed optima) it is
 * a note in the report, so the tables, figures and verdicts of a finished
 * sweep are still written.
 */
function predictScales(
  fits: ScalingFit[],
  scales: Record<string, number>[],
): { predictions: Prediction[]; notes: string[] } {
  const predictions: Prediction[] = [];
  const notes: string[] = [];
  for (const scale of scales) {
    for (const f of fits) {
      if (f.scales.length) predictions.push(predictLR(f, scale));
    }
    if (!fits.some((f) => f.scales.length)) {
      notes.push(
        `no prediction at ${
          Object.entries(scale).map(([k, v]) => `${k}=${v}`).join(", ")
        }: no family has a fitted law`,
      );
    }
  }
  return { predictions, notes };
}

/** The figures of a sweep: loss vs LR, eta* per scale axis, and the training curves when metrics exist. */
async function figureSpecs(
  home: string,
  table: ColumnTable,
  optima: Optima,
  fits: ScalingFit[],
  notes: string[],
): Promise<{ name: string; title: string; spec: VegaLiteSpec }[]> {
  const specs = [
    { name: "loss_vs_lr", title: "Loss vs learning rate", spec: lossVsLRSpec(optima) },
    ...optima.scale.map((axis) => ({
      name: `eta_vs_${shortName(axis)}`,
      title: `Optimal learning rate vs ${shortName(axis)}`,
      spec: etaVsScaleSpec(optima, fits, axis),
    })),
  ];
  const points = await trainingPoints(home, table, optima);
  if (points.length) {
    specs.push({
      name: "training_curves",
      title: "Training curves",
      spec: trainingCurvesSpec(points, {
        scaleTitle: optima.scale.length === 1 ? shortName(optima.scale[0]) : "scale",
      }),
    });
  } else notes.push("no training curves: no metrics.csv found");
  return specs;
}

/**
 * Renders each figure to SVG (cut to what is drawn when PNGs are wanted) and
 * PNG, writing both under `figures/`; without a font, PNGs are skipped with a
 * note.
 */
async function sweepFigures(
  out: SweepOutput,
  specs: { name: string; title: string; spec: VegaLiteSpec }[],
): Promise<Figure[]> {
  const figures: Figure[] = [];
  if (out.write) await makeDir(join(out.dir, "figures"));
  for (const s of specs) {
    const fig: Figure = { ...s, svg: await renderSVG(s.spec) };
    // Cut to what is drawn (Vega's estimated text widths leave blank margins); needs the PNG font.
    if (out.png) {
      fig.svg = await cropToContent(fig.svg).catch((
        e,
      ) => (e instanceof DmodelError ? fig.svg : Promise.reject(e)));
    }
    if (out.write) {
      await writeFileAtomic(join(out.dir, "figures", `${s.name}.svg`), fig.svg);
      out.files.push(`figures/${s.name}.svg`);
    }
    if (out.png && out.write) {
      try {
        const bytes = await renderPNG(fig.svg, { crop: false });
        await writeFileAtomic(join(out.dir, "figures", `${s.name}.png`), bytes);
        fig.png = `figures/${s.name}.png`;
        fig.pngBytes = bytes.length;
        out.files.push(fig.png);
      } catch (e) {
        if (!(e instanceof DmodelError)) throw e;
        out.notes.push(`PNG figures skipped: ${e.message}`);
        out.png = false;
      }
    }
    figures.push(fig);
  }
  return figures;
}

/** Writes analysis.json, optima.csv and analysis.md into the analysis' directory, listed first among its files. */
async function writeAnalysis(a: Analysis): Promise<void> {
  await writeFileAtomic(join(a.dir, "analysis.json"), JSON.stringify(a.json, null, 2) + "\n");
  await writeFileAtomic(join(a.dir, "optima.csv"), optimaTable(a.optima).toCSV());
  await writeFileAtomic(join(a.dir, "analysis.md"), a.markdown);
  a.files.unshift("analysis.json", "optima.csv", "analysis.md");
}
