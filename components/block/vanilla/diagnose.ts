/**
 * E-SPA at init, measured against the paper's construction (He et al. arXiv
 * 2302.10322; docs/reference.md section 5): per layer, the attention matrix
 * against A_l = L_l L_(l-1)^-1, and the token kernel after the attention and
 * after the MLP against the target Sigma_l = exp(-gamma_l |i - j|) and against
 * the infinite-width prediction (components/block/vanilla/kernel_path.ts). Used by
 * tasks/espa_diagnose.ts.
 */
import * as tf from "@tensorflow/tfjs";
import type { Network } from "../../../engine/nn/network.ts";
import { espaGammas, spaKernels, spaLayers } from "./espa.ts";
import { kernelPath, kernelStats } from "./kernel_path.ts";
import { tatSlope } from "./tat.ts";

/** The block options the diagnosis reads (defaults as components/block/vanilla/block.ts). */
export interface DiagnoseOptions {
  depth: number;
  gamma_final?: number;
  tat_eta?: number;
  mlp_aware?: boolean;
}

/** One layer of the diagnosis: mean token cosine and mean second moment q, target / predicted / measured. */
export interface DiagnosisRow {
  layer: number;
  gamma: number;
  /** Max |A_measured - A_l| over heads, batch and entries. */
  attn_max_err: number;
  target_cos: number;
  pred_attn_cos: number;
  meas_attn_cos: number;
  pred_attn_q: number;
  meas_attn_q: number;
  pred_mlp_cos: number;
  meas_mlp_cos: number;
  pred_mlp_q: number;
  meas_mlp_q: number;
}

/**
 * Batch-mean Gram matrix per coordinate, K[i,j] = mean_b sum_c h[b,i,c] h[b,j,c] / d,
 * of activations h [B*T, d].
 */
export function tokenKernel(h: Float32Array, B: number, T: number, d: number): Float64Array {
  const k = new Float64Array(T * T);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        const oi = (b * T + i) * d, oj = (b * T + j) * d;
        for (let c = 0; c < d; c++) s += h[oi + c] * h[oj + c];
        k[i * T + j] += s / (d * B);
      }
    }
  }
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) k[i * T + j] = k[j * T + i];
  return k;
}

/**
 * Runs the network on tokens x [B, T] at init and tabulates each layer.
 *
 * @example
 * ```ts
 * const rows = diagnoseEspa(net, x, B, T, width, { depth: 8 });
 * ```
 */
export function diagnoseEspa(
  net: Network,
  x: Int32Array,
  B: number,
  T: number,
  d: number,
  o: DiagnoseOptions,
): DiagnosisRow[] {
  const L = o.depth, eta = o.tat_eta ?? 0.9, gammaFinal = o.gamma_final ?? 0.005;
  const slope = tatSlope(L, eta);
  const layers = spaLayers("espa", T, L, { gammaFinal, mlpSlope: o.mlp_aware ? slope : undefined });
  const targets = spaKernels("espa", T, L, { gammaFinal });
  const path = kernelPath(layers.map((l) => l.A), T, slope);
  const acts = new Map<string, Float32Array>();
  tf.tidy(() => {
    net.logits(tf.tensor2d(x, [B, T], "int32"), (name, t) => {
      if (/^block\d+\.(attn_matrix|attn_out|out)$/.test(name)) acts.set(name, t.dataSync() as Float32Array);
    });
  });
  const gammas = espaGammas(L, gammaFinal);
  return layers.map((ly, l) => {
    const a = acts.get(`block${l}.attn_matrix`)!;
    let err = 0;
    for (let m = 0; m < a.length; m++) err = Math.max(err, Math.abs(a[m] - ly.A[m % (T * T)]));
    const ma = kernelStats(tokenKernel(acts.get(`block${l}.attn_out`)!, B, T, d), T);
    const mm = kernelStats(tokenKernel(acts.get(`block${l}.out`)!, B, T, d), T);
    const pa = kernelStats(path[l].afterAttention, T), pm = kernelStats(path[l].afterMlp, T);
    return {
      layer: l + 1,
      gamma: gammas[l + 1],
      attn_max_err: err,
      target_cos: kernelStats(targets[l + 1], T).cos,
      pred_attn_cos: pa.cos,
      meas_attn_cos: ma.cos,
      pred_attn_q: pa.q,
      meas_attn_q: ma.q,
      pred_mlp_cos: pm.cos,
      meas_mlp_cos: mm.cos,
      pred_mlp_q: pm.q,
      meas_mlp_q: mm.q,
    };
  });
}
