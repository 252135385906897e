/**
 * The options of an LR search (`lr_search:` of a sweep stage, ./lr_search.ts)
 * and its lattice: every LR the search may try lies on
 * log2 eta = lo + k * resolution, k = 0 .. n - 1, over `range`.
 *
 *   lr_search: {mode: bracket, range: {log2: [-12, -2]}, start_step: 1, resolution: 0.5,
 *               basin_points: 5, center: predict}
 */
import { z } from "zod";
import { UntilDecidedSchema } from "./answer.ts";

const EPS = 1e-9;
const isMultiple = (a: number, b: number) => Math.abs(a / b - Math.round(a / b)) < EPS;

/** Why a starting LR lies outside the search's range 2^lo..2^hi (called `name`), or null when inside. */
export function outsideRange(lr: number, [lo, hi]: [number, number], name = "range"): string | null {
  const x = Math.log2(lr);
  return x >= lo - EPS && x <= hi + EPS
    ? null
    : `${lr} (2^${x.toFixed(2)}) is outside ${name} 2^${lo}..2^${hi}`;
}

/** The `lr_search:` options of a sweep stage. */
export const LrSearchSchema = z.object({
  mode: z.literal("bracket").default("bracket"),
  /** The LRs the search may try: 2^lo .. 2^hi. */
  range: z.object({ log2: z.tuple([z.number(), z.number()]) }).strict(),
  /** Spacing (log2) of the coarse LRs and of the extension steps. */
  start_step: z.number().positive().default(1),
  /** How many coarse LRs to start a group with. */
  start_points: z.number().int().positive().default(3),
  /** Spacing (log2) of the refinement: the lattice every LR lies on. */
  resolution: z.number().positive().default(0.5),
  /** Finished stable LRs at `resolution` spacing around the minimum before a group stops. */
  basin_points: z.number().int().min(3).default(5),
  /**
   * Where a group starts: `predict` (the fitted law), `base` (the smallest scale's eta*), `row` (its own
   * config's `optimizer.lr`, which a zip axis may set per row, e.g. each model's optimum at a smaller depth)
   * or an LR. `row` and an LR start every group at once.
   */
  center: z.union([z.enum(["predict", "base", "row"]), z.number().positive()]).default("predict"),
  /** The scale axes (grid or zip paths); default: the axes among model.width, model.depth, train.steps, ... */
  scale: z.array(z.string()).min(1).optional(),
  /** After bracketing, add trials until every family's verdict is decided or the budget is spent (./answer.ts). */
  until_decided: UntilDecidedSchema.optional(),
}).strict().superRefine((o, ctx) => {
  const [lo, hi] = o.range.log2;
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: "custom", path, message });
  if (!(lo < hi)) issue(["range", "log2"], `[${lo}, ${hi}]: the low end must be below the high end`);
  else if (!isMultiple(hi - lo, o.resolution)) {
    issue(
      ["range", "log2"],
      `[${lo}, ${hi}]: the span ${hi - lo} must be a multiple of resolution ${o.resolution}`,
    );
  }
  if (!isMultiple(o.start_step, o.resolution)) {
    issue(["start_step"], `${o.start_step} must be a multiple of resolution ${o.resolution}`);
  }
  if (typeof o.center === "number") {
    const why = outsideRange(o.center, o.range.log2);
    if (why) issue(["center"], why);
  }
  if (o.until_decided && o.scale && o.scale.length !== 1) {
    issue(["until_decided"], `needs one scale axis, got ${o.scale.length} (${o.scale.join(", ")})`);
  }
});

/** The resolved `lr_search:` options. */
export type LrSearchOptions = z.infer<typeof LrSearchSchema>;

/** The LR lattice of a search: log2 eta_k = lo + k * resolution, k = 0 .. n - 1. */
export class Lattice {
  readonly lo: number;
  readonly res: number;
  /** Number of lattice LRs (the dense grid's size). */
  readonly n: number;
  /** start_step in lattice units. */
  readonly step: number;
  constructor(o: LrSearchOptions) {
    [this.lo] = o.range.log2;
    this.res = o.resolution;
    this.n = Math.round((o.range.log2[1] - this.lo) / this.res) + 1;
    this.step = Math.round(o.start_step / this.res);
  }
  log2(k: number): number {
    return this.lo + k * this.res;
  }
  /** The LR of lattice point k, computed as a log2 grid axis computes it (so the trials match a dense grid's). */
  lr(k: number): number {
    return Math.pow(2, this.lo + k * this.res);
  }
  /** The nearest lattice point to log2 eta, inside the range. */
  index(log2: number): number {
    return Math.min(this.n - 1, Math.max(0, Math.round((log2 - this.lo) / this.res)));
  }
}
