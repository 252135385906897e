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
import type { Network } from "./network.ts";

/** Adam hyperparameters shared by every group. */
export interface AdamOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** Clip the global gradient norm to this value; 0 disables. */
  grad_clip: number;
  weight_decay: number;
}

/** Adam state: first and second moments per parameter, step count. */
export class Adam {
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
    return lr * this.net.lrFactor * this.net.byName.get(name)!.rule.lr_multiplier;
  }

  /**
   * One update from host gradients. Returns the gradient's global norm before clipping.
   * Renormalizes along the embedding axis when the model rule says so.
   */
  update(grads: Map<string, Float32Array>, lr: number): number {
    const { beta1: b1, beta2: b2 } = this.opts;
    let sq = 0;
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
    const norm = Math.sqrt(sq);
    const clip = this.opts.grad_clip > 0 && norm > this.opts.grad_clip ? this.opts.grad_clip / norm : 1;
    this.step += 1;
    const bc1 = 1 - Math.pow(b1, this.step), bc2 = Math.sqrt(1 - Math.pow(b2, this.step));
    for (const p of this.net.params) {
      const name = p.decl.name;
      const g = grads.get(name)!;
      const m = this.m.get(name)!, v = this.v.get(name)!, w = p.host;
      const plr = this.lrOf(name, lr);
      const eps = this.opts.eps * p.rule.eps_multiplier;
      const decay = plr * this.opts.weight_decay * p.rule.weight_decay;
      const stepSize = plr / bc1;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] * clip;
        const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
        const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
        w[i] -= stepSize * mi / (Math.sqrt(vi) / bc2 + eps) + decay * w[i];
      }
      if (this.net.model.renormalize && p.decl.embed_axis !== undefined) {
        normalizeAlong(w, p.decl.shape, p.decl.embed_axis);
      }
    }
    this.net.pushHost();
    return norm;
  }
}
