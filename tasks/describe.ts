/**
 * `deno task describe <pipeline.yaml> [--set key=value]... [--stage ID] [--json]`:
 * resolves the model of a pipeline's trial (a sweep's base trial) without
 * training and prints what the parameterization did to every parameter.
 */
import "../components/mod.ts";
import { describeText, describeTrial, lrFactorNotice, vocabSizeOf } from "../engine/nn/describe.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { loadPipeline, stageTrials } from "../engine/core/pipeline.ts";
import { main, parse, PIPELINE_FLAGS } from "./cli.ts";

const USAGE = "deno task describe <pipeline.yaml> [--set key.path=value]... [--stage ID] [--json]";

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, {
      ...PIPELINE_FLAGS,
      json: { type: "boolean", default: false },
      stage: { type: "string" },
    }, USAGE);
    if (values.help || positionals.length !== 1) {
      console.error(`usage: ${USAGE}`);
      return values.help ? 0 : 1;
    }
    const p = await loadPipeline(positionals[0], values.set);
    const trials = stageTrials(p).filter((s) => !values.stage || s.stage === values.stage);
    if (!trials.length) {
      throw new DmodelError(
        `${positionals[0]}: no stage with a trial config${values.stage ? ` named ${values.stage}` : ""}`,
      );
    }
    const { trial, vocabSize } = trials[0];
    const d = describeTrial(trial, vocabSize ?? await vocabSizeOf(trial.data));
    console.log(values.json ? JSON.stringify(d) : describeText(d));
    const notice = lrFactorNotice(d);
    if (notice && !values.json) console.error(notice);
  });
}
