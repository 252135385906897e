/**
 * Replication check of the verdicts: the same question asked of two
 * independent-ish sets of trials must not get contradicting answers.
 *
 * - Within one sweep, leave-one-seed-out: with K >= 2 seeds, each of the K
 *   subsets without one seed is analysed alone (./joint.ts, `familySlopes`);
 *   with K >= 4 also the two disjoint halves of the seeds.
 * - Two runs of the same sweep (disjoint seeds, another machine): each
 *   analysed alone.
 *
 * Per family and pair of analyses: a contradiction is one saying
 * "transfers" and the other "drifts"; the slopes are consistent when their
 * difference is within the 95% interval of a difference of two independent
 * estimates, |s_a - s_b| <= sqrt(h_a^2 + h_b^2), h the half-width of each
 * 95% interval (conservative for leave-one-seed-out subsets, which share
 * seeds, so their slopes differ less than independent ones would).
 */
import type { ColumnTable } from "arquero";
import { DmodelError, show } from "../core/errors.ts";
import { type FamilySlope, type FamilySlopeOptions, familySlopes } from "./joint.ts";

/** One analysis of a replication: its name and its families' slopes. */
export interface ReplicaSlopes {
  /** "all seeds", "without seed 2", "run B", ... */
  name: string;
  /** The seed values whose trials this analysis used. */
  seeds: (string | number)[];
  /** Each family's slope and verdict in this analysis. */
  slopes: FamilySlope[];
}

/** The comparison of two analyses for one family. */
export interface ReplicationPair {
  /** The family's name. */
  family: string;
  /** Name of the first analysis. */
  a: string;
  /** Name of the second analysis. */
  b: string;
  /** The family's slope in the first analysis. */
  slope_a: number;
  /** The family's slope in the second analysis. */
  slope_b: number;
  /** Percentile interval of slope_a; null without one. */
  ci_a: [number, number] | null;
  /** Percentile interval of slope_b; null without one. */
  ci_b: [number, number] | null;
  /** The verdict in the first analysis. */
  call_a: string;
  /** The verdict in the second analysis. */
  call_b: string;
  /** |slope_a - slope_b|. */
  difference: number;
  /** What the intervals allow: sqrt(h_a^2 + h_b^2), h each interval's half-width (Infinity without one). */
  allowed: number;
  /** "transfers" against "drifts". */
  contradiction: boolean;
  /** The difference is within what the intervals allow. */
  consistent: boolean;
}

/** A replication check: the analyses and every pair's comparison. */
export interface Replication {
  /** Every analysis: all seeds first, then each subset (or the two runs). */
  replicas: ReplicaSlopes[];
  /** The comparison of every pair of analyses, per family they share. */
  pairs: ReplicationPair[];
  /** No contradiction and every difference allowed. */
  ok: boolean;
}

/** Compares the families of two analyses (module header). */
export function compareReplicas(a: ReplicaSlopes, b: ReplicaSlopes): ReplicationPair[] {
  const out: ReplicationPair[] = [];
  for (const fa of a.slopes) {
    const fb = b.slopes.find((f) => f.family === fa.family);
    if (!fb) continue;
    const half = (ci: [number, number] | null) => (ci ? (ci[1] - ci[0]) / 2 : Infinity);
    const difference = Math.abs(fa.slope - fb.slope);
    const allowed = Math.hypot(half(fa.ci), half(fb.ci));
    const calls = [fa.call, fb.call].sort().join(" ");
    out.push({
      family: fa.family,
      a: a.name,
      b: b.name,
      slope_a: fa.slope,
      slope_b: fb.slope,
      ci_a: fa.ci,
      ci_b: fb.ci,
      call_a: fa.call,
      call_b: fb.call,
      difference,
      allowed,
      contradiction: calls === "drifts transfers",
      consistent: !(difference > allowed),
    });
  }
  return out;
}

/** Rows of a table (or array) whose seed column is in `seeds`. */
function withSeeds(
  rows: Record<string, unknown>[],
  col: string,
  seeds: (string | number)[],
): Record<string, unknown>[] {
  return rows.filter((r) => seeds.includes(r[col] as string | number));
}

/**
 * Leave-one-seed-out (and, with 4 or more seeds, disjoint halves) within
 * one sweep: each subset analysed alone, every subset compared with the
 * full analysis and with each other.
 *
 * @example
 * ```ts
 * const r = replicateSeeds(await loadResults("runs/nugpt-width"), { resamples: 100 });
 * console.log(r.ok, r.pairs.map((p) => `${p.family} ${p.a} vs ${p.b}: ${p.difference} <= ${p.allowed}`));
 * ```
 */
