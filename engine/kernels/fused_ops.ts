/**
 * Fused tfjs ops for the normalized transformer.
 *
 * nGPT normalizes every hidden vector, q and k per head, and every block
 * output (docs/reference.md section 1). Written with plain tfjs ops, one nGPT step ran
 * ~1500 small kernels, most of the step's time. Each op here computes one
 * piece of the block with an analytic gradient: mostly one kernel each way
 * (engine/kernels/fused_kernels.ts, over tensor memory on the wasm and cpu
 * backends, its loops shared between threads by engine/kernels/thread_pool.ts and run
 * as native code when engine/kernels/native.ts could build it, else in TS). Where
 * tfjs's SIMD kernels beat a TS pass (SwiGLU's forward, the attention
 * softmax: every element needs an exp) the TS path runs those inside the
 * custom gradient, and the native path one fused task each:
 *
 * | op | computes | replaces |
 * |---|---|---|
 * | {@link rowNormalize} | x / ‖x‖ per row | Square, Sum, Rsqrt, Mul (+ ~8 backward) |
 * | {@link rmsNormalize} | x / sqrt(mean(x²) + eps) | 5 kernels (+ ~10 backward) |
 * | {@link lerpNorm} | Norm(h + ‖alpha‖ (t − h)) | 5 kernels (+ ~15 backward) |
 * | {@link lerpNormTo} | Norm(h + ‖alpha‖ (Norm(u) − h)) | 9 kernels (+ ~25 backward) |
 * | {@link ropeRotate} | RoPE of x [B, T, H, d_k] | Reverse, Mul, Mul, Add |
 * | {@link ropeNormScale} | Norm_head(RoPE(x)) · s | 8 kernels (+ ~20 backward) |
 * | {@link colScale} | x · s · c, s broadcast over rows | (plain tf.mul, listed for the block) |
 * | {@link swiglu} | (a s_u) · SiLU(b s_nu c) | 6 kernels (+ ~20 backward) |
 * | {@link attentionCore} | softmax(scale q kᵀ + mask) v | 3 transposes, 2 matmuls, Mul, Add, Softmax |
 * | {@link softmaxCrossEntropy} | mean(logsumexp − picked) | OneHot, Max, Equal, Exp, ... |
 *
 * On `webgpu` each op runs either WGSL kernels (engine/kernels/fused_webgpu.ts) or
 * its plain composition, one decision per op ({@link fusedOpActive}). On
 * other backends (or after `setFusedOps(false)`) every op runs the plain
 * tfjs composition it replaces, with the same values.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { rowNormalize } from "./fused_ops.ts";
 * rowNormalize(tf.tensor2d([[3, 4]])).print(); // [[0.6, 0.8]]
 * ```
 */
import * as tf from "@tensorflow/tfjs";
import { JS_KERNEL_BACKENDS, run } from "./js_kernels.ts";
import { openblasAvailable } from "./blas.ts";
import { nativeActive } from "./native.ts";
import { custom } from "./custom_grad.ts";
import "./fused_kernels.ts";
import {
  type FusedOpName,
  gpuColScale,
  gpuCrossEntropy,
  gpuLerpNorm,
  gpuRope,
  gpuRowNormalize,
  gpuSwiglu,
  wgslActive,
} from "./fused_webgpu.ts";

let enabled = true;

/** Turns the fused kernels on or off for every op here (off: plain tfjs compositions). */
export function setFusedOps(on: boolean): void {
  enabled = on;
}

/** True when the fused kernels run on the current backend. */
export function fusedOpsActive(): boolean {
  return enabled && (JS_KERNEL_BACKENDS as readonly string[]).includes(tf.getBackend());
}

/**
 * True when fused op `op` runs fused kernels here: the TS/native kernels on
 * wasm and cpu, or WGSL on webgpu where that op's decision is `wgsl`.
 */
export function fusedOpActive(op: FusedOpName): boolean {
  if (!enabled) return false;
  if (tf.getBackend() === "webgpu") return wgslActive(op);
  return op === "attention" ? fusedAttentionActive() : fusedOpsActive();
}

