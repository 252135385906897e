/**
 * The training loop, the one every trainer of dmodel runs (`runTrial`, the
 * coordinate check, the translation study, `deno task bench`): per step the
 * batch, the scheduled LR, the loss and host gradients, the optimizer
 * update. What differs between them (evaluation, probes, checkpoints,
 * divergence, progress, timing) comes in as hooks, so how a step works is
 * written once, here.
 */
import * as tf from "@tensorflow/tfjs";
import type { Network } from "../nn/network.ts";
import type { Optimizer } from "../nn/optim.ts";
import { readInto } from "../kernels/js_kernels.ts";
import { maybeLoseDevice, onDevice, readTensor } from "../kernels/webgpu.ts";

/** Loss and host gradients of one step (the arrays are the network's own, overwritten by the next call). */
export interface Gradients {
  /** Mean next-token loss of the batch (nats per token). */
  loss: number;
  /** Gradient of each parameter by name, in the network's reused host buffers. */
  grads: Map<string, Float32Array>;
}

/** The loss of `f` and the gradients of every parameter, read back into the network's gradient buffers. */
export function gradients(net: Network, f: () => tf.Scalar): Gradients {
  const vars = net.params.map((p) => p.variable);
  const { value, grads } = tf.variableGrads(f, vars);
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

/** True when the current backend reads back asynchronously only (webgpu: no dataSync in Deno). */
export function asyncReads(): boolean {
  return tf.getBackend() === "webgpu";
}

/**
 * {@link gradients}, with the asynchronous reads webgpu needs: every
 * gradient is read back (raced against device loss, engine/kernels/webgpu.ts)
 * into the network's host buffers; elsewhere the sync path.
 */
export async function gradientsAsync(net: Network, f: () => tf.Scalar): Promise<Gradients> {
  if (!asyncReads()) return gradients(net, f);
  maybeLoseDevice();
  return await onDevice(async () => {
    const vars = net.params.map((p) => p.variable);
    const { value, grads } = tf.variableGrads(f, vars);
    try {
      const host = new Map<string, Float32Array>();
      const values = await Promise.all(net.params.map((p) => readTensor(grads[p.variable.name])));
      net.params.forEach((p, i) => {
        p.grad.set(values[i] as Float32Array);
        host.set(p.decl.name, p.grad);
      });
      return { loss: (await readTensor(value))[0], grads: host };
    } finally {
      value.dispose();
      tf.dispose(grads);
    }
  });
}

/** The next-token loss of a batch of int32 tokens [B, T]. */
function nextTokenLoss(net: Network, x: Int32Array, y: Int32Array, B: number, T: number): () => tf.Scalar {
  return () => net.loss(tf.tensor2d(x, [B, T], "int32"), tf.tensor2d(y, [B, T], "int32"));
}

/** Next-token loss and host gradients of one batch of int32 tokens [B, T]. */
export function lossAndGrads(net: Network, x: Int32Array, y: Int32Array, B: number, T: number): Gradients {
  return gradients(net, nextTokenLoss(net, x, y, B, T));
}

/** One step's batch: tokens and targets [B, T], or any loss of the network (e.g. a masked one). */
export type StepBatch =
  | { x: Int32Array; y: Int32Array; B: number; T: number }
  | { loss: () => tf.Scalar };

/** What the hooks see of a step. */
export interface StepInfo {
  /** The step's index from 0; after its update, step + 1 steps are done. */
  step: number;
  /** Training loss of the step's batch, before the update. */
  loss: number;
  /** The global LR of the step (schedule applied). */
  lr: number;
}

/** A step after its update. */
export interface StepDone extends StepInfo {
  /** Gradient global norm before clipping. */
  gradNorm: number;
  /** Wall time in ms of the loss-and-gradient pass (batch included). */
  gradMs: number;
  /** Wall time in ms of the optimizer update. */
  updateMs: number;
}

/** One training run: what to train, for how long, and the hooks. */
export interface TrainLoop {
  /** The network to train; its parameters are updated in place. */
  net: Network;
  /** The optimizer bound to `net`. */
  optimizer: Optimizer;
  /** The loop runs steps `start` .. `steps - 1`. */
  steps: number;
  /** First step to run (default 0; a resumed run starts at its checkpoint's step). */
  start?: number;
  /** Global LR of step `step` (peak x schedule, or a constant). */
  lr(step: number): number;
  /** The batch of step `step` (tokens and targets, or a loss function). */
  batch(step: number): StepBatch;
  /** Before the step's batch is drawn. */
  beforeStep?(step: number): void;
  /**
   * A non-finite training loss: called before the update, then the loop
   * stops. Without it the update runs as for any loss.
   */
  onNonFinite?(s: StepInfo): void | Promise<void>;
  /** After the gradients, right before the update (the weights are still the old ones). */
  beforeUpdate?(s: StepInfo): void;
  /** After the update; returning true stops the loop (divergence). */
  afterStep?(s: StepDone): boolean | void | Promise<boolean | void>;
}

/** How a loop ended, and the steps done (from 0, including those before `start`). */
export interface LoopEnd {
  /** Steps done, counted from 0 (steps before `start` included). */
  stepsDone: number;
  /**
   * Why it ended: "end" (all steps ran), "non-finite" (a non-finite loss with `onNonFinite` set)
   * or "hook" (`afterStep` returned true).
   */
  stopped: "end" | "non-finite" | "hook";
}

/** Runs the loop. */
export async function trainLoop(o: TrainLoop): Promise<LoopEnd> {
  const start = o.start ?? 0;
  let stepsDone = start;
  for (let step = start; step < o.steps; step++) {
    o.beforeStep?.(step);
    const t0 = performance.now();
    const b = o.batch(step);
    const lr = o.lr(step);
    const { loss, grads } = await gradientsAsync(
      o.net,
      "loss" in b ? b.loss : nextTokenLoss(o.net, b.x, b.y, b.B, b.T),
    );
    const t1 = performance.now();
    if (!Number.isFinite(loss) && o.onNonFinite) {
      await o.onNonFinite({ step, loss, lr });
      return { stepsDone, stopped: "non-finite" };
    }
    o.beforeUpdate?.({ step, loss, lr });
    const gradNorm = o.optimizer.update(grads, lr);
    const t2 = performance.now();
    stepsDone = step + 1;
    const stop = await o.afterStep?.({ step, loss, lr, gradNorm, gradMs: t1 - t0, updateMs: t2 - t1 });
    if (stop) return { stepsDone, stopped: "hook" };
  }
  return { stepsDone, stopped: "end" };
}
