/**
 * How a trial runs: build data, model and optimizer from the registry,
 * train, evaluate on fixed val windows, write the trial directory
 * (config.yaml, metrics.csv, result.json, model.safetensors,
 * checkpoint.safetensors), and resume from the checkpoint.
 */
import YAML from "yaml";
import { useBackend } from "../kernels/backend.ts";
import { describeText, describeTrial, type Description, lrFactorNotice } from "../nn/describe.ts";
import type { TrialConfig } from "../core/config.ts";
import type { Schedule } from "../core/contracts.ts";
import { prepareData, type PreparedData } from "../data/prepare.ts";
import { evalBatches, trainBatch } from "../data/batches.ts";
import { DmodelError } from "../core/errors.ts";
import { exists, readJSON, writeFileAtomic } from "../core/fs.ts";
import type { Network } from "../nn/network.ts";
import type { Optimizer, OptimizerFactory } from "../nn/optim.ts";
import { buildNetwork } from "../nn/resolve.ts";
import type { Probe } from "./probe.ts";
import { build } from "../core/registry.ts";
import { emptyResult, resultProblem, type TrialResult } from "./result.ts";
import { outsideFault } from "./faults.ts";
import { type StepDone, trainLoop } from "./loop.ts";
import { evaluateAsync } from "./evaluate.ts";
import { loadCheckpoint, saveCheckpoint, saveModel } from "./checkpoint.ts";
import { toCSV } from "../core/csv.ts";

/** The columns of metrics.csv, in order. */
export const METRIC_COLUMNS = ["step", "train_loss", "val_loss", "lr", "tokens", "elapsed"] as const;

/** Options of a trial run. */
export interface RunOptions {
  /** Continue from checkpoint.safetensors when present. */
  resume?: boolean;
  /** Where built data lives (default data/cache). */
  dataRoot?: string;
  /** Receives each log line (default: stderr). */
  log?: (line: string) => void;
  /** Called after every logged step (sweep progress lines). */
  onProgress?: (p: { step: number; steps: number; train_loss: number; tokens_per_s: number }) => void;
}

/** One metrics.csv line. */
function csvRow(r: Record<string, number | null>): string {
  return toCSV([r], METRIC_COLUMNS, { header: false });
}

/** Keeps the header and the rows with step <= `step` (resume drops rows past the checkpoint). */
async function truncateMetrics(path: string, step: number): Promise<void> {
  if (!(await exists(path))) return;
  const lines = (await Deno.readTextFile(path)).split("\n").filter((l) => l.length > 0);
  // A row cut short by a kill has fewer columns: drop it with the rows past the checkpoint.
  const kept = lines.filter((l, i) =>
    i === 0 || (l.split(",").length === METRIC_COLUMNS.length && Number(l.split(",")[0]) <= step)
  );
  await writeFileAtomic(path, kept.join("\n") + "\n");
}

/** What state.json holds beside the checkpoint: the result's values so far, restored on resume. */
interface TrialState {
  step0_val_loss: number | null;
  best_val_loss: number | null;
  elapsed: number;
  final_val_loss?: number | null;
  final_train_loss?: number | null;
  probes?: TrialResult["probes"];
}

/** Reads a JSON file a fault may have damaged: null (and a log line saying what is done instead) when unreadable. */
async function readDamaged<T>(path: string, instead: string, log: (s: string) => void): Promise<T | null> {
  try {
    const v = await readJSON<T>(path);
    const problem = v === null ? null : path.endsWith("result.json") ? resultProblem(v) : null;
    if (problem) throw new Error(problem);
    return v;
  } catch (e) {
    log(`${path}: unreadable (${(e as Error).message.replace(`${path}: `, "")}): ${instead}`);
    return null;
  }
}

/** A probe of the trial, with the columns of its CSV once its first measurement names them. */
interface ProbeSlot {
  name: string;
  probe: Probe;
  columns: string[] | null;
}

