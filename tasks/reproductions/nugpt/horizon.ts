/**
 * Horizon transfer (arXiv 2604.27077 section 4.6 / Fig. 9; Bjorck et al.): the
 * archived nugpt-horizon sweep (pipelines/repro/nugpt-horizon.yaml), nGPT's
 * horizon exponent against -1/3, nuGPT with and without m_data^(-1/3).
 */
import { num, type SectionContext, table, type Verdict, verdictLine, withCI } from "../common.ts";

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

/** The horizon claim's markdown (table, horizon exponents, cost of transfer, figures, verdict line). */
export async function horizonClaim(ctx: SectionContext): Promise<string> {
  const { p, out } = await claimOpening(
    ctx,
    "nugpt-horizon",
    "Horizon: eta* falls as steps^(-1/3) without a correction; nuGPT's m_data^(-1/3) removes it",
    [
      "Paper (section 4.6, Fig. 9): without the token-count correction the optimal LR of a fixed model",
      '"decreases roughly as (iter. count)^(-1/3)", matching Bjorck et al. (beta = 0.32).',
      "Here: width 32 (nuGPT's base width), 125 / 500 / 2000 steps of 1024 tokens, 3 seeds. Rule:",
      "reproduced when nGPT's horizon slope's interval contains -1/3 and excludes 0 and corrected",
      "nuGPT transfers (interval inside +-0.1);",
      "partly when only one holds or nGPT's slope is negative but its interval misses -1/3.",
    ],
    "train.steps",
    "steps",
  );
  if (!p.finished) return [...out, incomplete(p, "the optima")].join("\n");
  const by = ["parameterization.name", "parameterization.horizon_correction"];
  const a = await analyze(ctx, p.dir, by, ["train.steps"]);
  const ng = famOf(a, { "parameterization.name": "ngpt" });
  const nc = famOf(a, { "parameterization.name": "nugpt", "parameterization.horizon_correction": true });
  const nn = famOf(a, { "parameterization.name": "nugpt", "parameterization.horizon_correction": false });
  out.push(
    table(OPTIMA_HEADER("steps"), [
      ...optimaRows(groupsOf(a, ng), "nGPT", "train.steps"),
      ...optimaRows(groupsOf(a, nc), "nuGPT (corrected)", "train.steps"),
      ...optimaRows(groupsOf(a, nn), "nuGPT (no correction)", "train.steps"),
    ]),
    "",
    `- nGPT: horizon exponent (log2 eta* per doubling of steps) ${slopeText(ng, "train.steps")}; paper -1/3`,
    `- nuGPT without the correction: ${slopeText(nn, "train.steps")}`,
    `- nuGPT with the correction: ${slopeText(nc, "train.steps")}`,
  );
  const [ln, lc, lu] = [ng, nc, nn].map((f) => largestScale(a, f, "train.steps"));
  if (ln && lc && lu) {
    out.push(
      `- cost of carrying the shortest horizon's LR to the longest (${ln.scale["train.steps"]} steps): nGPT ${
        num(ln.transfer_cost)
      } nats, nuGPT with the correction ${num(lc.transfer_cost)}, without ${num(lu.transfer_cost)}`,
    );
  }
  out.push(
    "",
    fig(ctx, `${p.dir}/figures/loss_vs_lr.png`, "loss vs LR per horizon"),
    "",
    fig(ctx, `${p.dir}/figures/eta_vs_steps.png`, "eta* vs steps"),
    "",
  );
  if (!p.complete) return [...out, incomplete(p, "the numbers")].join("\n");
  const rn = reading(ng, "train.steps"), rc = reading(nc, "train.steps");
  const ci = rn?.c.slope_ci;
  const third = !!ci && ci[0] <= -1 / 3 && ci[1] >= -1 / 3 && ci[1] < 0;
  const falls = !!ci && ci[1] < 0;
  const corrected = rc?.r === "transfers";
  const v: Verdict = third && corrected
    ? "reproduced"
    : third || corrected || falls
    ? "partly"
    : "not reproduced";
  return [
    ...out,
    verdictLine(
      v,
      `nGPT's exponent ${rn ? withCI(rn.c.slope, ci ?? null) : "n/a"} (${
        third ? "contains" : "misses"
      } -1/3); corrected nuGPT ${rc?.r ?? "has no fit"}.`,
    ),
  ].join("\n");
}
