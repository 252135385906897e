/** `deno task train <pipeline.yaml> [--set key=value]... [--out DIR] [--resume] [--fresh] [--stage ID]` */
import "../components/mod.ts";
import { loadPipeline, runPipeline } from "../engine/core/pipeline.ts";
import type { TrainOutput } from "../components/stage/train.ts";
import { main, parse, PIPELINE_FLAGS } from "./cli.ts";

const USAGE =
  "deno task train <pipeline.yaml> [--set key.path=value]... [--out DIR] [--resume] [--fresh] [--stage ID]";

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, {
      ...PIPELINE_FLAGS,
      resume: { type: "boolean", default: false },
      fresh: { type: "boolean", default: false },
      stage: { type: "string", multiple: true, default: [] as string[] },
    }, USAGE);
    if (values.help || positionals.length !== 1) {
      console.error(`usage: ${USAGE}`);
      return values.help ? 0 : 1;
    }
    const p = await loadPipeline(positionals[0], values.set);
    const outputs = await runPipeline(p, {
      out: values.out,
      only: values.stage,
      flags: { resume: values.resume, fresh: values.fresh, progress: true },
    });
    let failed = 0;
    for (const o of outputs.values()) if ((o as TrainOutput)?.result?.status === "failed") failed++;
    return failed ? 1 : 0;
  });
}
