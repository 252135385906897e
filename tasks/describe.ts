/**
 * `deno task describe <pipeline.yaml> [--set key=value]... [--stage ID] [--trial INDEX] [--json]`:
 * resolves the model of a pipeline's trial without training and prints what
 * the parameterization did to every parameter. On a sweep it describes the
 * base config and says so; `--trial INDEX`, or `--set` values that match a
 * grid row, describe one planned trial exactly as the sweep will run it
 * (per-rule options set in the grid included).
 */
import "../components/mod.ts";
import { describeText, describeTrial, lrFactorNotice, vocabSizeOf } from "../engine/nn/describe.ts";
import { DmodelError } from "../engine/core/errors.ts";
import type { TrialConfig } from "../engine/core/config.ts";
import { loadPipeline, parseSet, type Pipeline, stageTrials } from "../engine/core/pipeline.ts";
import { matchingTrials, type PlannedTrial, pointText } from "../engine/sweep/grid.ts";
import { main, parse, PIPELINE_FLAGS } from "./cli.ts";

const USAGE =
  "deno task describe <pipeline.yaml> [--set key.path=value]... [--stage ID] [--trial INDEX] [--json]";

/** The planned trials of a sweep stage (`with.trials` after validation), if `id` is one. */
function sweepPlan(p: Pipeline, id: string): PlannedTrial[] | null {
  const o = p.stages.get(id)?.options as { trials?: unknown; base?: unknown } | undefined;
  const t = o?.trials;
  return o?.base && Array.isArray(t) && t.every((x) => x && typeof x === "object" && "point" in x)
    ? t as PlannedTrial[]
    : null;
}

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, {
      ...PIPELINE_FLAGS,
      json: { type: "boolean", default: false },
      stage: { type: "string" },
      trial: { type: "string" },
    }, USAGE);
    if (values.help || positionals.length !== 1) {
      console.error(`usage: ${USAGE}`);
      return values.help ? 0 : 1;
    }
    const file = positionals[0];
    const p = await loadPipeline(file, values.set);
    const trials = stageTrials(p).filter((s) => !values.stage || s.stage === values.stage);
    if (!trials.length) {
      throw new DmodelError(
        `${file}: no stage with a trial config${values.stage ? ` named ${values.stage}` : ""}`,
      );
    }
    const stage = trials[0].stage;
    let { trial, vocabSize } = trials[0] as { trial: TrialConfig; vocabSize?: number };
    // What is described, in one line: the base of a sweep, or which of its trials.
    let header: string | null = null;
    const plan = sweepPlan(p, stage);
    if (plan) {
      const n = plan.length;
      const axes = [...new Set(plan.flatMap((t) => Object.keys(t.point)))].join(", ");
      const one = (t: PlannedTrial, why: string) => {
        trial = t.config;
        header = `stage ${stage}: trial ${t.index} of ${n} (${t.dir})${why}: ${pointText(t.point)}`;
      };
      if (values.trial !== undefined) {
        const i = Number(values.trial);
        if (!Number.isInteger(i) || i < 0 || i >= n) {
          throw new DmodelError(`--trial ${values.trial}: a trial index of stage ${stage}, 0..${n - 1}`);
        }
        one(plan[i], "");
      } else {
        // --set read as a grid row: the sweep's own trials (without the overrides) that have those values.
        const plain = values.set.length ? sweepPlan(await loadPipeline(file), stage) : null;
        const hits = plain ? matchingTrials(plain, values.set.map(parseSet)) : [];
        if (hits.length) {
          one(
            hits[0],
            hits.length > 1 ? `, the first of ${hits.length} matching ${values.set.join(" ")}` : "",
          );
        } else {
          header = `stage ${stage}: the BASE config of a sweep of ${n} trials${
            values.set.length
              ? ` with ${values.set.join(" ")} applied (no trial of the sweep has those values)`
              : ""
          }; the grid sets ${axes}. ` +
            `To see one trial as it will run: --trial 0..${n - 1}, or --set values of a grid row`;
        }
      }
    }
    const d = describeTrial(trial, vocabSize ?? await vocabSizeOf(trial.data));
    if (header) (values.json ? console.error : console.log)(header);
    console.log(values.json ? JSON.stringify(d) : describeText(d));
    const notice = lrFactorNotice(d);
    if (notice && !values.json) console.error(notice);
  });
}
