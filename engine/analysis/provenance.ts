/**
 * Where a sweep's numbers come from, for the report: the code (git commit
 * and whether the tree had uncommitted changes, dmodel version), the
 * runtime (Deno, V8, TypeScript, tfjs versions; the trials' backends), the
 * machine (CPU model, cores), dates, and the compute spent (total trial wall
 * time, tokens, training FLOPs ~ 6 N D).
 */
import { join } from "node:path";
import type { ColumnTable } from "arquero";

/** The provenance block of a report. */
export interface Provenance {
  /** When the analysis ran (ISO 8601). */
  date: string;
  /** First trial completion recorded in events.jsonl (ISO 8601), when present. */
  trials_from?: string;
  /** Last trial completion recorded in events.jsonl (ISO 8601), when present. */
  trials_to?: string;
  /** The checkout's HEAD commit hash ("unknown (not a git checkout)" without git). */
  git_commit: string;
  /** True when the working tree had uncommitted changes (null when git is not available). */
  git_dirty: boolean | null;
  /** The `version` of deno.json ("unversioned" without one). */
  dmodel_version: string;
  /** Deno version. */
  deno: string;
  /** V8 version of the Deno runtime. */
  v8: string;
  /** TypeScript version of the Deno runtime. */
  typescript: string;
  /** The @tensorflow/tfjs version pinned in deno.json ("unknown" when not found). */
  tfjs: string;
  /** Backends the trials ran on (from their result.json), with counts. */
  backends: Record<string, number>;
  /** CPU model name from /proc/cpuinfo ("unknown" elsewhere). */
  cpu_model: string;
  /** Logical CPU cores of the machine that ran the analysis (0 when unknown). */
  cpu_cores: number;
  /** Operating system and architecture, e.g. "linux x86_64". */
  os: string;
  /** Sum of the trials' wall time (s). */
  trial_wall_s: number;
  /** Sum of the tokens trained on over the trials. */
  tokens: number;
  /** Training FLOPs, forward + backward: the sum over trials of 6 x n_params x tokens. */
  train_flops: number;
}

const REPO = new URL("../../", import.meta.url).pathname;

async function git(args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args: ["-C", REPO, ...args],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

async function readJSON(path: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return null;
  }
}

async function cpuModel(): Promise<string> {
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    return /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Collects the provenance of a sweep directory's results (reads each
 * trial's result.json for backend, tokens and parameter count).
 *
 * @example
 * ```ts
 * const p = await collectProvenance("runs/quickstart", await loadResults("runs/quickstart"));
 * console.log(p.git_commit, p.git_dirty, p.trial_wall_s);
 * ```
 */
export async function collectProvenance(dir: string, table: ColumnTable): Promise<Provenance> {
  const [commit, status] = await Promise.all([git(["rev-parse", "HEAD"]), git(["status", "--porcelain"])]);
  const denoJson = await readJSON(join(REPO, "deno.json"));
  const imports = (denoJson?.imports ?? {}) as Record<string, string>;
  const tfjs = /@([\d.]+[^@]*)$/.exec(imports["@tensorflow/tfjs"] ?? "")?.[1] ?? "unknown";
  const names = table.columnNames();
  const wall = names.includes("wall_s")
    ? (table.array("wall_s") as unknown[]).reduce(
      (a: number, v) => a + (typeof v === "number" && v > 0 ? v : 0),
      0,
    )
    : NaN;
  const backends: Record<string, number> = {};
  let tokens = 0, flops = 0;
  if (names.includes("trial_dir")) {
    const results = await Promise.all(
      (table.array("trial_dir") as unknown[]).map((d) => readJSON(join(dir, String(d), "result.json"))),
    );
    for (const r of results) {
      if (!r) continue;
      const b = typeof r.backend === "string" ? r.backend : "unknown";
      backends[b] = (backends[b] ?? 0) + 1;
      const t = typeof r.tokens === "number" ? r.tokens : 0,
        n = typeof r.n_params === "number" ? r.n_params : 0;
      tokens += t;
      flops += 6 * n * t;
    }
  }
  const out: Provenance = {
    date: new Date().toISOString(),
    git_commit: commit ?? "unknown (not a git checkout)",
    git_dirty: status === null ? null : status.length > 0,
    dmodel_version: typeof denoJson?.version === "string" ? denoJson.version : "unversioned",
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    tfjs,
    backends,
    cpu_model: await cpuModel(),
    cpu_cores: navigator.hardwareConcurrency ?? 0,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    trial_wall_s: wall,
    tokens,
    train_flops: flops,
  };
  try {
    const times = (await Deno.readTextFile(join(dir, "events.jsonl"))).split("\n").filter(Boolean)
      .map((l) => {
        try {
          return String(JSON.parse(l).time ?? "");
        } catch {
          return "";
        }
      }).filter(Boolean).sort();
    if (times.length) [out.trials_from, out.trials_to] = [times[0], times[times.length - 1]];
  } catch { /* no events.jsonl: a hand-made results table */ }
  return out;
}
