/**
 * Measures each fused op on the current webgpu device both ways (WGSL
 * kernels, plain tfjs composition): forward + backward of the op at the
 * shapes one nGPT layer gives it, waited for on the device, median of
 * `reps` runs after one warm-up (which compiles the shaders), the two paths
 * alternating. The faster
 * path is the op's decision (engine/kernels/fused_webgpu.ts; tasks/gpu_check.ts
 * prints the DMODEL_WEBGPU_FUSED value it implies).
 */
import * as tf from "@tensorflow/tfjs";
import {
  lerpNormTo,
  rmsNormalize,
  ropeNormScale,
  ropeRotate,
  rowNormalize,
  softmaxCrossEntropy,
  swiglu,
} from "../kernels/fused_ops.ts";
import {
  type FusedOpName,
  setWebGPUPaths,
  type WebGPUPath,
  webgpuPaths,
  WGSL_OPS,
} from "../kernels/fused_webgpu.ts";
import { ropeTables } from "../nn/ops.ts";

/** One op's timing both ways. */
export interface OpTiming {
  op: FusedOpName;
  /** What was timed (shapes). */
  shape: string;
  wgsl_ms: number;
  plain_ms: number;
  choice: WebGPUPath;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * Times every op with a WGSL path at tokens N = batch x seq, width d, head
 * dim dk, vocab V; restores the paths it found.
 */
export async function timeFusedOps(
  o: { tokens: number; seq: number; width: number; headDim: number; vocab: number; reps: number },
): Promise<OpTiming[]> {
  const { tokens: N, seq: T, width: d, headDim: dk, vocab: V } = o;
  const B = N / T, H = d / dk, f = 4 * d;
  const r = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, "float32", seed);
  const tabs = ropeTables(T, dk);
  const targets = tf.randomUniform([N], 0, V, "int32", 7) as tf.Tensor1D;
  const cases: Record<string, { shape: string; inputs: tf.Tensor[]; f: (...x: tf.Tensor[]) => tf.Tensor }> = {
    rowNorm: {
      shape: `[${N}, ${d}] (+ RMS)`,
      inputs: [r([N, d], 1)],
      f: (x) => tf.add(rowNormalize(x), rmsNormalize(x)),
    },
    lerpNorm: {
      shape: `[${N}, ${d}] (lerpNormTo)`,
      inputs: [rowNormalize(r([N, d], 2)), r([N, d], 3), r([d], 4)],
      f: (h, u, a) => lerpNormTo(h as tf.Tensor2D, u as tf.Tensor2D, a),
    },
    rope: {
      shape: `[${B}, ${T}, ${H}, ${dk}]`,
      inputs: [r([B, T, H, dk], 5)],
      f: (x) => ropeRotate(x as tf.Tensor4D, tabs),
    },
    ropeNormScale: {
      shape: `[${B}, ${T}, ${H}, ${dk}]`,
      inputs: [r([B, T, H, dk], 6), r([d], 7)],
      f: (x, s) => ropeNormScale(x as tf.Tensor4D, tabs, s),
    },
    swiglu: {
      shape: `[${N}, ${f}]`,
      inputs: [r([N, f], 8), r([N, f], 9), r([f], 10), r([f], 11)],
      f: (a, b, su, snu) => swiglu(a as tf.Tensor2D, b as tf.Tensor2D, su, snu, Math.sqrt(d)),
    },
    crossEntropy: {
      shape: `[${N}, ${V}]`,
      inputs: [r([N, V], 12)],
      f: (l) => softmaxCrossEntropy(l as tf.Tensor2D, targets),
    },
  };
  const before = { ...webgpuPaths() };
  const out: OpTiming[] = [];
  try {
    for (const op of WGSL_OPS) {
      const c = cases[op];
      const g = tf.grads((...xs: tf.Tensor[]) => tf.sum(c.f(...xs)));
      const runOnce = async (path: WebGPUPath) => {
        setWebGPUPaths({ ...before, [op]: path });
        const t0 = performance.now();
        const gs = g(c.inputs);
        await Promise.all(gs.map((x) => x.data()));
        tf.dispose(gs);
        return performance.now() - t0;
      };
      // Warm-up (shader compilation), then the two paths alternate so that a drifting load hits both alike.
      await runOnce("wgsl"), await runOnce("plain");
      const times: Record<WebGPUPath, number[]> = { wgsl: [], plain: [] };
      for (let i = 0; i < o.reps; i++) {
        for (const path of ["wgsl", "plain"] as const) times[path].push(await runOnce(path));
      }
      const ms = {
        wgsl: Math.round(median(times.wgsl) * 100) / 100,
        plain: Math.round(median(times.plain) * 100) / 100,
      };
      out.push({
        op,
        shape: c.shape,
        wgsl_ms: ms.wgsl,
        plain_ms: ms.plain,
        choice: ms.wgsl <= ms.plain ? "wgsl" : "plain",
      });
    }
  } finally {
    setWebGPUPaths(before);
    tf.dispose([targets, tabs.cos, tabs.sin, ...Object.values(cases).flatMap((c) => c.inputs)]);
  }
  return out;
}

/** The DMODEL_WEBGPU_FUSED value that sets every measured op to its faster path. */
export function fusedSettingOf(timings: OpTiming[]): string {
  return timings.map((t) => `${t.op}=${t.choice}`).join(",");
}
