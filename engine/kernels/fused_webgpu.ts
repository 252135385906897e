/**
 * The fused ops of engine/kernels/fused_ops.ts on tfjs's `webgpu` backend, built
 * from the WGSL programs of engine/kernels/webgpu_kernels.ts (maps and row
 * reductions, column sums) with analytic gradients. Same math as the wasm
 * kernels (engine/kernels/fused_kernels.ts), sums in float32.
 *
 * Each op runs either these kernels (`wgsl`) or its plain tfjs composition
 * (`plain`): one decision per op, {@link WEBGPU_FUSED_DEFAULT}, measured
 * with `deno task gpu-check` (tasks/gpu_check.ts, `ops` section) and
 * overridable with DMODEL_WEBGPU_FUSED, e.g. `all=plain` or
 * `rowNorm=wgsl,swiglu=plain`.
 */
import * as tf from "@tensorflow/tfjs";
import { DmodelError } from "../core/errors.ts";
import { gpuColSum, gpuMap, gpuRowReduce } from "./webgpu_kernels.ts";
import { custom } from "./custom_grad.ts";

/** The fused ops that have a decision on webgpu. */
export const FUSED_OP_NAMES = [
  "rowNorm",
  "lerpNorm",
  "rope",
  "ropeNormScale",
  "swiglu",
  "attention",
  "crossEntropy",
] as const;
/** One fused op's name. */
export type FusedOpName = typeof FUSED_OP_NAMES[number];
/** How a fused op runs on webgpu. */
export type WebGPUPath = "wgsl" | "plain";

/** Ops with a WGSL implementation here (attention has none: see docs/gpu.md). */
export const WGSL_OPS: readonly FusedOpName[] = [
  "rowNorm",
  "lerpNorm",
  "rope",
  "ropeNormScale",
  "swiglu",
  "crossEntropy",
];

/**
 * The default path of each op on webgpu, measured on the only adapter this
 * project has had: llvmpipe, the fallback, on a loaded 2-core machine
 * (`deno task gpu-check --tiny --op-width 256 --sections ops`; docs/gpu.md,
 * "WebGPU"). WGSL won clearly for LERP, RoPE, SwiGLU and cross-entropy,
 * narrowly for RoPE + norm; the row norm was a tie or a loss (its per-row
 * workgroup reduction is slow on llvmpipe). A real GPU may decide
 * differently: `deno task gpu-check` measures both ways and prints the
 * DMODEL_WEBGPU_FUSED value it would choose.
 */
export const WEBGPU_FUSED_DEFAULT: Readonly<Record<FusedOpName, WebGPUPath>> = {
  rowNorm: "plain",
  lerpNorm: "wgsl",
  rope: "wgsl",
  ropeNormScale: "wgsl",
  swiglu: "wgsl",
  attention: "plain",
  crossEntropy: "wgsl",
};

let paths: Record<FusedOpName, WebGPUPath> = { ...WEBGPU_FUSED_DEFAULT };

/**
 * Parses a DMODEL_WEBGPU_FUSED value: comma-separated `op=wgsl|plain`, `all`
 * for every op. Throws a one-line error naming the bad entry.
 */
export function parseFusedSetting(spec: string): Record<FusedOpName, WebGPUPath> {
  const out: Record<FusedOpName, WebGPUPath> = { ...WEBGPU_FUSED_DEFAULT };
  for (const part of spec.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
    const [op, path] = part.split("=").map((s) => s.trim());
    if (path !== "wgsl" && path !== "plain") {
      throw new DmodelError(`DMODEL_WEBGPU_FUSED: ${JSON.stringify(part)}: the path must be wgsl or plain`);
    }
    const ops = op === "all" ? FUSED_OP_NAMES : [op as FusedOpName];
    for (const o of ops) {
      if (!FUSED_OP_NAMES.includes(o)) {
        throw new DmodelError(
          `DMODEL_WEBGPU_FUSED: unknown op ${JSON.stringify(o)} (known: all, ${FUSED_OP_NAMES.join(", ")})`,
        );
      }
      if (path === "wgsl" && !WGSL_OPS.includes(o)) {
        if (op === "all") continue;
        throw new DmodelError(`DMODEL_WEBGPU_FUSED: ${o} has no WGSL kernel (use plain)`);
      }
      out[o] = path;
    }
  }
  return out;
}

