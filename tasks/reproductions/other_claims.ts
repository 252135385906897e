/**
 * The "other papers' claims" section of docs/reproductions.md (issue 14):
 * skipless transformers / E-SPA (arXiv 2302.10322), representational
 * collapse, LayerNorm and the affine rank, head-channel non-identifiability
 * and PG-OP (Dong et al. 2021; arXiv 2604.23681), layer-wise coordination
 * (He et al. 2018); REFERENCE.md sections 5-7.
 *
 * Every number comes from an archived run directory under docs/repro/runs/
 * (written by the pipelines in pipelines/claims/, archived with
 * `deno task repro-snapshot <name>`), or, for the two exact
 * properties, is computed here by the engine's own functions on fixed
 * seeded inputs (the same ones the property tests check). Figures are
 * written next to the runs, under docs/repro/runs/.
 */
import "../../components/mod.ts"; // the backends the head-fiber counts run on
import { relative } from "node:path";
import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import { affineRank, layerNorm, linearRank, rmsNormTokens } from "../../components/probe/affine_rank.ts";
import { fitCollapseRate } from "../../components/probe/collapse_rate.ts";
import { cholesky, expKernel } from "../../components/block/vanilla/espa.ts";
import { normals } from "../../engine/nn/init.ts";
import { lineChartSpec, writeFigure } from "../../engine/analysis/charts.ts";
import { exists, readJSON } from "../../engine/core/fs.ts";
import { loadPipeline } from "../../engine/core/pipeline.ts";
import { type TrialConfig, trialDirName, trialId } from "../../engine/core/config.ts";
import type { Section, SectionContext, Verdict } from "./common.ts";
import { headsSection } from "./heads.ts";

