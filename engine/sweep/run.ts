/**
 * Running a sweep: plan the trials, take the directory lock, build the data
 * once, hand the unfinished trials to the executor, and keep results.csv /
 * results.arrow current as trials finish. Re-running skips finished trials
 * and resumes partial ones from their checkpoints.
 */
import { loadNative } from "../kernels/native.ts";
import YAML from "yaml";
import { parseDataConfig, prepareData } from "../data/prepare.ts";
import { canonicalJSON } from "../core/config.ts";
import { describeTrial } from "../nn/describe.ts";
import { DmodelError, Interrupted } from "../core/errors.ts";
import { outsideFault } from "../train/faults.ts";
import { exists, writeFileAtomic } from "../core/fs.ts";
import { build } from "../core/registry.ts";
import type { Executor } from "./executor.ts"; // also declares the executor product of build()
import { type PlannedTrial, runOrder, trialCost } from "./grid.ts";
import { acquireLock, releaseSync } from "./lock.ts";
import { reuseTrials } from "./archive.ts";
import {
  adoptExistingDirs,
  finishRecorded,
  readPlan,
  recordFinished,
  summarize,
  summaryLine,
  type SweepSummary,
  trialState,
  writePlan,
} from "./plan.ts";
import { Progress } from "./progress.ts";
import { writeResults } from "./results.ts";

/** Options of one sweep run. */
export interface SweepRunOptions {
  /** The sweep directory (holds trials.json, results.csv and one directory per trial). */
  dir: string;
  /** The planned trials (ignored when `replan` is given). */
  trials: PlannedTrial[];
  /** Trials run in parallel. */
  workers: number;
  /** `{name, ...options}` of the registered executor that runs the trials (e.g. local, slurm). */
  executor: { name: string; [k: string]: unknown };
  /** Stop the sweep after this many consecutive failed trials. */
  maxFailures: number;
  /**
   * Adaptive sweeps (lr_search): the trials planned so far, from the finished results; called before
   * each wave, the sweep ends when it leaves nothing to run. `trials` is ignored then.
   */
  replan?: (dir: string) => Promise<PlannedTrial[]>;
  /** Delete earlier trial results first. */
  fresh?: boolean;
  /** Run failed trials again (from their checkpoints where they have one). */
  retryFailed?: boolean;
  /** Other sweep directories whose finished trials with the same resolved config are copied in, not run. */
  reuse?: string[];
  /** Return once the executor has submitted the trials (schedulers such as slurm), without waiting. */
  detach?: boolean;
  /** The resolved pipeline, saved beside the results for the report. */
  pipeline?: unknown;
  /** The pipeline's plugin modules (absolute paths): saved with the plan, every trial process imports them. */
  plugins?: string[];
  /** Receives progress lines and notices. */
  log: (line: string) => void;
}

/**
 * One notice per rule and factor when a rule scales the LR of some trials by
 * itself (nuGPT's m_data^(-1/3) horizon correction when train.steps differs
 * from base_steps): the trials' logs say it per trial, this says it once.
 */
export function lrFactorNotices(trials: PlannedTrial[]): string[] {
  const groups = new Map<string, { n: number; steps: Set<number> }>();
  for (const t of trials) {
    const m = describeTrial(t.config, 256).model; // the LR factor does not depend on the vocabulary
    if (Math.abs(m.lr_factor - 1) < 1e-12) continue;
    const key = `${m.parameterization} multiplies the learning rate by ${+m.lr_factor.toPrecision(3)}`;
    const g = groups.get(key) ?? { n: 0, steps: new Set() };
    g.n++, g.steps.add(m.base_steps);
    groups.set(key, g);
  }
  return [...groups].map(([key, g]) =>
    `notice: in ${g.n} of ${trials.length} trials parameterization ${key} (its token-horizon correction: ` +
    `train.steps differs from base_steps ${[...g.steps].join(", ")})`
  );
}

