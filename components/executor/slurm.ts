/**
 * The Slurm executor: the unfinished trials of a sweep become one array job
 * whose array index is the trial index (`#SBATCH --array=1,4,7%8`), each task
 * running `tasks/trial.ts <sweep-dir> --index $SLURM_ARRAY_TASK_ID` with this
 * Deno and this checkout (both, and the runs directory, must be on a
 * filesystem the compute nodes share). The script is written to
 * `<sweep>/slurm/array.sbatch`, every submission is appended to
 * `<sweep>/slurm/jobs.json`, task logs go to `<sweep>/slurm/<job>_<index>.out`.
 *
 * After `sbatch` it follows the job (unless detached): polls the trials'
 * result.json files and `squeue` until no task is pending or running. A task
 * that ended without a result.json (time limit, node failure, scancel, a
 * crash) is marked failed naming its log and Slurm state; when Slurm killed
 * it, the result carries `requeue: true` and the next `deno task sweep`
 * resubmits the trial, which resumes from its checkpoint. A re-run while the
 * last job is still queued follows that job instead of submitting again.
 */
import { z } from "zod";
import { resolve as resolvePath } from "node:path";
import { DmodelError } from "../../engine/core/errors.ts";
import { readJSON, writeFileAtomic } from "../../engine/core/fs.ts";
import { register } from "../../engine/core/registry.ts";
import { FailureStreak, pointAtLog, writeLostResult } from "./failures.ts";
import { crashCause, outsideFault } from "../../engine/train/faults.ts";
import type { Executor, ExecutorContext } from "../../engine/sweep/executor.ts";
import { sweepPermissions, trialCommand, type TrialPermissions } from "./command.ts";
import { checkTrialDir } from "../../engine/core/paths.ts";

/** Stands for the task's own trial directory until the script names it from $SLURM_ARRAY_TASK_ID. */
const WRITE_PLACEHOLDER = "/TRIAL_DIR";
import type { PlannedTrial } from "../../engine/sweep/grid.ts";

const SlurmSchema = z.object({
  /** `--partition`; the cluster's default partition when absent. */
  partition: z.string().min(1).optional(),
  /** `--time` per trial: [D-]HH:MM:SS. */
  time: z.string().regex(/^(\d+-)?\d{1,2}:\d{2}:\d{2}$/, "a time limit like 01:00:00 or 1-12:00:00")
    .default("01:00:00"),
  /** `--cpus-per-task`; also the trial's BLAS threads (DMODEL_THREADS). */
  cpus_per_task: z.number().int().positive().default(1),
  /** `--mem` per trial, e.g. "4G". */
  mem: z.string().regex(/^\d+[KMGT]?$/, 'a memory size like "4G" or "500M"').optional(),
  /** At most this many array tasks run at once (`--array=...%max_parallel`). */
  max_parallel: z.number().int().positive().default(8),
  /**
   * More sbatch options, passed on its command line (e.g. ["--account=abc", "--qos=short"]); options that
   * send the job's output or working directory elsewhere than the sweep directory are refused.
   */
  sbatch_args: z.array(z.string()).default([]).superRefine((args, ctx) => {
    args.forEach((a, i) => {
      const opt = redirecting(a);
      if (opt) {
        ctx.addIssue({
          code: "custom",
          message: `${opt} would send the job's files outside the sweep directory (task logs go to ` +
            `<sweep>/slurm/); refused`,
          path: [i],
          input: a,
        });
      }
    });
  }),
  /**
   * A custom batch script with {{sbatch}} (the #SBATCH lines) and {{command}} (the trial command).
   * It is code by design: its shell lines run on the cluster as they are, like a plugin's TypeScript.
   */
  template: z.string().min(1).optional(),
  /** Seconds between polls of squeue and the trial files while following. */
  poll_seconds: z.number().positive().default(5),
}).strict();

/**
 * The sbatch option in `arg` that redirects the job's output, error, input or
 * working directory (`--output=...`, `-o`, `-e/path`, `--chdir`, `-D`, ...), or null.
 */
