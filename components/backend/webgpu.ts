/**
 * tfjs's WebGPU backend (`@tensorflow/tfjs-backend-webgpu`) under Deno, on
 * the device engine/kernels/webgpu.ts makes (one-line errors for no WebGPU, no
 * adapter, a lost device). The fused ops run as WGSL kernels or as their
 * plain tfjs compositions, one decision per op (engine/kernels/fused_webgpu.ts;
 * DMODEL_WEBGPU_FUSED overrides it). Master weights and Adam stay on the
 * host as on every backend (engine/nn/optim.ts); gradients are read back
 * asynchronously (engine/train/trainer.ts).
 *
 * With no GPU, Deno offers the llvmpipe fallback adapter: correct, slow,
 * used by the CI tests. `auto` picks webgpu only on a non-fallback adapter.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { DmodelError } from "../../engine/core/errors.ts";
import { register } from "../../engine/core/registry.ts";
import type { BackendImpl } from "../../engine/kernels/backend.ts";
import { setFusedOps } from "../../engine/kernels/fused_ops.ts";
import { parseFusedSetting, setWebGPUPaths, webgpuPaths } from "../../engine/kernels/fused_webgpu.ts";
import { registerWebGPUKernels } from "../../engine/kernels/webgpu_kernels.ts";
import {
  createDevice,
  currentAdapter,
  describeAdapter,
  requestAdapter,
  webgpuInRuntime,
} from "../../engine/kernels/webgpu.ts";

let installed = false;
let factoryError: Error | null = null;

/** Loads tfjs-backend-webgpu and registers `webgpu` on dmodel's own device (once). */
async function install(): Promise<void> {
  if (installed) return;
  // Loaded here, not at import: the package registers its backend with a priority above wasm's.
  const mod = await import("@tensorflow/tfjs-backend-webgpu");
  tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", async () => {
    try {
      const { device, info } = await createDevice();
      return new mod.WebGPUBackend(device as unknown as GPUDevice, info as GPUAdapterInfo);
    } catch (e) {
      factoryError = e as Error;
      throw e;
    }
  }, 1);
  registerWebGPUKernels();
  installed = true;
}

/**
 * tfjs's synchronous read (`dataSync`) on webgpu draws through OffscreenCanvas,
 * which Deno lacks (it fails deep inside tfjs); make it a one-line error.
 */
function refuseSyncReads(): void {
  const b = tf.backend() as unknown as {
    readSync(dataId: object): unknown;
    tensorMap: { get(dataId: object): { values?: unknown } | undefined };
    dmodelSyncGuard?: boolean;
  };
  if (b.dmodelSyncGuard) return;
  const readSync = b.readSync.bind(b);
  b.readSync = (dataId: object) => {
    if (b.tensorMap.get(dataId)?.values != null) return readSync(dataId); // already on the host
    throw new DmodelError(
      "backend webgpu: a synchronous read (dataSync/arraySync) cannot run on Deno's WebGPU; this code path " +
        "(probes, coord-check and the studies read synchronously) needs backend wasm",
    );
  };
  b.dmodelSyncGuard = true;
}

register("backend", "webgpu", {
  describe: "tfjs WebGPU (a real GPU, or the slow llvmpipe fallback adapter); fused ops in WGSL per op",
  schema: z.object({}).strict(),
  create: (): BackendImpl => ({
    available: async () => !("error" in (await requestAdapter())),
    async setup() {
      if (!webgpuInRuntime()) {
        throw new DmodelError(
          "backend webgpu: this runtime has no WebGPU (navigator.gpu is undefined); use backend: wasm",
        );
      }
      const spec = Deno.env.get("DMODEL_WEBGPU_FUSED") ?? "";
      setWebGPUPaths(parseFusedSetting(spec));
      await install();
      factoryError = null;
      const quiet = console.warn;
      console.warn = () => {}; // tfjs warns "Initialization of backend webgpu failed"; the error below says why
      let ok: boolean;
      try {
        ok = await tf.setBackend("webgpu");
      } finally {
        console.warn = quiet;
      }
      if (!ok) {
        const err = factoryError as Error | null;
        throw err instanceof DmodelError ? err : new DmodelError(
          `backend webgpu: tfjs could not start it${err ? `: ${err.message}` : ""}`,
        );
      }
      await tf.ready();
      refuseSyncReads();
      setFusedOps(true);
      return "webgpu";
    },
    // On the one backend line (engine/kernels/backend.ts): the adapter, and each fused op's path.
    note: () => {
      const a = currentAdapter();
      const paths = Object.entries(webgpuPaths()).map(([k, v]) => `${k}=${v}`).join(",");
      return `adapter ${a ? describeAdapter(a) : "(none)"}; fused ops ${paths}`;
    },
  }),
});