/** Runs (or resumes) a sweep; returns the summary from the files at the end. */
export async function runSweep(o: SweepRunOptions): Promise<SweepSummary & { detached?: boolean }> {
  await Deno.mkdir(o.dir, { recursive: true });
  const release = await acquireLock(o.dir, o.log);
  const signals = catchSignals(o.dir);
  try {
    if (o.fresh && (await exists(`${o.dir}/trials.json`))) await removeResults(o.dir);
    if (o.pipeline) await writeFileAtomic(`${o.dir}/pipeline.yaml`, YAML.stringify(o.pipeline));
    const executor = build("executor", o.executor, ["executor"]);
    const built = new Set<string>();
    let trials = o.trials, detached: boolean | undefined, wave = 0;
    // A dense sweep is one wave; an adaptive one (replan) runs waves until its plan has nothing left to run.
    for (;;) {
      if (o.replan) trials = await o.replan(o.dir);
      wave++;
      await adoptExistingDirs(o.dir, trials);
      await writePlan(o.dir, trials, o.plugins);
      await buildInputs(o, trials, built, wave, signals.check);
      const todo = await trialsToRun(o, trials, wave);
      const before = await summarize(o.dir, trials);
      await writeResults(o.dir, trials);
      if (o.replan && !todo.length) break; // the search is over
      o.log(
        `sweep ${o.dir}: ${
          o.replan ? `wave ${wave}: ` : ""
        }${trials.length} trials, ${before.done} already done, ` +
          `${todo.length} to run, ${o.workers} worker(s), executor ${o.executor.name}`,
      );
      if (wave === 1) { for (const line of lrFactorNotices(trials)) o.log(line); }
      detached = await runWave(o, executor, trials, todo, before.done, signals.abort.signal);
      signals.check();
      if (!o.replan || detached) break;
    }
    const after = await summarize(o.dir, trials);
    o.log(`sweep ${o.dir}: ${summaryLine(after)}`);
    return { ...after, detached };
  } catch (e) {
    throw outsideStop(o.dir, e);
  } finally {
    signals.remove();
    await release();
  }
}

/**
 * Ctrl-C / SIGTERM: stop the trials (each resumes from its checkpoint), release the lock, say so;
 * a second signal exits at once. `check` throws {@link Interrupted} once a signal came.
 */
