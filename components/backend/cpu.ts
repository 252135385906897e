/** The pure-JavaScript tfjs backend: slow (about 10x wasm), exact, always there. */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { BackendImpl } from "../../engine/kernels/backend.ts";

register("backend", "cpu", {
  describe: "tfjs pure-JavaScript backend (slow; a reference)",
  schema: z.object({}).strict(),
  create: (): BackendImpl => ({
    available: () => Promise.resolve(true),
    async setup() {
      if (!(await tf.setBackend("cpu"))) throw new Error("tfjs could not start the cpu backend");
      await tf.ready();
      return "cpu";
    },
  }),
});
