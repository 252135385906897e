/**
 * `deno task coord-check <pipeline.yaml> [--set key=value]... [--widths 32,64,128,256] [--steps 3]
 *  [--lr X] [--parameterizations sp,mup] [--seeds N] [--out DIR] [--no-figures]`
 *
 * muP's coordinate check of a pipeline's trial: its `coord-check` stage when
 * it has one (flags override that stage's options), else the first trial
 * config of its stages. Writes coord_check.csv and figures/coord_check_<rule>.svg|png
 * into --out (default runs/<pipeline name>/) and prints each rule's logit growth slope.
 */
import "../components/mod.ts";
import { type CoordCheckStageOptions } from "../components/stage/coord_check.ts";
import { coordCheckToDir } from "../engine/train/coord_check.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { checkOutDir } from "../engine/core/paths.ts";
import { loadPipeline, stageTrials } from "../engine/core/pipeline.ts";
import { main, parse, PIPELINE_FLAGS } from "./cli.ts";

const USAGE = "deno task coord-check <pipeline.yaml> [--set key.path=value]... [--widths 32,64,128,256] " +
  "[--steps 3] [--lr X] [--parameterizations sp,mup] [--seeds N] [--out DIR] [--no-figures]";

/** A positive number from a flag, or a one-line error. */
function positive(flag: string, v: string, integer: boolean): number {
  const x = Number(v);
  if (!(x > 0) || (integer && !Number.isInteger(x))) {
    throw new DmodelError(`--${flag} ${v}: expected a positive ${integer ? "integer" : "number"}`);
  }
  return x;
}

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, {
      ...PIPELINE_FLAGS,
      widths: { type: "string" },
      steps: { type: "string" },
      lr: { type: "string" },
      parameterizations: { type: "string" },
      seeds: { type: "string" },
      "no-figures": { type: "boolean", default: false },
    }, USAGE);
    if (values.help || positionals.length !== 1) {
      console.error(`usage: ${USAGE}`);
      return values.help ? 0 : 1;
    }
    const file = positionals[0];
    const p = await loadPipeline(file, values.set);
    const stage = [...p.stages.values()].find((s) => s.decl.uses === "coord-check");
    const o: Partial<CoordCheckStageOptions> = stage ? { ...(stage.options as CoordCheckStageOptions) } : {};
    const base = o.base ?? stageTrials(p)[0]?.trial;
    if (!base) throw new DmodelError(`${file}: no coord-check stage and no stage with a trial config`);
    const widths = values.widths?.split(",").map((w) => positive("widths", w, true)) ?? o.widths ??
      [32, 64, 128, 256];
    for (const w of widths) {
      if (w % base.model.head_dim !== 0) {
        throw new DmodelError(`--widths: width ${w} is not divisible by head_dim ${base.model.head_dim}`);
      }
    }
    if (values.out !== undefined) checkOutDir(values.out);
    await coordCheckToDir(base, {
      widths,
      steps: values.steps ? positive("steps", values.steps, true) : o.steps ?? 3,
      lr: values.lr ? positive("lr", values.lr, false) : o.lr,
      parameterizations: values.parameterizations?.split(",") ?? o.parameterizations,
      seeds: values.seeds ? positive("seeds", values.seeds, true) : o.seeds ?? 1,
      figures: !values["no-figures"] && (o.figures ?? true),
      log: (l) => console.log(l),
    }, values.out ?? `runs/${p.name}`);
  });
}
