/**
 * Native TensorFlow through `@tensorflow/tfjs-node-gpu` (CUDA 11.2 + cuDNN
 * 8.1) or `@tensorflow/tfjs-node`. Optional: their install downloads
 * libtensorflow, so dmodel never depends on them. A user who has one
 * installed (`deno install npm:@tensorflow/tfjs-node-gpu@4.22.0` with network
 * and build scripts allowed) gets it here; otherwise a clear error.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { DmodelError } from "../../engine/core/errors.ts";
import { register } from "../../engine/core/registry.ts";
import type { BackendImpl } from "../../engine/kernels/backend.ts";

const PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"];

/** The first installed tfjs-node package, found without installing anything. */
export function installedNodeBinding(): string | null {
  for (const pkg of PACKAGES) {
    try {
      Deno.statSync(`node_modules/${pkg}/package.json`);
      return pkg;
    } catch { /* not installed */ }
  }
  return null;
}

register("backend", "tensorflow", {
  describe: "native TensorFlow via tfjs-node-gpu / tfjs-node when installed (optional)",
  schema: z.object({}).strict(),
  create: (): BackendImpl => ({
    available: () => Promise.resolve(installedNodeBinding() !== null),
    async setup() {
      const pkg = installedNodeBinding();
      if (!pkg) {
        throw new DmodelError(
          "backend tensorflow: neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed " +
            "(they download libtensorflow at install time; see docs/gpu.md, 'Optional: native TensorFlow'); " +
            "use backend: wasm",
        );
      }
      try {
        await import(new URL(`../../node_modules/${pkg}/dist/index.js`, import.meta.url).href);
      } catch (e) {
        throw new DmodelError(
          `backend tensorflow: ${pkg} is installed but failed to load: ${(e as Error).message}`,
        );
      }
      if (!(await tf.setBackend("tensorflow"))) {
        throw new DmodelError(`backend tensorflow: ${pkg} loaded but tfjs could not start it`);
      }
      await tf.ready();
      return "tensorflow";
    },
  }),
});
