/**
 * Sweep analysis: optimal LR per group with calibrated intervals, the
 * scaling law with a pipeline-bootstrap interval and a three-way verdict
 * (transfers / drifts / inconclusive), paired comparisons of families,
 * predictions, figures and the HTML report with provenance. The method, for
 * a reviewer: ./joint.ts (the verdicts: one joint fit per family; ./noise.ts
 * its noise model), ./optimum.ts (per group) and ./fit.ts (the two-stage
 * cross-check), ./replicate.ts (replication across seeds or runs).
 *
 * @example
 * ```ts
 * import { analyzeSweep, writeReport } from "./engine/analysis/mod.ts";
 * const a = await analyzeSweep("runs/width-transfer", { predict: [{ width: 4096 }] });
 * await writeReport(a);
 * ```
 */
export { detectScales, loadMetrics, SCALE_CANDIDATES } from "./load.ts";
export {
  checkTable,
  type ColumnMap,
  loadResults,
  resolveColumns,
  type ResolvedColumns,
  STATUS_WORDS,
  useSweepReader,
} from "./table.ts";
export { FORMATS, parseNumber, readResultsFile } from "./read.ts";
export { type BasinFit, type BasinModel, type BasinPoint, basinValue, fitBasin } from "./basin.ts";
export {
  type CurveOptimum,
  curveOptimum,
  type CurvePoint,
  type GroupOptimum,
  type LossPoint,
  type NoiseEstimate,
  type Optima,
  optimalLR,
  type OptimaOptions,
  optimaTable,
  quadraticVertex,
  type SeedCells,
} from "./optimum.ts";
export {
  type Call,
  type Coefficient,
  compareAll,
  compareFits,
  type Comparison,
  type FitOptions,
  fitScaling,
  judge,
  methodText,
  type Prediction,
  predictLR,
  type ScalingFit,
  verdictText,
} from "./fit.ts";
export {
  type FamilySlope,
  type FamilySlopeOptions,
  familySlopes,
  type JointFit,
  type JointOptions,
  type JointScale,
  jointScaling,
} from "./joint.ts";
export {
  compareReplicas,
  type ReplicaSlopes,
  replicateRuns,
  replicateSeeds,
  type Replication,
  replicationMarkdown,
  type ReplicationPair,
} from "./replicate.ts";
export { type AnswerContext, plainAnswers } from "./answer.ts";
export { fitNoiseModel, type NoiseCell, type NoiseModel, noiseSd, noiseText } from "./noise.ts";
export { leastSquares } from "../core/least_squares.ts";
export { etaVsScaleSpec, lossVsLRSpec, trainingCurvesSpec, type TrainingPoint } from "./figure_specs.ts";
export { renderPNG, renderSVG, type VegaLiteSpec } from "./render.ts";
export { type Analysis, type AnalyzeOptions, analyzeSweep, type Figure, outputDir } from "./analyze.ts";
export { type AnalysisJSON, analysisJSON } from "./analysis_json.ts";
export type { FamilyBase, TrialRow } from "./trials.ts";
export { analysisMarkdown } from "./markdown.ts";
export { reportHTML, type ReportOptions, type ReportSection, writeReport } from "./report.ts";
export { collectProvenance, type Provenance } from "./provenance.ts";
export { SEQUENTIAL_SCHEME, VEGA_THEME } from "./theme.ts";
