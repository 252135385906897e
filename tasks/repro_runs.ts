/**
 * `deno task repro-snapshot [NAME]... [--runs DIR] [--archive DIR]`: packs
 * the finished trials of `runs/<NAME>/` (small files only: config, result,
 * metrics, params, probe tables; no checkpoints or weights) into the tracked
 * `docs/repro/runs/<NAME>/trials/` (engine/sweep/trial_pack.ts), with the
 * sweep's top-level tables and figures, so they can be committed.
 *
 * `deno task repro-restore [NAME]... [--runs DIR] [--archive DIR]`: unpacks
 * them back into `runs/<NAME>/<trial>/`, byte for byte, so re-running the
 * pipeline skips the finished trials. Without names: every archived sweep
 * (restore) or every run directory that has an archive or a pipeline under
 * pipelines/repro/ (snapshot).
 */
import { DmodelError, show } from "../engine/core/errors.ts";
import { exists } from "../engine/core/fs.ts";
import { restoreRun, snapshotRun } from "../engine/sweep/archive.ts";
import { main, parse } from "./cli.ts";

const USAGE = "deno task repro-snapshot|repro-restore [NAME]... [--runs runs] [--archive docs/repro/runs]";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  if (!(await exists(dir))) return out;
  for await (const e of Deno.readDir(dir)) if (e.isDirectory) out.push(e.name);
  return out.sort();
}

async function pipelineNames(): Promise<string[]> {
  const out: string[] = [];
  for (const dir of ["pipelines/repro"]) {
    if (!(await exists(dir))) continue;
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".yaml")) out.push(e.name.replace(/\.yaml$/, ""));
    }
  }
  return out;
}

main(async () => {
  const [mode, ...rest] = Deno.args;
  if (mode !== "snapshot" && mode !== "restore") {
    throw new DmodelError(`${show(mode)}: expected snapshot or restore\nusage: ${USAGE}`);
  }
  const { values, positionals } = parse(rest, {
    runs: { type: "string", default: "runs" },
    archive: { type: "string", default: "docs/repro/runs" },
  }, USAGE);
  const runs = values.runs!, archive = values.archive!;
  let todo = positionals;
  if (!todo.length) {
    if (mode === "restore") todo = await names(archive);
    else {
      const wanted = new Set([...(await names(archive)), ...(await pipelineNames()), "alignment"]);
      todo = (await names(runs)).filter((n) => wanted.has(n));
    }
  }
  if (!todo.length) console.log(`nothing to ${mode}`);
  for (const name of todo) {
    const [from, to] = mode === "snapshot"
      ? [`${runs}/${name}`, `${archive}/${name}`]
      : [`${archive}/${name}`, `${runs}/${name}`];
    const c = mode === "snapshot" ? await snapshotRun(from, to) : await restoreRun(from, to);
    console.log(
      `${from} -> ${to}: ${c.trials} finished trials (${c.copied} copied)` +
        (c.unfinished ? `, ${c.unfinished} unfinished left out` : ""),
    );
  }
});
