/**
 * What every section of docs/reproductions.md shares: the section interface,
 * where a pipeline's archived runs are, how far a sweep got, and the verdict
 * words. A section reads run directories and returns markdown; it never types
 * a measured number by hand.
 */
import { exists, readJSON } from "../../engine/core/fs.ts";
import { type Call, type Coefficient, compareFits, type ScalingFit } from "../../engine/analysis/fit.ts";

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

/** The verdict words of a claim. */
export type Verdict = "reproduced" | "partly" | "not reproduced" | "not yet run";

/** How far a sweep got: planned trials (trials.json) and finished ones (result.json present). */
export interface SweepProgress {
  dir: string;
  planned: number | null;
  finished: number;
  complete: boolean;
}

/** The progress of the archived sweep `name`. */
export async function sweepProgress(ctx: SectionContext, name: string): Promise<SweepProgress> {
  const dir = `${ctx.runs}/${name}`;
  const plan = await readJSON<{ dir: string }[]>(`${dir}/trials.json`).catch(() => null);
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

/** A markdown table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (r: (string | number)[]) => `| ${r.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** The bold verdict line of a claim. */
export function verdictLine(v: Verdict, why: string): string {
  return `**Verdict: ${v}.** ${why}`;
}