/** True when {@link attentionCore} runs its fused kernels (they need OpenBLAS). */
export function fusedAttentionActive(): boolean {
  return fusedOpsActive() && openblasAvailable();
}

function checkFloat(name: string, ...xs: tf.Tensor[]): void {
  for (const x of xs) {
    if (x.dtype !== "float32") throw new Error(`${name}: expected float32 tensors, got ${x.dtype}`);
  }
}

// --- Row normalization ------------------------------------------------------

/** The 4-kernel composition with the analytic gradient, for backends without the fused kernels. */
const rowNormalizeComposed = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor, save = args[1] as tf.GradSaveFunc;
    // inv = 1 / ||x|| per row; y = x * inv.
    const inv = tf.rsqrt(tf.sum(tf.square(x), -1, true));
    const y = tf.mul(x, inv);
    save([y, inv]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [y, inv] = saved;
        // dy/dx = (I - y y^T) / ||x||, so dx = (dy - y * sum(y * dy)) / ||x||.
        const dot = tf.sum(tf.mul(y, dy), -1, true);
        return tf.mul(tf.sub(dy, tf.mul(y, dot)), inv);
      },
    };
  },
);

function rowNormOp(ms: number, eps: number) {
  return custom(([x], save) => {
    const [y, inv] = run("DmodelRowNorm", { x }, { ms, eps });
    save([y, inv]);
    return {
      value: y,
      gradFunc: (dy, [y, inv]) => run("DmodelRowNormGrad", { dy, y, inv }, { ms })[0],
    };
  });
}
const unitRowNorm = rowNormOp(1, 0);

/**
 * Norm(x) = x / ||x||_2 along the last axis (nGPT, docs/reference.md section 1), with
 * the gradient dx = (dy - y * sum(y * dy)) / ||x||. Same values as
 * `tf.div(x, tf.norm(x, "euclidean", -1, true))` and, like it, no epsilon:
 * a zero row gives NaN.
 */
export function rowNormalize<T extends tf.Tensor>(x: T): T {
  if (x.dtype !== "float32") {
    throw new Error(`rowNormalize: expected a float32 tensor, got ${x.dtype}`);
  }
  if (x.rank < 1) {
    throw new Error(`rowNormalize: expected a tensor of rank >= 1, got a scalar`);
  }
  if (fusedOpActive("rowNorm") && !fusedOpsActive()) return gpuRowNormalize(x, 1, 0) as T;
  return (fusedOpsActive() ? unitRowNorm(x) : rowNormalizeComposed(x)) as T;
}

/** RMSNorm without gain, x / sqrt(mean(x^2) + eps) along the last axis, fused (same values as the composition). */
export function rmsNormalize<T extends tf.Tensor>(x: T, eps = 1e-6): T {
  checkFloat("rmsNormalize", x);
  if (fusedOpActive("rowNorm") && !fusedOpsActive()) {
    return gpuRowNormalize(x, 1 / x.shape[x.rank - 1], eps) as T;
  }
  if (!fusedOpsActive()) return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))) as T;
  return rowNormOp(1 / x.shape[x.rank - 1], eps)(x) as T;
}

// --- LERP on the sphere -------------------------------------------------------

const lerpNormOp = custom(([h, t, a], save) => {
  const [y, inv] = run("DmodelLerpNorm", { h, t, a });
  save([y, inv, h, t, a]);
  return {
    value: y,
    gradFunc: (dy, [y, inv, h, t, a]) => run("DmodelLerpNormGrad", { dy, y, inv, h, t, a }),
  };
});

/**
 * nGPT's residual update (eq. 10-11): Norm(h + |alpha| (target - h)) for
 * h, target [N, d] and the eigen learning rates alpha [d].
 */
