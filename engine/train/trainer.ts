/**
 * How a trial runs: build data, model and optimizer from the registry,
 * train, evaluate on fixed val windows, write the trial directory
 * (config.yaml, metrics.csv, result.json, model.safetensors,
 * checkpoint.safetensors), and resume from the checkpoint.
 */
import * as tf from "@tensorflow/tfjs";
import YAML from "yaml";
import { useBackend } from "../kernels/backend.ts";
import { describeText, describeTrial, lrFactorNotice } from "../nn/describe.ts";
import type { TrialConfig } from "../core/config.ts";
import { prepareData, type PreparedData } from "../data/prepare.ts";
import { evalBatches, trainBatch } from "../data/batches.ts";
import { DmodelError } from "../core/errors.ts";
import { exists, readJSON, writeFileAtomic } from "../core/fs.ts";
import { Network } from "../nn/network.ts";
import type { Optimizer } from "../nn/optim.ts";
import { onDevice, readTensor } from "../kernels/webgpu.ts";
import type { Probe } from "./probe.ts";
import { build } from "../core/registry.ts";
import { decodeSafetensors, encodeSafetensors, type StoredTensor } from "../nn/safetensors.ts";
import { resolveModel } from "../nn/resolve.ts";
import { emptyResult, resultProblem, type TrialResult } from "./result.ts";
import { outsideFault } from "./faults.ts";
import { asyncReads, trainLoop } from "./loop.ts";
import { toCSV } from "../core/csv.ts";

/** The columns of metrics.csv, in order. */
export const METRIC_COLUMNS = ["step", "train_loss", "val_loss", "lr", "tokens", "elapsed"] as const;

/** Options of a trial run. */
export interface RunOptions {
  /** Continue from checkpoint.safetensors when present. */
  resume?: boolean;
  /** Where built data lives (default data/cache). */
  dataRoot?: string;
  log?: (line: string) => void;
  /** Called after every logged step (sweep progress lines). */
  onProgress?: (p: { step: number; steps: number; train_loss: number; tokens_per_s: number }) => void;
}

/** Builds the network of a trial from the registry (no data needed beyond the vocab size). */
export function buildNetwork(t: TrialConfig, vocabSize: number): Network {
  const { block, rule, ctx } = resolveModel(t, vocabSize);
  return new Network(block, rule, ctx, t.train.seed);
}

/** Mean val loss over fixed windows. */
export function evaluate(
  net: Network,
  batches: { x: Int32Array; y: Int32Array }[],
  B: number,
  T: number,
): number {
  let sum = 0;
  for (const b of batches) {
    sum += tf.tidy(() =>
      net.loss(tf.tensor2d(b.x, [B, T], "int32"), tf.tensor2d(b.y, [B, T], "int32")).dataSync()[0]
    );
  }
  return sum / batches.length;
}

/** {@link evaluate}, with the asynchronous reads webgpu needs (the same sync code elsewhere). */
export async function evaluateAsync(
  net: Network,
  batches: { x: Int32Array; y: Int32Array }[],
  B: number,
  T: number,
): Promise<number> {
  if (!asyncReads()) return evaluate(net, batches, B, T);
  return await onDevice(async () => {
    let sum = 0;
    for (const b of batches) {
      const l = tf.tidy(() => net.loss(tf.tensor2d(b.x, [B, T], "int32"), tf.tensor2d(b.y, [B, T], "int32")));
      try {
        sum += (await readTensor(l))[0];
      } finally {
        l.dispose();
      }
    }
    return sum / batches.length;
  });
}

/** Parameters as safetensors tensors, named as the block declares them. */
function paramTensors(net: Network, prefix = ""): Record<string, StoredTensor> {
  const out: Record<string, StoredTensor> = {};
  for (const p of net.params) out[prefix + p.decl.name] = { dtype: "F32", shape: p.decl.shape, data: p.host };
  return out;
}

/** Writes model.safetensors: every parameter by name and shape, the config as metadata. */
export async function saveModel(
  path: string,
  net: Network,
  t: TrialConfig,
  extra: Record<string, string> = {},
) {
  await writeFileAtomic(
    path,
    encodeSafetensors(paramTensors(net), { format: "pt", dmodel_config: JSON.stringify(t), ...extra }),
  );
}