/** A CSV as an arquero table, or null when the file does not exist. */
async function readTable(path: string): Promise<ColumnTable | null> {
  try {
    return aq.fromCSV(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** A number for a table cell: `digits` significant digits, "–" when missing. */
function num(v: unknown, digits = 3): string {
  return typeof v === "number" && Number.isFinite(v) ? String(+v.toPrecision(digits)) : "–";
}

/** A markdown table (cells may hold "|"). */
function mdTable(head: string[], rows: (string | number)[][]): string {
  const line = (r: (string | number)[]) =>
    `| ${r.map((c) => String(c).replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Sum of the trials' wall_s (result.json) of a study run directory, in minutes; null when none is archived. */
async function studyWallMinutes(dir: string): Promise<number | null> {
  let total = 0, any = false;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isDirectory) continue;
      const r = await readJSON<{ wall_s?: number }>(`${dir}/${e.name}/result.json`).catch(() => null);
      if (typeof r?.wall_s === "number") {
        total += r.wall_s;
        any = true;
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return any ? total / 60 : null;
}

/** "measured wall time: 26.5 min ..." for a run directory. */
function wallText(minutes: number | null): string {
  return minutes === null
    ? ""
    : `Measured wall time: ${num(minutes, 3)} min (sum over its trials, on the shared 2-core machine ` +
      "running about ten jobs at once: an upper bound for an idle machine).";
}

/** Where runs live and how the page links to them. */
interface ReproContext {
  /** The archive: one run directory per pipeline name. */
  repro: string;
  /** The archive's path relative to the markdown file's folder (figure links). */
  link: string;
}

const TITLE = "Other papers' claims: skipless transformers, collapse, heads, PG-OP, layer-wise coordination";

type Row = Record<string, unknown>;
const rowsOf = (t: ColumnTable) => t.objects() as Row[];
const f64 = (n: number, seed: number) => Float64Array.from(normals(n, seed));

/** Affine-rank cases: the same constructions as tests/affine_rank.test.ts. */
function affineRankRows(): { rows: (string | number)[][]; verdict: Verdict; note: string } {
  const d = 8;
  const flat = (T: number, basis: Float64Array, k: number, p: ArrayLike<number>, seed: number) => {
    const c = f64(T * k, seed), x = new Float64Array(T * d);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < d; j++) {
        let s = p[j];
        for (let i = 0; i < k; i++) s += c[t * k + i] * basis[i * d + j];
        x[t * d + j] = s;
      }
    }
    return x;
  };
  const B1 = Float64Array.from([...f64(2 * d, 29), ...new Float64Array(d).fill(1)]);
  const cases: [string, Float64Array, number, boolean][] = [
    ["random, T = 5 < d", f64(5 * d, 205), 5, true],
    ["random, T = 7 < d", f64(7 * d, 207), 7, true],
    ["random, T = 12 > d", f64(12 * d, 212), 12, false],
    ["a line, tokens of unequal spread", flat(5, f64(d, 21), 1, f64(d, 22), 23), 5, false],
    ["a 3-flat containing the direction 1", flat(10, B1, 3, f64(d, 30), 31), 10, false],
    ["collapsed (all tokens equal)", flat(6, f64(d, 26), 0, f64(d, 27), 28), 6, false],
  ];
  let generic = true, all = true;
  const rows = cases.map(([name, x, T, isGeneric]) => {
    const a = affineRank(x, T, d), aln = affineRank(layerNorm(x, T, d), T, d);
    const arms = affineRank(rmsNormTokens(x, T, d), T, d);
    if (a !== aln) {
      all = false;
      if (isGeneric) generic = false;
    }
    return [
      name,
      a,
      aln,
      arms,
      linearRank(x, T, d),
      linearRank(layerNorm(x, T, d), T, d),
      linearRank(rmsNormTokens(x, T, d), T, d),
    ];
  });
  const verdict: Verdict = all ? "reproduced" : generic ? "partly" : "not reproduced";
  return {
    rows,
    verdict,
    note: all
      ? "LayerNorm kept the affine rank in every case."
      : "LayerNorm keeps the affine rank of generic token sets with T < d, but not in general: the per-token " +
        "scale 1/sigma(x) bends a line of tokens with unequal spreads into a plane, and the centering removes " +
        "the direction 1, so more than d generic tokens lose one dimension. What holds exactly is the matrix-rank " +
        "statement with zero bias, up to the direction 1: rank LN(X) = rank(P X), P = I - 1 1^T/d, and the " +
        "affine rank of LN(X) is rank(P X) or one less (tests/affine_rank.test.ts). RMSNorm keeps the linear rank " +
        "exactly (a positive scale per token) and, having no centering, keeps d for T > d, but bends lines and " +
        "flats just as LayerNorm does.",
  };
}

/** The collapse-depth run: rate fits, rank beyond the embeddings, entropy over training. */
async function collapseSection(
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
        num(mine[1]?.residual),
        num(mine[mine.length - 1].residual),
        f ? num(f.per_layer_factor) : "–",
        f ? `${num(f.dexp_base)} (r² ${num(f.dexp_r2, 2)} vs ${num(f.exp_r2, 2)})` : "–",
        num(mine[0].rank),
        num(maxExcess),
        ent.length ? num(ent.reduce((a, b) => a + b, 0) / ent.length) : "–",
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
      `(here ${num(shrink(attn, 0))} at init, ${
        num(shrink(attn, last))
      } after ${last} steps), skips prevent it ` +
      `when they keep over 50% (${num(shrink(skip, 0))}, ${
        num(shrink(skip, last))
      }); "doubly exponential" needs ` +
      `b > 1.5 and a better fit than the exponential (${doubly ? "it is" : "it is not"}: b = ${
        num(dexp?.dexp_base)
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
      num(drop.get("full (skip+MLP+norm)"))
    } at the usual LR, ` +
      `${num(drop.get("full, LR x15"))} at 15x.`
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

/** The skipless run directories under docs/repro/, by depth: skipless-depth<D> and its parts skipless-depth<D><a-z>. */
async function skiplessDirs(repro: string): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  try {
    for await (const e of Deno.readDir(repro)) {
      const m = e.isDirectory ? e.name.match(/^skipless-depth(\d+)[a-z]?$/) : null;
      if (m) out.set(Number(m[1]), [...(out.get(Number(m[1])) ?? []), e.name].sort());
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/**
 * The finished variants of a study whose stage has not ended (no summary.csv):
 * the pipeline pipelines/claims/<name>.yaml names each variant's trial
 * directory; a variant counts once its result.json is archived.
 */
async function finishedStudyTrials(repro: string, name: string) {
  const file = `pipelines/claims/${name}.yaml`;
  if (!(await exists(file))) return null;
  const p = await loadPipeline(file);
  const sum: Row[] = [], cur: Row[] = [];
  let planned = 0;
  for (const [, st] of p.stages) {
    const o = st.options as { variants?: { label: string }[]; trials?: TrialConfig[] };
    if (!o?.variants || !o.trials) continue;
    planned += o.trials.length;
    for (const [i, t] of o.trials.entries()) {
      const dir = `${repro}/${name}/${trialDirName(t, trialId(t))}`;
      const r = await readJSON<{ status: string; final_val_loss: number; wall_s: number }>(
        `${dir}/result.json`,
      );
      if (!r) continue;
      const label = o.variants[i].label;
      sum.push({
        config: label,
        status: r.status,
        steps: t.train.steps,
        final_val_loss: r.final_val_loss,
        wall_s: r.wall_s,
      });
      const m = await readTable(`${dir}/metrics.csv`);
      for (const row of m ? rowsOf(m) : []) {
        if (Number.isFinite(row.val_loss as number)) {
          cur.push({ config: label, step: row.step, val_loss: row.val_loss });
        }
      }
    }
  }
  return { sum, cur, planned };
}

/** The E-SPA depth table from docs/repro/skipless-depth*: every variant against the pre-LN of its own run. */
async function skiplessSection(
  ctx: ReproContext,
): Promise<{ md: string; verdicts: Record<string, Verdict> }> {
  const table: (string | number)[][] = [];
  const curveRows: Row[] = [];
  const verdicts: Record<string, Verdict> = {};
  const dirs = await skiplessDirs(ctx.repro);
  const baseSteps = new Set<number>();
  const walls: string[] = [];
  const espaFindings: string[] = [];
  const pct = (g: number) => (Number.isFinite(g) ? `${g >= 0 ? "+" : ""}${num(100 * g, 3)}%` : "n/a");
  for (const depth of [8, 16, 32]) {
    // E-SPA at the paper's constants (label "(paper)"; best of the LRs run) and at the other gamma_L / LR settings
    let paperGap = Infinity, paperRatio = Infinity, ran = false, unfinished = false;
    let other: { label: string; gap: number; reach: number | undefined } | null = null;
    for (const name of dirs.get(depth) ?? []) {
      const curves = await readTable(`${ctx.repro}/${name}/curves.csv`);
      const summary = await readTable(`${ctx.repro}/${name}/summary.csv`);
      // a study still running has no summary yet: read its finished trials (directories from the pipeline)
      const partial = curves && summary ? null : await finishedStudyTrials(ctx.repro, name);
      if (!(curves && summary) && !partial?.sum.length) continue;
      ran = true;
      if (partial && partial.sum.length < partial.planned) unfinished = true;
      const sum = partial ? partial.sum : rowsOf(summary!);
      walls.push(
        `${name} ${num(sum.reduce((a, r) => a + (Number(r.wall_s) || 0), 0) / 60, 3)} min` +
          (partial ? ` (${partial.sum.length} of ${partial.planned} variants finished)` : ""),
      );
      const cur = partial
        ? partial.cur
        : rowsOf(curves!.filter(aq.escape((d: Row) => Number.isFinite(d.val_loss as number))));
      const pre = sum.find((r) => r.config === "pre-LN");
      const preLoss = pre?.final_val_loss as number, preSteps = pre?.steps as number;
      baseSteps.add(preSteps);
      for (const s of sum) {
        if (s.config === "pre-LN" && table.some((r) => r[0] === depth && r[1] === "pre-LN")) continue;
        const mine = cur.filter((r) => r.config === s.config);
        for (const r of mine) curveRows.push({ ...r, depth: `depth ${depth}` });
        const reach = (tol: number) =>
          mine.find((r) => (r.val_loss as number) <= (1 + tol) * preLoss)?.step as number | undefined;
        const k0 = reach(0), k20 = reach(0.2);
        const gap = (s.final_val_loss as number) / preLoss - 1;
        const label = String(s.config);
        if (label.startsWith("E-SPA") && label.includes("(paper)")) {
          paperGap = Math.min(paperGap, gap);
          if (k20 !== undefined) paperRatio = Math.min(paperRatio, k20 / preSteps);
        } else if (label.startsWith("E-SPA") && (!other || gap < other.gap)) {
          other = { label, gap, reach: k0 === undefined ? undefined : k0 / preSteps };
        }
        if (s.config === "norm-free, skips") {
          verdicts[`skips${depth}`] = gap <= 0.05 ? "reproduced" : gap <= 0.2 ? "partly" : "not reproduced";
        }
        table.push([
          depth,
          String(s.config),
          String(s.status),
          s.steps as number,
          num(s.final_val_loss, 4),
          s.config === "pre-LN" ? "–" : `${gap >= 0 ? "+" : ""}${num(100 * gap, 3)}%`,
          `${k0 !== undefined ? num(k0 / preSteps, 2) + "x" : "never"} / ${
            k20 !== undefined ? num(k20 / preSteps, 2) + "x" : "never"
          }`,
        ]);
      }
    }
    if (!ran) {
      table.push([depth, "not yet run", "", "", "", "", ""]);
      verdicts[`espa${depth}`] = "not yet run";
      verdicts[`skips${depth}`] ??= "not yet run";
      continue;
    }
    verdicts[`skips${depth}`] ??= "not yet run";
    // while variants are still running only a success is final
    const o = other as { label: string; gap: number; reach: number | undefined } | null;
    verdicts[`espa${depth}`] = paperGap <= 0
      ? "reproduced"
      : unfinished
      ? "not yet run"
      : paperRatio <= 5 || (o !== null && o.gap <= 0)
      ? "partly"
      : "not reproduced";
    if (Number.isFinite(paperGap) || o) {
      espaFindings.push(
        `depth ${depth}: E-SPA at the paper's γ_L = 0.005 ends ${
          pct(paperGap)
        } vs pre-LN (best of the LRs run)` +
          (o
            ? `; the best other setting, ${o.label}, ends ${pct(o.gap)}` +
              (o.reach !== undefined
                ? ` and first reaches pre-LN's loss at ${num(o.reach, 2)}x its steps`
                : "")
            : ""),
      );
    }
  }
  if (curveRows.length) {
    await writeFigure(
      `${ctx.repro}/skipless-depth`,
      lineChartSpec({
        rows: curveRows,
        x: "step",
        y: "val_loss",
        color: "config",
        column: "depth",
        points: false,
        title: "Training without shortcuts: val loss vs step",
        subtitle: "pre-LN and norm-free skips at 1x steps; vanilla variants at 5x",
        yTitle: "val loss (nats)",
        independentY: false,
        width: 260,
        height: 200,
      }),
    );
  }
  const unit = baseSteps.size === 1 ? `pre-LN's ${[...baseSteps][0]}` : "pre-LN's steps";
  const md = [
    mdTable(
      [
        "depth",
        "variant",
        "status",
        "steps",
        "final val loss",
        "vs pre-LN final",
        "steps to pre-LN's loss / within 20%",
      ],
      table,
    ),
    curveRows.length ? `\n![skipless val loss](${ctx.link}/skipless-depth.png)` : "",
    "",
    `Steps in units of ${unit}: "1.5x / 0.6x" means the variant's val loss first reached pre-LN's final loss ` +
    "after 1.5 times pre-LN's steps and came within 20% of it after 0.6 times (at the first eval step that did). " +
    "E-SPA's verdict: reproduced when E-SPA at the paper's constants (γ_L = 0.005, η = 0.9; the best of the LRs " +
    "run) ends at or below pre-LN's loss within 5x the steps; partly when it comes within 20% by then, or when only " +
    "another γ_L or LR of the reported ladder (one seed each, every setting shown) reaches pre-LN's loss.",
    espaFindings.length ? `\n${espaFindings.map((f) => `- ${f}`).join("\n")}` : "",
    "",
    espaCurrentToken(),
    walls.length ? `\nMeasured wall time (sum over trials, shared machine): ${walls.join(", ")}.` : "",
  ].join("\n");
  return { md, verdicts };
}

