/**
 * Vanilla E-SPA against the paper's signal-propagation design, layer by layer
 * at init (`deno task espa-diagnose ... --csv docs/repro/runs/espa-diagnosis/<setting>.csv`,
 * components/block/vanilla/diagnose.ts), and what removing each difference
 * changes in training (pipelines/claims/espa-ablation.yaml, val loss at fixed steps).
 */
import { leakyReluCMap, tatSlope } from "../../../components/block/vanilla/tat.ts";
import { exists, readJSON } from "../../../engine/core/fs.ts";
import { readTable, type Row, rowsOf, type SectionContext, sig, table } from "../common.ts";

const SETTINGS: [string, string][] = [
  ["paper", "γ_L = 0.005, η = 0.9 (paper's constants)"],
  ["mlp-aware", "the same, MLP-aware schedule"],
  ["eta0.6", "η = 0.6"],
  ["eta0.6-mlp-aware", "η = 0.6, MLP-aware"],
  ["normal-init", "paper's constants, Gaussian instead of orthogonal init"],
];

/** The per-layer init table (paper's constants), every setting's last layer, and the ablation's losses. */
export async function espaDiagnosisSection(ctx: SectionContext): Promise<string> {
  const dir = `${ctx.runs}/espa-diagnosis`;
  const tables = new Map<string, Row[]>();
  for (const [name] of SETTINGS) {
    const t = await readTable(`${dir}/${name}.csv`);
    if (t) tables.set(name, rowsOf(t));
  }
  const out: string[] = [
    "#### E-SPA at init against the paper's construction (depth 8, T = 64, width 64)",
    "",
  ];
  const paper = tables.get("paper");
  if (!paper) {
    out.push("Not yet run (`deno task espa-diagnose --csv docs/repro/runs/espa-diagnosis/paper.csv`).");
  } else {
    const pm = (r: Row, a: string, b: string) => `${sig(r[a], 3)} / ${sig(r[b], 3)}`;
    out.push(
      "One validation batch (16 x 64 tokens) through the vanilla stack at init (`deno task espa-diagnose`). " +
        "cos: mean token-token cosine over position pairs; q: mean second moment per coordinate (1 at the " +
        "embeddings). Predicted: the infinite-width kernel path from Σ_0 = I (attention K -> A K Aᵀ, MLP -> the " +
        "TAT leaky ReLU's C map; components/block/vanilla/kernel_path.ts). The attention matrices equal " +
        "A_l = L_l L_(l-1)^-1 to float32 rounding in every layer.",
      "",
      table(
        [
          "layer",
          "γ_l",
          "max abs(A − A_l)",
          "target cos Σ_l",
          "after attention: cos pred / meas",
          "q pred / meas",
          "after MLP: cos pred / meas",
          "q pred / meas",
        ],
        paper.map((r) => [
          r.layer as number,
          sig(r.gamma, 3),
          (r.attn_max_err as number).toExponential(1),
          sig(r.target_cos, 3),
          pm(r, "pred_attn_cos", "meas_attn_cos"),
          pm(r, "pred_attn_q", "meas_attn_q"),
          pm(r, "pred_mlp_cos", "meas_mlp_cos"),
          pm(r, "pred_mlp_q", "meas_mlp_q"),
        ]),
      ),
      "",
      "Layer 2 onwards, where each setting lands (measured; target cos Σ_l in brackets):",
      "",
      table(
        [
          "setting",
          "layer 2 attention cos [target]",
          "layer 8 attention cos [target]",
          "largest q after attention",
        ],
        SETTINGS.filter(([n]) => tables.has(n)).map(([n, label]) => {
          const rows = tables.get(n)!;
          return [
            label,
            `${sig(rows[1].meas_attn_cos, 3)} [${sig(rows[1].target_cos, 3)}]`,
            `${sig(rows[rows.length - 1].meas_attn_cos, 3)} [${sig(rows[rows.length - 1].target_cos, 3)}]`,
            sig(Math.max(...rows.map((r) => r.meas_attn_q as number)), 3),
          ];
        }),
      ),
    );
  }
  const s8 = tatSlope(8, 0.9), s32 = tatSlope(32, 0.9), s8b = tatSlope(8, 0.6);
  out.push(
    "",
    "Where dmodel's vanilla E-SPA stack departs from the paper's signal-propagation design (the paper's text " +
      "beyond its abstract and introduction could not be consulted here; docs/reference.md section 5 is the reading " +
      "used):",
    "",
    "1. The MLPs' kernel map is not in the attention schedule. A_l = L_l L_(l-1)^-1 maps Σ_(l-1) to Σ_l, but " +
      "from layer 2 on attention receives the previous MLP's output C(Σ_(l-1)), more correlated than " +
      "Σ_(l-1). Each attention layer then overshoots its target and, with no normalisation, the second moment q " +
      "grows (table above; the infinite-width path predicts the measured values). The `mlp_aware` option " +
      "builds A_l = L_l chol(C(Σ_(l-1)))^-1 instead (negative entries realised as A = D P − N with a fixed N), " +
      "which lands every attention layer on Σ_l with q = 1 (tests/espa_kernel.test.ts).",
    `2. TAT's η = 0.9 over only 8 MLP nonlinearities needs the leaky-ReLU slope ${
      sig(s8, 3)
    } (outside TAT's ` +
      `[0, 1]; one MLP maps cosine 0 to ${
        sig(leakyReluCMap(0, s8), 3)
      }); at depth 32 the same η gives slope ` +
      `${sig(s32, 3)} (C(0) = ${sig(leakyReluCMap(0, s32), 3)} a layer). η = 0.6 at depth 8: slope ${
        sig(s8b, 3)
      }, ` +
      `C(0) = ${sig(leakyReluCMap(0, s8b), 3)}.`,
    "3. γ_L = 0.005 is a long-context setting: at T = 64 the target Σ_L has mean correlation 0.90 and the " +
      "first token holds 74% of each position's variance (table above the espa-init one); the γ_L ladder at " +
      "LR 1e-3 (skipless-depth8b, 1000 steps) shows the loss falling as γ_L grows.",
    "4. Checked and matching: W_q = 0, the fixed bias log P and the row rescaling D (A = A_l to 1.5e-7), " +
      "orthogonal W_v, W_o, W_1, W_2 (with Gaussian init the attention no longer preserves the kernel exactly: " +
      "q reaches 9 at init, last-layer cosine 0.994, the last row of the settings table).",
    "",
    "Against other readings of the paper: its appendix could not be read here (the search corpora hold its " +
      "abstract and introduction only). A public third-party E-SPA implementation (richardcepka/SimplEsT-ViT, " +
      "models/simplEsT_vit.py, a vision transformer without skips or norms, quoting the paper's appendix A) " +
      "builds each attention layer from Σ_l and Σ_(l-1) alone and solves TAT's η = 0.9 for the composition of " +
      "all the network's leaky-ReLU C maps, as dmodel does; He and Hofmann (arXiv 2311.01906) describe the " +
      "paper's W_v, W_o as independent random orthogonal matrices and W_q = 0 at init. So differences 1 and 2 " +
      "are where the construction departs from the ideal kernel path, not (as far as these readings go) from " +
      "the paper's own construction; the ablation below measures what removing them changes.",
  );
  const summary = await readTable(`${ctx.runs}/espa-ablation/summary.csv`);
  out.push("", "#### What removing each difference changes (pipelines/claims/espa-ablation.yaml)", "");
  if (!summary) {
    out.push("Not yet run (`deno task train pipelines/claims/espa-ablation.yaml`).");
  } else {
    const rows = rowsOf(summary);
    const at = Object.keys(rows[0]).filter((k) => k.startsWith("val_loss@"));
    let unigram: number | null = null;
    if (await exists(`${ctx.runs}/espa-ablation`)) {
      for await (const e of Deno.readDir(`${ctx.runs}/espa-ablation`)) {
        const r = e.isDirectory
          ? await readJSON<{ val_unigram_entropy?: number }>(
            `${ctx.runs}/espa-ablation/${e.name}/result.json`,
          )
          : null;
        if (r?.val_unigram_entropy) unigram = r.val_unigram_entropy;
      }
    }
    out.push(
      "Depth 8, width 64, batch 8 x 64, LR 1e-3 for E-SPA (pre-LN 1e-2), one seed, every variant the same steps" +
        (unigram === null
          ? ":"
          : ` (the validation set's unigram entropy, the loss of token frequencies alone: ${
            sig(unigram, 4)
          }):`),
      "",
      table(
        ["variant", "val loss at step 0", ...at.map((k) => `at step ${k.slice(9)}`)],
        rows.map((r) => [String(r.config), sig(r.step0_val_loss, 4), ...at.map((k) => sig(r[k], 4))]),
      ),
    );
    const last = at[at.length - 1];
    const spread = (g: string) => {
      const v = rows.filter((r) => String(r.config).includes(`γ_L=${g} `)).map((r) => r[last] as number);
      return v.length
        ? `${sig(Math.min(...v), 4)}–${sig(Math.max(...v), 4)} (${v.length} variants)`
        : "not run";
    };
    out.push(
      "",
      `At ${last.replace("val_loss@", "step ")}: E-SPA at γ_L = 0.005 ${spread("0.005")}, at γ_L = 0.5 ${
        spread("0.5")
      }. Fixing the init kernel (MLP-aware schedule, milder η) lowers the step-0 loss (no inflated second ` +
        "moment); at this horizon every γ_L = 0.005 variant is still on the plateau at the unigram entropy (one " +
        "seed each; at γ_L = 0.5 the MLP-aware schedule is worse). Over 600 steps (below) the milder η leaves " +
        "the plateau far earlier, with or without the MLP-aware schedule, which alone changes little: the " +
        "difference that matters is TAT's η = 0.9 at depth 8. γ_L sets the plateau's length too: at init the attention stack's " +
        "product A_L ... A_1 = L_L keeps L_L[i,i]² = 1 − e^(−2γ_L) of the current token at every position " +
        "(0.00995 at γ_L = 0.005, whatever T; 0.632 at 0.5): the readout sees an average of earlier tokens " +
        "(at T = 64 mostly the first), so the model predicts " +
        "from token frequencies until training sharpens the attention (skipless-depth8b's γ_L ladder: the " +
        "paper's γ_L leaves the plateau after about 500 of its 1000 steps, γ_L = 2 before step 100).",
    );
  }
  const long = await readTable(`${ctx.runs}/espa-ablation-long/summary.csv`);
  if (long) {
    const rows = rowsOf(long);
    const at = Object.keys(rows[0]).filter((k) => k.startsWith("val_loss@"));
    out.push(
      "",
      "Longer (pipelines/claims/espa-ablation-long.yaml: 600 steps of batch 16 x 64, LR 1e-3, one seed):",
      "",
      table(
        ["variant", "val loss at step 0", ...at.map((k) => `at step ${k.slice(9)}`), "wall time"],
        rows.map((r) => [
          String(r.config),
          sig(r.step0_val_loss, 4),
          ...at.map((k) => sig(r[k], 4)),
          `${sig((r.wall_s as number) / 60, 2)} min`,
        ]),
      ),
    );
    const end = at[at.length - 1], paperRow = rows.find((r) => String(r.config).includes("(paper)"));
    if (paperRow) {
      out.push(
        "",
        `Against the paper's constants at ${end.replace("val_loss@", "step ")}: ` +
          rows.filter((r) => r !== paperRow).map((r) => {
            const d = (r[end] as number) - (paperRow[end] as number);
            return `${String(r.config).replace("E-SPA γ_L=0.005 ", "")} ${d >= 0 ? "+" : ""}${
              sig(d, 2)
            } nats`;
          }).join(", ") + ".",
      );
    }
  }
  return out.join("\n");
}