/** checkpoint.safetensors: parameters (`param.<name>`), the optimizer's slots (`<slot>.<name>`), the step. */
async function saveCheckpoint(dir: string, net: Network, opt: Optimizer, step: number, t: TrialConfig) {
  const tensors = paramTensors(net, "param.");
  const state = opt.state();
  for (const p of net.params) {
    for (const [slot, arrays] of Object.entries(state.slots)) {
      tensors[`${slot}.${p.decl.name}`] = {
        dtype: "F32",
        shape: p.decl.shape,
        data: arrays.get(p.decl.name)!,
      };
    }
  }
  const meta = { step: String(step), adam_step: String(state.step), dmodel_config: JSON.stringify(t) };
  await writeFileAtomic(`${dir}/checkpoint.safetensors`, encodeSafetensors(tensors, meta));
}

async function loadCheckpoint(dir: string, net: Network, opt: Optimizer): Promise<number> {
  const path = `${dir}/checkpoint.safetensors`;
  const { tensors, metadata } = decodeSafetensors(await Deno.readFile(path), path);
  const params: Record<string, { shape: number[]; data: Float32Array }> = {};
  const slots: Record<string, Map<string, Float32Array>> = {};
  for (const slot of Object.keys(opt.state().slots)) slots[slot] = new Map();
  for (const p of net.params) {
    const n = p.decl.name;
    const w = tensors[`param.${n}`];
    if (!w || Object.keys(slots).some((s) => !tensors[`${s}.${n}`])) {
      throw new DmodelError(`${path}: missing state of parameter ${n}`);
    }
    params[n] = { shape: w.shape, data: w.data as Float32Array };
    for (const [s, m] of Object.entries(slots)) m.set(n, tensors[`${s}.${n}`].data as Float32Array);
  }
  net.load(params, path);
  opt.load({ step: Number(metadata.adam_step), slots }, path);
  return Number(metadata.step);
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
  let net: Network | null = null;
  let stepsDone = 0, tokensDone = 0, elapsedBefore = 0;
  const result = emptyResult("ok", null, t.train.backend);
  let probes: { name: string; probe: Probe; columns: string[] | null }[] = [];
  try {
    result.backend = await useBackend(t.train.backend, log);
    const data: PreparedData = await prepareData(t.data, { root: opts.dataRoot, log });
    result.val_unigram_entropy = data.valUnigramEntropy;
    net = buildNetwork(t, data.vocabSize);
    result.n_params = net.size;
    const optimizer = build("optimizer", t.optimizer, ["optimizer"]);
    const schedule = build("schedule", t.schedule, ["schedule"]);
    let opt = optimizer.create(net);
    const { steps, batch_size: B, seed } = t.train;
    const T = t.data.seq_len;
    const evalSet = evalBatches(data, t.train.eval_batches, B, T);
    probes = t.probes.map((p, i) => ({
      name: p.name,
      probe: build("probe", p, ["probes", i]),
      columns: null,
    }));
    if (probes.length) await Deno.mkdir(`${dir}/probes`, { recursive: true });
    const measure = async (step: number) => {
      for (const p of probes) {
        if (step % p.probe.every !== 0 && step !== steps) continue;
        const m = await p.probe.measure({
          step,
          net: net!,
          trial: t,
          x: evalSet[0].x,
          y: evalSet[0].y,
          B,
          T,
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
        result.probes[p.name] = m;
      }
    };
    const metricsPath = `${dir}/metrics.csv`;
    const hasCheckpoint = opts.resume && (await exists(`${dir}/checkpoint.safetensors`));
    const state = hasCheckpoint
      ? await readDamaged<TrialState>(`${dir}/state.json`, "starting the trial over", log)
      : null;
    let start = 0;
    const description = describeTrial(t, data.vocabSize);
    const notice = lrFactorNotice(description);
    if (notice) log(notice);
    if (hasCheckpoint && state) {
      try {
        start = await loadCheckpoint(dir, net, opt);
      } catch (e) {
        if (!(e instanceof DmodelError)) throw e;
        log(`${e.message}: starting the trial over`);
        net.dispose(); // it may hold part of the checkpoint
        net = buildNetwork(t, data.vocabSize);
        opt = optimizer.create(net);
      }
    }
    if (start > 0 && state) {
      await truncateMetrics(metricsPath, start);
      result.step0_val_loss = state.step0_val_loss;
      result.best_val_loss = state.best_val_loss;
      result.final_val_loss = state.final_val_loss ?? null;
      result.final_train_loss = state.final_train_loss ?? null;
      result.probes = state.probes ?? {};
      elapsedBefore = state.elapsed;
      log(`resumed ${dir} at step ${start}`);
    } else {
      await writeFileAtomic(metricsPath, toCSV([], METRIC_COLUMNS));
      await writeFileAtomic(`${dir}/params.json`, JSON.stringify(description.params, null, 1));
      log(describeText(description));
      const v0 = await evaluateAsync(net, evalSet, B, T);
      result.step0_val_loss = v0;
      result.best_val_loss = v0;
      await measure(0);
      await Deno.writeTextFile(
        metricsPath,
        csvRow({ step: 0, val_loss: v0, lr: null, tokens: 0, elapsed: 0 }),
        {
          append: true,
        },
      );
    }
    stepsDone = start;
    tokensDone = start * B * T;
    const threshold = t.train.divergence_threshold ?? result.step0_val_loss!;
    let lossSum = 0, lossCount = 0;
    const tStart = performance.now();
    const elapsed = () => elapsedBefore + (performance.now() - tStart) / 1000;
    const saveState = async (step: number) => {
      await saveCheckpoint(dir, net!, opt, step, t);
      await writeFileAtomic(
        `${dir}/state.json`,
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
    };
    const end = await trainLoop({
      net,
      optimizer: opt,
      steps,
      start,
      lr: (step) => optimizer.lr * schedule(step, steps),
      batch: (step) => ({ ...trainBatch(data, step, B, T, seed), B, T }),
      onNonFinite: async ({ step, loss, lr }) => {
        result.status = "diverged";
        result.error = `train loss is ${loss} at step ${step}`;
        await Deno.writeTextFile(
          metricsPath,
          csvRow({ step: step + 1, train_loss: loss, lr, tokens: tokensDone, elapsed: elapsed() }),
          { append: true },
        );
      },
      afterStep: async ({ step, loss, lr }) => {
        stepsDone = step + 1;
        if (probes.length) await measure(stepsDone);
        tokensDone += B * T;
        lossSum += loss, lossCount += 1;
        result.final_train_loss = loss;
        const isEval = stepsDone % t.train.eval_every === 0 || stepsDone === steps;
        if (!isEval && stepsDone % t.train.log_every !== 0) return false;
        const val = isEval ? await evaluateAsync(net!, evalSet, B, T) : null;
        const row = {
          step: stepsDone,
          train_loss: lossSum / lossCount,
          val_loss: val,
          lr,
          tokens: tokensDone,
          elapsed: elapsed(),
        };
        await Deno.writeTextFile(metricsPath, csvRow(row), { append: true });
        opts.onProgress?.({
          step: stepsDone,
          steps,
          train_loss: row.train_loss,
          tokens_per_s: tokensDone / Math.max(1e-9, elapsed()),
        });
        lossSum = 0, lossCount = 0;
        if (val !== null) {
          result.final_val_loss = val;
          result.best_val_loss = Math.min(result.best_val_loss ?? Infinity, val);
          if (!Number.isFinite(val) || val > threshold) {
            result.status = "diverged";
            result.error = `val loss ${val} above the divergence threshold ${
              threshold.toFixed(4)
            } at step ${stepsDone}`;
            return true;
          }
          const ck = t.train.checkpoint_every;
          if (ck === 0 || stepsDone % ck === 0 || stepsDone === steps) await saveState(stepsDone);
        } else if (t.train.checkpoint_every > 0 && stepsDone % t.train.checkpoint_every === 0) {
          await saveState(stepsDone);
        }
        return false;
      },
    });
    stepsDone = end.stepsDone;
    if (result.status === "ok" && t.train.save_model) await saveModel(`${dir}/model.safetensors`, net, t);
  } catch (e) {
    result.status = "failed";
    const message = (e as Error)?.message ?? String(e);
    result.error = message.split("\n").filter((l) => l.trim()).join("; "); // one line
    if (!(e instanceof DmodelError)) log((e as Error).stack ?? String(e));
    const fault = outsideFault(message);
    if (fault) {
      result.requeue = true;
      result.error += ` (${fault}: the next run of the sweep runs this trial again, from its checkpoint)`;
    }
  } finally {
    for (const p of probes) p.probe.dispose?.();
    net?.dispose();
  }
  result.steps_done = stepsDone;
  result.tokens = tokensDone;
  result.wall_s = (performance.now() - t0) / 1000 + elapsedBefore;
  result.tokens_per_s = result.wall_s > 0 ? Math.round(tokensDone / result.wall_s) : 0;
  await writeFileAtomic(`${dir}/result.json`, JSON.stringify(result, null, 1));
  return result;
}
