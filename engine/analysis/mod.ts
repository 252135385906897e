/**
 * Sweep analysis: optimal LR per group, scaling-law fit with bootstrap
 * intervals and a transfer verdict, figures and the HTML report.
 *
 * @example
 * ```ts
 * import { analyzeSweep, writeReport } from "./engine/analysis/mod.ts";
 * const a = await analyzeSweep("runs/width-transfer", { predict: [{ width: 4096 }] });
 * await writeReport(a);
 * ```
 */
export { detectScales, loadMetrics, loadResults, SCALE_CANDIDATES } from "./load.ts";
export {
  type CurveOptimum,
  curveOptimum,
  type CurvePoint,
  type GroupOptimum,
  type LossPoint,
  type Optima,
  optimalLR,
  type OptimaOptions,
  optimaTable,
  quadraticVertex,
  type SeedCells,
} from "./optimum.ts";
export {
  type Coefficient,
  type FitOptions,
  fitScaling,
  type Prediction,
  predictLR,
  type ScalingFit,
  verdictText,
} from "./fit.ts";
export { leastSquares } from "../core/least_squares.ts";
export {
  etaVsScaleSpec,
  lossVsLRSpec,
  renderPNG,
  renderSVG,
  trainingCurvesSpec,
  type TrainingPoint,
  type VegaLiteSpec,
} from "./plots.ts";
export {
  type Analysis,
  type AnalysisJSON,
  analysisJSON,
  analysisMarkdown,
  type AnalyzeOptions,
  analyzeSweep,
  type Figure,
} from "./analyze.ts";
export { reportHTML, type ReportOptions, writeReport } from "./report.ts";
