/**
 * Layer-wise coordination vs an encoder-decoder (He et al. 2018): the archived
 * layerwise-bleu run (pipelines/claims/layerwise-bleu.yaml).
 */
import * as aq from "arquero";
import { loadPipeline } from "../../../engine/core/pipeline.ts";
import type { Verdict } from "../../../engine/analysis/claims/verdict.ts";
import { beatsVerdict } from "../../../engine/analysis/claims/layerwise.ts";
import { fig, readTable, type Row, rowsOf, type SectionContext, sig, table, wallText } from "../common.ts";

/** The pipeline whose base setting the limits name. */
const PIPELINE = "pipelines/claims/layerwise-bleu.yaml";

/** What the run cannot show: the task, model size, steps and seeds (from the pipeline and summary.csv). */
async function limitsText(rows: Row[]): Promise<string> {
  const p = await loadPipeline(PIPELINE);
  const base = [...p.stages.values()].map((s) => (s.options as { base?: LayerwiseBase }).base).find(Boolean);
  const seeds = Math.max(
    ...[...new Set(rows.map((r) => r.config))].map((c) => rows.filter((r) => r.config === c).length),
  );
  const task = base
    ? `(${base.task.length}-token sequences over ${base.task.vocab} symbols${
      base.task.reverse ? ", reversed and permuted" : ", permuted"
    }; ` +
      "components/block/seq2seq/translation.ts)"
    : "";
  const model = base
    ? `width ${base.model.width}, ${base.train.steps} steps, one LR (${base.optimizer.lr}) for every model, `
    : "";
  return `Limits of the setting: a synthetic translation task ${task}, not WMT (the paper: 34.43 BLEU on WMT16 ` +
    "En-Ro), so BLEU here measures how well a small model learns a fixed permutation; " +
    `${model}${seeds} seeds: one seed that fails to learn moves a mean by 1/${seeds} of its shortfall.`;
}

/** The base trial of pipelines/claims/layerwise-bleu.yaml, as far as the limits read it. */
interface LayerwiseBase {
  task: { length: number; vocab: number; reverse: boolean };
  model: { width: number };
  optimizer: { lr: number };
  train: { steps: number };
}

/** The layer-wise BLEU run. */
export async function layerwiseSection(
  ctx: SectionContext,
): Promise<{ md: string; verdicts: Record<string, Verdict> }> {
  const dir = `${ctx.runs}/layerwise-bleu`;
  const t = await readTable(`${dir}/summary.csv`);
  if (!t) {
    return {
      md: "Not yet run: `deno task train pipelines/claims/layerwise-bleu.yaml`.",
      verdicts: { params: "not yet run", compute: "not yet run" },
    };
  }
  const g = rowsOf(
    t.groupby("config").rollup({
      seeds: aq.op.count(),
      n_params: aq.op.max("n_params"),
      ms: aq.op.mean("train_ms_per_step"),
      bleu: aq.op.mean("bleu"),
      bleu_min: aq.op.min("bleu"),
      bleu_max: aq.op.max("bleu"),
      token_acc: aq.op.mean("token_acc"),
      exact: aq.op.mean("greedy_seq_acc"),
    }),
  );
  const by = (prefix: string) => g.find((r) => String(r.config).startsWith(prefix));
  const lw2 = by("layer-wise L=2"), lw4 = by("layer-wise L=4"), ed = by("encoder-decoder");
  // BLEU x100 per seed of a configuration (summary.csv: one row per seed)
  const seeds = (r?: Row) =>
    r ? rowsOf(t).filter((x) => x.config === r.config).map((x) => 100 * (x.bleu as number)) : [];
  const compute = beatsVerdict(seeds(lw2), seeds(ed)), params = beatsVerdict(seeds(lw4), seeds(ed));
  const diffText = (label: string, v: typeof compute) =>
    v.numbers
      ? `${label}: ${sig(v.numbers.diff, 3)} BLEU${
        v.numbers.ci ? ` [${sig(v.numbers.ci[0], 3)}, ${sig(v.numbers.ci[1], 3)}], ${v.numbers.df} df` : ""
      } (**${v.verdict}**: ${v.reasons.join("; ")})`
      : `${label}: not yet run`;
  const md = [
    table(
      [
        "config",
        "seeds",
        "parameters",
        "train ms/step",
        "BLEU-4 mean (min–max)",
        "token acc (TF)",
        "exact match",
      ],
      g.map((r) => [
        String(r.config),
        r.seeds as number,
        r.n_params as number,
        sig(r.ms),
        `${sig(100 * (r.bleu as number), 4)} (${sig(100 * (r.bleu_min as number), 4)}–${
          sig(100 * (r.bleu_max as number), 4)
        })`,
        sig(r.token_acc, 4),
        sig(r.exact, 3),
      ]),
    ),
    "",
    "Greedy decoding, corpus BLEU-4 ×100 on 256 held-out examples (components/block/seq2seq/bleu.ts); token accuracy with teacher " +
    "forcing (TF); min–max over seeds. train ms/step is measured on the shared " +
    "machine (oversubscribed when these ran): compare it between rows, not with other runs.",
    "",
    "Rule (engine/analysis/claims/layerwise.ts; restated after the run on a referee's reading): reproduced when " +
    "the 95% Welch interval of mean BLEU(layer-wise) − mean BLEU(encoder-decoder) over seeds lies wholly above 0, " +
    "partly when the mean difference is positive but its interval includes 0, not reproduced when it is 0 or " +
    "negative. Layer-wise minus encoder-decoder, BLEU ×100, mean [95% interval]:",
    "",
    `- ${diffText("matched compute (L = 2)", compute)}`,
    `- ${diffText("matched parameters (L = 4)", params)}`,
    "",
    await limitsText(rowsOf(t)),
    "",
    fig(ctx, `${ctx.runs}/layerwise-bleu/translation.png`, "held-out token accuracy, seed 0"),
    "",
    wallText(
      t.columnNames().includes("wall_s")
        ? (Array.from(t.array("wall_s")) as number[]).reduce((a, b) => a + b, 0) / 60
        : null,
    ),
  ].join("\n");
  return { md, verdicts: { compute: compute.verdict, params: params.verdict } };
}