/** Sets each op's path on webgpu (unnamed ops keep the default). */
export function setWebGPUPaths(p: Partial<Record<FusedOpName, WebGPUPath>>): void {
  paths = { ...WEBGPU_FUSED_DEFAULT, ...p };
}

/** The current path of every op on webgpu. */
export function webgpuPaths(): Readonly<Record<FusedOpName, WebGPUPath>> {
  return paths;
}

/** True when `op` runs its WGSL kernels now (backend webgpu and its path wgsl). */
export function wgslActive(op: FusedOpName): boolean {
  return paths[op] === "wgsl" && tf.getBackend() === "webgpu";
}

const last = (x: tf.Tensor) => x.shape[x.rank - 1];

// --- Row normalization: y = x / sqrt(ms sum(x²) + eps) ------------------------

const rowNormOps = new Map<string, (x: tf.Tensor) => tf.Tensor>();

/** x / sqrt(ms·sum(x²) + eps) per row; dx = inv (dy - ms y sum(y dy)). ms = 1, eps = 0: nGPT's Norm. */
export function gpuRowNormalize(x: tf.Tensor, ms: number, eps: number): tf.Tensor {
  const k = `${ms}/${eps}`;
  let op = rowNormOps.get(k);
  if (!op) {
    op = custom(([x], save) => {
      const n = last(x);
      const inv = gpuRowReduce(x, null, { invert: true, ms, eps });
      const y = gpuMap({ X: x, R: inv }, { key: "scale_rows", expr: "X[i] * R[row]", shape: x.shape, n });
      save([y, inv]);
      return {
        value: y,
        gradFunc: (dy, [y, inv]) => {
          const c = gpuRowReduce(y, dy, { invert: false });
          return gpuMap({ DY: dy, Y: y, R: inv, C: c }, {
            key: "rownorm_grad",
            expr: "R[row] * (DY[i] - uniforms.f0 * Y[i] * C[row])",
            shape: y.shape,
            n,
            f0: ms,
          });
        },
      };
    });
    rowNormOps.set(k, op);
  }
  return op(x);
}

// --- LERP on the sphere: y = Norm(h + |a| (t - h)) (nGPT eq. 10-11) ----------

// dz = inv (dy - y sum(y dy)); dh = dz (1 - |a|); dt = dz |a|; da = sign(a) sum_rows dz (t - h)
const lerpNormOp = custom(([h, t, a], save) => {
  const n = last(h), shape = h.shape;
  const z = gpuMap({ H: h, T: t, AL: a }, {
    key: "lerp",
    expr: "H[i] + abs(AL[col]) * (T[i] - H[i])",
    shape,
    n,
  });
  const inv = gpuRowReduce(z, null, { invert: true });
  const y = gpuMap({ X: z, R: inv }, { key: "scale_rows", expr: "X[i] * R[row]", shape, n });
  save([y, inv, h, t, a]);
  return {
    value: y,
    gradFunc: (dy, [y, inv, h, t, a]) => {
      const c = gpuRowReduce(y, dy, { invert: false });
      const dz = gpuMap({ DY: dy, Y: y, R: inv, C: c }, {
        key: "rownorm_grad",
        expr: "R[row] * (DY[i] - uniforms.f0 * Y[i] * C[row])",
        shape,
        n,
        f0: 1,
      });
      const dh = gpuMap({ DZ: dz, AL: a }, {
        key: "lerp_dh",
        expr: "DZ[i] * (1.0 - abs(AL[col]))",
        shape,
        n,
      });
      const dt = gpuMap({ DZ: dz, AL: a }, { key: "lerp_dt", expr: "DZ[i] * abs(AL[col])", shape, n });
      const part = gpuMap({ DZ: dz, T: t, H: h }, {
        key: "lerp_da",
        expr: "DZ[i] * (T[i] - H[i])",
        shape,
        n,
      });
      // d|a|/da as tfjs's Abs gradient: 1 for a > 0, else -1.
      const da = gpuMap({ S: gpuColSum(part), AL: a }, {
        key: "signed",
        expr: "select(-S[i], S[i], AL[i] > 0.0)",
        shape: a.shape,
        n: a.size,
      });
      return [dh, dt, da];
    },
  };
});

