/**
 * What every section of docs/reproductions.md shares: the section interface
 * and its context, where a pipeline's archived runs are, how far a sweep got,
 * and the rendering helpers (tables, numbers, figure links, the verdict
 * line). A section reads run directories, asks engine/analysis/claims/ for
 * each verdict and returns markdown; it never types a measured number by hand.
 */
import { relative } from "node:path";
import * as aq from "arquero";
import YAML from "yaml";
import type { ColumnTable } from "arquero";
import { exists, readJSON } from "../../engine/core/fs.ts";
import { type Call, type Coefficient, compareFits, type ScalingFit } from "../../engine/analysis/fit.ts";
import type { Verdict } from "../../engine/analysis/claims/verdict.ts";

/** Where a section reads runs and writes its artefacts. */
export interface SectionContext {
  /** Folder holding one archived run directory per pipeline name (default docs/repro/runs). */
  runs: string;
  /** docs/, the folder the markdown file is written to (figure links are relative to it). */
  docs: string;
  /** Progress lines. */
  log: (line: string) => void;
}

/** One section of docs/reproductions.md (one paper, or a group of claims). */
export interface Section {
  id: string;
  title: string;
  render(ctx: SectionContext): Promise<string>;
}

/** A claim's markdown and the verdict it states (the section's summary table reads it). */
export interface ClaimText {
  md: string;
  verdict: Verdict;
}

/** How far a sweep got: planned trials (trials.json) and finished ones (result.json present). */
export interface SweepProgress {
  dir: string;
  planned: number | null;
  finished: number;
  complete: boolean;
}

/** One planned trial of a sweep's trials.json, as the progress count reads it. */
export interface PlannedEntry {
  dir: string;
  config: { train: { steps: number } } & Record<string, unknown>;
}

/**
 * The progress of the archived sweep `name`; with `keep`, of the planned
 * trials it keeps only (e.g. one horizon of a sweep over several).
 */
export async function sweepProgress(
  ctx: SectionContext,
  name: string,
  keep: (t: PlannedEntry) => boolean = () => true,
): Promise<SweepProgress> {
  const dir = `${ctx.runs}/${name}`;
  const all = await readJSON<PlannedEntry[]>(`${dir}/trials.json`).catch(() => null);
  const plan = all?.filter(keep) ?? null;
  let finished = 0;
  for (const t of plan ?? []) if (await exists(`${dir}/${t.dir}/result.json`)) finished++;
  const planned = plan ? plan.length : null;
  return { dir, planned, finished, complete: planned !== null && planned > 0 && finished === planned };
}

/** "12 of 240 trials finished". */
export function progressText(p: SweepProgress): string {
  return p.planned === null ? "no run archived yet" : `${p.finished} of ${p.planned} trials finished`;
}

/** A slope's reading, as the analysis library calls it (transfers / drifts / inconclusive). */
export type SlopeReading = Call;

/** The library's three-way call on a fitted slope. */
export function readSlope(c: Coefficient): SlopeReading {
  return c.call;
}

/**
 * slope(a) - slope(b) on one axis with the interval of the difference of
 * their bootstrap draws (engine/analysis compareFits); null when either has no fit.
 */
export function slopeDifference(
  a: ScalingFit,
  b: ScalingFit,
  axis: string,
): { diff: number; ci: [number, number] | null; text: string } | null {
  if (!a.scales.includes(axis) || !b.scales.includes(axis)) return null;
  const c = compareFits(a, b, axis);
  return { diff: c.difference, ci: c.ci, text: c.text };
}

/** A number with fixed decimals; "n/a" when not finite. */
export function num(v: number | null | undefined, d = 3): string {
  return v !== null && v !== undefined && Number.isFinite(v) ? v.toFixed(d) : "n/a";
}

/** "0.12 [0.05, 0.20]". */
export function withCI(v: number, ci: [number, number] | null, d = 2): string {
  return ci ? `${num(v, d)} [${num(ci[0], d)}, ${num(ci[1], d)}]` : `${num(v, d)} (no CI)`;
}

/** 2^x as "2^-5.5 (0.0221)". */
export function lrText(lr: number): string {
  return Number.isFinite(lr) && lr > 0 ? `2^${num(Math.log2(lr), 2)} (${lr.toPrecision(3)})` : "n/a";
}

/** A number with `digits` significant digits (trailing zeros dropped); "–" when missing. */
export function sig(v: unknown, digits = 3): string {
  return typeof v === "number" && Number.isFinite(v) ? String(+v.toPrecision(digits)) : "–";
}

