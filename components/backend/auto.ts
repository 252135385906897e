/**
 * Picks the best backend available here, in order: native TensorFlow when
 * installed, WebGPU on a real (non-fallback) adapter, else wasm. Logs the
 * choice and the adapter it saw.
 */
import { z } from "zod";
import { build, register } from "../../engine/core/registry.ts";
import type { BackendImpl } from "../../engine/kernels/backend.ts";
import { adapterSummary, describeAdapter } from "../../engine/kernels/webgpu.ts";

/** The backend `auto` would choose here, with the reason (no side effects). */
export async function autoChoice(): Promise<{ name: string; reason: string }> {
  const tensorflow = build("backend", { name: "tensorflow" });
  if (await tensorflow.available()) return { name: "tensorflow", reason: "tfjs-node(-gpu) is installed" };
  const adapter = await adapterSummary();
  if (adapter && !adapter.isFallbackAdapter) {
    return { name: "webgpu", reason: `WebGPU adapter ${describeAdapter(adapter)}` };
  }
  const why = adapter ? `only the fallback adapter ${describeAdapter(adapter)}` : "no WebGPU adapter";
  return { name: "wasm", reason: `no tensorflow, ${why}` };
}

register("backend", "auto", {
  describe: "best available: tensorflow if installed, else webgpu on a non-fallback adapter, else wasm",
  schema: z.object({}).strict(),
  create: (): BackendImpl => {
    let why = "";
    return {
      available: () => Promise.resolve(true),
      async setup() {
        const { name, reason } = await autoChoice();
        why = `chose ${name}: ${reason}`;
        return await build("backend", { name }).setup();
      },
      note: () => why,
    };
  },
});