export function lerpNorm(h: tf.Tensor2D, target: tf.Tensor2D, alpha: tf.Tensor): tf.Tensor2D {
  checkFloat("lerpNorm", h, target, alpha);
  if (fusedOpActive("lerpNorm") && !fusedOpsActive()) {
    return gpuLerpNorm(h, target, alpha.reshape([h.shape[1]]));
  }
  if (!fusedOpsActive()) {
    const z = tf.add(h, tf.mul(tf.abs(alpha), tf.sub(target, h)));
    return tf.mul(z, tf.rsqrt(tf.sum(tf.square(z), -1, true)));
  }
  return lerpNormOp(h, target, alpha.reshape([h.shape[1]])) as tf.Tensor2D;
}

const lerpNormToOp = custom(([h, u, a], save) => {
  const [y, inv, invU] = run("DmodelLerpNormTo", { h, u, a });
  save([y, inv, h, u, invU, a]);
  return {
    value: y,
    gradFunc: (dy, [y, inv, h, u, invU, a]) => run("DmodelLerpNormToGrad", { dy, y, inv, h, u, invU, a }),
  };
});

/**
 * nGPT's residual update toward a block output that still needs its Norm:
 * Norm(h + |alpha| (Norm(u) - h)) for h, u [N, d], alpha [d]. The same as
 * `lerpNorm(h, rowNormalize(u), alpha)` in one kernel each way.
 */
export function lerpNormTo(h: tf.Tensor2D, u: tf.Tensor2D, alpha: tf.Tensor): tf.Tensor2D {
  checkFloat("lerpNormTo", h, u, alpha);
  if (fusedOpActive("lerpNorm") && !fusedOpsActive()) {
    // webgpu: Norm(u) as its own op (the rowNorm decision), then the LERP.
    return gpuLerpNorm(h, rowNormalize(u), alpha.reshape([h.shape[1]]));
  }
  if (!fusedOpsActive()) {
    const t = tf.mul(u, tf.rsqrt(tf.sum(tf.square(u), -1, true))) as tf.Tensor2D;
    return lerpNorm(h, t, alpha);
  }
  return lerpNormToOp(h, u, alpha.reshape([h.shape[1]])) as tf.Tensor2D;
}

// --- RoPE ---------------------------------------------------------------------

/** RoPE tables: cos and signed sin, [T, 1, d_k] (engine/nn/ops.ts ropeTables). */
export interface RopeTables {
  cos: tf.Tensor;
  sin: tf.Tensor;
}

/** The plain composition: x * cos + swap(x) * sin, swap exchanging each pair. */
function ropeComposed(x: tf.Tensor4D, tables: RopeTables): tf.Tensor4D {
  const [b, t, h, dk] = x.shape;
  // Pairs as rows of 2 (a 5-D reverse fails on tfjs-backend-webgpu 4.22: its Reverse kernel mis-reshapes rank 5).
  const swapped = tf.reverse(x.reshape([b * t * h * dk / 2, 2]), -1).reshape([b, t, h, dk]);
  return tf.add(tf.mul(x, tables.cos), tf.mul(swapped, tables.sin)) as tf.Tensor4D;
}

const ropeOp = custom(([x, cos, sin], save) => {
  save([cos, sin]);
  return {
    value: run("DmodelRope", { x, cos, sin }, { inverse: false })[0],
    // The tables are constants: zero gradients.
    gradFunc: (dy, [cos, sin]) => [
      run("DmodelRope", { x: dy, cos, sin }, { inverse: true })[0],
      tf.zerosLike(cos),
      tf.zerosLike(sin),
    ],
  };
});

/** RoPE of x [B, T, H, d_k] (interleaved pairs) in one kernel; the gradient is the inverse rotation. */
export function ropeRotate(x: tf.Tensor4D, tables: RopeTables): tf.Tensor4D {
  checkFloat("ropeRotate", x);
  if (fusedOpActive("rope") && !fusedOpsActive()) return gpuRope(x, tables.cos, tables.sin);
  if (!fusedOpsActive()) return ropeComposed(x, tables);
  return ropeOp(x, tables.cos, tables.sin) as tf.Tensor4D;
}

