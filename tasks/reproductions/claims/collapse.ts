/**
 * Representational collapse (Dong et al. 2021; arXiv 2604.23681): the archived
 * collapse-depth run (pipelines/claims/collapse-depth.yaml), its rate fits,
 * rank beyond the embeddings and attention entropy over training.
 */
import { fitCollapseRate } from "../../../components/probe/collapse_rate.ts";
import {
  COLLAPSE_RULE,
  type CollapseNumbers,
  collapseVerdict,
  type DoublyFit,
  ENTROPY_RULE,
  type EntropyNumbers,
  type EntropyRun,
  entropyVerdict,
  mlpDirectionsVerdict,
  type RankExcess,
  type Shrink,
} from "../../../engine/analysis/claims/collapse.ts";
import type { Ruling } from "../../../engine/analysis/claims/verdict.ts";
import { lineChartSpec } from "../../../engine/analysis/line_chart.ts";
import { writeFigure } from "../../../engine/analysis/render.ts";
import { readJSON } from "../../../engine/core/fs.ts";
import type { Verdict } from "../../../engine/analysis/claims/verdict.ts";
import {
  fig,
  readTable,
  type Row,
  rowsOf,
  type SectionContext,
  sig,
  studyWallMinutes,
  table,
  type TrialSetting,
  trialSetting,
  wallText,
} from "../common.ts";

/** The entropy claim's two runs (labels in pipelines/claims/collapse-depth.yaml). */
const STABLE = "full (skip+MLP+norm)", HIGH_LR = "full, LR x15";

const capitalized = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);

/** What the collapse-depth run cannot show, named beside its verdicts (settings read from a trial's config). */
function limitsText(c: TrialSetting | null, seeds: number): string {
  const setting = c
    ? `width ${c.model.width}, ${c.model.depth} layers, ${c.model.width / c.model.head_dim} heads of ` +
      `${c.model.head_dim}, T = ${c.data.seq_len}, ${c.train.steps} steps of ${c.train.batch_size} x ` +
      `${c.data.seq_len} tokens of the ${
        capitalized(c.data.corpus ?? "")
      } corpus (BPE ${c.data.tokenizer?.vocab_size})`
    : "the setting of pipelines/claims/collapse-depth.yaml";
  const seedsText = seeds === 1
    ? "one seed per configuration (the probe averages sequences of one batch), so no seed noise is measured and " +
      "each of these verdicts rests on one training run per configuration"
    : `${seeds} seeds per configuration`;
  return `Limits of the setting: ${seedsText}; ${setting}: far shorter and smaller than the papers' models ` +
    "(Dong et al. probe trained BERT-size models; Zhai et al. train to convergence on vision, speech and " +
    "translation tasks).";
}

/** Mean over layers of the per-layer attention entropy (rows of collapse.csv at one step; layer 0 has none). */
function meanEntropy(rows: Row[]): number {
  const e = rows.map((r) => r.entropy as number).filter(Number.isFinite);
  return e.reduce((a, b) => a + b, 0) / e.length;
}

/** The largest rise of the logged train loss between consecutive logs of a trial's metrics.csv (nats). */
async function largestLossRise(path: string): Promise<number> {
  const t = await readTable(path);
  const loss = (t ? rowsOf(t) : []).map((r) => r.train_loss as number).filter(Number.isFinite);
  return loss.slice(1).reduce((m, v, i) => Math.max(m, v - loss[i]), 0);
}

/** How a statement of a rule stands. */
const holds = (b: boolean) => (b ? "holds" : "does not hold");

