/**
 * `deno task trial <sweep-dir> --index i [--progress] [--parent PID]`: runs
 * exactly one trial of a sweep by index (resuming from its checkpoint), as a
 * local worker or a Slurm array task does, after importing the pipeline's
 * plugins (`<sweep-dir>/plugins.json`) so that the components they register
 * can be built. With --progress it prints one JSON
 * line per logged step on stdout; with --exit-with-stdin it stops as soon as
 * its stdin closes, i.e. when the sweep that started it is gone (a killed
 * sweep leaves no orphans writing into its trials).
 */
import "../components/mod.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { importPlugins } from "../engine/core/pipeline.ts";
import { readPlan, readPlugins, recordFinished, trialState } from "../engine/sweep/plan.ts";
import { checkTrialDir } from "../engine/core/paths.ts";
import { runTrial } from "../engine/train/trainer.ts";
import { main, parse } from "./cli.ts";

const USAGE = "deno task trial <sweep-dir> --index i [--progress] [--exit-with-stdin]";

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, {
      index: { type: "string" },
      progress: { type: "boolean", default: false },
      "exit-with-stdin": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    }, USAGE);
    if (values.help || positionals.length !== 1 || values.index === undefined) {
      console.error(`usage: ${USAGE}`);
      return values.help ? 0 : 1;
    }
    const dir = positionals[0];
    const plan = await readPlan(dir);
    const index = Number(values.index);
    const t = plan[index];
    if (!Number.isInteger(index) || !t) {
      throw new DmodelError(`--index ${values.index}: ${dir} has trials 0..${plan.length - 1}`);
    }
    await importPlugins(await readPlugins(dir), dir, () => `${dir}/plugins.json`);
    let finishing = false;
    if (values["exit-with-stdin"]) {
      // The sweep holds our stdin open and never writes; EOF means it died.
      (async () => {
        for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
        if (!finishing) Deno.exit(3); // past the result, finish recording it first
      })();
    }
    checkTrialDir(dir, t.dir); // its real path inside the sweep, no links (a Slurm task checks here)
    const already = (await trialState(dir, t)).state === "done";
    const r = await runTrial(t.config, `${dir}/${t.dir}`, {
      resume: true,
      onProgress: (p) => {
        if (values.progress) console.log(JSON.stringify({ index, ...p }));
      },
    });
    finishing = true;
    if (!already) await recordFinished(dir, t, r.status);
    console.error(`${t.dir}: ${r.status}${r.error ? ` (${r.error})` : ""}`);
    return r.status === "failed" ? 1 : 0;
  });
}