/**
 * Why a small gamma_L starts E-SPA on a plateau: at init the stack's attention is
 * A_L ... A_1 = L_L L_0^-1 = L_L (L = chol(Sigma), Sigma_0 = I), so position i of the
 * last layer is sum_j L_L[i, j] x_j: the current token keeps L_L[i, i]^2 of the variance
 * and the first token L_L[i, 0]^2 (computed with dmodel's own cholesky, T = 64).
 */
function espaCurrentToken(T = 64): string {
  const rows = [0.005, 0.04, 0.2, 0.5, 2].map((g) => {
    const L = cholesky(expKernel(T, g), T);
    let self = 0, first = 0;
    for (let i = 1; i < T; i++) self += L[i * T + i] ** 2 / (T - 1), first += L[i * T] ** 2 / (T - 1);
    return [g, num(self, 3), num(first, 3)];
  });
  return [
    `At init E-SPA's whole attention stack is L_L = chol(Σ_L) (γ_0 = ∞): each position of the last layer mixes the ` +
    `tokens before it with weights L_L[i, j]. Share of a position's variance (mean over positions 1..${
      T - 1
    }, T = ${T}):`,
    "",
    mdTable(["γ_L", "its own token, L_L[i,i]²", "the first token, L_L[i,0]²"], rows),
  ].join("\n");
}

