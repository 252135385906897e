/**
 * What the nuGPT claims share (tasks/reproductions/nugpt.ts): the analysis of an
 * archived sweep, optima tables, slope texts, a sweep claim's opening.
 */
import * as aq from "arquero";
import { type Analysis, analyzeSweep } from "../../../engine/analysis/analyze.ts";
import type { ScalingFit } from "../../../engine/analysis/fit.ts";
import { type JointFit, jointScaling } from "../../../engine/analysis/joint.ts";
import { loadResults } from "../../../engine/analysis/load.ts";
import { type GroupOptimum, type Optima, optimalLR } from "../../../engine/analysis/optimum.ts";
import { quantile } from "../../../engine/analysis/statistics.ts";
import { shortName } from "../../../engine/analysis/naming.ts";
import { etaVsScaleSpec, lossVsLRSpec } from "../../../engine/analysis/figure_specs.ts";
import { renderPNG, renderSVG } from "../../../engine/analysis/render.ts";
import { exists, writeFileAtomic } from "../../../engine/core/fs.ts";
import "../../../components/mod.ts";
import { SLOPE_TOLERANCE } from "../../../engine/analysis/claims/width.ts";
import {
  lrText,
  num,
  progressText,
  readSlope,
  runSetting,
  type SectionContext,
  settingText,
  type SweepProgress,
  sweepProgress,
  verdictLine,
  withCI,
} from "../common.ts";

/** Runs the analysis into the archived sweep directory (analysis.json, optima.csv, figures/). */
export function analyze(ctx: SectionContext, dir: string, by: string[], scale: string[]): Promise<Analysis> {
  return analyzeSweep(dir, { by, scale, tolerance: SLOPE_TOLERANCE, log: ctx.log });
}

/**
 * The same fits as `analyze` on the trials (of the sweeps in `dirs`, taken
 * as one table) whose `axis` is above its smallest value: a sensitivity check of a slope against its smallest scale (nothing
 * is written).
 */
export async function fitsWithoutSmallest(dirs: string[], by: string[], axis: string): Promise<ScalingFit[]> {
  const table = await resultsTogether(dirs);
  const smallest = Math.min(...(table.array(axis) as number[]));
  const rest = table.filter(aq.escape((d: Record<string, number>) => d[axis] > smallest));
  return jointScaling(optimalLR(rest, { by, scale: [axis], resamples: 0 }), { tolerance: SLOPE_TOLERANCE });
}

/** Median width, in octaves (log2), of the groups' eta* intervals. */
export function medianEtaOctaves(groups: GroupOptimum[]): number {
  const w = groups.filter((g) => Number.isFinite(g.eta_ci[0]))
    .map((g) => Math.log2(g.eta_ci[1]) - Math.log2(g.eta_ci[0])).sort((a, b) => a - b);
  return quantile(w, 0.5);
}

/** The fit among `fits` whose family keys match `match`. */
/** The fitted law of the family whose keys match `match` (e.g. {"parameterization.name": "ngpt"}). */
export function familyFit(fits: ScalingFit[], match: Record<string, unknown>): ScalingFit | undefined {
  return fits.find((f) => Object.entries(match).every(([k, v]) => String(f.family_keys[k]) === String(v)));
}

/** What the claims read of an analysis: the optima and the fitted laws (one sweep, or several together). */
export type Fitted = Pick<Analysis, "optima" | "fits">;

export function groupsOf(a: Fitted, fit: ScalingFit | undefined): GroupOptimum[] {
  return fit ? a.optima.groups.filter((g) => g.family === fit.family) : [];
}

export function slopeText(fit: ScalingFit | undefined, axis: string): string {
  const i = fit ? fit.scales.indexOf(axis) : -1;
  if (!fit || i < 0) return `no fit (${fit?.note ?? "no bracketed optima at two scales"})`;
  const c = fit.coefficients[i];
  return `${withCI(c.slope, c.slope_ci)}: ${readSlope(c)}`;
}