/** What one run of a trial holds and changes; result.json is written from it however the run ends. */
interface TrialRun {
  t: TrialConfig;
  dir: string;
  opts: RunOptions;
  log: (line: string) => void;
  result: TrialResult;
  /** Owned by the run: disposed at its end (replaced when a damaged checkpoint is dropped). */
  net: Network | null;
  probes: ProbeSlot[];
  stepsDone: number;
  tokensDone: number;
  /** Seconds of training before this run (a resumed trial). */
  elapsedBefore: number;
}

/** What training needs once the trial is set up. */
interface Setup {
  data: PreparedData;
  optimizer: OptimizerFactory;
  schedule: Schedule;
  opt: Optimizer;
  /** The fixed val windows: val_loss, and the first one is the probes' batch. */
  evalSet: { x: Int32Array; y: Int32Array }[];
  B: number;
  T: number;
  metricsPath: string;
  description: Description;
}

/**
 * Runs one trial into `dir`. A trial is done iff result.json exists; then
 * this returns it without work. NaN/Inf or a val loss above the divergence
 * threshold ends the trial with status "diverged"; an exception with
 * "failed" (both still write result.json), and with `requeue: true` when
 * the cause was outside the trial (a full disk, a lost device:
 * engine/train/faults.ts). A damaged result.json, state.json or checkpoint
 * (a crash elsewhere, a disk fault) is not trusted: the trial runs again,
 * from its checkpoint when state.json and the checkpoint are whole, else
 * from the start (training is deterministic, so the result is the same).
 */
export async function runTrial(t: TrialConfig, dir: string, opts: RunOptions = {}): Promise<TrialResult> {
  const log = opts.log ?? ((s: string) => console.error(s));
  await Deno.mkdir(dir, { recursive: true });
  const done = await readDamaged<TrialResult>(`${dir}/result.json`, "running the trial again", log);
  if (done) return done;
  await writeFileAtomic(`${dir}/config.yaml`, YAML.stringify(t));
  const t0 = performance.now();
  const run: TrialRun = {
    t,
    dir,
    opts,
    log,
    result: emptyResult("ok", null, t.train.backend),
    net: null,
    probes: [],
    stepsDone: 0,
    tokensDone: 0,
    elapsedBefore: 0,
  };
  try {
    const s = await setUp(run);
    const start = await resumeOrStart(run, s);
    await train(run, s, start);
    if (run.result.status === "ok" && t.train.save_model) {
      await saveModel(`${dir}/model.safetensors`, run.net!, t);
    }
  } catch (e) {
    recordFailure(run, e);
  } finally {
    for (const p of run.probes) p.probe.dispose?.();
    run.net?.dispose();
  }
  const { result } = run;
  result.steps_done = run.stepsDone;
  result.tokens = run.tokensDone;
  result.wall_s = (performance.now() - t0) / 1000 + run.elapsedBefore;
  result.tokens_per_s = result.wall_s > 0 ? Math.round(run.tokensDone / result.wall_s) : 0;
  await writeFileAtomic(`${dir}/result.json`, JSON.stringify(result, null, 1));
  return result;
}

/** The backend, the data, the network, optimizer and schedule, the val windows and the probes. */
async function setUp(run: TrialRun): Promise<Setup> {
  const { t, dir, result, log } = run;
  result.backend = await useBackend(t.train.backend, log);
  const data = await prepareData(t.data, { root: run.opts.dataRoot, log });
  result.val_unigram_entropy = data.valUnigramEntropy;
  run.net = buildNetwork(t, data.vocabSize);
  result.n_params = run.net.size;
  const optimizer = build("optimizer", t.optimizer, ["optimizer"]);
  const schedule = build("schedule", t.schedule, ["schedule"]);
  const opt = optimizer.create(run.net);
  const B = t.train.batch_size, T = t.data.seq_len;
  const evalSet = evalBatches(data, t.train.eval_batches, B, T);
  run.probes = t.probes.map((p, i) => ({
    name: p.name,
    probe: build("probe", p, ["probes", i]),
    columns: null,
  }));
  if (run.probes.length) await Deno.mkdir(`${dir}/probes`, { recursive: true });
  const metricsPath = `${dir}/metrics.csv`;
  return {
    data,
    optimizer,
    schedule,
    opt,
    evalSet,
    B,
    T,
    metricsPath,
    description: describeTrial(t, data.vocabSize),
  };
}