/** nGPT's residual update Norm(h + |alpha| (t - h)) for h, t [N, d] and alpha [d]. */
export function gpuLerpNorm(h: tf.Tensor2D, t: tf.Tensor2D, alpha: tf.Tensor1D): tf.Tensor2D {
  return lerpNormOp(h, t, alpha) as tf.Tensor2D;
}

// --- RoPE on x [B, T, H, dk], tables [T, 1, dk] -------------------------------
// Pairs (x0, x1): r0 = x0 cos0 + x1 sin0, r1 = x1 cos1 + x0 sin1 (sin0 = -sin, sin1 = +sin,
// engine/ops.ts ropeTables). The inverse (the gradient) reads the partner's sin.

const ROPE_FNS = `
  fn rope(i : i32, col : i32, tab : i32, inverse : bool) -> f32 {
    // p: the partner of col in its pair; tab: the table row of this position.
    let p = select(col + 1, col - 1, (col & 1) == 1);
    let s = select(SIN[tab + col], SIN[tab + p], inverse);
    return X[i] * COS[tab + col] + X[i + p - col] * s;
  }`;

function ropeMap(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, inverse: boolean): tf.Tensor {
  const [, T, H, dk] = x.shape;
  return gpuMap({ X: x, COS: cos, SIN: sin }, {
    key: inverse ? "rope_inv" : "rope",
    fns: ROPE_FNS,
    // Position t = (i / (H dk)) mod T.
    expr: `rope(i, col, ((i / uniforms.p0) % uniforms.p1) * n, ${inverse})`,
    shape: x.shape,
    n: dk,
    p0: H * dk,
    p1: T,
  });
}

/** RoPE of x [B, T, H, d_k]; its gradient is the inverse rotation, the tables get zeros. */
const ropeOp = custom(([x, cos, sin], save) => {
  save([cos, sin]);
  return {
    value: ropeMap(x, cos, sin, false),
    gradFunc: (dy, [cos, sin]) => [ropeMap(dy, cos, sin, true), tf.zerosLike(cos), tf.zerosLike(sin)],
  };
});