export function redirecting(arg: string): string | null {
  const long = arg.match(/^--(output|error|input|chdir)(=|$)/);
  if (long) return `--${long[1]}`;
  const short = arg.match(/^-([oeiD])/);
  return short ? `-${short[1]}` : null;
}

/** The slurm executor's options. */
export type SlurmOptions = z.infer<typeof SlurmSchema>;

/** One submission, as recorded in slurm/jobs.json. */
export interface SlurmJob {
  job_id: string;
  /** --job-name, checked when following (a job id alone may be reused by a reinstalled cluster). */
  job_name: string;
  submitted: string;
  /** Trial indices (= array indices) of the job. */
  indices: number[];
  /** The --array value. */
  array: string;
  script: string;
}

/** Slurm states in which a task is still queued or running. */
const ACTIVE = new Set([
  "PENDING",
  "CONFIGURING",
  "RUNNING",
  "COMPLETING",
  "SUSPENDED",
  "REQUEUED",
  "REQUEUE_FED",
  "REQUEUE_HOLD",
  "RESIZING",
  "SIGNALING",
  "STAGE_OUT",
  "STOPPED",
]);
/** End states in which Slurm (not the trial) stopped a task: the trial is worth resuming. */
const KILLED = new Set([
  "CANCELLED",
  "TIMEOUT",
  "NODE_FAIL",
  "PREEMPTED",
  "BOOT_FAIL",
  "DEADLINE",
  "OUT_OF_MEMORY",
]);

