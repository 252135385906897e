/**
 * Cosine learning-rate schedule with optional linear warmup:
 *   t < warmup:  f = (t + 1) / warmup
 *   otherwise:   f = final + (1 - final) * (1 + cos(pi * p)) / 2,  p = (t - warmup) / (steps - warmup)
 * nGPT decays to 0 (final_fraction 0), nuGPT to 10% of peak.
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import type { Schedule } from "../../engine/core/contracts.ts";

const schema = z.object({
  warmup: z.number().int().nonnegative().default(0),
  final_fraction: z.number().min(0).max(1).default(0),
}).strict();

/** The cosine schedule as a function. */
export function cosine(warmup: number, finalFraction: number): Schedule {
  return (t, steps) => {
    if (t < warmup) return (t + 1) / warmup;
    const span = Math.max(1, steps - warmup);
    const p = Math.min(1, (t - warmup) / span);
    return finalFraction + (1 - finalFraction) * 0.5 * (1 + Math.cos(Math.PI * p));
  };
}

register("schedule", "cosine", {
  describe: "cosine decay to final_fraction x peak, after linear warmup",
  schema,
  create: (o: z.infer<typeof schema>): Schedule => cosine(o.warmup, o.final_fraction),
});

register("schedule", "constant", {
  describe: "constant LR after linear warmup",
  schema: z.object({ warmup: z.number().int().nonnegative().default(0) }).strict(),
  create: (o: { warmup: number }): Schedule => (t) => t < o.warmup ? (t + 1) / o.warmup : 1,
});