function catchSignals(dir: string): { abort: AbortController; check: () => void; remove: () => void } {
  const abort = new AbortController();
  let caught: "SIGINT" | "SIGTERM" | null = null;
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => {
    const h = () => {
      if (caught) {
        releaseSync(dir);
        console.error("interrupted: run the same command again to resume");
        Deno.exit(sig === "SIGINT" ? 130 : 143);
      }
      caught = sig;
      abort.abort();
    };
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  return {
    abort,
    check: () => {
      if (caught) throw new Interrupted(caught);
    },
    remove: () => {
      for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
    },
  };
}

/** --fresh: deletes the planned trials' directories and the sweep's tables and logs. */
async function removeResults(dir: string): Promise<void> {
  for (const t of await readPlan(dir)) {
    await Deno.remove(`${dir}/${t.dir}`, { recursive: true }).catch(() => {});
  }
  for (const f of ["results.csv", "results.arrow", "events.jsonl", "search.json"]) {
    await Deno.remove(`${dir}/${f}`).catch(() => {});
  }
}

/**
 * Builds each distinct data config once, here, so workers only read the cache; and in the first
 * wave the native kernels (engine/kernels/native.ts): trial processes may not run a compiler.
 */
async function buildInputs(
  o: SweepRunOptions,
  trials: PlannedTrial[],
  built: Set<string>,
  wave: number,
  check: () => void,
): Promise<void> {
  for (const t of trials) {
    const key = canonicalJSON({ ...t.config.data, seq_len: 0 });
    if (built.has(key)) continue;
    built.add(key);
    await prepareData(parseDataConfig(t.config.data), { log: o.log });
    check();
  }
  if (wave === 1) await loadNative({ build: true });
  check();
}

/**
 * The trials of this wave to run, in run order: the unfinished ones; those stopped from outside
 * (killed, the scheduler, a full disk, a lost device) and, under --retry-failed, the failed ones,
 * whose result.json is removed so each resumes from its checkpoint; less those copied in from
 * `reuse` sweeps.
 */
async function trialsToRun(
  o: SweepRunOptions,
  trials: PlannedTrial[],
  wave: number,
): Promise<PlannedTrial[]> {
  let todo: PlannedTrial[] = [];
  const again = { requeued: [] as string[], retried: [] as string[], unreadable: [] as string[] };
  for (const t of trials) {
    const { state, result, unreadable } = await trialState(o.dir, t);
    const which = result?.requeue
      ? again.requeued
      : result?.status === "failed" && o.retryFailed && wave === 1
      ? again.retried
      : null;
    if (state === "done" && which) {
      await Deno.remove(`${o.dir}/${t.dir}/result.json`);
      which.push(t.dir);
      todo.push(t);
    } else if (state !== "done") todo.push(t);
    if (unreadable) again.unreadable.push(`${t.dir} (${unreadable})`);
  }
  const why = {
    requeued: "stopped from outside (killed, the scheduler, a full disk, a lost device)",
    retried: "that failed (--retry-failed)",
    unreadable: "whose result.json is unreadable",
  };
  for (const k of ["requeued", "retried", "unreadable"] as const) {
    if (!again[k].length) continue;
    o.log(`sweep ${o.dir}: running again ${again[k].length} trial(s) ${why[k]}: ${again[k].join(", ")}`);
  }
  if (o.reuse?.length && todo.length) todo = await withoutReused(o, todo);
  return todo.sort(runOrder);
}

/** `todo` less the trials copied in from the `reuse` sweeps (finished there with the same config). */
async function withoutReused(o: SweepRunOptions, todo: PlannedTrial[]): Promise<PlannedTrial[]> {
  const copied = new Set<string>();
  for (const c of await reuseTrials(o.reuse!, o.dir, todo)) {
    for (const id of c.ids) copied.add(id);
    if (c.reused || c.skipped) {
      o.log(
        `sweep ${o.dir}: reuse ${c.source}: ${
          c.skipped ?? `${c.reused} finished trial(s) with the same config copied in`
        }`,
      );
    }
  }
  return todo.filter((t) => !copied.has(t.id));
}

/**
 * Hands `todo` to the executor with a progress display, recording each trial as it finishes
 * and keeping results.csv current; returns whether the executor detached.
 */
async function runWave(
  o: SweepRunOptions,
  executor: Executor,
  trials: PlannedTrial[],
  todo: PlannedTrial[],
  done: number,
  signal: AbortSignal,
): Promise<boolean | undefined> {
  const progress = new Progress(trials.length, done, o.workers);
  progress.costLeft = todo.reduce((a, t) => a + trialCost(t.config), 0);
  progress.plan(todo.map((t) => ({ dir: t.dir, cost: trialCost(t.config), steps: t.config.train.steps })));
  const r = await executor.run({
    dir: o.dir,
    trials,
    todo,
    workers: o.workers,
    maxFailures: o.maxFailures,
    progress,
    log: (l) => progress.note(l),
    detach: Boolean(o.detach),
    signal,
    onFinished: async (t) => {
      const { result } = await trialState(o.dir, t);
      progress.finished(trialCost(t.config), result?.wall_s ?? 0, t.dir);
      if (result?.status === "diverged") progress.diverged++;
      if (result?.status === "failed") progress.failed++;
      const loss = result?.final_val_loss;
      progress.note(
        `${t.dir}: ${result?.status}${loss != null ? ` val ${loss.toFixed(4)}` : ""}` +
          (result?.status === "failed" ? ` (${result.error})` : ""),
      );
      // The trial process records its own finish; a trial that died without one is recorded here.
      if (result && !(await finishRecorded(o.dir, t.id, result.status))) {
        await recordFinished(o.dir, t, result.status);
      }
      await writeResults(o.dir, trials);
    },
  }).finally(() =>
    writeResults(o.dir, trials).catch((e) => o.log(`warning: ${o.dir}/results.csv not updated: ${e.message}`))
  );
  progress.render(true);
  return r.detached;
}

/**
 * A full disk (or another outside fault) while recording: one line saying what to do, nothing
 * finished is lost; any other error as it is.
 */
function outsideStop(dir: string, e: unknown): unknown {
  const fault = e instanceof DmodelError ? null : outsideFault(String((e as Error)?.message));
  if (!fault) return e;
  return new DmodelError(
    `sweep ${dir} stopped: ${fault} (${(e as Error).message}); make room and run the same command ` +
      "again: unfinished trials resume from their checkpoints",
  );
}
