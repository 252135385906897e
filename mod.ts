/**
 * dmodel: learning-rate transfer research on normalized transformers, in
 * Deno + TensorFlow.js. The front door: the component registry, pipelines,
 * trials, sweeps and the analysis of their results.
 *
 * @example
 * ```ts
 * import { analyzeSweep, loadPipeline, runPipeline } from "./mod.ts";
 * const p = await loadPipeline("pipelines/quickstart.yaml", ["optimizer.lr=0.01"]);
 * await runPipeline(p, { out: "runs/quickstart" });
 * const a = await analyzeSweep("runs/quickstart", { by: ["parameterization.name"], scale: ["model.width"] });
 * ```
 *
 * @module
 */
import "./components/mod.ts";

/** The registry: register components by kind and name, resolve them, list them. */
export { has, type Kind, KINDS, listComponents, register, resolve } from "./engine/core/registry.ts";
/** A registered component's spec. */
export type { ComponentSpec, Registered } from "./engine/core/registry.ts";
/** One-line user errors. */
export { DmodelError, type Issue } from "./engine/core/errors.ts";

/** The contract between blocks and parameterizations. */
export type {
  ActivationSink,
  Block,
  Init,
  ModelRule,
  ModelShape,
  ParamDecl,
  Parameterization,
  ParamRule,
  RescalerName,
  RescalerRule,
  Role,
  ScaleContext,
} from "./engine/core/contracts.ts";
/** Base-shape options, multipliers and the rescaler rule shared by parameterizations. */
export { baseShapeOptions, requiredBase, rescalerParamRule, scaleContext } from "./engine/nn/scaling.ts";
/** The built-in rules, as functions a plugin can build on. */
export { nugpt, type NugptOptions, NugptSchema } from "./components/parameterization/nugpt.ts";
export { ngpt } from "./components/parameterization/ngpt.ts";
export { sp } from "./components/parameterization/sp.ts";
export { mup } from "./components/parameterization/mup.ts";
export { completep } from "./components/parameterization/completep.ts";

/** Pipelines: load (validated, with --set overrides), run. */
export {
  loadPipeline,
  parsePipeline,
  type Pipeline,
  runPipeline,
  type RunPipelineOptions,
  type StageDecl,
  stageTrials,
} from "./engine/core/pipeline.ts";
/** Stages and probes: the interfaces a plugin implements. */
export type { DescribedTrial, Stage, StageContext } from "./engine/core/stage.ts";
export type { Probe, ProbeContext } from "./engine/train/probe.ts";

/** Trials: validate a config, its stable id, run it, evaluate it, describe it. */
export {
  type DataConfig,
  type DataConfigInput,
  parseTrial,
  type TrialConfig,
  trialDirName,
  trialId,
} from "./engine/core/config.ts";
export { type RunOptions, runTrial } from "./engine/train/trainer.ts";
export { buildNetwork } from "./engine/nn/resolve.ts";
/** The one training loop: a step is loss and gradients, then the optimizer update; the rest are hooks. */
export {
  type Gradients,
  gradients,
  type LoopEnd,
  lossAndGrads,
  type StepBatch,
  type StepDone,
  type StepInfo,
  type TrainLoop,
  trainLoop,
} from "./engine/train/loop.ts";
export type { Optimizer, OptimizerFactory, OptimizerState, ParamHyper } from "./engine/nn/optim.ts";
export type { TrialResult } from "./engine/train/result.ts";
export { type EvalReport, evaluateTrialDir } from "./engine/train/evaluate.ts";
export { describeText, describeTrial, type Description, type ParamRow } from "./engine/nn/describe.ts";
export { Network, type Param } from "./engine/nn/network.ts";
/**
 * Compute backends: `await useBackend("wasm")` (or `auto`, `cpu`, ...) before building a network in a
 * script; `runTrial` and the tasks do it from `train.backend`.
 */
export { type BackendImpl, useBackend } from "./engine/kernels/backend.ts";
export { prepareData, type PreparedData, type PrepareOptions } from "./engine/data/prepare.ts";
export type { TokenArray } from "./engine/data/shards.ts";
export type { Tokenizer } from "./engine/data/tokenizer.ts";
export { type Batch, evalBatches, trainBatch } from "./engine/data/batches.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type StoredTensor,
} from "./engine/nn/safetensors.ts";

