/**
 * Evaluation: the mean val loss of a network over fixed val windows (what
 * training logs as val_loss), and of a saved trial's model.safetensors.
 */
import * as tf from "@tensorflow/tfjs";
import YAML from "yaml";
import { useBackend } from "../kernels/backend.ts";
import { parseTrial } from "../core/config.ts";
import { prepareData } from "../data/prepare.ts";
import { evalBatches } from "../data/batches.ts";
import { DmodelError } from "../core/errors.ts";
import { readSafetensors } from "../nn/safetensors.ts";
import { buildNetwork } from "../nn/resolve.ts";
import type { Network } from "../nn/network.ts";
import { onDevice, readTensor } from "../kernels/webgpu.ts";
import { asyncReads } from "./loop.ts";

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

/** What an evaluation reports. */
export interface EvalReport {
  /** The trial directory evaluated. */
  trial_dir: string;
  /** Mean val loss (nats per token) over the fixed val windows. */
  val_loss: number;
  /** Perplexity: exp(val_loss). */
  perplexity: number;
  /** Tokens evaluated: batches x batch_size x seq_len. */
  eval_tokens: number;
  /** Entropy (nats) of the val split's unigram distribution: the loss of predicting token frequencies. */
  val_unigram_entropy: number;
}

/** Evaluates `<dir>/model.safetensors` on the fixed val windows of its data config. */
export async function evaluateTrialDir(
  dir: string,
  opts: { batches?: number; backend?: string } = {},
): Promise<EvalReport> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/config.yaml`);
  } catch {
    throw new DmodelError(`${dir}/config.yaml: not found (is ${dir} a trial directory?)`);
  }
  const trial = parseTrial(YAML.parse(text), `${dir}/config.yaml`);
  await useBackend(opts.backend ?? trial.train.backend);
  const data = await prepareData(trial.data);
  const net = buildNetwork(trial, data.vocabSize);
  try {
    const { tensors } = await readSafetensors(`${dir}/model.safetensors`);
    const values: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [k, v] of Object.entries(tensors)) {
      values[k] = { shape: v.shape, data: v.data as Float32Array };
    }
    net.load(values, `${dir}/model.safetensors`);
    const B = trial.train.batch_size, T = trial.data.seq_len;
    const n = opts.batches ?? trial.train.eval_batches;
    const loss = await evaluateAsync(net, evalBatches(data, n, B, T), B, T);
    return {
      trial_dir: dir,
      val_loss: loss,
      perplexity: Math.exp(loss),
      eval_tokens: n * B * T,
      val_unigram_entropy: data.valUnigramEntropy,
    };
  } finally {
    net.dispose();
  }
}