const ropeNormScaleOp = custom(([x, s, cos, sin], save) => {
  const [y, nrm, inv] = run("DmodelRopeNormScale", { x, cos, sin, s });
  save([nrm, inv, s, cos, sin]);
  return {
    value: y,
    gradFunc: (dy, [nrm, inv, s, cos, sin]) => {
      const [dx, ds] = run("DmodelRopeNormScaleGrad", { dy, nrm, inv, s, cos, sin });
      return [dx, ds, tf.zerosLike(cos), tf.zerosLike(sin)];
    },
  };
});

/**
 * nGPT's q/k path: Norm_head(RoPE(x)) * s for x [B, T, H, d_k] and s of
 * H*d_k entries (s_qk viewed as H x d_k), in one kernel each way.
 */
export function ropeNormScale(x: tf.Tensor4D, tables: RopeTables, s: tf.Tensor): tf.Tensor4D {
  checkFloat("ropeNormScale", x, s);
  const [, , H, dk] = x.shape;
  if (fusedOpActive("ropeNormScale") && !fusedOpsActive()) {
    // webgpu: RoPE, the per-head Norm, then the scale, each in WGSL.
    return gpuColScale(
      gpuRowNormalize(gpuRope(x, tables.cos, tables.sin), 1, 0),
      s.reshape([H * dk]),
    ) as tf.Tensor4D;
  }
  if (!fusedOpsActive()) {
    const r = ropeComposed(x, tables);
    return tf.mul(tf.mul(r, tf.rsqrt(tf.sum(tf.square(r), -1, true))), s.reshape([H, dk])) as tf.Tensor4D;
  }
  return ropeNormScaleOp(x, s.reshape([H * dk]), tables.cos, tables.sin) as tf.Tensor4D;
}

// --- Column scale and SwiGLU --------------------------------------------------

/**
 * x * s * c with s [n] broadcast over the rows of x [..., n]. A plain tf.mul:
 * with the wasm kernels of engine/kernels/js_kernels.ts its gradient (a column sum)
 * is already one SIMD multiply and one sgemv.
 */
export function colScale<T extends tf.Tensor>(x: T, s: tf.Tensor, c = 1): T {
  checkFloat("colScale", x, s);
  return (c === 1 ? tf.mul(x, s) : tf.mul(x, tf.mul(s, c))) as T;
}

function swigluOp(c: number) {
  return custom(([a, b, su, snu], save) => {
    // Forward with tfjs's SIMD kernels (not recorded: inside customGrad); backward in one
    // JS pass (a chain of SIMD multiplies measured faster at width 128 but slower at 256,
    // where its ~10 passes over 8 MB arrays are bound by memory bandwidth).
    const nu = tf.mul(b, tf.mul(snu, c));
    const sg = tf.sigmoid(nu);
    save([a, b, su, snu, nu, sg]);
    return {
      value: tf.mul(tf.mul(a, su), tf.mul(nu, sg)),
      gradFunc: (dg, [a, b, su, snu, nu, sg]) =>
        run("DmodelSwigluGrad", { dg, a, b, su, snu, nu, sg }, { c }),
    };
  });
}

/** SwiGLU with one native pass each way, saving only its inputs (engine/kernels/native.ts). */
function swigluNativeOp(c: number) {
  return custom(([a, b, su, snu], save) => {
    save([a, b, su, snu]);
    return {
      value: run("DmodelSwiglu", { a, b, su, snu }, { c })[0],
      gradFunc: (dg, [a, b, su, snu]) => run("DmodelSwigluGradFromInputs", { dg, a, b, su, snu }, { c }),
    };
  });
}

/**
 * SwiGLU of nGPT's MLP (docs/reference.md section 1): (a * s_u) * SiLU(b * s_nu * c)
 * for a = h W_u, b = h W_nu [N, f], s_u, s_nu [f], c = sqrt(d).
 */