/**
 * Resumes from the checkpoint and state.json when both are whole (metrics.csv cut back to the
 * checkpoint's step), else starts over: metrics.csv, params.json, the step-0 val loss and probes.
 * Returns the step training starts at.
 */
async function resumeOrStart(run: TrialRun, s: Setup): Promise<number> {
  const { t, dir, result, log } = run;
  const hasCheckpoint = run.opts.resume && (await exists(`${dir}/checkpoint.safetensors`));
  const state = hasCheckpoint
    ? await readDamaged<TrialState>(`${dir}/state.json`, "starting the trial over", log)
    : null;
  let start = 0;
  const notice = lrFactorNotice(s.description);
  if (notice) log(notice);
  if (hasCheckpoint && state) {
    try {
      start = await loadCheckpoint(dir, run.net!, s.opt);
    } catch (e) {
      if (!(e instanceof DmodelError)) throw e;
      log(`${e.message}: starting the trial over`);
      run.net!.dispose(); // it may hold part of the checkpoint
      run.net = buildNetwork(t, s.data.vocabSize);
      s.opt = s.optimizer.create(run.net);
    }
  }
  if (start > 0 && state) {
    await truncateMetrics(s.metricsPath, start);
    result.step0_val_loss = state.step0_val_loss;
    result.best_val_loss = state.best_val_loss;
    result.final_val_loss = state.final_val_loss ?? null;
    result.final_train_loss = state.final_train_loss ?? null;
    result.probes = state.probes ?? {};
    run.elapsedBefore = state.elapsed;
    log(`resumed ${dir} at step ${start}`);
  } else {
    await writeFileAtomic(s.metricsPath, toCSV([], METRIC_COLUMNS));
    await writeFileAtomic(`${dir}/params.json`, JSON.stringify(s.description.params, null, 1));
    log(describeText(s.description));
    const v0 = await evaluateAsync(run.net!, s.evalSet, s.B, s.T);
    result.step0_val_loss = v0;
    result.best_val_loss = v0;
    await measureProbes(run, s, 0);
    await Deno.writeTextFile(
      s.metricsPath,
      csvRow({ step: 0, val_loss: v0, lr: null, tokens: 0, elapsed: 0 }),
      {
        append: true,
      },
    );
  }
  run.stepsDone = start;
  run.tokensDone = start * s.B * s.T;
  return start;
}

/** Measures the probes due at `step` (each every `probe.every` steps, and at the last) into probes/<name>.csv. */
async function measureProbes(run: TrialRun, s: Setup, step: number): Promise<void> {
  const { t, dir } = run;
  for (const p of run.probes) {
    if (step % p.probe.every !== 0 && step !== t.train.steps) continue;
    const m = await p.probe.measure({
      step,
      net: run.net!,
      trial: t,
      x: s.evalSet[0].x,
      y: s.evalSet[0].y,
      B: s.B,
      T: s.T,
      dir,
    });
    const file = `${dir}/probes/${p.name}.csv`;
    if (!p.columns) {
      p.columns = Object.keys(m);
      if (step === 0 || !(await exists(file))) {
        await writeFileAtomic(file, toCSV([], ["step", ...p.columns]));
      }
    }
    await Deno.writeTextFile(file, toCSV([{ step, ...m }], ["step", ...p.columns], { header: false }), {
      append: true,
    });
    run.result.probes[p.name] = m;
  }
}

/** Saves checkpoint.safetensors and, beside it, state.json with the result's values so far. */
async function saveState(run: TrialRun, s: Setup, step: number, elapsed: () => number): Promise<void> {
  const { result } = run;
  await saveCheckpoint(run.dir, run.net!, s.opt, step, run.t);
  await writeFileAtomic(
    `${run.dir}/state.json`,
    JSON.stringify(
      {
        step0_val_loss: result.step0_val_loss,
        best_val_loss: result.best_val_loss,
        elapsed: elapsed(),
        final_val_loss: result.final_val_loss,
        final_train_loss: result.final_train_loss,
        probes: result.probes,
      } satisfies TrialState,
    ),
  );
}

