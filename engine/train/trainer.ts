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
import { readInto } from "../kernels/js_kernels.ts";
import type { Adam, OptimizerFactory } from "../nn/optim.ts";
import type { Schedule } from "../core/contracts.ts";
import type { Probe } from "./probe.ts";
import { resolve } from "../core/registry.ts";
import { decodeSafetensors, encodeSafetensors, type StoredTensor } from "../nn/safetensors.ts";
import { resolveModel } from "../nn/resolve.ts";
import { emptyResult, type TrialResult } from "./result.ts";

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

/** Loss and host gradients of one batch (the arrays are the network's own, overwritten by the next call). */
export function lossAndGrads(net: Network, x: Int32Array, y: Int32Array, B: number, T: number) {
  const vars = net.params.map((p) => p.variable);
  const { value, grads } = tf.variableGrads(
    () => net.loss(tf.tensor2d(x, [B, T], "int32"), tf.tensor2d(y, [B, T], "int32")),
    vars,
  );
  // Into the network's gradient buffers (reused every step: valid until the next call).
  const host = new Map<string, Float32Array>();
  for (const p of net.params) {
    readInto(grads[p.variable.name], p.grad);
    host.set(p.decl.name, p.grad);
  }
  const loss = value.dataSync()[0];
  value.dispose();
  tf.dispose(grads);
  return { loss, grads: host };
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

async function saveCheckpoint(dir: string, net: Network, opt: Adam, step: number, t: TrialConfig) {
  const tensors = paramTensors(net, "param.");
  for (const p of net.params) {
    const n = p.decl.name;
    tensors[`adam_m.${n}`] = { dtype: "F32", shape: p.decl.shape, data: opt.m.get(n)! };
    tensors[`adam_v.${n}`] = { dtype: "F32", shape: p.decl.shape, data: opt.v.get(n)! };
  }
  const meta = { step: String(step), adam_step: String(opt.step), dmodel_config: JSON.stringify(t) };
  await writeFileAtomic(`${dir}/checkpoint.safetensors`, encodeSafetensors(tensors, meta));
}

async function loadCheckpoint(dir: string, net: Network, opt: Adam): Promise<number> {
  const path = `${dir}/checkpoint.safetensors`;
  const { tensors, metadata } = decodeSafetensors(await Deno.readFile(path), path);
  const params: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const p of net.params) {
    const n = p.decl.name;
    const w = tensors[`param.${n}`], m = tensors[`adam_m.${n}`], v = tensors[`adam_v.${n}`];
    if (!w || !m || !v) throw new DmodelError(`${path}: missing state of parameter ${n}`);
    params[n] = { shape: w.shape, data: w.data as Float32Array };
    opt.m.get(n)!.set(m.data as Float32Array);
    opt.v.get(n)!.set(v.data as Float32Array);
  }
  net.load(params, path);
  opt.step = Number(metadata.adam_step);
  return Number(metadata.step);
}

function fmt(x: number | null | undefined): string {
  return x === null || x === undefined ? "" : Number.isFinite(x) ? String(+x.toPrecision(7)) : String(x);
}

function csvRow(r: Record<string, number | null>): string {
  return METRIC_COLUMNS.map((c) => fmt(r[c])).join(",") + "\n";
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

/**
 * Runs one trial into `dir`. A trial is done iff result.json exists; then
 * this returns it without work. NaN/Inf or a val loss above the divergence
 * threshold ends the trial with status "diverged"; an exception with
 * "failed" (both still write result.json).
 */
export async function runTrial(t: TrialConfig, dir: string, opts: RunOptions = {}): Promise<TrialResult> {
  const log = opts.log ?? ((s: string) => console.error(s));
  await Deno.mkdir(dir, { recursive: true });
  const done = await readJSON<TrialResult>(`${dir}/result.json`);
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
    const { name: oName, ...oOpts } = t.optimizer;
    const optimizer = resolve<unknown, OptimizerFactory>("optimizer", oName).create(oOpts);
    const { name: sName, ...sOpts } = t.schedule;
    const schedule = resolve<unknown, Schedule>("schedule", sName).create(sOpts);
    const opt = optimizer.create(net);
    const { steps, batch_size: B, seed } = t.train;
    const T = t.data.seq_len;
    const evalSet = evalBatches(data, t.train.eval_batches, B, T);
    probes = t.probes.map(({ name, ...o }) => ({
      name,
      probe: resolve<unknown, Probe>("probe", name).create(o),
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
            await writeFileAtomic(file, ["step", ...p.columns].join(",") + "\n");
          }
        }
        await Deno.writeTextFile(file, [step, ...p.columns.map((c) => fmt(m[c]))].join(",") + "\n", {
          append: true,
        });
        result.probes[p.name] = m;
      }
    };
    const metricsPath = `${dir}/metrics.csv`;
    const state = await readJSON<{ step0_val_loss: number; best_val_loss: number; elapsed: number }>(
      `${dir}/state.json`,
    );
    let start = 0;
    const description = describeTrial(t, data.vocabSize);
    const notice = lrFactorNotice(description);
    if (notice) log(notice);
    if (opts.resume && state && (await exists(`${dir}/checkpoint.safetensors`))) {
      start = await loadCheckpoint(dir, net, opt);
      await truncateMetrics(metricsPath, start);
      result.step0_val_loss = state.step0_val_loss;
      result.best_val_loss = state.best_val_loss;
      elapsedBefore = state.elapsed;
      log(`resumed ${dir} at step ${start}`);
    } else {
      await writeFileAtomic(metricsPath, METRIC_COLUMNS.join(",") + "\n");
      await writeFileAtomic(`${dir}/params.json`, JSON.stringify(description.params, null, 1));
      log(describeText(description));
      const v0 = evaluate(net, evalSet, B, T);
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
        JSON.stringify({
          step0_val_loss: result.step0_val_loss,
          best_val_loss: result.best_val_loss,
          elapsed: elapsed(),
        }),
      );
    };
    for (let step = start; step < steps; step++) {
      const batch = trainBatch(data, step, B, T, seed);
      const lr = optimizer.lr * schedule(step, steps);
      const { loss, grads } = lossAndGrads(net, batch.x, batch.y, B, T);
      if (!Number.isFinite(loss)) {
        result.status = "diverged";
        result.error = `train loss is ${loss} at step ${step}`;
        await Deno.writeTextFile(
          metricsPath,
          csvRow({ step: step + 1, train_loss: loss, lr, tokens: tokensDone, elapsed: elapsed() }),
          { append: true },
        );
        break;
      }
      opt.update(grads, lr);
      stepsDone = step + 1;
      if (probes.length) await measure(stepsDone);
      tokensDone += B * T;
      lossSum += loss, lossCount += 1;
      result.final_train_loss = loss;
      const isEval = stepsDone % t.train.eval_every === 0 || stepsDone === steps;
      if (isEval || stepsDone % t.train.log_every === 0) {
        const val = isEval ? evaluate(net, evalSet, B, T) : null;
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
            break;
          }
          const ck = t.train.checkpoint_every;
          if (ck === 0 || stepsDone % ck === 0 || stepsDone === steps) await saveState(stepsDone);
        } else if (t.train.checkpoint_every > 0 && stepsDone % t.train.checkpoint_every === 0) {
          await saveState(stepsDone);
        }
      }
    }
    if (result.status === "ok" && t.train.save_model) await saveModel(`${dir}/model.safetensors`, net, t);
  } catch (e) {
    result.status = "failed";
    result.error = e instanceof DmodelError ? e.message : `${(e as Error).message}`;
    if (!(e instanceof DmodelError)) log((e as Error).stack ?? String(e));
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
