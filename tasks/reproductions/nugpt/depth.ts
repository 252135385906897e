/**
 * Depth transfer (arXiv 2604.27077 Fig. 3, section 4.5 / Fig. 8): the archived
 * nugpt-depth sweep (pipelines/repro/nugpt-depth.yaml), with the depth-muP
 * factor that the paper says breaks it.
 */
import { type SectionContext, table, type Verdict, verdictLine } from "../common.ts";

import {
  analyze,
  claimOpening,
  famOf,
  fig,
  groupsOf,
  incomplete,
  OPTIMA_HEADER,
  optimaRows,
  reading,
  slopeText,
} from "./shared.ts";

/** The depth claim's markdown (table, slopes over depth, figure, verdict line). */
export async function depthClaim(ctx: SectionContext): Promise<string> {
  const { p, out } = await claimOpening(
    ctx,
    "nugpt-depth",
    "Depth: both rules transfer over depth; a depth-muP factor on eta_hidden breaks it",
    [
      "Paper (Fig. 3, section 4.5 / Fig. 8): baseline nGPT already transfers decently over depth; nuGPT",
      'transfers; an m_depth^(-1/2) factor on eta_hidden (Depth-muP) makes eta* "strongly drift to the',
      'right". Here: depths 2 / 4 / 8 at width 32, 400 steps of 2048 tokens, 3 seeds. Rule: reproduced when',
      "nGPT and nuGPT transfer and nuGPT with depth_exponent 0.5 drifts upwards (interval above +0.1);",
      "partly when two of the three hold.",
    ],
    "model.depth",
    "depth",
  );
  if (!p.finished) return [...out, incomplete(p, "the optima")].join("\n");
  const a = await analyze(ctx, p.dir, ["parameterization.name", "parameterization.depth_exponent"], [
    "model.depth",
  ]);
  const ng = famOf(a, { "parameterization.name": "ngpt" });
  const nu = famOf(a, { "parameterization.name": "nugpt", "parameterization.depth_exponent": 0 });
  const nd = famOf(a, { "parameterization.name": "nugpt", "parameterization.depth_exponent": 0.5 });
  out.push(
    table(OPTIMA_HEADER("depth"), [
      ...optimaRows(groupsOf(a, ng), "nGPT", "model.depth"),
      ...optimaRows(groupsOf(a, nu), "nuGPT", "model.depth"),
      ...optimaRows(groupsOf(a, nd), "nuGPT + depth-muP", "model.depth"),
    ]),
    "",
    `- nGPT: ${slopeText(ng, "model.depth")}`,
    `- nuGPT: ${slopeText(nu, "model.depth")}`,
    `- nuGPT with m_depth^(-1/2) on eta_hidden: ${slopeText(nd, "model.depth")}`,
    "",
    fig(ctx, `${p.dir}/figures/eta_vs_depth.png`, "eta* vs depth"),
    "",
  );
  if (!p.complete) return [...out, incomplete(p, "the numbers")].join("\n");
  const rd = reading(nd, "model.depth");
  const holds = [
    reading(ng, "model.depth")?.r === "transfers",
    reading(nu, "model.depth")?.r === "transfers",
    rd?.r === "drifts" && rd.c.slope > 0,
  ].filter(Boolean).length;
  const v: Verdict = holds === 3 ? "reproduced" : holds === 2 ? "partly" : "not reproduced";
  return [...out, verdictLine(v, `${holds} of the 3 statements hold.`)].join("\n");
}