/** `1,2,3,5,7,8` -> `1-3,5,7-8` (sorted, unique). */
export function arraySpec(indices: number[]): string {
  const s = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    parts.push(j > i ? `${s[i]}-${s[j]}` : `${s[i]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** The indices of an --array value: `0-2,5,8-12:2%4` -> [0, 1, 2, 5, 8, 10, 12]. */
export function parseArraySpec(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.replace(/%\d+$/, "").split(",")) {
    const m = part.match(/^(\d+)(?:-(\d+)(?::(\d+))?)?$/);
    if (!m) continue;
    const [lo, hi, step] = [Number(m[1]), Number(m[2] ?? m[1]), Number(m[3] ?? 1)];
    for (let i = lo; i <= hi; i += step) out.push(i);
  }
  return out;
}

/** Quotes a word for bash. */
function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a Slurm client command; null when it is not installed. */
async function slurmCmd(cmd: string, args: string[]): Promise<CmdResult | null> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" }).output();
    const dec = new TextDecoder();
    return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function firstLine(s: string): string {
  return s.trim().split("\n")[0] ?? "";
}

/**
 * The states of a job's array tasks from `squeue -j ID -r`: index -> state,
 * empty when none is queued any more (or the job is not named `name`); null
 * when squeue is missing; throws on any other squeue error.
 */
export async function queueStates(jobId: string, name?: string): Promise<Map<number, string> | null> {
  const r = await slurmCmd("squeue", ["-j", jobId, "-h", "-r", "-o", "%i %T %j"]);
  if (!r) return null;
  const out = new Map<number, string>();
  if (r.code !== 0) {
    // A job purged from the controller's memory is "Invalid job id": it is long finished.
    if (/invalid job id/i.test(r.stderr)) return out;
    throw new Error(`squeue -j ${jobId}: ${firstLine(r.stderr) || `exit code ${r.code}`}`);
  }
  for (const line of r.stdout.trim().split("\n")) {
    const m = line.trim().match(/^(\d+)_(\d+)\s+(\S+)\s?(.*)$/);
    if (m && m[1] === jobId && (name === undefined || m[4] === name)) out.set(Number(m[2]), m[3]);
  }
  return out;
}

/** End states of a job's array tasks: from sacct when accounting is on, else from scontrol (recent jobs). */
export async function finalStates(jobId: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const acct = await slurmCmd("sacct", ["-j", jobId, "-n", "-P", "-X", "-o", "JobID,State"]);
  if (acct?.code === 0) {
    for (const line of acct.stdout.trim().split("\n")) {
      const m = line.match(/^(\d+)_(\d+)\|(.+)$/);
      if (m && m[1] === jobId) out.set(Number(m[2]), m[3].trim());
    }
    if (out.size) return out;
  }
  const ctl = await slurmCmd("scontrol", ["-o", "show", "job", jobId]);
  if (ctl?.code === 0) {
    for (const line of ctl.stdout.trim().split("\n")) {
      // One record per task that ran; the tasks still pending when it ended share one ("ArrayTaskId=2-3,5%1").
      const idx = line.match(/\bArrayTaskId=(\S+)/)?.[1], st = line.match(/\bJobState=(\S+)/)?.[1];
      const reason = line.match(/\bReason=(\S+)/)?.[1];
      if (!idx || !st) continue;
      for (const i of parseArraySpec(idx)) {
        out.set(i, st + (reason && reason !== "None" ? ` (${reason})` : ""));
      }
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads slurm/jobs.json ([] when absent). */
export async function readJobs(dir: string): Promise<SlurmJob[]> {
  return (await readJSON<SlurmJob[]>(`${dir}/slurm/jobs.json`)) ?? [];
}

/** The array job's name: dmodel-<sweep directory name>. */
export function jobName(dir: string): string {
  return `dmodel-${dir.split("/").filter(Boolean).pop() ?? "sweep"}`.replace(/\s+/g, "_");
}

/**
 * The batch script running these trial indices of the sweep in `dir` (absolute), each task with the
 * permissions `perms` (./command.ts) and write access to its own trial directory, read from line
 * index+1 of `<dir>/slurm/trial_dirs` (written by `submit`).
 */
export async function slurmScript(
  dir: string,
  indices: number[],
  o: SlurmOptions,
  perms?: TrialPermissions,
): Promise<string> {
  const directives = [
    `#SBATCH --job-name=${sh(jobName(dir))}`,
    `#SBATCH --array=${arraySpec(indices)}%${o.max_parallel}`,
    `#SBATCH --output=${sh(`${dir}/slurm/%A_%a.out`)}`,
    `#SBATCH --ntasks=1`,
    `#SBATCH --cpus-per-task=${o.cpus_per_task}`,
    `#SBATCH --time=${o.time}`,
    ...(o.mem ? [`#SBATCH --mem=${o.mem}`] : []),
    ...(o.partition ? [`#SBATCH --partition=${sh(o.partition)}`] : []),
  ].join("\n");
  // The array index is the trial index; trialCommand's placeholder index is swapped for it, and its
  // placeholder write permission for the task's own trial directory.
  const p = perms ?? await sweepPermissions(dir, []);
  const args = trialCommand(dir, 0, { ...p, write: [WRITE_PLACEHOLDER] }).map(sh);
  args[args.length - 1] = `"$SLURM_ARRAY_TASK_ID"`;
  const w = args.indexOf(sh(`--allow-write=${WRITE_PLACEHOLDER}`));
  args[w] = `"--allow-write=$SWEEP_DIR/$TRIAL_DIR,$SWEEP_DIR/events.jsonl"`;
  const command = [
    `cd ${sh(Deno.cwd())}`, // relative paths in the trial configs (data/cache) resolve as in the sweep
    `export DMODEL_THREADS="\${SLURM_CPUS_PER_TASK:-1}"`,
    `SWEEP_DIR=${sh(dir)}`,
    `TRIAL_DIR="$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$SWEEP_DIR/slurm/trial_dirs")"`,
    `[ -n "$TRIAL_DIR" ] || { echo "no trial $SLURM_ARRAY_TASK_ID in $SWEEP_DIR/slurm/trial_dirs" >&2; exit 1; }`,
    `exec ${sh(Deno.execPath())} ${args.join(" ")}`,
  ].join("\n");
  const vars: Record<string, string> = {
    sbatch: directives,
    command,
    sweep_dir: dir,
    cwd: Deno.cwd(),
    deno: Deno.execPath(),
    repo: new URL("../..", import.meta.url).pathname.replace(/\/$/, ""),
  };
  if (o.template) {
    let text: string;
    try {
      text = await Deno.readTextFile(o.template);
    } catch (e) {
      throw new DmodelError(`executor slurm: template ${o.template}: ${(e as Error).message}`);
    }
    for (const key of ["sbatch", "command"]) {
      if (!text.includes(`{{${key}}}`)) {
        throw new DmodelError(`executor slurm: template ${o.template} lacks {{${key}}}`);
      }
    }
    return text.replace(/\{\{(\w+)\}\}/g, (m, key) => {
      if (!(key in vars)) {
        throw new DmodelError(
          `executor slurm: template ${o.template}: unknown placeholder ${m} (known: ${
            Object.keys(vars).join(", ")
          })`,
        );
      }
      return vars[key];
    });
  }
  return `#!/bin/bash
# dmodel sweep ${dir}: one array task per unfinished trial; the array index is the trial index.
${directives}
set -eu
${command}
`;
}

