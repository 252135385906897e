/**
 * The sequential search (./answer.ts) in words, for `deno task sweep --status`,
 * the sweep log and the report: per family "decided after N trials / X FLOPs"
 * or "budget spent: the interval is 0.27 wide, about N more trials near eta*
 * would be needed", and why the search stopped.
 */
import type { AnswerReport, FamilyDecision } from "./answer.ts";

const f2 = (v: number) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);
const signed = (v: number) => `${v >= 0 ? "+" : ""}${f2(v)}`;
const flops = (f: number) => `${f.toExponential(2)} FLOPs`;
/** A budget or spend from search.json (Infinity is written as null there). */
const limited = (v: number | null) => v !== null && Number.isFinite(v);

/** The slope and its interval: "-0.52 [-0.61, -0.44]". */
function interval(d: FamilyDecision): string {
  if (!Number.isFinite(d.slope)) return "no slope";
  return Number.isFinite(d.lo) && Number.isFinite(d.hi)
    ? `${signed(d.slope)} [${f2(d.lo)}, ${f2(d.hi)}]`
    : `${signed(d.slope)} (no interval)`;
}

/**
 * One family's state in one sentence.
 *
 * @example
 * ```ts
 * familyLine(d); // "ngpt: drifts, decided after 96 trials / 1.20e+12 FLOPs: slope -0.52 [-0.61, -0.44]"
 * ```
 */
export function familyLine(d: FamilyDecision): string {
  const spent = `${d.trials} trials / ${flops(d.flops)}`;
  if (d.state === "decided") return `${d.family}: ${d.verdict}, decided after ${spent}: slope ${interval(d)}`;
  const wide = Number.isFinite(d.hi - d.lo)
    ? `the interval is ${f2(d.hi - d.lo)} wide (${interval(d)})`
    : interval(d);
  const more = d.more === null
    ? Number.isFinite(d.hi - d.lo)
      ? "; the slope sits at the band's edge, no number of trials near eta* settles it"
      : ""
    : `, about ${d.more} more trials near eta* would be needed`;
  if (d.state === "budget spent") return `${d.family}: budget spent after ${spent}: ${wide}${more}`;
  return `${d.family}: ${
    d.state === "stopped" ? "stopped undecided" : "undecided"
  } after ${spent}: ${wide}; ${d.reason}`;
}

/** The search's headline: band, budget, spend and state. */
function headline(a: AnswerReport): string {
  const budget = [
    limited(a.budget.flops) ? flops(a.budget.flops) : "",
    limited(a.budget.hours) ? `${a.budget.hours.toFixed(2)} trial-hours` : "",
  ].filter(Boolean).join(", ");
  const spent = limited(a.budget.hours) && !limited(a.budget.flops)
    ? `${a.spent.hours.toFixed(2)} trial-hours`
    : flops(a.spent.flops);
  const rounds = a.rounds.filter((r) => r.trials.length).length;
  return `until decided (band ±${f2(a.tolerance)}, ${Math.round(a.level * 100)}% intervals; budget ` +
    `${a.budget_stated} = ${budget}): ${a.state === "running" ? "running" : `stopped: ${a.stop}`}; ` +
    `${rounds} round(s) after bracketing, ${spent} spent`;
}

/** Lines for --status and the sweep log: the headline, then one per family. */
export function answerStatusLines(a: AnswerReport): string[] {
  return [`lr_search ${headline(a)}`, ...a.families.map((d) => `  ${familyLine(d)}`)];
}

/** The report's paragraphs: what was decided, on what, and what is missing. */
export function answerParagraphs(a: AnswerReport): string[] {
  return [
    `Sequential search ${headline(a)}. After bracketing, each round estimated every family's slope ` +
    `interval and, for the families still undecided, added trials where they shrink it most per trial ` +
    `(half-steps of the LR grid next to each optimum, then new seeds at the LRs nearest it, never above ` +
    `a diverged LR); a family stops when its interval lies inside the band (transfers) or wholly beyond it ` +
    `(drifts).`,
    ...a.families.map((d) => `${familyLine(d)}.`),
  ];
}