/** A family's slope along `axis`: its fitted coefficient and the verdict call read from it (null when unfitted). */
export function slopeReading(fit: ScalingFit | undefined, axis: string) {
  const i = fit ? fit.scales.indexOf(axis) : -1;
  return fit && i >= 0 ? { coefficient: fit.coefficients[i], call: readSlope(fit.coefficients[i]) } : null;
}

/**
 * One table row per group of a family: its optima, best loss, trials, the
 * observed cost of the base LR and the cost of transfer from the family's
 * fitted curves (the joint fit's per-scale cost, with its interval).
 */
export function optimaRows(
  groups: GroupOptimum[],
  label: string,
  axis: string,
  fit: ScalingFit | undefined,
): (string | number)[][] {
  return groups.sort((a, b) => a.scale[axis] - b.scale[axis]).map((g) => [
    label,
    g.scale[axis],
    lrText(g.eta_star_grid),
    lrText(g.eta_star) + (g.bracketed ? "" : " (edge)"),
    num(g.loss_star),
    `${g.n_ok}/${g.n_trials}`,
    costText(g, true),
    fittedCostText(fit, axis, g.scale[axis]),
  ]);
}

/** The fitted cost of transfer at one scale of `fit` ("0.034 [0.021, 0.049]"), or why there is none. */
function fittedCostText(fit: ScalingFit | undefined, axis: string, value: number): string {
  // The verdicts' fits are joint fits (engine/analysis/joint.ts), which carry the per-scale costs.
  const row = (fit as Partial<JointFit> | undefined)?.per_scale?.find((r) => r.scale[axis] === value);
  if (!row) return "n/a";
  if (Number.isFinite(row.cost)) return row.cost_ci ? withCI(row.cost, row.cost_ci, 3) : num(row.cost);
  return row.cost_outside ? "base eta* outside the fit" : row.excluded ? "excluded (edge)" : "n/a";
}

export const OPTIMA_HEADER = (axis: string) => [
  "rule",
  axis,
  "eta* (grid)",
  "eta* (refined)",
  "best loss",
  "ok trials",
  "cost of the base LR (nats)",
  "cost of transfer, fitted (nats) [95%]",
];

/**
 * A sweep claim's opening: the archived run's progress, the heading, the
 * paper's claim and the rule (`claim`), then the pipeline, command and, once
 * trials finished, the run's setting over `scale` (labelled `label`).
 */
export async function claimOpening(
  ctx: SectionContext,
  name: string,
  title: string,
  claim: string[],
  scale: string,
  label: string,
): Promise<{ p: SweepProgress; out: string[] }> {
  const pipeline = `pipelines/repro/${name}.yaml`;
  const p = await sweepProgress(ctx, name);
  const setting = p.finished ? settingText(await runSetting(p.dir, scale), label) : "";
  return {
    p,
    out: [`### ${title}`, "", ...claim, "", header(p, pipeline), "", ...(setting ? [setting, ""] : [])],
  };
}

export function header(p: SweepProgress, pipeline: string): string {
  return [
    `Pipeline: \`${pipeline}\`; command: \`deno task sweep ${pipeline}\` (resumable; runs into runs/), then`,
    "`deno task repro-snapshot` and `deno task reproductions`.",
    `Run archived in \`${p.dir}/\`: ${progressText(p)}.`,
  ].join(" ");
}

export function incomplete(p: SweepProgress, what: string): string {
  return verdictLine(
    "not yet run",
    p.finished
      ? `${progressText(p)}; ${what} above are from the finished trials only.`
      : `${progressText(p)}; ${what} appear here once trials finish.`,
  );
}

/** The group of `fit` at the largest value of `axis` (its transfer_cost is the cost of carrying the smallest scale's LR there). */
export function largestScale(a: Fitted, fit: ScalingFit | undefined, axis: string): GroupOptimum | null {
  const gs = groupsOf(a, fit);
  return gs.length ? gs.reduce((x, y) => (y.scale[axis] > x.scale[axis] ? y : x)) : null;
}

/**
 * The analysis of several archived sweeps taken as one table (a study and
 * its extension, e.g. nugpt-width and nugpt-width-256): optima and fitted
 * laws by the same public functions as `analyze`; nothing is written. Only
 * directories that exist are read.
 */