export function swiglu(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  su: tf.Tensor,
  snu: tf.Tensor,
  c: number,
): tf.Tensor2D {
  checkFloat("swiglu", a, b, su, snu);
  if (fusedOpActive("swiglu") && !fusedOpsActive()) {
    return gpuSwiglu(a, b, su.reshape([a.shape[1]]), snu.reshape([a.shape[1]]), c);
  }
  if (!fusedOpsActive()) {
    const u = tf.mul(a, su), nu = tf.mul(b, tf.mul(snu, c));
    return tf.mul(u, tf.mul(nu, tf.sigmoid(nu)));
  }
  const f = a.shape[1];
  const op = nativeActive("swiglu") && nativeActive("swigluGradFromInputs") ? swigluNativeOp : swigluOp;
  return op(c)(a, b, su.reshape([f]), snu.reshape([f])) as tf.Tensor2D;
}

// --- Attention core -----------------------------------------------------------

function attentionOp(scale: number, mask: tf.Tensor) {
  return custom(([q, k, v], save) => {
    // Native: scores and softmax in one task per head; else scores, then tfjs's SIMD softmax.
    const p = nativeActive("attnProbs")
      ? run("DmodelAttnProbs", { q, k, mask }, { scale })[0]
      : tf.softmax(run("DmodelAttnScores", { q, k, mask }, { scale })[0]);
    save([p, q, k, v, mask]);
    return {
      value: run("DmodelAttnApply", { p, v, mask })[0],
      gradFunc: (dy, [p, q, k, v, mask]) => run("DmodelAttnGrad", { dy, p, q, k, v, mask }, { scale }),
    };
  });
}

/**
 * softmax(scale * q k^T + mask) v per head for q, k, v [B, T, H, d_k] and an
 * additive mask [T, T], returned as [B*T, H*d_k] (heads side by side). The
 * fused path multiplies head views in place with OpenBLAS (no transposes)
 * and treats mask entries <= -1e9 as probability 0 (skipped in the
 * gradient); without OpenBLAS it is the plain composition.
 */
export function attentionCore(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  scale: number,
  mask: tf.Tensor2D,
): tf.Tensor2D {
  checkFloat("attentionCore", q, k, v, mask);
  const [b, t, h, dk] = q.shape;
  if (!fusedAttentionActive()) {
    const [qh, kh, vh] = [q, k, v].map((x) => tf.transpose(x, [0, 2, 1, 3]));
    const att = tf.softmax(tf.add(tf.mul(tf.matMul(qh, kh, false, true), scale), mask));
    return tf.transpose(tf.matMul(att, vh), [0, 2, 1, 3]).reshape([b * t, h * dk]);
  }
  return attentionOp(scale, mask)(q, k, v) as tf.Tensor2D;
}

// --- Cross-entropy ------------------------------------------------------------

function xentOp(targets: tf.Tensor) {
  return custom(([logits], save) => {
    const p = tf.softmax(logits);
    save([p, targets]);
    return {
      value: run("DmodelXentLoss", { p, logits, targets })[0],
      // (p - onehot) dy / N: one SIMD multiply, then N entries fixed in place.
      gradFunc: (dy, [p, targets]) => {
        const g = tf.div(dy, p.shape[0]);
        return run("DmodelSubAtTargets", { x: tf.mul(p, g), targets, g })[0];
      },
    };
  });
}

/**
 * Mean cross-entropy (nats) of logits [N, V] against int32 targets [N]:
 * mean(logsumexp(logits) - logits[target]). Fused: one softmax, a pass over
 * N targets, and one backward pass (softmax - onehot) / N.
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  checkFloat("softmaxCrossEntropy", logits);
  if (targets.dtype !== "int32") {
    throw new Error(`softmaxCrossEntropy: targets must be int32, got ${targets.dtype}`);
  }
  if (fusedOpActive("crossEntropy") && !fusedOpsActive()) return gpuCrossEntropy(logits, targets);
  if (!fusedOpsActive()) {
    const picked = tf.sum(tf.mul(logits, tf.oneHot(targets, logits.shape[1])), 1);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), picked));
  }
  return xentOp(targets)(logits) as tf.Scalar;
}