/** Mean off-diagonal entry of E-SPA's target kernel exp(-gamma |i - j|) over T positions. */
export function meanKernelCorrelation(T: number, gamma: number): number {
  const k = expKernel(T, gamma);
  let s = 0;
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) if (i !== j) s += k[i * T + j];
  return s / (T * (T - 1));
}

/** The espa-init run: token cosine, residual and rank at the last layer at init, against E-SPA's target kernel. */
async function espaInitSection(ctx: ReproContext): Promise<string> {
  const t = await readTable(`${ctx.repro}/espa-init/collapse.csv`);
  if (!t) return "E-SPA at init: not yet run (`deno task train pipelines/claims/espa-init.yaml`).";
  const rows = rowsOf(t).filter((r) => r.step === 0);
  const configs = [...new Set(rows.map((r) => r.config as string))];
  const seqLen = 64; // pipelines/claims/espa-init.yaml's data.seq_len
  const out = configs.map((c) => {
    const mine = rows.filter((r) => r.config === c);
    const lastRow = mine.reduce((a, r) => ((r.layer as number) > (a.layer as number) ? r : a));
    const g = c.match(/γ_L=([0-9.]+)/);
    return [
      c,
      lastRow.layer as number,
      num(mine.find((r) => r.layer === 0)?.cosine),
      num(lastRow.cosine),
      g ? num(meanKernelCorrelation(seqLen, Number(g[1]))) : "–",
      num(lastRow.residual),
      num(lastRow.rank),
    ];
  });
  const cos = (label: string) => {
    const mine = rows.filter((r) => r.config === label);
    return mine.length
      ? mine.reduce((a, r) => ((r.layer as number) > (a.layer as number) ? r : a)).cosine as number
      : NaN;
  };
  const findings = [8, 16, 32].filter((D) => Number.isFinite(cos(`E-SPA γ_L=0.04, η=0.3, depth ${D}`))).map((
    D,
  ) =>
    `depth ${D}: ${num(cos(`E-SPA γ_L=0.005, depth ${D}`))} (γ_L = 0.005) and ${
      num(cos(`E-SPA γ_L=0.04, depth ${D}`))
    } (γ_L = 0.04) with η = 0.9, ${num(cos(`E-SPA γ_L=0.04, η=0.3, depth ${D}`))} with η = 0.3`
  );
  await writeFigure(
    `${ctx.repro}/espa-init/cosine`,
    lineChartSpec({
      rows: rows.map((r) => {
        const [variant, depth] = String(r.config).split(", depth ");
        return { variant, depth: `depth ${depth}`, layer: r.layer, cosine: r.cosine };
      }),
      x: "layer",
      y: "cosine",
      color: "variant",
      column: "depth",
      columnOrder: ["depth 8", "depth 16", "depth 32"],
      points: true,
      title: "Vanilla transformers at init: mean token cosine per layer",
      subtitle: "T = 64, width 64; shaped and Value-SkipInit coincide (both start at A = I)",
      yTitle: "mean token cosine",
      independentY: false,
      width: 220,
      height: 180,
    }),
  );
  return [
    "At init (espa-init run, T = 64): the representation at the last layer against E-SPA's target kernel.",
    findings.length
      ? "Mean token cosine at the last layer, " + findings.join("; ") +
        ". The attention kernel's γ_L hardly moves it; the TAT MLP target η does: with η = 0.9 the vanilla " +
        "stack starts close to collapsed at this context length, which is what the 5x-steps runs " +
        "(η = 0.3 variant) test."
      : "",
    "",
    mdTable(
      [
        "variant",
        "last layer",
        "token cosine, embeddings",
        "token cosine, last layer",
        "target kernel: mean exp(−γ_L|i−j|)",
        "residual, last layer",
        "rank, last layer",
      ],
      out,
    ),
    "",
    `![token cosine at init](${ctx.link}/espa-init/cosine.png)`,
    "",
    wallText(await studyWallMinutes(`${ctx.repro}/espa-init`)),
  ].join("\n");
}