export async function analyzeTogether(dirs: string[], by: string[], scale: string[]): Promise<Fitted> {
  const table = await resultsTogether(dirs);
  const optima = optimalLR(table, { by, scale });
  return { optima, fits: jointScaling(optima, { tolerance: SLOPE_TOLERANCE }) };
}

/**
 * The readable name of a nuGPT-paper family for figure legends and tables:
 * "nGPT", "nuGPT", "nuGPT, no horizon correction", "nuGPT + depth-muP".
 */
export function familyLabel(keys: Record<string, unknown>): string {
  if (keys["parameterization.name"] === "ngpt") return "nGPT";
  const parts = ["nuGPT"];
  if (String(keys["parameterization.horizon_correction"]) === "false") parts.push(", no horizon correction");
  if (Number(keys["parameterization.depth_exponent"]) > 0) parts.push(" + depth-muP");
  return parts.join("");
}

/**
 * Rewrites `dir`/figures/loss_vs_lr and eta_vs_<axis> (SVG + PNG) from `a`
 * with each family named by `label` (its keys) instead of the analysis's
 * "ngpt/null"-style key values.
 */
export async function readableFigures(
  dir: string,
  a: Fitted,
  axes: string[],
  label: (keys: Record<string, unknown>) => string = familyLabel,
): Promise<void> {
  const optima: Optima = {
    ...a.optima,
    groups: a.optima.groups.map((g) => ({ ...g, family: label(g.keys) })),
  };
  const fits = a.fits.map((f) => ({ ...f, family: label(f.family_keys) }));
  const specs = [
    { name: "loss_vs_lr", spec: lossVsLRSpec(optima) },
    // At least 3 octaves of LR on the y axis: the scale of the LR grid, against which the noise shows.
    ...axes.map((axis) => ({
      name: `eta_vs_${shortName(axis)}`,
      spec: etaVsScaleSpec(optima, fits, axis, { minSpan: 3 }),
    })),
  ];
  await Deno.mkdir(`${dir}/figures`, { recursive: true });
  for (const s of specs) {
    const svg = await renderSVG(s.spec);
    await writeFileAtomic(`${dir}/figures/${s.name}.svg`, svg);
    await writeFileAtomic(`${dir}/figures/${s.name}.png`, await renderPNG(svg));
  }
}

/**
 * The observed cost of carrying the base scale's grid LR to group `g`, in
 * nats. Where that LR was not run at `g`'s scale, a lower bound: the cost at
 * the LR run nearest it (on its side of eta*), which bounds it from below as
 * long as the loss keeps rising away from eta*, as every measured basin here does.
 */
export function costText(g: GroupOptimum, short = false): string {
  const unit = short ? "" : " nats";
  if (Number.isFinite(g.transfer_cost) || g.transfer_cost === Infinity) return num(g.transfer_cost) + unit;
  if (!Number.isFinite(g.base_eta_star)) return "n/a";
  const xb = Math.log2(g.base_eta_star), xs = Math.log2(g.eta_star_grid);
  const side = g.curve.filter((p) =>
    p.candidate && Number.isFinite(p.loss) && (p.log2_lr - xs) * (xb - xs) > 0
  );
  if (!side.length) return "n/a";
  const near = side.reduce((a, b) => (Math.abs(b.log2_lr - xb) < Math.abs(a.log2_lr - xb) ? b : a));
  if (short) return `>= ${num(near.loss - g.loss_star)}`;
  return `>= ${num(near.loss - g.loss_star)} nats (the base LR 2^${
    xb.toFixed(2)
  } was not run here; the cost at ` +
    `2^${near.log2_lr.toFixed(2)}, the LR run nearest it)`;
}

/** The results tables of several archived sweeps as one table (directories without results.csv are skipped). */
async function resultsTogether(dirs: string[]) {
  const tables = [];
  for (const d of dirs) if (await exists(`${d}/results.csv`)) tables.push(await loadResults(d));
  return tables.reduce((a, b) => a.concat(b));
}
