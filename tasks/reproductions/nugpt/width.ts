/**
 * Width transfer (arXiv 2604.27077 Fig. 2): the archived nugpt-width sweep
 * (pipelines/repro/nugpt-width.yaml), both rules' slopes, the paired
 * difference and the cost of transfer at the largest width.
 */
import type { Analysis } from "../../../engine/analysis/analyze.ts";
import type { ScalingFit } from "../../../engine/analysis/fit.ts";
import {
  num,
  type SectionContext,
  slopeDifference,
  table,
  type Verdict,
  verdictLine,
  withCI,
} from "../common.ts";

import {
  analyze,
  claimOpening,
  famOf,
  fig,
  fitOf,
  fitsWithoutSmallest,
  groupsOf,
  incomplete,
  largestScale,
  medianEtaOctaves,
  OPTIMA_HEADER,
  optimaRows,
  reading,
  slopeText,
  TOLERANCE,
} from "./shared.ts";

/** The width claim's markdown (table, slopes, cost of transfer, figures, verdict line). */
export async function widthClaim(ctx: SectionContext, diagnosis: string): Promise<string> {
  const { p, out } = await claimOpening(
    ctx,
    "nugpt-width",
    "Width: nGPT's optimal LR moves with width, nuGPT's does not",
    [
      "Paper (Fig. 2, 80,000 iterations, depth 12, 8 to 40 heads of d_k 102; Fig. 1 at 20 tokens per",
      'parameter): "Baseline nGPT does not show transfer, our parametrization nuGPT shows essentially',
      'perfect transfer with no loss of performance." Judged from loss-vs-LR curves; the paper fits no',
      "width exponent. Here: widths 16-128 at head_dim 8, depth 2, 600 steps of 2048 tokens, 3 seeds, LR",
      "2^-8..2^-3.5 at 2^0.5, both rules under Adam (0.9, 0.95), eps 1e-16, no clipping, cosine to 10%.",
      `Rule: a slope b (eta* proportional to width^b) is read by the analysis library's call ("transfers":`,
      `its 95% interval inside +-${TOLERANCE}; "drifts": outside it); the claim is reproduced when nGPT drifts and nuGPT`,
      "transfers, partly when nuGPT drifts significantly less than nGPT (the interval of the difference",
      "excludes 0) or a reading is inconclusive, not reproduced otherwise.",
    ],
    "model.width",
    "width",
  );
  if (!p.finished) return [...out, incomplete(p, "the optima")].join("\n");
  const a = await analyze(ctx, p.dir, ["parameterization.name"], ["model.width"]);
  const ng = famOf(a, { "parameterization.name": "ngpt" }),
    nu = famOf(a, { "parameterization.name": "nugpt" });
  out.push(
    table(OPTIMA_HEADER("width"), [
      ...optimaRows(groupsOf(a, ng), "nGPT", "model.width"),
      ...optimaRows(groupsOf(a, nu), "nuGPT", "model.width"),
    ]),
    "",
    `"Cost of the base LR" is the loss at the smallest width's grid optimum minus the best loss at that`,
    "width: what carrying the LR tuned at width 16 over costs (the cost of transfer).",
    "",
    `- nGPT: slope of log2 eta* per doubling of width ${slopeText(ng, "model.width")}`,
    `- nuGPT: slope ${slopeText(nu, "model.width")}`,
  );
  const d = ng && nu ? slopeDifference(nu, ng, "model.width") : null;
  if (d) {
    out.push(`- paired difference nuGPT - nGPT: ${withCI(d.diff, d.ci)} (${d.text})`);
  }
  const wn = largestScale(a, ng, "model.width"), wu = largestScale(a, nu, "model.width");
  if (wn && wu) {
    out.push(
      `- cost of transfer at the largest width finished (${wn.scale["model.width"]} / ${
        wu.scale["model.width"]
      }): nGPT ${num(wn.transfer_cost)} nats, nuGPT ${num(wu.transfer_cost)} nats`,
    );
  }
  if (p.complete) out.push(...(await resolution(p.dir, a, ng, nu)));
  out.push(
    "",
    fig(ctx, `${p.dir}/figures/loss_vs_lr.png`, "loss vs LR per width"),
    "",
    fig(ctx, `${p.dir}/figures/eta_vs_width.png`, "eta* vs width"),
    "",
  );
  if (!p.complete) return [...out, incomplete(p, "the numbers")].join("\n");
  const rn = reading(ng, "model.width"), ru = reading(nu, "model.width");
  let v: Verdict, why: string;
  const differs = !!d?.ci && (d.ci[0] > 0 || d.ci[1] < 0);
  if (!rn || !ru) {
    v = "not reproduced";
    why = `a rule has no fitted slope (optima not bracketed). Diagnosis: ${diagnosis}.`;
  } else if (rn.r === "drifts" && ru.r === "transfers") {
    v = "reproduced";
    why = "nGPT's eta* drifts with width and nuGPT's stays within the band.";
  } else if (rn.r === "transfers" || (ru.r === "drifts" && !differs)) {
    v = "not reproduced";
    why = `nGPT ${rn.r}, nuGPT ${ru.r}. Diagnosis: ${diagnosis}.`;
  } else {
    v = "partly";
    why = `nGPT ${rn.r}, nuGPT ${ru.r}; the difference of slopes is ${
      d ? withCI(d.diff, d.ci) : "n/a"
    }. Diagnosis: ${diagnosis}.`;
  }
  return [...out, verdictLine(v, why)].join("\n");
}

/**
 * What sets the width of the slopes' intervals: the per-width eta* intervals
 * (octaves) against the tolerance band, and the same fits without the
 * smallest width (a sensitivity check; the verdict uses every width).
 */
async function resolution(
  dir: string,
  a: Analysis,
  ng: ScalingFit | undefined,
  nu: ScalingFit | undefined,
): Promise<string[]> {
  const axis = "model.width", by = ["parameterization.name"];
  const rest = await fitsWithoutSmallest(dir, by, axis);
  const rn = fitOf(rest, { "parameterization.name": "ngpt" });
  const ru = fitOf(rest, { "parameterization.name": "nugpt" });
  const smallest = Math.min(...a.optima.groups.map((g) => g.scale[axis]));
  const span = (f: ScalingFit | undefined) => {
    const c = f?.coefficients[f.scales.indexOf(axis)];
    return c?.slope_ci ? num(c.slope_ci[1] - c.slope_ci[0], 2) : "n/a";
  };
  return [
    `- resolution: the slopes' intervals are ${span(ng)} (nGPT) and ${span(nu)} (nuGPT) wide against the ` +
    `"transfers" band's ${num(2 * TOLERANCE, 2)}; the per-width eta* intervals are ${
      num(medianEtaOctaves(groupsOf(a, ng)), 2)
    } (nGPT) and ${num(medianEtaOctaves(groupsOf(a, nu)), 2)} (nuGPT) octaves wide on median`,
    `- without width ${smallest} (a sensitivity check, not the verdict): nGPT ${slopeText(rn, axis)}; nuGPT ${
      slopeText(ru, axis)
    }`,
  ];
}
