/**
 * The default backend: tfjs WebAssembly (SIMD, one thread under Deno). It
 * lacks the UnsortedSegmentSum kernel, which the gradient of tf.gather (the
 * embedding lookup) needs; dmodel registers one here.
 *
 * `wasm` is the fast path: matrix products through OpenBLAS
 * (engine/kernels/matmul.ts), faster Identity/Cast/Sum/GatherV2
 * (engine/kernels/js_kernels.ts), and the fused ops of engine/kernels/fused_ops.ts, whose
 * loops and Adam's run on several threads (engine/kernels/thread_pool.ts). `wasm-plain`
 * is tfjs alone, the reference the fast path is tested against.
 *
 * Threads: {@link threadBudget} (DMODEL_THREADS, else every core) for both
 * OpenBLAS and the kernel workers (they never run at the same time).
 * DMODEL_KERNEL_THREADS lowers the workers' count; DMODEL_BLAS_ADAPTIVE=0
 * keeps every large product on all OpenBLAS threads.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { BackendImpl } from "../../engine/kernels/backend.ts";
import { installFastKernels, uninstallFastKernels } from "../../engine/kernels/matmul.ts";
import { installKernelOverrides, uninstallKernelOverrides } from "../../engine/kernels/js_kernels.ts";
import { setFusedOps } from "../../engine/kernels/fused_ops.ts";
import { setKernelThreads } from "../../engine/kernels/thread_pool.ts";
import { loadNative } from "../../engine/kernels/native.ts";

// deno-lint-ignore no-explicit-any
type WasmBackend = any;

/**
 * out[s, ...] = sum of x[i, ...] over i with segmentIds[i] = s; ids outside
 * [0, numSegments) are dropped (tf semantics).
 */
function unsortedSegmentSum(
  { inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: WasmBackend; attrs: tf.NamedAttrMap },
): tf.TensorInfo {
  const x = inputs.x!, segmentIds = inputs.segmentIds!;
  const numSegments = attrs.numSegments as number;
  const idsShape = segmentIds.shape;
  const idsLen = idsShape.reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(idsShape.length).reduce((a, b) => a * b, 1);
  const outShape = [numSegments, ...x.shape.slice(idsShape.length)];
  const out = backend.makeOutput(outShape, x.dtype);
  // Heap views, taken after makeOutput (its malloc may grow the heap and detach older views).
  const xv = backend.typedArrayFromHeap(x) as Float32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  const ov = backend.typedArrayFromHeap(out) as Float32Array;
  ov.fill(0);
  for (let i = 0; i < idsLen; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner, dst = s * inner;
    for (let j = 0; j < inner; j++) ov[dst + j] += xv[src + j];
  }
  return out;
}

/** Threads one trial may use: DMODEL_THREADS (set by sweep workers), else every core. */
export function threadBudget(): number {
  const env = Number(Deno.env.get("DMODEL_THREADS") ?? "");
  return env > 0 ? Math.floor(env) : navigator.hardwareConcurrency ?? 1;
}

let kernelsRegistered = false;

/** Registers dmodel's additions to the wasm backend once. */
export function registerWasmKernels(): void {
  if (kernelsRegistered) return;
  kernelsRegistered = true;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
  });
}

/** Options of the wasm backend. */
const schema = z.object({
  /** Route matrix products through the system OpenBLAS when installed. */
  blas: z.boolean().default(true),
}).strict();

function wasm(opts: { blas: boolean }): BackendImpl {
  return {
    available: () => Promise.resolve(true),
    async setup() {
      registerWasmKernels();
      // Fast path: OpenBLAS matmuls, dmodel's Identity/Cast/Sum/GatherV2, fused ops (engine/kernels/fused_ops.ts).
      // wasm-plain: tfjs's own kernels and plain op compositions (the reference).
      // DMODEL_BLAS_ADAPTIVE=0 keeps every large product on all threads (no per-shape choice).
      const adaptive = Deno.env.get("DMODEL_BLAS_ADAPTIVE") !== "0";
      if (opts.blas) installFastKernels({ threads: threadBudget(), adaptive }), installKernelOverrides();
      else uninstallFastKernels(), uninstallKernelOverrides();
      setFusedOps(opts.blas);
      // The fused kernels' tasks in C when a compiler is there (engine/kernels/native.ts; DMODEL_NATIVE=0: TS only).
      if (opts.blas) await loadNative({ build: true });
      // The fused kernels' loops and Adam share the same thread budget (engine/kernels/thread_pool.ts).
      // DMODEL_KERNEL_THREADS overrides their count (1: main thread only).
      const kernelThreads = Number(Deno.env.get("DMODEL_KERNEL_THREADS") ?? "") || threadBudget();
      setKernelThreads(opts.blas ? Math.min(kernelThreads, threadBudget()) : 1);
      if (!(await tf.setBackend("wasm"))) throw new Error("tfjs could not start the wasm backend");
      await tf.ready();
      return "wasm";
    },
  };
}

register("backend", "wasm", {
  describe: "tfjs WebAssembly with SIMD (default); matmuls via OpenBLAS when installed",
  schema,
  create: (o) => wasm(schema.parse(o ?? {})),
});

register("backend", "wasm-plain", {
  describe:
    "tfjs WebAssembly with its own kernels only: no OpenBLAS, no fused ops (reference for the fast path)",
  schema: z.object({}).strict(),
  create: () => wasm({ blas: false }),
});