/** RoPE of x [B, T, H, d_k] (interleaved pairs) in one WGSL pass each way. */
export function gpuRope(x: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor4D {
  return ropeOp(x, cos, sin) as tf.Tensor4D;
}

// --- Column scale: y = x s, s [n] over rows of x [..., n] ------------------------

const colScaleOp = custom(([x, s], save) => {
  const n = s.size;
  save([x, s]);
  return {
    value: gpuMap({ X: x, S: s }, { key: "colscale", expr: "X[i] * S[col]", shape: x.shape, n }),
    gradFunc: (dy, [x, s]) => [
      gpuMap({ DY: dy, S: s }, { key: "colscale_dx", expr: "DY[i] * S[col]", shape: x.shape, n }),
      gpuColSum(
        gpuMap({ DY: dy, X: x }, { key: "colscale_ds", expr: "DY[i] * X[i]", shape: [x.size / n, n], n }),
      ),
    ],
  };
});

/** x · s with s [n] broadcast over the rows of x [..., n]; ds is a WGSL column sum. */
export function gpuColScale<T extends tf.Tensor>(x: T, s: tf.Tensor1D): T {
  return colScaleOp(x, s) as T;
}

// --- SwiGLU: (a s_u) SiLU(b s_nu c) ---------------------------------------------
// nu = b s_nu c, sg = sigmoid(nu), SiLU' = sg (1 + nu (1 - sg));
// da = dg s_u SiLU(nu); db = dg a s_u SiLU'(nu) s_nu c; ds_u, ds_nu: column sums.

const SWIGLU_FNS = `
  fn swiglu(i : i32, col : i32) -> f32 {
    let nu = B[i] * SNU[col] * uniforms.f0;
    return A[i] * SU[col] * nu * dmodelSigmoid(nu);
  }`;
const SWIGLU_GRAD_FNS = `
  fn swigluGrad(i : i32, col : i32, which : i32) -> f32 {
    let nu = B[i] * SNU[col] * uniforms.f0;
    let sg = dmodelSigmoid(nu);
    let silu = nu * sg;
    let dsilu = sg * (1.0 + nu * (1.0 - sg));
    let g = DG[i];
    let u = A[i] * SU[col];
    if (which == 0) { return g * SU[col] * silu; }
    if (which == 1) { return g * u * dsilu * SNU[col] * uniforms.f0; }
    if (which == 2) { return g * A[i] * silu; }
    return g * u * dsilu * B[i] * uniforms.f0;
  }`;

const swigluOps = new Map<number, (...x: tf.Tensor[]) => tf.Tensor>();

/** SwiGLU of nGPT's MLP for a, b [N, f], s_u, s_nu [f], c = sqrt(d). */
export function gpuSwiglu(a: tf.Tensor2D, b: tf.Tensor2D, su: tf.Tensor1D, snu: tf.Tensor1D, c: number) {
  let op = swigluOps.get(c);
  if (!op) {
    op = custom(([a, b, su, snu], save) => {
      const n = last(a), shape = a.shape;
      const m = (key: string, expr: string, inputs: Record<string, tf.Tensor>) =>
        gpuMap(inputs, { key, expr, shape, n, f0: c, fns: "DG" in inputs ? SWIGLU_GRAD_FNS : SWIGLU_FNS });
      save([a, b, su, snu]);
      return {
        value: m("swiglu", "swiglu(i, col)", { A: a, B: b, SU: su, SNU: snu }),
        gradFunc: (dg, [a, b, su, snu]) => {
          const all = { DG: dg, A: a, B: b, SU: su, SNU: snu };
          const da = m("swiglu_da", "swigluGrad(i, col, 0)", all);
          const db = m("swiglu_db", "swigluGrad(i, col, 1)", all);
          const dsu = gpuColSum(m("swiglu_dsu", "swigluGrad(i, col, 2)", all));
          const dsnu = gpuColSum(m("swiglu_dsnu", "swigluGrad(i, col, 3)", all));
          return [da, db, dsu, dsnu];
        },
      };
    });
    swigluOps.set(c, op);
  }
  return op(a, b, su, snu) as tf.Tensor2D;
}

// --- Cross-entropy: mean(logsumexp - picked) -----------------------------------

function xentOp(targets: tf.Tensor1D) {
  return custom(([logits], save) => {
    const [N, V] = logits.shape;
    const lse = tf.logSumExp(logits, 1);
    const perRow = gpuMap({ LSE: lse, L: logits, TG: targets }, {
      key: "xent_rows",
      expr: "LSE[i] - L[i * uniforms.p0 + TG[i]]",
      shape: [N],
      n: 1,
      p0: V,
    });
    save([logits, lse, targets]);
    return {
      value: tf.mean(perRow),
      // (softmax - onehot) dy / N, softmax from the saved logsumexp: one pass.
      gradFunc: (dy, [logits, lse, targets]) =>
        gpuMap({ L: logits, LSE: lse, TG: targets, G: dy }, {
          key: "xent_grad",
          expr: "(exp(L[i] - LSE[row]) - select(0.0, 1.0, col == TG[row])) * G[0] * uniforms.f0",
          shape: logits.shape,
          n: V,
          f0: 1 / N,
        }),
    };
  });
}

/** Mean cross-entropy (nats) of logits [N, V] against int32 targets [N]. */
export function gpuCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  return xentOp(targets)(logits) as tf.Scalar;
}
