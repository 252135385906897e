/**
 * The local executor: `workers` subprocesses, each trial in its own Deno
 * process with permissions limited to what a trial needs (./command.ts: write
 * its own directory, FFI for the kernels, no network), so that a crash or an
 * out-of-memory in one trial never takes down the sweep. Threads per worker:
 * cores / workers (DMODEL_THREADS), so workers x BLAS threads <= cores.
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Executor, ExecutorContext } from "../../engine/sweep/executor.ts";
import { sweepPermissions, trialCommand, type TrialPermissions, trialWrites } from "./command.ts";
import { checkTrialDir } from "../../engine/core/paths.ts";
import type { PlannedTrial } from "../../engine/sweep/grid.ts";
import { trialState } from "../../engine/sweep/plan.ts";
import { DmodelError } from "../../engine/core/errors.ts";
import { FailureStreak, pointAtLog, writeLostResult } from "./failures.ts";
import { crashCause, outsideFault, signalDeath } from "../../engine/train/faults.ts";

async function pump(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) onLine(buf);
}

/** How a trial process ended: exit code, signal, and where in trial.log this run's lines start. */
interface Ended {
  code: number;
  signal: string | null;
  logStart: number;
}

/** Runs one trial in a subprocess. Its stderr goes to <trial>/trial.log. */
async function runOne(
  ctx: ExecutorContext,
  t: PlannedTrial,
  worker: number,
  threads: number,
  perms: TrialPermissions,
): Promise<Ended> {
  const trialDir = `${ctx.dir}/${t.dir}`;
  checkTrialDir(ctx.dir, t.dir); // before we write into it too: a link there would lead our log elsewhere
  await Deno.mkdir(trialDir, { recursive: true });
  const logFile = await Deno.open(`${trialDir}/trial.log`, { create: true, append: true });
  const logStart = (await logFile.stat()).size;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: trialCommand(ctx.dir, t.index, { ...perms, write: trialWrites(ctx.dir, t.dir) }, [
      "--progress",
      "--exit-with-stdin",
    ]),
    env: { DMODEL_THREADS: String(threads) },
    stdin: "piped", // held open, never written: the child exits when we die
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  // Ctrl-C / SIGTERM of the sweep: stop this trial; it resumes from its checkpoint next time.
  const stop = () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  };
  ctx.signal.addEventListener("abort", stop);
  const steps = t.config.train.steps;
  ctx.progress.workers.set(worker, { trial: t.dir, step: 0, steps, loss: NaN, tokens_per_s: 0 });
  const out = pump(child.stdout, (line) => {
    try {
      const p = JSON.parse(line);
      ctx.progress.workers.set(worker, {
        trial: t.dir,
        step: p.step,
        steps,
        loss: p.train_loss,
        tokens_per_s: p.tokens_per_s,
      });
      ctx.progress.render();
    } catch { /* not a progress line */ }
  });
  const err = child.stderr.pipeTo(logFile.writable);
  const status = await child.status;
  ctx.signal.removeEventListener("abort", stop);
  await child.stdin.close().catch(() => {});
  await Promise.all([out, err.catch(() => {})]);
  ctx.progress.workers.delete(worker);
  return { code: status.code, signal: status.signal, logStart };
}

/**
 * Marks a trial whose process died without a result as failed, with a one-line cause and the log path.
 * Killed by a signal (the out-of-memory killer), or stopped by a full disk or another outside fault:
 * `requeue`, so that the next run resumes it from its checkpoint.
 */
async function markCrashed(ctx: ExecutorContext, t: PlannedTrial, end: Ended): Promise<void> {
  const log = `${ctx.dir}/${t.dir}/trial.log`;
  let cause = "";
  try {
    const bytes = await Deno.readFile(log);
    cause = crashCause(new TextDecoder().decode(bytes.subarray(end.logStart)));
  } catch { /* no log */ }
  const killed = signalDeath(end.code, end.signal);
  const fault = killed ? null : outsideFault(cause);
  const how = killed ?? `exited with code ${end.code}${cause ? `: ${cause}` : ""}`;
  const again = killed || fault
    ? `${fault ? ` (${fault})` : ""}; the next run of the sweep runs it again, from its checkpoint`
    : "";
  await writeLostResult(
    `${ctx.dir}/${t.dir}`,
    `trial process ${how}${again}; log: ${log}`,
    Boolean(killed || fault),
  );
}

/** The local worker pool. */
export function localExecutor(): Executor {
  return {
    async run(ctx) {
      const threads = Math.max(1, Math.floor((navigator.hardwareConcurrency ?? 1) / ctx.workers));
      // Every trial directory is checked before any trial starts: a link in the sweep is refused up front.
      for (const t of ctx.todo) checkTrialDir(ctx.dir, t.dir);
      const perms = await sweepPermissions(ctx.dir, ctx.trials);
      const queue = [...ctx.todo];
      const streak = new FailureStreak(ctx.maxFailures);
      let stopped: string | null = null;
      const worker = async (w: number) => {
        while (queue.length && !stopped && !ctx.signal.aborted) {
          const t = queue.shift()!;
          const end = await runOne(ctx, t, w, threads, perms);
          if (ctx.signal.aborted) break; // stopped by us: not a failure, it resumes next time
          let { state, result } = await trialState(ctx.dir, t);
          if (state !== "done") {
            await markCrashed(ctx, t, end);
            ({ result } = await trialState(ctx.dir, t));
          } else if (result) await pointAtLog(`${ctx.dir}/${t.dir}`, result, `${ctx.dir}/${t.dir}/trial.log`);
          if (streak.finished(result?.status) && !stopped) stopped = streak.stopMessage(t, result?.error);
          await ctx.onFinished(t);
        }
      };
      await Promise.all(Array.from({ length: Math.min(ctx.workers, ctx.todo.length) }, (_, w) => worker(w)));
      if (stopped) throw new DmodelError(stopped);
      return {};
    },
  };
}

register("executor", "local", {
  describe: "worker subprocesses on this machine (workers x BLAS threads <= cores)",
  schema: z.object({}).strict(),
  create: () => localExecutor(),
});