/** The layer-wise BLEU run. */
async function layerwiseSection(
  ctx: ReproContext,
): Promise<{ md: string; verdicts: Record<string, Verdict> }> {
  const dir = `${ctx.repro}/layerwise-bleu`;
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
  const beats = (a?: Row, b?: Row): Verdict =>
    !a || !b
      ? "not yet run"
      : (a.bleu_min as number) > (b.bleu_max as number)
      ? "reproduced"
      : (a.bleu as number) > (b.bleu as number)
      ? "partly"
      : "not reproduced";
  const md = [
    mdTable(
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
        num(r.ms),
        `${num(100 * (r.bleu as number), 4)} (${num(100 * (r.bleu_min as number), 4)}–${
          num(100 * (r.bleu_max as number), 4)
        })`,
        num(r.token_acc, 4),
        num(r.exact, 3),
      ]),
    ),
    "",
    "Greedy decoding, corpus BLEU-4 ×100 on 256 held-out examples (components/block/seq2seq/bleu.ts); token accuracy with teacher " +
    "forcing (TF); min–max over seeds (3 seeds give no useful interval). train ms/step is measured on the shared " +
    "machine (oversubscribed when these ran): compare it between rows, not with other runs. Verdict: reproduced " +
    "when layer-wise's worst seed beats the encoder-decoder's best, partly when only its mean does.",
    "",
    `![held-out token accuracy, seed 0](${ctx.link}/layerwise-bleu/translation.png)`,
    "",
    wallText(
      t.columnNames().includes("wall_s")
        ? (Array.from(t.array("wall_s")) as number[]).reduce((a, b) => a + b, 0) / 60
        : null,
    ),
  ].join("\n");
  return { md, verdicts: { compute: beats(lw2, ed), params: beats(lw4, ed) } };
}