/** A markdown table (cells may hold "|"). */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (r: (string | number)[]) =>
    `| ${r.map((c) => String(c).replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** A markdown image of `path`, linked relative to docs/ (the markdown file's folder). */
export function fig(ctx: SectionContext, path: string, alt: string): string {
  return `![${alt}](${relative(ctx.docs, path)})`;
}

/** A claim whose run is unfinished: its markdown so far, "not yet run". */
export function notYet(lines: string[]): ClaimText {
  return { md: lines.join("\n"), verdict: "not yet run" };
}

/** The bold verdict line of a claim. */
export function verdictLine(v: Verdict, why: string): string {
  return `**Verdict: ${v}.** ${why}`;
}

/** Per scale value of a finished sweep: tokens trained and non-embedding parameters of its trials. */
export interface ScaleSetting {
  scale: number;
  tokens: number;
  /** Parameters other than the token embedding and the readout (params.json roles). */
  nonEmbedding: number;
}

/** What every verdict states beside it, read from the run's files (never typed by hand). */
export interface RunSetting {
  seeds: number[];
  /** Fixed val tokens each final loss is measured on: eval_batches x batch_size x seq_len. */
  valTokens: number[];
  perScale: ScaleSetting[];
  /** Sum of the finished trials' wall times, in hours, and the worker count it ran with. */
  trialHours: number;
}

/**
 * The setting of archived sweep `dir` from its results table and trial files: seeds, val tokens,
 * and tokens per non-embedding parameter at each value of the `scale` column (one trial each).
 */
export async function runSetting(dir: string, scale: string): Promise<RunSetting | null> {
  const csv = await Deno.readTextFile(`${dir}/results.csv`).catch(() => null);
  if (!csv) return null;
  const t = aq.fromCSV(csv).filter((d: { status: string }) => d.status === "ok");
  if (!t.numRows()) return null;
  const rows = t.objects() as Record<string, unknown>[];
  const distinct = (k: string) => [...new Set(rows.map((r) => Number(r[k])))].sort((a, b) => a - b);
  const valTokens = [
    ...new Set(
      rows.map((r) =>
        Number(r["train.eval_batches"]) * Number(r["train.batch_size"]) * Number(r["data.seq_len"])
      ),
    ),
  ].filter(Number.isFinite).sort((a, b) => a - b);
  const perScale: ScaleSetting[] = [];
  for (const s of distinct(scale)) {
    const r = rows.find((r) => Number(r[scale]) === s)!;
    const params = await readJSON<{ role: string; shape: number[] }[]>(`${dir}/${r.trial_dir}/params.json`)
      .catch(() => null);
    const result = await readJSON<{ tokens: number }>(`${dir}/${r.trial_dir}/result.json`).catch(() => null);
    if (!params || !result) continue;
    const nonEmbedding = params.filter((p) => p.role !== "embedding" && p.role !== "readout")
      .reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    perScale.push({ scale: s, tokens: result.tokens, nonEmbedding });
  }
  const wall = rows.reduce((a, r) => a + (Number(r.wall_s) || 0), 0);
  return { seeds: distinct("train.seed"), valTokens, perScale, trialHours: wall / 3600 };
}

/** "3 seeds (0, 1, 2); 32,768 val tokens; tokens per non-embedding parameter 150 (w16) ... 2.3 (w128)". */
export function settingText(s: RunSetting | null, label: string): string {
  if (!s) return "";
  const parts = [`${s.seeds.length} seed(s) (${s.seeds.join(", ")})`];
  if (s.valTokens.length) {
    parts.push(
      `final val loss on ${s.valTokens.map((v) => v.toLocaleString("en-US")).join(" / ")} fixed val tokens`,
    );
  }
  if (s.perScale.length) {
    const per = s.perScale.map((p) => {
      const r = p.tokens / p.nonEmbedding;
      return `${num(r, r < 10 ? 2 : 0)} (${label} ${p.scale})`;
    });
    parts.push(`tokens per non-embedding parameter ${per.join(", ")}`);
  }
  if (s.trialHours > 0) {
    parts.push(
      `${
        num(s.trialHours, 2)
      } trial-hours of compute (sum of the finished trials' wall times; the sweep runs 2 at a time)`,
    );
  }
  return `Setting of the finished trials (from their files): ${parts.join("; ")}.`;
}

/** One row of a CSV read as objects. */
export type Row = Record<string, unknown>;

/** A table's rows as objects. */
export const rowsOf = (t: ColumnTable): Row[] => t.objects() as Row[];

/** A CSV as an arquero table, or null when the file does not exist. */
export async function readTable(path: string): Promise<ColumnTable | null> {
  try {
    return aq.fromCSV(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** Sum of the trials' wall_s (result.json) of a study run directory, in minutes; null when none is archived. */
export async function studyWallMinutes(dir: string): Promise<number | null> {
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

/** "Measured wall time: 26.5 min ..." for a run directory. */
export function wallText(minutes: number | null): string {
  return minutes === null
    ? ""
    : `Measured wall time: ${sig(minutes, 3)} min (sum over its trials, on the shared 2-core machine ` +
      "running about ten jobs at once: an upper bound for an idle machine).";
}

/** The settings of an archived trial (its config.yaml), as the limits beside a verdict read them. */
export interface TrialSetting {
  data: { seq_len: number; corpus?: string; tokenizer?: { vocab_size?: number } };
  model: { width: number; depth: number; head_dim: number };
  optimizer: { lr: number };
  train: { steps: number; batch_size: number; seed: number };
}

/** An archived trial's config.yaml, or null when it is not archived. */
export async function trialSetting(dir: string): Promise<TrialSetting | null> {
  const text = await Deno.readTextFile(`${dir}/config.yaml`).catch(() => null);
  return text === null ? null : YAML.parse(text) as TrialSetting;
}
