/** The Markdown summary of an analysis (`analysis.md`). */
import type { Analysis } from "./analyze.ts";
import { methodText, type ScalingFit } from "./fit.ts";
import { type JointFit, jointMethodText } from "./joint.ts";
import { noiseText } from "./noise.ts";
import { shortName } from "./naming.ts";
import {
  baseScaleText,
  fmtEta,
  fmtInterval,
  fmtLevel,
  fmtLR,
  fmtNum,
  fmtWithCI,
  NA_TEXT,
  OPTIMA_COLUMNS,
  verdictLines,
} from "./format.ts";

/** What `analysisMarkdown` reads of an analysis. */
export type MarkdownInput =
  & Pick<Analysis, "dir" | "optima" | "fits" | "predictions" | "counts" | "comparisons" | "bases">
  & {
    inputs?: string[];
    answers?: [string, string[]][];
    twoStage?: ScalingFit[];
  };

/**
 * The Markdown summary (`analysis.md`): verdicts, method, paired
 * comparisons, the optima table with intervals and the cost of transfer,
 * predictions with their warnings.
 *
 * @example
 * ```ts
 * console.log(analysisMarkdown(analysis));
 * ```
 */
export function analysisMarkdown(a: MarkdownInput): string {
  const { optima } = a;
  return [
    `# Learning-rate transfer: ${a.dir}`,
    "",
    ...(a.inputs && (a.inputs.length > 1 || a.inputs[0] !== a.dir)
      ? [`Results from ${a.inputs.join(", ")}.`, ""]
      : []),
    `${optima.n_trials} trials (${a.counts.ok} ok, ${a.counts.diverged} diverged, ${a.counts.failed} failed); ` +
    `families by ${optima.by.join(", ") || "(none)"}; scale axes ${optima.scale.join(", ") || "(none)"}; ` +
    `loss ${optima.loss}, seed offsets removed (${optima.seed ?? "one seed"}).`,
    "",
    ...(a.answers?.length
      ? ["## Answer", "", ...a.answers.map(([fam, ss]) => `- **${fam}.** ${ss.join(" ")}`), ""]
      : []),
    ...verdictsMarkdown(a),
    ...methodMarkdown(a),
    ...optimaMarkdown(a),
    ...predictionsMarkdown(a),
  ].join("\n");
}

/** The tolerance of the verdicts (the fits'; 0.1 without fits). */
function tolerance(a: MarkdownInput): number {
  return a.fits[0]?.tolerance ?? 0.1;
}

/** The verdict lines and the paired comparisons. */
function verdictsMarkdown(a: MarkdownInput): string[] {
  const tol = tolerance(a);
  return [
    "## Verdicts",
    "",
    `Tolerance: |slope| <= ${tol} (eta* moving by less than x2^${tol} per doubling counts as transfer); ` +
    `${fmtLevel(a.optima.level)} intervals.`,
    "",
    ...verdictLines(a.fits).map((l) => `- ${l}`),
    "",
    ...(a.comparisons.length
      ? ["## Paired comparisons", "", ...a.comparisons.map((c) => `- ${c.text}`), ""]
      : []),
  ];
}

/** The method, the joint fit's noise model and slope uncertainties, the two-stage cross-check, the trial noise. */
function methodMarkdown(a: MarkdownInput): string[] {
  const { optima } = a;
  const tol = tolerance(a);
  const joint = a.fits.filter((f): f is JointFit => "per_scale" in f);
  const lines = [
    "## Method",
    "",
    joint.length ? jointMethodText(tol, optima.level) : methodText(tol, optima.level),
    "",
  ];
  if (joint.length) {
    lines.push(
      "Trial noise model per family: " + joint.map((f) => `${f.family}: ${noiseText(f.noise)}`).join("; ") +
        ".",
      "",
      "Slope uncertainty per family (1 sd, per doubling): " + joint.filter((f) =>
        f.coefficients.length
      ).map((f) =>
        `${f.family}: trial noise ${fmtNum(f.u_stat[0] / f.birge, 3)}, scatter about the law x${
          f.birge.toFixed(2)
        }, basin models ${fmtNum(f.u_model[0], 3)} (slopes ${
          (f.model_slopes[f.scales[0]] ?? []).map((v) => v.toFixed(2)).join(" / ")
        } for cubic / quadratic / two-sided), grid resolution ${fmtNum(f.u_res[0], 3)}`
      ).join("; ") + ".",
      "",
    );
  }
  if (a.twoStage?.length) {
    lines.push(
      "Cross-check, two-stage estimate (per-scale optima, then a weighted regression): " +
        verdictLines(a.twoStage).join("; ") + ".",
      "",
    );
  }
  lines.push(
    "Trial noise (sd, nats) per family, pooled for the per-group optima: " +
      Object.entries(optima.noise).map(([f, n]) =>
        `${f} ${fmtNum(n.sd)} (seed-to-seed ${fmtNum(n.seed_sd)} on ${n.seed_dof} dof, fit residuals ${
          fmtNum(n.fit_sd)
        } on ${n.fit_dof} dof)`
      ).join("; ") + ".",
    "",
  );
  return lines;
}

/** The optima table: one row per group with eta*, its uncertainties, counts, costs of transfer and flags. */
function optimaMarkdown(a: MarkdownInput): string[] {
  const { optima } = a;
  const keyCols = [...optima.by, ...optima.scale.filter((s) => !optima.by.includes(s))];
  return [
    "## Optimal learning rate per group",
    "",
    `eta* (this scale alone) with its ${
      fmtLevel(a.optima.level)
    } interval; u_stat / u_sys: bootstrap and resolution parts of its ` +
    "uncertainty (log2). Cost of transfer: the scale's fitted curve at the law's eta* of the base scale minus " +
    "at its own (joint fit), with its interval; observed: seed-adjusted loss at the base scale's grid LR " +
    "minus the group's best. " +
    baseScaleText(a.bases ?? []) + " " + NA_TEXT,
    "",
    `| ${[...keyCols, ...OPTIMA_COLUMNS, "flags"].join(" | ")} |`,
    `|${[...keyCols, ...OPTIMA_COLUMNS, "flags"].map(() => "---").join("|")}|`,
    ...optima.groups.map((g) =>
      `| ${
        [
          ...keyCols.map((k) => String(g.keys[k])),
          fmtEta(g),
          fmtLR(g.eta_star_grid),
          fmtNum(g.u_stat, 3),
          fmtNum(g.u_sys, 3),
          fmtNum(g.loss_star),
          g.n_trials,
          g.n_diverged,
          g.n_failed,
          fmtWithCI(g.transfer_cost_fit, g.transfer_cost_ci),
          fmtNum(g.transfer_cost),
          g.flags.join("; ") || "-",
        ].join(" | ")
      } |`
    ),
    "",
  ];
}

/** The predictions table with the warnings. */
function predictionsMarkdown(a: MarkdownInput): string[] {
  if (!a.predictions.length) return [];
  return [
    "## Predictions",
    "",
    `| family | scale | eta* | ${fmtLevel(a.optima.level)} interval | warning |`,
    "|---|---|---|---|---|",
    ...a.predictions.map((p) => {
      const sc = Object.entries(p.scale).map(([k, v]) => `${shortName(k)}=${v}`).join(", ");
      return `| ${p.family} | ${sc} | ${fmtLR(p.eta_star)} | ${fmtInterval(p)} | ${p.warning ?? "-"} |`;
    }),
    "",
  ];
}