/** Sweeps: expand a grid, run it with an executor, read its state. */
export { expandGrid, type PlannedTrial } from "./engine/sweep/grid.ts";
export { runSweep, type SweepRunOptions } from "./engine/sweep/run.ts";
export { readPlan, summarize, type SweepSummary } from "./engine/sweep/plan.ts";
/** Bracket-and-refine LR search (`lr_search:`): the step rule of one group, from its finished LRs. */
export { type LrPoint, type SearchStep, searchStep, type StepSizes } from "./engine/sweep/lr_search_rule.ts";
/** Model FLOPs per training step (compute accounting of sweeps). */
export { flopsPerStep } from "./engine/sweep/compute.ts";

/**
 * A sweep directory as a results table: derived columns for older sweeps, the table rebuilt from trial
 * directories when results.csv is absent (importing it makes it the analysis's reader of directories).
 */
export { DERIVED_COLUMNS, readSweepDir } from "./engine/sweep/sweep_table.ts";
export type { ReadTable } from "./engine/analysis/read.ts";
/** The scale axes of results.csv derived from a trial config: parameter counts, tokens, FLOPs. */
export {
  type Counted,
  countParams,
  SCALE_AXES,
  type ScaleAxes,
  scaleAxesOf,
} from "./engine/sweep/scale_axes.ts";

/**
 * Analysis over arquero tables, for runs of any trainer: load a results table (a sweep directory, or
 * CSV / TSV / Arrow IPC / JSON lines / Parquet, several combined) or check one built in memory, then
 * the optimal LR per group with intervals, the scaling fit and three-way verdict, the paired comparison
 * of families, predictions, figures, and the whole analysis with its report. A script outside the
 * checkout runs with `deno run -A --config /path/to/dmodel/deno.json script.ts` and imports "dmodel".
 *
 * @example
 * ```ts
 * import * as aq from "arquero";
 * import { checkTable, compareAll, fitScaling, loadResults, lossVsLRSpec, optimalLR, predictLR, renderSVG } from "dmodel";
 * const cols = { lr: "lr", loss: "val/loss", seed: "seed", status: "State", by: ["arch"], scale: ["d_model"] };
 * const runs = await loadResults("export.csv", cols); // or checkTable(aq.from(rows), cols)
 * const optima = optimalLR(runs, cols);
 * const fits = fitScaling(optima);
 * for (const f of fits) for (const c of f.coefficients) console.log(f.family, c.verdict);
 * for (const c of compareAll(fits)) console.log(c.text);
 * console.log(predictLR(fits[0], { d_model: 4096 }));
 * await Deno.writeTextFile("loss_vs_lr.svg", await renderSVG(lossVsLRSpec(optima)));
 * ```
 */
export {
  type Analysis,
  type AnalysisJSON,
  type AnalyzeOptions,
  analyzeSweep,
  type BasinFit,
  type BasinModel,
  type Call,
  checkTable,
  type Coefficient,
  type ColumnMap,
  compareAll,
  compareFits,
  type Comparison,
  type CurvePoint,
  etaVsScaleSpec,
  type FamilyBase,
  type Figure,
  type FitOptions,
  fitScaling,
  type GroupOptimum,
  loadMetrics,
  loadResults,
  lossVsLRSpec,
  type NoiseEstimate,
  type NoiseModel,
  type Optima,
  optimalLR,
  type OptimaOptions,
  outputDir,
  type Prediction,
  predictLR,
  type Provenance,
  renderPNG,
  renderSVG,
  type ReportOptions,
  type ReportSection,
  type ScalingFit,
  type SeedCells,
  STATUS_WORDS,
  trainingCurvesSpec,
  type TrainingPoint,
  type TrialRow,
  type VegaLiteSpec,
  writeReport,
} from "./engine/analysis/mod.ts";
/**
 * The verdicts' estimator: each family's scaling law from every finished trial at once (slope, 95%
 * interval, verdict, per-scale LR and cost of transfer), and the replication check of the verdicts
 * across seeds of one sweep or across two runs.
 */
export {
  type FamilySlope,
  type FamilySlopeOptions,
  familySlopes,
  type JointFit,
  type JointOptions,
  type JointScale,
  jointScaling,
  type ReplicaSlopes,
  replicateRuns,
  replicateSeeds,
  type Replication,
  type ReplicationPair,
} from "./engine/analysis/mod.ts";
