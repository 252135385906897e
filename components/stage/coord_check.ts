/**
 * The `coord-check` stage: muP's coordinate check (engine/train/coord_check.ts) of a
 * trial across widths and parameterizations; writes `coord_check.csv` and one
 * figure per parameterization into the pipeline's output directory.
 *
 *   coord:
 *     uses: coord-check
 *     with: {base: *trial, widths: [32, 64, 128, 256], steps: 3, parameterizations: [sp, mup]}
 */
import { z } from "zod";
import { TrialOption } from "../../engine/core/config.ts";
import { type CoordCheckResult, coordCheckToDir } from "../../engine/train/coord_check.ts";
import { has, register, resolve } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";

/** Options of the coord-check stage. */
export const CoordCheckSchema = z.object({
  /** The trial to check (its width is replaced by each of `widths`). */
  base: TrialOption,
  widths: z.array(z.number().int().positive()).min(2).default([32, 64, 128, 256]),
  /** Optimizer steps after step 0. */
  steps: z.number().int().positive().default(3),
  /** Constant LR of every step (default: base.optimizer.lr); a coordinate check wants a large one. */
  lr: z.number().positive().optional(),
  /** Parameterizations to compare (default: the base trial's). */
  parameterizations: z.array(z.string()).min(1).optional(),
  /** Seeds averaged per point. */
  seeds: z.number().int().positive().default(1),
  /** Render figures (SVG, PNG). */
  figures: z.boolean().default(true),
}).strict().superRefine((o, ctx) => {
  for (const [i, w] of o.widths.entries()) {
    if (w % o.base.model.head_dim !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["widths", i],
        message: `width ${w} is not divisible by head_dim ${o.base.model.head_dim}`,
        input: w,
      });
    }
  }
  for (const [i, n] of (o.parameterizations ?? []).entries()) {
    if (!has("parameterization", n)) {
      try {
        resolve("parameterization", n);
      } catch (e) {
        ctx.addIssue({
          code: "custom",
          path: ["parameterizations", i],
          message: (e as Error).message,
          input: n,
        });
      }
    }
  }
});

/** Validated options of the coord-check stage. */
export type CoordCheckStageOptions = z.infer<typeof CoordCheckSchema>;

register("stage", "coord-check", {
  describe:
    "muP coordinate check: mean |activation| and |update| vs width after a few large-LR steps, per rule",
  schema: CoordCheckSchema,
  create: (o: CoordCheckStageOptions): Stage => ({
    async run(ctx): Promise<CoordCheckResult> {
      const { base, ...opts } = o;
      return (await coordCheckToDir(base, { ...opts, log: ctx.log }, ctx.outDir)).result;
    },
  }),
});