/** Writes the script, submits it, appends the job to jobs.json. */
async function submit(
  dir: string,
  trials: PlannedTrial[],
  indices: number[],
  o: SlurmOptions,
  log: (l: string) => void,
): Promise<SlurmJob> {
  if (o.template) {
    log(
      `slurm: template ${o.template} runs as the job's shell script (code by design, trusted like a plugin)`,
    );
  }
  await Deno.mkdir(`${dir}/slurm`, { recursive: true });
  const script = `${dir}/slurm/array.sbatch`;
  // Line i+1 names trial i's directory: each task may write there only.
  await writeFileAtomic(`${dir}/slurm/trial_dirs`, trials.map((t) => `${t.dir}\n`).join(""));
  await writeFileAtomic(script, await slurmScript(dir, indices, o, await sweepPermissions(dir, trials)));
  await Deno.chmod(script, 0o755);
  const r = await slurmCmd("sbatch", ["--parsable", ...o.sbatch_args, script]);
  if (!r) {
    throw new DmodelError(
      "executor slurm: sbatch not found on PATH: Slurm is not installed or not reachable here " +
        "(run the sweep on a cluster login node, or use --executor local)",
    );
  }
  const jobId = r.stdout.trim().split(";")[0];
  if (r.code !== 0 || !/^\d+$/.test(jobId)) {
    throw new DmodelError(
      `executor slurm: sbatch ${script} failed: ${firstLine(r.stderr) || `exit code ${r.code}`}`,
    );
  }
  const job: SlurmJob = {
    job_id: jobId,
    job_name: jobName(dir),
    submitted: new Date().toISOString(),
    indices: [...indices].sort((a, b) => a - b),
    array: `${arraySpec(indices)}%${o.max_parallel}`,
    script,
  };
  await writeFileAtomic(`${dir}/slurm/jobs.json`, JSON.stringify([...await readJobs(dir), job], null, 1));
  log(
    `slurm: submitted job ${jobId}: ${indices.length} trial(s), --array=${job.array}; logs in ${dir}/slurm/`,
  );
  return job;
}

/** The last row of a trial's metrics.csv, for the live progress lines. */
async function lastMetrics(
  path: string,
): Promise<{ step: number; loss: number; tokens_per_s: number } | null> {
  const text = await Deno.readTextFile(path).catch(() => "");
  const rows = text.trim().split("\n").slice(1).map((r) => r.split(",")).filter((r) => r.length === 6);
  const last = rows.at(-1);
  if (!last) return null;
  const [step, loss, , , tokens, elapsed] = last.map(Number);
  return { step, loss, tokens_per_s: elapsed > 0 ? tokens / elapsed : 0 };
}

