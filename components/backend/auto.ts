/** Picks the best backend available here: native TensorFlow when installed, else wasm. */
import { z } from "zod";
import { register, resolve } from "../../engine/core/registry.ts";
import type { BackendImpl } from "../../engine/kernels/backend.ts";

register("backend", "auto", {
  describe: "best available: tensorflow (tfjs-node-gpu/-node) if installed, else wasm",
  schema: z.object({}).strict(),
  create: (): BackendImpl => ({
    available: () => Promise.resolve(true),
    async setup() {
      for (const name of ["tensorflow", "wasm"]) {
        const impl = resolve<unknown, BackendImpl>("backend", name).create({});
        if (await impl.available()) {
          const actual = await impl.setup();
          console.error(`dmodel: backend auto chose ${name}`);
          return actual;
        }
      }
      throw new Error("no backend available");
    },
  }),
});
