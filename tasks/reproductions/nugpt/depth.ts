/**
 * Depth transfer (arXiv 2604.27077 Fig. 3, section 4.5 / Fig. 8): the archived
 * nugpt-depth sweep (pipelines/repro/nugpt-depth.yaml), with the depth-muP
 * factor that the paper says breaks it.
 */
import * as aq from "arquero";
import { loadResults } from "../../../engine/analysis/load.ts";
import { num, type SectionContext, table, type Verdict, verdictLine } from "../common.ts";

import {
  analyze,
  claimOpening,
  famOf,
  fig,
  groupsOf,
  incomplete,
  largestScale,
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
  const deepest = largestScale(a, nu, "model.depth"), deepNg = largestScale(a, ng, "model.depth");
  const share = await hiddenLRShare(p.dir);
  const diagnosis = [
    deepest && deepNg
      ? `The cost of carrying depth 2's LR to depth ${deepest.scale["model.depth"]} is ${
        num(deepNg.transfer_cost)
      } nats (nGPT) and ${num(deepest.transfer_cost)} nats (nuGPT).`
      : "",
    share
      ? `Depth-muP multiplies eta_hidden by m_depth^(-1/2) = ${
        num(share.factor, 2)
      } at depth ${share.depth};` +
        " that moves eta* by +0.5 per doubling of depth only if the hidden matrices' LR sets the basin. At depth" +
        ` ${share.depth} its loss differs from nuGPT's at the same base LR by ${
          num(share.same)
        } nats and from` +
        ` nuGPT's at the LR its hidden matrices get by ${
          num(share.hidden)
        } nats (mean over the ${share.n} LRs` +
        ` where both ran): ${
          share.same < share.hidden / 2
            ? "the other parameters' LR (embeddings, output, scalars) sets the basin at this scale, so the factor hardly moves eta*."
            : share.hidden < share.same / 2
            ? "the hidden matrices' LR sets the basin."
            : "neither group's LR alone sets the basin."
        }`
      : "",
  ].filter(Boolean).join(" ");
  const rd = reading(nd, "model.depth");
  const holds = [
    reading(ng, "model.depth")?.r === "transfers",
    reading(nu, "model.depth")?.r === "transfers",
    rd?.r === "drifts" && rd.c.slope > 0,
  ].filter(Boolean).length;
  const v: Verdict = holds === 3 ? "reproduced" : holds === 2 ? "partly" : "not reproduced";
  return [...out, verdictLine(v, `${holds} of the 3 statements hold. ${diagnosis}`.trim())].join("\n");
}

/**
 * Which LR sets the loss of nuGPT + depth-muP at the deepest depth: its mean
 * final loss per base LR x against nuGPT's at x (if the non-hidden
 * parameters' LR sets it) and at x m_depth^(-1/2), the LR its hidden
 * matrices get (if theirs does). Mean absolute differences over the LRs
 * where both ran; null when the sweep has no such pairs.
 */
export async function hiddenLRShare(
  dir: string,
): Promise<{ depth: number; factor: number; same: number; hidden: number; n: number } | null> {
  const t = await loadResults(dir);
  const rows = t.filter((d: Record<string, unknown>) => d["parameterization.name"] === "nugpt")
    .groupby("parameterization.depth_exponent", "parameterization.base_depth", "model.depth", "optimizer.lr")
    .rollup({ loss: aq.op.mean("final_val_loss") }).objects() as Record<string, number>[];
  const depth = Math.max(...rows.map((r) => r["model.depth"]));
  const at = (e: number, lr: number) =>
    rows.find((r) =>
      Number(r["parameterization.depth_exponent"]) === e && r["model.depth"] === depth &&
      Math.abs(Math.log2(r["optimizer.lr"] / lr)) < 1e-6
    )?.loss;
  const same: number[] = [], hidden: number[] = [];
  let factor = NaN;
  for (const r of rows.filter((r) => Number(r["parameterization.depth_exponent"]) > 0)) {
    if (r["model.depth"] !== depth) continue;
    // eta_hidden = eta m_depth^(-depth_exponent) (components/parameterization/nugpt.ts)
    factor = (depth / r["parameterization.base_depth"]) ** -Number(r["parameterization.depth_exponent"]);
    const a = at(0, r["optimizer.lr"]), b = at(0, r["optimizer.lr"] * factor);
    if (a === undefined || b === undefined) continue;
    same.push(Math.abs(r.loss - a));
    hidden.push(Math.abs(r.loss - b));
  }
  const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
  return same.length ? { depth, factor, same: mean(same), hidden: mean(hidden), n: same.length } : null;
}