/** The three rules, each with the numbers it read and the statements it found. */
function rulesText(
  c: {
    collapse: Ruling<CollapseNumbers>;
    attn: Shrink | null;
    skip: Shrink | null;
    dexp: DoublyFit | null;
    last: number;
  },
  mlp: Ruling<RankExcess>,
  e: {
    entropy: Ruling<EntropyNumbers | null>;
    drop: Map<string, number>;
    runs: Map<string, EntropyRun>;
    finals: Map<string, number>;
  },
): string {
  const R = COLLAPSE_RULE, E = ENTROPY_RULE, n = c.collapse.numbers;
  const out = [
    "Rules (engine/analysis/claims/collapse.ts; restated after this run on a referee's reading, their thresholds " +
    "fixed for any re-run):",
    "",
  ];
  if (c.attn && c.skip) {
    out.push(
      `- Collapse (Dong et al.: pure attention loses rank doubly exponentially with depth; skips prevent it): ` +
        `(1) attention-only keeps under ${100 * R.collapsedShare}% of layer 1's residual at init ` +
        `(${sig(c.attn.init)}: ${holds(n.collapsedAtInit)}); (2) the skip stack keeps over ${
          100 * R.keptShare
        }% at init and after ${c.last} steps (${sig(c.skip.init)}, ${sig(c.skip.end)}: ${
          holds(n.skipsKeep)
        }); ` +
        `(3) the decay at init is doubly exponential, b > ${R.doublyBase} and a better fit than the exponential ` +
        `(b = ${sig(c.dexp?.dexp_base)}, r² ${sig(c.dexp?.dexp_r2, 2)} vs ${sig(c.dexp?.exp_r2, 2)}: ${
          holds(n.doubly)
        }); (4) attention-only is still collapsed after training (${sig(c.attn.end)}: ${
          holds(n.collapsedAfterTraining)
        }). Reproduced: all four; partly: (1) and (2) without both (3) and (4); not reproduced: (1) or (2) fails. Dong et al.'s rate ` +
        `is an upper bound: an exponential decay (a per-layer factor ρ) does not contradict it, but does not show ` +
        `it. **${c.collapse.verdict}.**`,
    );
  }
  const x = mlp.numbers;
  if (mlp.verdict !== "not yet run") {
    out.push(
      `- MLP directions: (1) one-head attention adds no direction beyond the embeddings (max rank X_l − rank X_0 = ` +
        `${
          sig(x.oneHead)
        }; exact, since rank(A X W_v) ≤ rank X: a check of the probe), (2) the MLP adds some ` +
        `(${sig(x.mlpOneHead)}), (3) multi-head attention alone adds none (four heads: ${
          sig(x.fourHeads)
        }). ` +
        "Reproduced: all three; partly: (1) and (2) (attention with one head cannot, with several it can: the " +
        "heads' different mixings of the tokens span more than X); not reproduced otherwise. " +
        `**${mlp.verdict}.**`,
    );
  }
  const en = e.entropy.numbers, st = e.runs.get(STABLE), hi = e.runs.get(HIGH_LR);
  if (en && st && hi) {
    out.push(
      `- Entropy collapse (Zhai et al. 2023, arXiv 2303.06296: pathologically low attention entropy accompanies ` +
        `training instability, oscillating loss or divergence): the high-LR run's mean head entropy ends below ` +
        `${100 * E.collapsedShare}% of its init value (${sig(hi.init)} -> ${sig(hi.end)} nats, ${
          sig(en.collapsingShare)
        }) while the usual LR's stays above ${100 * E.keptShare}% (${sig(st.init)} -> ${sig(st.end)}, ${
          sig(en.stableShare)
        }): ${
          holds(en.collapseContrast)
        }; and the high-LR run is unstable (diverged, or its train loss rose by ` +
        `more than ${E.spike} nats between two logs, every 10 steps) while the stable one is not (largest rise ` +
        `${sig(hi.maxRise, 2)} vs ${sig(st.maxRise, 2)} nats; final val loss ${
          sig(e.finals.get(HIGH_LR), 4)
        } vs ` +
        `${sig(e.finals.get(STABLE), 4)}): ${holds(en.instabilityContrast)}. Reproduced: both; partly: ` +
        `the entropy contrast only; not reproduced otherwise. Smallest end/init ratio of any one head's entropy: ${
          sig(e.drop.get(STABLE))
        } at the usual LR, ${sig(e.drop.get(HIGH_LR))} at 15x. **${e.entropy.verdict}.**`,
    );
  }
  return out.join("\n");
}