/** The section's markdown, from the archive `c.runs` (figure links relative to `c.docs`). */
async function render(c: SectionContext): Promise<string> {
  const ctx: ReproContext = { repro: c.runs, link: relative(c.docs, c.runs) || "." };
  const ar = affineRankRows();
  const hf = await headsSection(c);
  const col = await collapseSection(ctx);
  const sk = await skiplessSection(ctx);
  const espaInit = await espaInitSection(ctx);
  const lw = await layerwiseSection(ctx);
  const v = (x: Verdict | undefined) => `**${x ?? "not yet run"}**`;
  const summary = mdTable(["claim", "where", "verdict"], [
    [
      "(2302.10322a) skips without norms train as fast as pre-LN (depth 8 / 16 / 32)",
      "skipless-depth*",
      [8, 16, 32].map((d) => v(sk.verdicts[`skips${d}`])).join(" / "),
    ],
    [
      "(2302.10322b) vanilla E-SPA reaches pre-LN's loss in about 5x the steps (depth 8 / 16 / 32)",
      "skipless-depth*",
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
      "entropy collapse: attention entropy falls in a collapsing configuration, not in a stable one",
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
    mdTable(
      ["token set", "affine rank X", "LN(X)", "RMSNorm(X)", "rank X", "rank LN(X)", "rank RMSNorm(X)"],
      ar.rows,
    ),
    "",
    ar.note,
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
