/**
 * docs/reproductions.md, the nuGPT paper's claims ("Learning Rate Transfer in
 * Normalized Transformers", arXiv 2604.27077; docs/reference.md sections
 * 2-3): width, horizon and depth transfer, the diagnostics of the remaining
 * drift, and the alignment exponents. Each claim reads its pipeline's
 * archived run directory (docs/repro/runs/<pipeline name>/, see
 * `deno task repro-snapshot`), analyses it with engine/analysis (optimalLR,
 * jointScaling: one joint fit per family with bootstrap intervals) and states a verdict by the rule written
 * next to it; an incomplete run is "not yet run", with what finished shown.
 */
import { type ClaimText, type Section, table } from "./common.ts";
import { widthClaim } from "./nugpt/width.ts";
import { horizonClaim } from "./nugpt/horizon.ts";
import { depthClaim } from "./nugpt/depth.ts";
import { DIAGNOSTICS, DIAGNOSTICS_SHORT, diagnosticsClaim } from "./nugpt/diagnostics.ts";
import { alignmentClaim } from "./nugpt/alignment.ts";

/** The nuGPT section. */
export const nugpt: Section = {
  id: "nugpt",
  title: "nuGPT: learning-rate transfer in normalized transformers (arXiv 2604.27077)",
  async render(ctx) {
    const diagnostics = await diagnosticsClaim(ctx, DIAGNOSTICS);
    const short = await diagnosticsClaim(ctx, DIAGNOSTICS_SHORT);
    const width = await widthClaim(ctx, diagnostics.diagnosis, short.rows);
    const horizon = await horizonClaim(ctx), depth = await depthClaim(ctx);
    const alignment = await alignmentClaim(ctx);
    const summary = table(
      ["claim", "pipelines", "verdict"],
      ([
        [
          "nGPT's eta* moves with width, nuGPT's does not",
          ["repro/nugpt-width", "repro/nugpt-width-256", "repro/nugpt-width-seeds"],
          width,
        ],
        [
          "uncorrected nuGPT's eta* falls as steps^(-1/3), so m_data^(-1/3) removes the drift",
          ["repro/nugpt-horizon", "repro/nugpt-horizon-4000"],
          horizon,
        ],
        [
          "both rules transfer over depth; depth-muP on eta_hidden breaks it",
          ["repro/nugpt-depth", "repro/nugpt-depth-16"],
          depth,
        ],
        ["alignment: omega = 1/2, weighted max(alpha, nu) ~ 3/4", ["alignment"], alignment],
      ] as [string, string[], ClaimText][]).map((
        [claim, where, c],
      ) => [claim, where.map((w) => `\`pipelines/${w}.yaml\``).join(", "), `**${c.verdict}**`]),
    );
    return [
      "Every number below is computed by `tasks/reproductions/nugpt.ts` (one module per claim in",
      "`tasks/reproductions/nugpt/`) from the archived run",
      "directories; the setting is docs/reference.md section 2 scaled to 2 CPU cores (BPE 1024 on",
      "the Brown corpus, depth 2, head_dim 8, both rules under the paper's optimizer setting).",
      "Optima, intervals and transfer calls are engine/analysis's (optimalLR, jointScaling, compareFits;",
      "the intervals' coverage is tested on synthetic sweeps with a known law in tests/).",
      "",
      summary,
      "",
      width.md,
      "",
      horizon.md,
      "",
      depth.md,
      "",
      diagnostics.md,
      "",
      short.md,
      "",
      alignment.md,
    ].join("\n");
  },
};
