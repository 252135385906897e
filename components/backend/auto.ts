/** Picks the best backend available here: native TensorFlow when installed, else wasm. */
import { z } from "zod";
import { register, resolve } from "../../engine/core/registry.ts";
import type { BackendImpl } from "../../engine/kernels/backend.ts";

register("backend", "auto", {
  describe: "best available: tensorflow (tfjs-node-gpu/-node) if installed, else wasm",
  schema: z.object({}).strict(),
  create: (): BackendImpl => {
    const skipped: string[] = [];
    return {
      available: () => Promise.resolve(true),
      async setup() {
        for (const name of ["tensorflow", "wasm"]) {
          const impl = resolve<unknown, BackendImpl>("backend", name).create({});
          if (await impl.available()) return await impl.setup();
          skipped.push(name);
        }
        throw new Error("no backend available");
      },
      note: () => skipped.length ? `${skipped.join(", ")} not installed` : "",
    };
  },
});
