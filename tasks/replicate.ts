/**
 * `deno task replicate <sweep-dir> [<other-sweep-dir>] [--by KEY]... [--scale KEY]... [--resamples 200] [--json]`:
 * the replication check of the verdicts (engine/analysis/replicate.ts). One
 * directory: leave-one-seed-out within the sweep; two: the two runs compared.
 * Exit code 1 when verdicts contradict or slopes differ by more than their
 * intervals allow.
 */
import { DmodelError, show } from "../engine/core/errors.ts";
import { loadResults } from "../engine/analysis/load.ts";
import { replicateRuns, replicateSeeds, replicationMarkdown } from "../engine/analysis/replicate.ts";
import { main, parse } from "./cli.ts";

const USAGE =
  "deno task replicate <sweep-dir> [<other-sweep-dir>] [--by KEY]... [--scale KEY]... [--resamples 200] [--json]";

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, {
      by: { type: "string", multiple: true },
      scale: { type: "string", multiple: true },
      resamples: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    }, USAGE);
    if (values.help || positionals.length < 1 || positionals.length > 2) {
      console.error(`usage: ${USAGE}`);
      return values.help ? 0 : 1;
    }
    const resamples = values.resamples === undefined ? undefined : Number(values.resamples);
    if (resamples !== undefined && !(Number.isInteger(resamples) && resamples >= 20)) {
      throw new DmodelError(`--resamples ${show(values.resamples)}: expected an integer >= 20`);
    }
    const opts = { by: values.by, scale: values.scale, resamples };
    const r = positionals.length === 1
      ? replicateSeeds(await loadResults(positionals[0]), opts)
      : replicateRuns(
        await loadResults(positionals[0]),
        await loadResults(positionals[1]),
        opts,
        [positionals[0], positionals[1]],
      );
    if (values.json) {
      console.log(JSON.stringify(
        {
          ok: r.ok,
          pairs: r.pairs,
          replicas: r.replicas.map((a) => ({ ...a, slopes: a.slopes.map(({ fit: _, ...s }) => s) })),
        },
        null,
        2,
      ));
    } else console.log(replicationMarkdown(r));
    return r.ok ? 0 : 1;
  });
}