/** The collapse-depth run: rate fits, rank beyond the embeddings, entropy over training. */
export async function collapseSection(
  ctx: SectionContext,
): Promise<{ md: string; verdicts: Record<string, Verdict> }> {
  const dir = `${ctx.runs}/collapse-depth`;
  const t = await readTable(`${dir}/collapse.csv`);
  const none: Record<string, Verdict> = {
    collapse: "not yet run",
    mlp: "not yet run",
    entropy: "not yet run",
  };
  if (!t) {
    return {
      md: "Not yet run: `deno task train pipelines/claims/collapse-depth.yaml` (header: wall time), then " +
        "`deno task repro-snapshot collapse-depth`.",
      verdicts: none,
    };
  }
  const rows = rowsOf(t);
  const configs = [...new Set(rows.map((r) => r.config as string))];
  const steps = [...new Set(rows.map((r) => r.step as number))].sort((a, b) => a - b);
  const last = steps[steps.length - 1];
  const tableRows: (string | number)[][] = [];
  const fits = new Map<string, ReturnType<typeof fitCollapseRate>>();
  const excess = new Map<string, number>();
  for (const c of configs) {
    for (const step of [0, last]) {
      const mine = rows.filter((r) => r.config === c && r.step === step).sort((a, b) =>
        (a.layer as number) - (b.layer as number)
      );
      if (!mine.length) continue;
      const f = fitCollapseRate(mine.map((r) => r.layer as number), mine.map((r) => r.residual as number));
      fits.set(`${c}@${step}`, f);
      const maxExcess = Math.max(...mine.map((r) => r.rank_excess as number));
      excess.set(`${c}@${step}`, maxExcess);
      const ent = mine.filter((r) => Number.isFinite(r.entropy as number)).map((r) => r.entropy as number);
      tableRows.push([
        c,
        step,
        sig(mine[1]?.residual),
        sig(mine[mine.length - 1].residual),
        f ? sig(f.per_layer_factor) : "–",
        f ? `${sig(f.dexp_base)} (r² ${sig(f.dexp_r2, 2)} vs ${sig(f.exp_r2, 2)})` : "–",
        sig(mine[0].rank),
        sig(maxExcess),
        ent.length ? sig(ent.reduce((a, b) => a + b, 0) / ent.length) : "–",
      ]);
    }
  }
  // verdicts from the data
  const at = (c: string, s: number) => rows.filter((r) => r.config === c && r.step === s);
  const lastRes = (c: string, s: number) => {
    const m = at(c, s);
    return m.length
      ? (m.reduce((a, r) => ((r.layer as number) > (a.layer as number) ? r : a)).residual as number)
      : NaN;
  };
  const attn = "attention-only", skip = "+skip";
  const firstRes = (c: string, s: number) => at(c, s).find((r) => r.layer === 1)?.residual as number;
  // the last layer's residual as a share of layer 1's, at init and at the end
  const shrink = (c: string, s: number) => lastRes(c, s) / firstRes(c, s);
  const shrinks = (c: string): Shrink | null =>
    configs.includes(c) ? { init: shrink(c, 0), end: shrink(c, last) } : null;
  const dexp = fits.get(`${attn}@0`) ?? null;
  const collapse = collapseVerdict(shrinks(attn), shrinks(skip), dexp);
  const maxExcess = (c: string) => Math.max(excess.get(`${c}@0`) ?? NaN, excess.get(`${c}@${last}`) ?? NaN);
  const mlp = mlpDirectionsVerdict({
    oneHead: maxExcess("attention-only (1 head)"),
    mlpOneHead: maxExcess("+MLP (1 head)"),
    fourHeads: maxExcess(attn),
  });

  // entropy per head over training: figure and verdict
  const named = await readJSON<{ label: string; dir: string; status: string }[]>(`${dir}/collapse.runs.json`);
  const entropyRows: Row[] = [];
  const drop = new Map<string, number>();
  const entropyRuns = new Map<string, EntropyRun>(), finals = new Map<string, number>();
  for (const label of [STABLE, HIGH_LR]) {
    const run = named?.find((r) => r.label === label);
    const probe = run ? await readTable(`${dir}/${run.dir}/probes/collapse.csv`) : null;
    if (!probe) continue;
    const cols = probe.columnNames().filter((c) => /^L\d+\.entropy\.h\d+$/.test(c));
    const prows = rowsOf(probe);
    for (const r of prows) {
      for (const c of cols) {
        const [, l, h] = c.match(/^L(\d+)\.entropy\.h(\d+)$/)!;
        entropyRows.push({
          config: label,
          step: r.step,
          layer: `layer ${l}`,
          head: `head ${h}`,
          entropy: r[c],
        });
      }
    }
    // the smallest head entropy at the end over that head's entropy at init
    const first = prows[0], end = prows[prows.length - 1];
    drop.set(label, Math.min(...cols.map((c) => (end[c] as number) / (first[c] as number))));
    entropyRuns.set(label, {
      init: meanEntropy(at(label, 0)),
      end: meanEntropy(at(label, last)),
      maxRise: await largestLossRise(`${dir}/${run!.dir}/metrics.csv`),
      diverged: run!.status === "diverged",
    });
    const result = await readJSON<{ final_val_loss: number }>(`${dir}/${run!.dir}/result.json`);
    if (result) finals.set(label, result.final_val_loss);
  }
  const entropy = entropyVerdict(
    entropyRuns.size === 2
      ? { stable: entropyRuns.get(STABLE)!, collapsing: entropyRuns.get(HIGH_LR)! }
      : null,
  );
  let entropyFig = "";
  if (entropyRows.length) {
    const layers = [...new Set(entropyRows.map((r) => r.layer as string))];
    const pick = [layers[0], layers[Math.floor(layers.length / 2)], layers[layers.length - 1]];
    await writeFigure(
      `${dir}/entropy`,
      lineChartSpec({
        rows: entropyRows.filter((r) => pick.includes(r.layer as string)),
        x: "step",
        y: "entropy",
        color: "head",
        column: "config",
        row: "layer",
        rowOrder: pick,
        points: false,
        title: "Attention entropy per head over training",
        subtitle: "collapse-depth run; a causal row of length i has at most log(i) nats",
        yTitle: "entropy (nats)",
        independentY: false,
        width: 220,
        height: 110,
      }),
    );
    entropyFig = `\n\n${fig(ctx, `${ctx.runs}/collapse-depth/entropy.png`, "attention entropy per head")}`;
  }
  const resRows: Row[] = [];
  for (const r of rows) {
    if (r.step !== 0 && r.step !== last) continue;
    resRows.push({
      config: r.config,
      phase: r.step === 0 ? "at init" : `after ${last} steps`,
      layer: r.layer,
      residual: Math.max(r.residual as number, 1e-8),
    });
  }
  await writeFigure(
    `${dir}/residual`,
    lineChartSpec({
      rows: resRows,
      x: "layer",
      y: "residual",
      color: "config",
      column: "phase",
      columnOrder: ["at init", `after ${last} steps`],
      logY: true,
      points: true,
      title: "Rank-collapse residual vs depth",
      subtitle: "||X - 1 x^T|| / ||X|| per layer (layer 0 = embeddings), clipped at 1e-8",
      yTitle: "residual",
      independentY: false,
      colorOrder: configs,
      width: 260,
      height: 200,
    }),
  );
  const rules = rulesText(
    { collapse, attn: shrinks(attn), skip: shrinks(skip), dexp, last },
    mlp,
    { entropy, drop, runs: entropyRuns, finals },
  );
  const md = [
    table(
      [
        "config",
        "step",
        "residual layer 1",
        "residual last layer",
        "per-layer factor ρ",
        "doubly-exp. base b (r², vs exp. r²)",
        "rank X_0",
        "max rank X_l − rank X_0",
        "mean entropy (nats)",
      ],
      tableRows,
    ),
    "",
    fig(ctx, `${ctx.runs}/collapse-depth/residual.png`, "residual vs depth") + entropyFig,
    "",
    `Fits over layers 1..L with 1e-6 < residual < 1 (components/probe/collapse_rate.ts): ρ from log residual vs layer, ` +
    `b from log(−log residual) vs layer (Dong et al.'s bound gives b = 3).`,
    "",
    rules,
    "",
    limitsText(
      named?.length ? await trialSetting(`${dir}/${named[0].dir}`) : null,
      Math.max(0, ...configs.map((c) => (named ?? []).filter((r) => r.label === c).length)),
    ),
    "",
    wallText(await studyWallMinutes(dir)),
  ].join("\n");
  return { md, verdicts: { collapse: collapse.verdict, mlp: mlp.verdict, entropy: entropy.verdict } };
}
