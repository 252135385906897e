/**
 * Representational collapse (Dong et al. 2021; arXiv 2604.23681): the archived
 * collapse-depth run (pipelines/claims/collapse-depth.yaml), its rate fits,
 * rank beyond the embeddings and attention entropy over training.
 */
import { fitCollapseRate } from "../../../components/probe/collapse_rate.ts";
import { lineChartSpec } from "../../../engine/analysis/line_chart.ts";
import { writeFigure } from "../../../engine/analysis/render.ts";
import { readJSON } from "../../../engine/core/fs.ts";
import type { Verdict } from "../common.ts";
import {
  mdTable,
  readTable,
  type ReproContext,
  type Row,
  rowsOf,
  sig,
  studyWallMinutes,
  wallText,
} from "./shared.ts";

/** The collapse-depth run: rate fits, rank beyond the embeddings, entropy over training. */
export async function collapseSection(
  ctx: ReproContext,
): Promise<{ md: string; verdicts: Record<string, Verdict> }> {
  const dir = `${ctx.repro}/collapse-depth`;
  const t = await readTable(`${dir}/collapse.csv`);
  const none = { collapse: "not yet run", mlp: "not yet run", entropy: "not yet run" } as Record<
    string,
    Verdict
  >;
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
  const table: (string | number)[][] = [];
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
      table.push([
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
  // collapse: the last layer keeps < 5% of layer 1's residual; skips prevent it: they keep > 50%
  const shrink = (c: string, s: number) => lastRes(c, s) / firstRes(c, s);
  const collapsed = (s: number) => shrink(attn, s) < 0.05 && shrink(skip, s) > 0.5;
  const dexp = fits.get(`${attn}@0`);
  const doubly = dexp !== null && dexp !== undefined && dexp.dexp_base > 1.5 && dexp.dexp_r2 > dexp.exp_r2;
  const collapseVerdict: Verdict = !configs.includes(attn) || !configs.includes(skip)
    ? "not yet run"
    : collapsed(0) && collapsed(last) && doubly
    ? "reproduced"
    : collapsed(0) || collapsed(last)
    ? "partly"
    : "not reproduced";
  const collapseNote = configs.includes(attn) && configs.includes(skip)
    ? ` Verdict rule: attention-only collapses when its last layer keeps under 5% of layer 1's residual ` +
      `(here ${sig(shrink(attn, 0))} at init, ${
        sig(shrink(attn, last))
      } after ${last} steps), skips prevent it ` +
      `when they keep over 50% (${sig(shrink(skip, 0))}, ${
        sig(shrink(skip, last))
      }); "doubly exponential" needs ` +
      `b > 1.5 and a better fit than the exponential (${doubly ? "it is" : "it is not"}: b = ${
        sig(dexp?.dexp_base)
      } at init).`
    : "";
  const oneHead = Math.max(
    excess.get("attention-only (1 head)@0") ?? NaN,
    excess.get(`attention-only (1 head)@${last}`) ?? NaN,
  );
  const mlpOne = Math.max(excess.get("+MLP (1 head)@0") ?? NaN, excess.get(`+MLP (1 head)@${last}`) ?? NaN);
  const fourHeads = Math.max(excess.get(`${attn}@0`) ?? NaN, excess.get(`${attn}@${last}`) ?? NaN);
  const mlpVerdict: Verdict = !Number.isFinite(oneHead) || !Number.isFinite(mlpOne)
    ? "not yet run"
    : oneHead <= 0 && mlpOne > 0 && fourHeads <= 0
    ? "reproduced"
    : oneHead <= 0 && mlpOne > 0
    ? "partly"
    : "not reproduced";

  // entropy per head over training: figure and verdict
  const named = await readJSON<{ label: string; dir: string; status: string }[]>(`${dir}/collapse.runs.json`);
  const entropyRows: Row[] = [];
  let entropyVerdict: Verdict = "not yet run";
  const drop = new Map<string, number>();
  for (const label of ["full (skip+MLP+norm)", "full, LR x15"]) {
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
  }
  if (drop.size === 2) {
    const hi = drop.get("full, LR x15")!, lo = drop.get("full (skip+MLP+norm)")!;
    entropyVerdict = hi < 0.25 && lo > hi ? "reproduced" : hi < lo ? "partly" : "not reproduced";
  }
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
    entropyFig = `\n\n![attention entropy per head](${ctx.link}/collapse-depth/entropy.png)`;
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
  const entropyNote = drop.size === 2
    ? ` Smallest end/init ratio of a head's entropy: ${
      sig(drop.get("full (skip+MLP+norm)"))
    } at the usual LR, ` +
      `${sig(drop.get("full, LR x15"))} at 15x.`
    : "";
  const md = [
    mdTable(
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
      table,
    ),
    "",
    `![residual vs depth](${ctx.link}/collapse-depth/residual.png)` + entropyFig,
    "",
    `Fits over layers 1..L with 1e-6 < residual < 1 (components/probe/collapse_rate.ts): ρ from log residual vs layer, ` +
    `b from log(−log residual) vs layer (Dong et al.'s bound gives b = 3).${collapseNote}${entropyNote}`,
    "",
    wallText(await studyWallMinutes(dir)),
  ].join("\n");
  return { md, verdicts: { collapse: collapseVerdict, mlp: mlpVerdict, entropy: entropyVerdict } };
}
