/**
 * `deno task sweep [pipeline.yaml] [--set key=value]... [--out DIR] [--workers N]
 *  [--executor local|slurm] [--fresh] [--retry-failed] [--status] [--detach] [--max-trials N]`:
 * runs a sweep pipeline (default: pipelines/quickstart.yaml, the main job),
 * resuming where it stopped (a trial killed from outside resumes from its
 * checkpoint; --retry-failed runs the failed ones again too). Exit code 1
 * when any trial failed. --status prints the summary and each failed trial's
 * one-line error.
 */
import "../components/mod.ts";
import { loadPipeline, runPipeline } from "../engine/core/pipeline.ts";
import type { SweepOutput } from "../components/stage/sweep.ts";
import { main, parse, PIPELINE_FLAGS } from "./cli.ts";
import { setMaxTrials } from "../engine/sweep/grid.ts";
import { DmodelError, show } from "../engine/core/errors.ts";

const USAGE = "deno task sweep [pipeline.yaml] [--set key.path=value]... [--out DIR] [--workers N] " +
  "[--executor local|slurm] [--fresh] [--retry-failed] [--status] [--detach] [--stage ID] [--max-trials N]";
/** The main job. */
export const DEFAULT_PIPELINE = "pipelines/quickstart.yaml";

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, {
      ...PIPELINE_FLAGS,
      workers: { type: "string" },
      executor: { type: "string" },
      fresh: { type: "boolean", default: false },
      "retry-failed": { type: "boolean", default: false },
      status: { type: "boolean", default: false },
      detach: { type: "boolean", default: false },
      stage: { type: "string", multiple: true, default: [] as string[] },
      "max-trials": { type: "string" },
    }, USAGE);
    if (values.help || positionals.length > 1) {
      console.error(`usage: ${USAGE}`);
      return values.help ? 0 : 1;
    }
    if (values["max-trials"] !== undefined) {
      const n = Number(values["max-trials"]);
      if (!Number.isInteger(n) || n < 1) {
        throw new DmodelError(`--max-trials ${show(values["max-trials"])}: a positive integer`);
      }
      setMaxTrials(n);
    }
    const p = await loadPipeline(positionals[0] ?? DEFAULT_PIPELINE, values.set);
    const sweepStages = [...p.stages].filter(([, s]) => s.decl.uses === "sweep").map(([id]) => id);
    const outputs = await runPipeline(p, {
      out: values.out,
      only: values.status ? sweepStages : values.stage,
      flags: {
        workers: values.workers,
        executor: values.executor,
        fresh: values.fresh,
        retryFailed: values["retry-failed"],
        status: values.status,
        detach: values.detach,
        pipelineRaw: p.raw,
      },
    });
    const failed = [...outputs.values()].some((o) => ((o as SweepOutput)?.summary?.failed ?? 0) > 0);
    return failed && !values.status ? 1 : 0;
  });
}