export function replicateSeeds(
  table: ColumnTable | Record<string, unknown>[],
  opts: FamilySlopeOptions = {},
): Replication {
  const rows = Array.isArray(table) ? table : (table.objects() as Record<string, unknown>[]);
  const col = opts.seed ?? "train.seed";
  if (!rows.length || !(col in rows[0])) {
    throw new DmodelError(`replicate: no seed column ${show(col)} in the results`);
  }
  const seeds = [...new Set(rows.map((r) => r[col] as string | number))].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0
  );
  if (seeds.length < 2) {
    throw new DmodelError(
      `replicate: leave-one-seed-out needs 2 or more seeds, the results have ${seeds.length}`,
    );
  }
  const subsets: { name: string; seeds: (string | number)[] }[] = seeds.map((s) => ({
    name: `without seed ${s}`,
    seeds: seeds.filter((x) => x !== s),
  }));
  if (seeds.length >= 4) {
    const h = Math.floor(seeds.length / 2);
    subsets.push({ name: "first half of the seeds", seeds: seeds.slice(0, h) });
    subsets.push({ name: "second half of the seeds", seeds: seeds.slice(h) });
  }
  const replicas: ReplicaSlopes[] = [
    { name: "all seeds", seeds, slopes: familySlopes(rows, opts) },
    ...subsets.map((s) => ({ ...s, slopes: familySlopes(withSeeds(rows, col, s.seeds), opts) })),
  ];
  return finish(replicas);
}

/**
 * Two runs of the same sweep (e.g. disjoint seeds, another machine), each
 * analysed alone and compared.
 *
 * @example
 * ```ts
 * const r = replicateRuns(await loadResults("runs/a"), await loadResults("runs/b"));
 * ```
 */
export function replicateRuns(
  a: ColumnTable | Record<string, unknown>[],
  b: ColumnTable | Record<string, unknown>[],
  opts: FamilySlopeOptions = {},
  names: [string, string] = ["run A", "run B"],
): Replication {
  const col = opts.seed ?? "train.seed";
  const seedsOf = (t: ColumnTable | Record<string, unknown>[]) => {
    const rows = Array.isArray(t) ? t : (t.objects() as Record<string, unknown>[]);
    return [...new Set(rows.map((r) => r[col] as string | number))];
  };
  return finish([
    { name: names[0], seeds: seedsOf(a), slopes: familySlopes(a, opts) },
    { name: names[1], seeds: seedsOf(b), slopes: familySlopes(b, opts) },
  ]);
}

function finish(replicas: ReplicaSlopes[]): Replication {
  const pairs: ReplicationPair[] = [];
  for (let i = 0; i < replicas.length; i++) {
    for (let j = i + 1; j < replicas.length; j++) pairs.push(...compareReplicas(replicas[i], replicas[j]));
  }
  return { replicas, pairs, ok: pairs.every((p) => !p.contradiction && p.consistent) };
}

/** The replication as Markdown: each analysis's verdicts, then the pairs that fail. */
export function replicationMarkdown(r: Replication): string {
  const f2 = (v: number) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);
  const ci = (c: [number, number] | null) => (c ? `[${f2(c[0])}, ${f2(c[1])}]` : "no CI");
  const lines = [
    "| analysis | seeds | family | slope [95% CI] | verdict |",
    "|---|---|---|---|---|",
    ...r.replicas.flatMap((a) =>
      a.slopes.map((s) =>
        `| ${a.name} | ${a.seeds.join(", ")} | ${s.family} | ${f2(s.slope)} ${ci(s.ci)} | ${s.call} |`
      )
    ),
    "",
  ];
  const bad = r.pairs.filter((p) => p.contradiction || !p.consistent);
  const worst = r.pairs.reduce((m, p) => Math.max(m, p.difference / p.allowed), 0);
  lines.push(
    r.ok
      ? `Replication ok: ${r.pairs.length} pairs, no contradicting verdicts, every slope difference within what ` +
        `the intervals allow (largest difference / allowed: ${worst.toFixed(2)}).`
      : `Replication FAILED: ${
        bad.map((p) =>
          `${p.family}: ${p.a} ${f2(p.slope_a)} (${p.call_a}) vs ${p.b} ${f2(p.slope_b)} (${p.call_b})${
            p.contradiction ? ", contradicting verdicts" : ""
          }${p.consistent ? "" : `, difference ${f2(p.difference)} > allowed ${f2(p.allowed)}`}`
        ).join("; ")
      }.`,
  );
  return lines.join("\n");
}
