/**
 * What the executors share: the command line of one trial worker
 * (`tasks/trial.ts`, the entry point that registers the components and runs
 * one planned trial of a sweep), and the sandbox it runs in.
 *
 * A trial gets only what training needs (docs/sweeps.md, "Trust model"):
 *   read   the checkout (code, node_modules, the native kernels), the data
 *          cache, the corpus files it names, its sweep directory, and the
 *          folders of the pipeline's plugins;
 *   write  its own trial directory and the sweep's events.jsonl (one line when it finishes);
 *   ffi    unscoped: the native kernels and OpenBLAS need Deno.UnsafePointer, which Deno
 *          (2.9) allows only with --allow-ffi for every library (denoland/deno#15511), so a
 *          path list would switch the kernels off; only dmodel's and the plugins' code (never
 *          a pipeline's data) can call it;
 *   env    the variables dmodel reads (TRIAL_ENV), by name;
 *   sys    the host name (the native kernels' build key names the machine);
 *   no network, no subprocesses.
 */
import { dirname, resolve as resolvePath } from "node:path";
import { DmodelError } from "../../engine/core/errors.ts";
import { readJSON } from "../../engine/core/fs.ts";
import { flagPathProblem } from "../../engine/core/paths.ts";
import { has } from "../../engine/core/registry.ts";
import { nativeCacheDir } from "../../engine/kernels/native.ts";
import type { PlannedTrial } from "../../engine/sweep/grid.ts";

/**
 * The environment variables a trial may read: every one that engine/ and components/ read in a trial
 * (tests/hostile.test.ts checks the list against the code).
 */
export const TRIAL_ENV = [
  "CI",
  "DMODEL_BLAS_ADAPTIVE",
  "DMODEL_KERNEL_THREADS",
  "DMODEL_NATIVE",
  "DMODEL_NATIVE_DIR",
  "DMODEL_THREADS",
  "DMODEL_WEBGPU_FUSED",
  "DMODEL_WEBGPU_LOSE_DEVICE_AT",
  "OPENBLAS_THREAD_TIMEOUT",
] as const;

/** A trial process's Deno permissions, as lists of paths and names. */
export interface TrialPermissions {
  read: string[];
  write: string[];
  /** Always unscoped (see above): true. */
  ffi: true;
  env: string[];
  sys: string[];
}

/** The checkout's root (absolute). */
export const REPO_ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * What every trial of the sweep in `dir` may read and query; `write` is
 * filled per trial (trialWrites). Plugin folders come from `<dir>/plugins.json`
 * (absolute paths, written with the plan) when there is one.
 */
export async function sweepPermissions(dir: string, trials: PlannedTrial[]): Promise<TrialPermissions> {
  const abs = resolvePath(dir);
  const corpora = new Set<string>();
  for (const t of trials) {
    const c = t.config.data.corpus;
    if (!has("dataset", c)) corpora.add(resolvePath(c));
  }
  const plugins = (await readJSON<string[]>(`${abs}/plugins.json`).catch(() => null)) ?? [];
  const read = [REPO_ROOT, resolvePath("data/cache"), abs, ...corpora, ...plugins.map((p) => dirname(p))];
  const native = nativeCacheDir();
  if (!native.startsWith(`${REPO_ROOT}/`)) read.push(native);
  return { read: unique(read), write: [], ffi: true, env: [...TRIAL_ENV], sys: ["hostname"] };
}

/** What one trial may write: its own directory and the sweep's events.jsonl. */
export function trialWrites(dir: string, trialDir: string): string[] {
  const abs = resolvePath(dir);
  return [`${abs}/${trialDir}`, `${abs}/events.jsonl`];
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

/**
 * The permission flags; a path Deno cannot carry in a flag (a comma: it splits
 * the list, with no escape) is a one-line error, not a trial that fails later.
 */
export function permissionFlags(p: TrialPermissions): string[] {
  const flag = (name: string, xs: string[]) => {
    for (const x of xs) {
      const problem = flagPathProblem(x);
      if (problem) throw new DmodelError(`trial permissions: --allow-${name} path ${x}: ${problem}`);
    }
    return xs.length ? [`--allow-${name}=${xs.join(",")}`] : [];
  };
  return [
    ...flag("read", p.read),
    ...flag("write", p.write),
    "--allow-ffi",
    ...flag("env", p.env),
    ...flag("sys", p.sys),
  ];
}

/** The command that runs trial `index` of the sweep in `dir` with permissions `p` (any scheduler can use it). */
export function trialCommand(
  dir: string,
  index: number,
  p: TrialPermissions,
  extra: string[] = [],
): string[] {
  const task = `${REPO_ROOT}/tasks/trial.ts`;
  return ["run", ...permissionFlags(p), "--no-prompt", task, dir, "--index", String(index), ...extra];
}
