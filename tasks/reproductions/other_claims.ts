/**
 * The "other papers' claims" section of docs/reproductions.md:
 * skipless transformers / E-SPA (arXiv 2302.10322), representational
 * collapse, LayerNorm and the affine rank, head-channel non-identifiability
 * and PG-OP (Dong et al. 2021; arXiv 2604.23681), layer-wise coordination
 * (He et al. 2018); docs/reference.md sections 5-7.
 *
 * Every number comes from an archived run directory under docs/repro/runs/
 * (written by the pipelines in pipelines/claims/, archived with
 * `deno task repro-snapshot <name>`), or, for the two exact
 * properties, is computed here by the engine's own functions on fixed
 * seeded inputs (the same ones the property tests check). Figures are
 * written next to the runs, under docs/repro/runs/.
 */
import type { Verdict } from "../../engine/analysis/claims/verdict.ts";
import { type Section, type SectionContext, table } from "./common.ts";
import { affineRankRows } from "./claims/affine_rank.ts";
import { collapseSection } from "./claims/collapse.ts";
import { skiplessSection } from "./claims/skipless.ts";
import { espaInitSection } from "./claims/espa_init.ts";
import { layerwiseSection } from "./claims/layerwise.ts";
import { headsSection } from "./claims/heads.ts";

const TITLE = "Other papers' claims: skipless transformers, collapse, heads, PG-OP, layer-wise coordination";

/** The section's markdown, from the archive `c.runs` (figure links relative to `c.docs`). */
async function render(ctx: SectionContext): Promise<string> {
  const ar = affineRankRows();
  const hf = await headsSection(ctx);
  const col = await collapseSection(ctx);
  const sk = await skiplessSection(ctx);
  const espaInit = await espaInitSection(ctx);
  const lw = await layerwiseSection(ctx);
  const v = (x: Verdict | undefined) => `**${x ?? "not yet run"}**`;
  const summary = table(["claim", "where", "verdict"], [
    [
      "(2302.10322a) skips without norms train as fast as pre-LN (depth 8 / 16 / 32)",
      sk.where.skips,
      [8, 16, 32].map((d) => v(sk.verdicts[`skips${d}`])).join(" / "),
    ],
    [
      "(2302.10322b) vanilla E-SPA reaches pre-LN's loss in about 5x the steps (depth 8 / 16 / 32)",
      sk.where.espa,
      [8, 16, 32].map((d) => v(sk.verdicts[`espa${d}`])).join(" / "),
    ],
    [
      "attention-only stacks collapse to rank one doubly exponentially; skips prevent it",
      "collapse-depth",
      v(col.verdicts.collapse),
    ],
    [
      "the MLP adds directions beyond the embeddings that attention alone cannot",
      "collapse-depth",
      v(col.verdicts.mlp),
    ],
    [
      "entropy collapse: attention entropy collapses at a high LR, not at the usual one, and accompanies instability",
      "collapse-depth",
      v(col.verdicts.entropy),
    ],
    ["LayerNorm is exactly affine-rank-neutral", "computed (tests/affine_rank.test.ts)", v(ar.verdict)],
    [
      "n(H−1)d_k per-head degrees of freedom are not identifiable after W_o",
      "computed (tests/head_fiber.test.ts)",
      v(hf.verdict),
    ],
    [
      "PG-OP partly restores head identifiability",
      "computed (tests/head_fiber.test.ts); pgop-trained",
      v(hf.pgopVerdict),
    ],
    [
      "layer-wise coordination beats an encoder-decoder: matched compute / matched parameters",
      "layerwise-bleu",
      `${v(lw.verdicts.compute)} / ${v(lw.verdicts.params)}`,
    ],
  ]);
  return [
    "Pipelines in `pipelines/claims/` (wall times in their headers): `deno task train pipelines/claims/<name>.yaml`, " +
    "then `deno task repro-snapshot <name>` archives the run in `docs/repro/runs/<name>/` and " +
    "`deno task reproductions` regenerates this page.",
    "",
    summary,
    "",
    "### Deep transformers without shortcuts (E-SPA, shaped attention, Value-SkipInit)",
    "",
    "`deno task train pipelines/claims/skipless-depth{8,16,32a,32b}.yaml`",
    "",
    sk.md,
    "",
    espaInit,
    "",
    "### Representational collapse: depth, the MLP's directions, entropy",
    "",
    "`deno task train pipelines/claims/collapse-depth.yaml`",
    "",
    col.md,
    "",
    "### LayerNorm and the affine rank of a token set",
    "",
    "Computed by components/probe/affine_rank.ts on the seeded sets of tests/affine_rank.test.ts (d = 8, no gain or bias):",
    "",
    table(
      ["token set", "affine rank X", "LN(X)", "RMSNorm(X)", "rank X", "rank LN(X)", "rank RMSNorm(X)"],
      ar.rows,
    ),
    "",
    ar.note,
    "",
    "Rule (engine/analysis/claims/affine_rank.ts): reproduced when LayerNorm keeps the affine rank of every set " +
    "above, partly when it keeps it for the generic sets with T < d only, not reproduced when it changes a generic " +
    `set with T < d: **${ar.verdict}**. An exact statement checked on constructed sets at d = 8: "partly" names ` +
    "the class where it holds (generic token sets with fewer tokens than dimensions), and the other rows are " +
    "counterexamples to the claim as stated for every token set.",
    "",
    hf.md,
    "",
    "### Layer-wise coordination vs encoder-decoder",
    "",
    "`deno task train pipelines/claims/layerwise-bleu.yaml`",
    "",
    lw.md,
  ].join("\n");
}

/**
 * The section of docs/reproductions.md (tasks/reproductions.ts lists it).
 *
 * @example
 * ```ts
 * const md = await otherClaims.render({ runs: "docs/repro/runs", docs: "docs", log: console.log });
 * ```
 */
export const otherClaims: Section = { id: "other-claims", title: TITLE, render };
