/**
 * Adam with one learning rate, epsilon and weight decay per parameter (the
 * LR groups of a parameterization), global-norm gradient clipping, and
 * nGPT's renormalization after the step. The update runs on the host
 * Float32Array master weights: one pass per parameter instead of a dozen
 * small tensor kernels.
 *
 *   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr_p * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps_p) - lr_p * wd_p * p
 */
import { normalizeAlong } from "./init.ts";
import { parallel } from "../kernels/thread_pool.ts";
import type { Network } from "./network.ts";
import type { ParamRule } from "../core/contracts.ts";
import { DmodelError } from "../core/errors.ts";

/** Adam hyperparameters shared by every group. */
export interface AdamOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** Clip the global gradient norm to this value; 0 disables. */
  grad_clip: number;
  weight_decay: number;
}

/** What describe shows of one parameter's optimizer settings at a global LR. */
export interface ParamHyper {
  /** Effective learning rate. */
  lr: number;
  /** Effective epsilon. */
  eps: number;
  /** Global decay x the parameter's decay multiplier (the update multiplies it by `lr`). */
  weight_decay: number;
}

/**
 * An optimizer's state for a checkpoint: its step count and named slots
 * (Adam: `adam_m`, `adam_v`), each one array per parameter, shaped like it.
 */
export interface OptimizerState {
  /** Updates applied so far (Adam's t in the bias corrections 1 - beta^t). */
  step: number;
  /** Per-parameter arrays by slot name (Adam: `adam_m`, `adam_v`), each a Map from parameter name. */
  slots: Record<string, Map<string, Float32Array>>;
}

/** An optimizer bound to a network: what the training loop, checkpoints and probes use. */
export interface Optimizer {
  /** Effective LR of parameter `name` at global LR `lr` (already scheduled). */
  lrOf(name: string, lr: number): number;
  /** One update from host gradients at global LR `lr`; returns the gradient's global norm before clipping. */
  update(grads: Map<string, Float32Array>, lr: number): number;
  /** The live state (arrays are the optimizer's own: read them, do not keep them). */
  state(): OptimizerState;
  /** Restores a state written by {@link state}; `source` names where it came from, for errors. */
  load(state: OptimizerState, source: string): void;
}

/** An optimizer component's product. */
export interface OptimizerFactory {
  /** The global (peak) learning rate. */
  lr: number;
  /** One parameter's settings at global LR `lr`, from its rule and the network's LR factor (no state). */
  paramHyper(rule: ParamRule, lrFactor: number, lr: number): ParamHyper;
  /** The optimizer for a network. */
  create(net: Network): Optimizer;
}

/**
 * Adam's per-parameter settings: lr_p = lr x lr_factor x lr_multiplier,
 * eps_p = eps x eps_multiplier, decay = weight_decay x weight_decay multiplier.
 */
export function adamParamHyper(o: AdamOptions, rule: ParamRule, lrFactor: number, lr: number): ParamHyper {
  return {
    lr: lr * lrFactor * rule.lr_multiplier,
    eps: o.eps * rule.eps_multiplier,
    weight_decay: o.weight_decay * rule.weight_decay,
  };
}

/** Adam state: first and second moments per parameter, step count. */
export class Adam implements Optimizer {
  step = 0;
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();

  constructor(readonly net: Network, readonly opts: AdamOptions) {
    for (const p of net.params) {
      this.m.set(p.decl.name, new Float32Array(p.host.length));
      this.v.set(p.decl.name, new Float32Array(p.host.length));
    }
  }

  /** Effective LR of each parameter at global LR `lr` (already scheduled): lr x horizon factor x multiplier. */
  lrOf(name: string, lr: number): number {
    return adamParamHyper(this.opts, this.net.byName.get(name)!.rule, this.net.lrFactor, lr).lr;
  }

  state(): OptimizerState {
    return { step: this.step, slots: { adam_m: this.m, adam_v: this.v } };
  }

  load(state: OptimizerState, source: string): void {
    for (const [slot, own] of [["adam_m", this.m], ["adam_v", this.v]] as const) {
      for (const [name, arr] of own) {
        const v = state.slots[slot]?.get(name);
        if (!v || v.length !== arr.length) {
          throw new DmodelError(`${source}: missing state of parameter ${name}`);
        }
        arr.set(v);
      }
    }
    this.step = state.step;
  }

  /**
   * One update from host gradients. Returns the gradient's global norm before clipping.
   * Renormalizes along the embedding axis when the model rule says so.
   */
  update(grads: Map<string, Float32Array>, lr: number): number {
    const { beta1: b1, beta2: b2 } = this.opts;
    let sq = 0;
    for (const g of grads.values()) sq += sumOfSquares(g);
    const norm = Math.sqrt(sq);
    const clip = this.opts.grad_clip > 0 && norm > this.opts.grad_clip ? this.opts.grad_clip / norm : 1;
    this.step += 1;
    const bc1 = 1 - Math.pow(b1, this.step), bc2 = Math.sqrt(1 - Math.pow(b2, this.step));
    for (const p of this.net.params) {
      const name = p.decl.name;
      const g = grads.get(name)!;
      const m = this.m.get(name)!, v = this.v.get(name)!, w = p.host;
      const { lr: plr, eps } = adamParamHyper(this.opts, p.rule, this.net.lrFactor, lr);
      const decay = plr * this.opts.weight_decay * p.rule.weight_decay;
      const stepSize = plr / bc1;
      // Same update, constants hoisted: (1 - b1) clip g, (1 - b2) clip^2 g^2, sqrt(v) / bc2.
      const a1 = (1 - b1) * clip, a2 = (1 - b2) * clip * clip, ibc2 = 1 / bc2;
      // Element chunks on all kernel threads (engine/kernels/thread_pool.ts; task "adam" of engine/kernels/kernel_tasks.ts).
      const chunks = w.length < 1 << 18 ? 1 : 16;
      parallel("adam", [g, m, v, w], [b1, a1, b2, a2, stepSize, ibc2, eps, decay], w.length, chunks);
      if (this.net.model.renormalize && p.decl.embed_axis !== undefined) {
        normalizeAlong(w, p.decl.shape, p.decl.embed_axis);
      }
    }
    this.net.pushHost();
    return norm;
  }
}

/** Sum of squares with four independent accumulators (no loop-carried add latency). */
function sumOfSquares(g: Float32Array): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const n4 = g.length & ~3;
  for (let i = 0; i < n4; i += 4) {
    s0 += g[i] * g[i], s1 += g[i + 1] * g[i + 1], s2 += g[i + 2] * g[i + 2], s3 += g[i + 3] * g[i + 3];
  }
  for (let i = n4; i < g.length; i++) s0 += g[i] * g[i];
  return s0 + s1 + s2 + s3;
}

declare module "../core/registry.ts" {
  interface Products {
    optimizer: OptimizerFactory;
  }
}