/** Trains from `start` to the last step (or divergence), logging, evaluating and checkpointing as configured. */
async function train(run: TrialRun, s: Setup, start: number): Promise<void> {
  const { t, result } = run;
  const steps = t.train.steps;
  const threshold = t.train.divergence_threshold ?? result.step0_val_loss!;
  const tStart = performance.now();
  const elapsed = () => run.elapsedBefore + (performance.now() - tStart) / 1000;
  const window = { lossSum: 0, lossCount: 0 };
  const end = await trainLoop({
    net: run.net!,
    optimizer: s.opt,
    steps,
    start,
    lr: (step) => s.optimizer.lr * s.schedule(step, steps),
    batch: (step) => ({ ...trainBatch(s.data, step, s.B, s.T, t.train.seed), B: s.B, T: s.T }),
    onNonFinite: async ({ step, loss, lr }) => {
      result.status = "diverged";
      result.error = `train loss is ${loss} at step ${step}`;
      await Deno.writeTextFile(
        s.metricsPath,
        csvRow({ step: step + 1, train_loss: loss, lr, tokens: run.tokensDone, elapsed: elapsed() }),
        { append: true },
      );
    },
    afterStep: (d) => afterStep(run, s, d, { threshold, elapsed, window }),
  });
  run.stepsDone = end.stepsDone;
}

/**
 * After a step's update: probes, then at a log or eval step the metrics.csv row (the mean train
 * loss since the last row), progress, the val loss with its divergence test, and the checkpoint.
 * Returns true when the trial diverged.
 */
async function afterStep(
  run: TrialRun,
  s: Setup,
  { loss, lr, step }: StepDone,
  o: { threshold: number; elapsed: () => number; window: { lossSum: number; lossCount: number } },
): Promise<boolean> {
  const { t, result } = run;
  const steps = t.train.steps;
  const done = run.stepsDone = step + 1;
  if (run.probes.length) await measureProbes(run, s, done);
  run.tokensDone += s.B * s.T;
  o.window.lossSum += loss, o.window.lossCount += 1;
  result.final_train_loss = loss;
  const isEval = done % t.train.eval_every === 0 || done === steps;
  if (!isEval && done % t.train.log_every !== 0) return false;
  const val = isEval ? await evaluateAsync(run.net!, s.evalSet, s.B, s.T) : null;
  const row = {
    step: done,
    train_loss: o.window.lossSum / o.window.lossCount,
    val_loss: val,
    lr,
    tokens: run.tokensDone,
    elapsed: o.elapsed(),
  };
  await Deno.writeTextFile(s.metricsPath, csvRow(row), { append: true });
  run.opts.onProgress?.({
    step: done,
    steps,
    train_loss: row.train_loss,
    tokens_per_s: run.tokensDone / Math.max(1e-9, o.elapsed()),
  });
  o.window.lossSum = 0, o.window.lossCount = 0;
  const ck = t.train.checkpoint_every;
  if (val === null) {
    if (ck > 0 && done % ck === 0) await saveState(run, s, done, o.elapsed);
    return false;
  }
  result.final_val_loss = val;
  result.best_val_loss = Math.min(result.best_val_loss ?? Infinity, val);
  if (!Number.isFinite(val) || val > o.threshold) {
    result.status = "diverged";
    result.error = `val loss ${val} above the divergence threshold ${o.threshold.toFixed(4)} at step ${done}`;
    return true;
  }
  if (ck === 0 || done % ck === 0 || done === steps) await saveState(run, s, done, o.elapsed);
  return false;
}

/**
 * An exception ends the trial "failed" with a one-line error; a cause outside the trial (a full
 * disk, a lost device: engine/train/faults.ts) sets `requeue`, so the next sweep run resumes it.
 */
function recordFailure(run: TrialRun, e: unknown): void {
  const { result } = run;
  result.status = "failed";
  const message = (e as Error)?.message ?? String(e);
  result.error = message.split("\n").filter((l) => l.trim()).join("; "); // one line
  if (!(e instanceof DmodelError)) run.log((e as Error).stack ?? String(e));
  const fault = outsideFault(message);
  if (fault) {
    result.requeue = true;
    result.error += ` (${fault}: the next run of the sweep runs this trial again, from its checkpoint)`;
  }
}
