/**
 * An LR search (./lr_search.ts) in words: one line per group and a total for
 * `deno task sweep --status` and the sweep log, and a report section (compute
 * spent against the dense grid, one row per group), read back from
 * search.json; the sequential search's own words are ./answer_render.ts.
 */
import { readJSON } from "../core/fs.ts";
import { answerParagraphs, answerStatusLines } from "./answer_render.ts";
import { fmtFlops } from "./compute.ts";
import type { SearchPlan } from "./lr_search.ts";

const fmtLog2 = (
  lr: number | null,
) => (lr === null ? "?" : `2^${Math.log2(lr).toFixed(2).replace(/\.?0+$/, "")}`);
const pct = (a: number, b: number) => (b > 0 ? `${(100 * a / b).toFixed(0)}%` : "?");

/** One line per group plus a total, for `deno task sweep --status` and the sweep log. */
export function searchStatusLines(p: SearchPlan): string[] {
  const lines = p.groups.map((g) => {
    const where = g.state === "waiting"
      ? "waiting for smaller scales"
      : g.range_edge
      ? `RANGE EDGE (${g.range_edge}) at ${fmtLog2(g.best_lr)}`
      : g.bracketed
      ? `bracketed at ${fmtLog2(g.best_lr)}, basin ${g.basin} LRs`
      : g.best_lr !== null
      ? `not yet bracketed (best so far ${fmtLog2(g.best_lr)})`
      : "not yet bracketed";
    const state = g.state === "done" ? `done: ${g.why}` : g.state === "running" ? `${g.phase}` : "";
    return `  ${g.group}: ${g.lrs_run} LRs run (${g.trials} trials planned), ${where}` +
      `${state ? `; ${state}` : ""}` +
      `${g.center_lr !== null ? `; started at ${fmtLog2(g.center_lr)} (${g.center_from})` : ""}`;
  });
  return [
    `lr_search: wave ${p.waves}, ${p.done ? "finished" : "running"}; compute ${fmtFlops(p.flops)}, ` +
    `a dense grid at the same resolution over the same range: ${p.dense_trials} trials, ` +
    `${fmtFlops(p.dense_flops)} (${pct(p.flops, p.dense_flops)} of it spent)`,
    ...lines,
    ...(p.answer ? answerStatusLines(p.answer) : []),
  ];
}

/** The search as a report section: compute spent against the dense grid, and one row per group. */
export function searchReportSection(p: Omit<SearchPlan, "trials" | "todo">): {
  title: string;
  paragraphs: string[];
  table: { header: string[]; rows: string[][] };
} {
  return {
    title: "LR search (bracket and refine)",
    paragraphs: [
      `${p.done ? "Finished" : "Still running"} after ${p.waves} wave(s). Compute spent: ${
        fmtFlops(p.flops)
      } ` +
      `(trial steps x model FLOPs per step); a dense grid at the same resolution over the same range ` +
      `(${p.dense_trials} trials) would cost ${fmtFlops(p.dense_flops)}: ${
        pct(p.flops, p.dense_flops)
      } of it spent.`,
      ...(p.answer ? answerParagraphs(p.answer) : []),
    ],
    table: {
      header: [
        "group",
        "LRs run",
        "trials",
        "started at",
        "from",
        "best LR",
        "bracketed",
        "basin",
        "state",
        "FLOPs",
      ],
      rows: p.groups.map((g) => [
        g.group,
        String(g.lrs_run),
        String(g.trials),
        fmtLog2(g.center_lr),
        g.center_from,
        fmtLog2(g.best_lr),
        g.range_edge ? `range edge (${g.range_edge})` : g.bracketed ? "yes" : "no",
        String(g.basin),
        g.state === "done" ? `done: ${g.why}` : g.state,
        g.flops.toExponential(2),
      ]),
    },
  };
}

/** The report sections of a sweep directory: the LR search's, when it has a search.json (none otherwise). */
export async function searchSections(dir: string): Promise<ReturnType<typeof searchReportSection>[]> {
  const search = await readJSON<Omit<SearchPlan, "trials" | "todo">>(`${dir}/search.json`).catch(() => null);
  return search ? [searchReportSection(search)] : [];
}