/** Writes the failed result of a trial whose array task ended without one. */
async function markLost(
  dir: string,
  t: PlannedTrial,
  jobId: string,
  state: string | undefined,
): Promise<void> {
  const log = `${dir}/slurm/${jobId}_${t.index}.out`;
  let tail = "";
  try {
    tail = crashCause(await Deno.readTextFile(log)); // the error line, not the stack frame after it
  } catch { /* the task never started */ }
  const base = state?.split(/[\s(]/)[0];
  const how = state ? `in state ${state}` : "(state unknown)";
  await Deno.mkdir(`${dir}/${t.dir}`, { recursive: true }); // a task cancelled while pending never made it
  // Killed by Slurm or stopped by an outside fault (a full disk), not by its own error: the next
  // `deno task sweep` resubmits it (it resumes).
  await writeLostResult(
    `${dir}/${t.dir}`,
    `Slurm task ${jobId}_${t.index} ended ${how} without a result${tail ? `: ${tail}` : ""}; log: ${log}`,
    !base || KILLED.has(base) || outsideFault(tail) !== null,
  );
}

/** Follows jobs until none of their tasks is queued; reports trials as their result.json appears. */
async function follow(ctx: ExecutorContext, jobs: SlurmJob[], o: SlurmOptions): Promise<void> {
  const jobOf = new Map<number, string>();
  for (const j of jobs) for (const i of j.indices) jobOf.set(i, j.job_id);
  const f: Following = {
    ctx,
    byIndex: new Map(ctx.trials.map((t) => [t.index, t])),
    jobOf,
    waiting: new Map(ctx.todo.filter((t) => jobOf.has(t.index)).map((t) => [t.index, t])),
    active: new Set(jobs.map((j) => j.job_id)),
    names: new Map(jobs.map((j) => [j.job_id, j.job_name])),
    streak: new FailureStreak(ctx.maxFailures),
    running: new Set(),
    squeueErrors: 0,
  };
  while (f.active.size) {
    if (ctx.signal.aborted) return; // Ctrl-C stops following, not the job
    // The queue first, then the files: a task that left the queue has written its result by now.
    await pollQueue(f);
    await scanResults(f);
    ctx.progress.render();
    if (f.active.size) await sleep(o.poll_seconds * 1000);
  }
  // A shared filesystem may show a file a moment late: look twice more before calling a trial lost.
  for (let k = 0; k < 2 && f.waiting.size; k++) {
    await sleep(Math.min(2000, o.poll_seconds * 1000));
    await scanResults(f);
  }
  const states = new Map<string, Map<number, string>>();
  for (const [i, t] of f.waiting) {
    const id = jobOf.get(i)!;
    if (!states.has(id)) states.set(id, await finalStates(id));
    await markLost(ctx.dir, t, id, states.get(id)!.get(i));
    f.waiting.delete(i);
    ctx.progress.workers.delete(i);
    await ctx.onFinished(t);
  }
}

/** What following the submitted jobs keeps between polls. */
interface Following {
  ctx: ExecutorContext;
  byIndex: Map<number, PlannedTrial>;
  /** The job of each array index. */
  jobOf: Map<number, string>;
  /** Submitted trials not yet reported, by array index. */
  waiting: Map<number, PlannedTrial>;
  /** Jobs with a task still queued or running. */
  active: Set<string>;
  names: Map<string, string>;
  streak: FailureStreak;
  /**
   * Tasks squeue last showed RUNNING: one that wrote its result.json is still appending its events.jsonl
   * line, so it is reported at the next poll (else both would record the finish).
   */
  running: Set<number>;
  /** squeue failures in a row (12 stop the following). */
  squeueErrors: number;
}

/** One squeue pass over the active jobs: which tasks run (with their progress), which jobs are done. */
async function pollQueue(f: Following): Promise<void> {
  const { ctx } = f;
  f.running.clear();
  for (const id of [...f.active]) {
    let states: Map<number, string> | null;
    try {
      states = await queueStates(id, f.names.get(id));
      f.squeueErrors = 0;
    } catch (e) {
      const msg = (e as Error).message;
      if (++f.squeueErrors >= 12) {
        throw new DmodelError(
          `executor slurm: ${msg}; job ${id} may still run: re-run the sweep to follow it again`,
        );
      }
      continue;
    }
    if (states === null) {
      throw new DmodelError("executor slurm: squeue not found on PATH; cannot follow the job");
    }
    if (![...states.values()].some((s) => ACTIVE.has(s.split(/[\s+]/)[0]))) f.active.delete(id);
    for (const [i, s] of states) {
      if (s === "RUNNING") f.running.add(i);
      const t = f.byIndex.get(i);
      if (!t || s !== "RUNNING" || !f.waiting.has(i)) continue;
      const m = await lastMetrics(`${ctx.dir}/${t.dir}/metrics.csv`);
      ctx.progress.workers.set(i, {
        trial: t.dir,
        step: m?.step ?? 0,
        steps: t.config.train.steps,
        loss: m?.loss ?? NaN,
        tokens_per_s: m?.tokens_per_s ?? 0,
      });
    }
  }
}

/**
 * Reports the waiting trials whose result.json has appeared (not those squeue still shows running);
 * max_failures consecutive failures cancel the jobs and stop the sweep.
 */
async function scanResults(f: Following): Promise<void> {
  const { ctx } = f;
  for (const [i, t] of f.waiting) {
    if (f.running.has(i)) continue;
    const result = await readJSON<{ status: string; error?: string | null }>(
      `${ctx.dir}/${t.dir}/result.json`,
    )
      .catch(() => null);
    if (!result) continue;
    f.waiting.delete(i);
    ctx.progress.workers.delete(i);
    // A failed trial that caught its own exception: its error points at the task log too.
    await pointAtLog(`${ctx.dir}/${t.dir}`, result, `${ctx.dir}/slurm/${f.jobOf.get(i)}_${i}.out`);
    if (f.streak.finished(result.status)) {
      for (const id of f.active) await slurmCmd("scancel", [id]);
      await ctx.onFinished(t);
      throw new DmodelError(
        f.streak.stopMessage(t, result.error, `cancelled Slurm job(s) ${[...f.active].join(", ")}`),
      );
    }
    await ctx.onFinished(t);
  }
}

/** The slurm executor. */
export function slurmExecutor(o: SlurmOptions): Executor {
  return {
    async run(ctx) {
      const dir = resolvePath(ctx.dir);
      const c: ExecutorContext = { ...ctx, dir };
      // The last submission may still be queued (a detached sweep, or one whose follower was stopped).
      const last = (await readJobs(dir)).at(-1);
      const jobs: SlurmJob[] = [];
      if (last) {
        let states: Map<number, string> | null = null;
        try {
          states = await queueStates(last.job_id, last.job_name);
        } catch (e) {
          const msg = (e as Error).message;
          throw new DmodelError(
            `executor slurm: ${msg} (checking job ${last.job_id} from ${dir}/slurm/jobs.json)`,
          );
        }
        if (states && [...states.values()].some((s) => ACTIVE.has(s))) {
          ctx.log(`slurm: job ${last.job_id} (submitted ${last.submitted}) is still queued: following it`);
          jobs.push(last);
        }
      }
      const covered = new Set(jobs.flatMap((j) => j.indices));
      const rest = c.todo.filter((t) => !covered.has(t.index)).map((t) => t.index);
      if (rest.length) {
        for (const t of c.todo) checkTrialDir(dir, t.dir); // a link in the sweep is refused before submitting
        jobs.push(await submit(dir, c.trials, rest, o, ctx.log));
      }
      if (!jobs.length) return {};
      if (ctx.detach) {
        ctx.log(
          `slurm: detached; \`deno task sweep ... --status\` shows progress, re-running the sweep follows the job ` +
            `(scancel ${jobs.map((j) => j.job_id).join(" ")} stops it)`,
        );
        return { detached: true };
      }
      ctx.log(
        `slurm: following job(s) ${
          jobs.map((j) => j.job_id).join(", ")
        } (Ctrl-C stops following, not the job)`,
      );
      await follow(c, jobs, o);
      return {};
    },
    async status(dir) {
      const last = (await readJobs(resolvePath(dir))).at(-1);
      if (!last) return [];
      const head = `slurm job ${last.job_id} (submitted ${last.submitted}, ${last.indices.length} trial(s))`;
      let states: Map<number, string> | null;
      try {
        states = await queueStates(last.job_id, last.job_name);
      } catch (e) {
        return [`${head}: ${(e as Error).message}`];
      }
      if (states === null) return [`${head}: squeue not available here`];
      if (!states.size) return [`${head}: no longer queued`];
      const counts = new Map<string, number>();
      for (const s of states.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
      return [`${head}: ${[...counts].map(([s, n]) => `${n} ${s.toLowerCase()}`).join(", ")}`];
    },
  };
}

register("executor", "slurm", {
  describe: "a Slurm array job, one task per unfinished trial (runs dir on a shared filesystem)",
  schema: SlurmSchema,
  create: (o: SlurmOptions) => slurmExecutor(o),
});
