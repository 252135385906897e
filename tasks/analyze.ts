/**
 * `deno task analyze PATH... [--lr COL] [--loss COL] [--seed COL] [--status COL] [--by COL]...
 * [--scale COL]... [--out DIR] [--json] [--predict width=4096]`: optimal LR per group, fitted
 * scaling law and verdict per family, figures and report.html. PATH is a sweep directory or a
 * results file of any trainer (CSV, TSV, Arrow IPC, JSON lines, Parquet); several are combined
 * with a `source` column. Output: the sweep directory, `<name>-analysis/` beside a results
 * file, or --out.
 */
import "../components/mod.ts"; // the registered rules: which base shapes they use (the report names them)
import "../engine/sweep/sweep_table.ts";
import { DmodelError, show } from "../engine/core/errors.ts";
import { analyzeSweep } from "../engine/analysis/analyze.ts";
import { writeReport } from "../engine/analysis/report.ts";
import { searchSections } from "../engine/sweep/lr_search_render.ts";
import { main, parse } from "./cli.ts";

const USAGE = "deno task analyze <sweep-dir | results.csv|.arrow|.jsonl|.parquet>... " +
  "[--lr COL] [--loss COL] [--seed COL] [--status COL] [--by COL]... [--scale COL]... [--out DIR] [--json] " +
  "[--predict width=4096[,depth=8]]... [--tolerance 0.1] [--resamples 400] [--bootstrap-seed 0] [--no-figures] [--no-report]";

/** "a,b" and repeated flags -> ["a", "b"]. */
function list(v: string[] | undefined): string[] | undefined {
  const out = (v ?? []).flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
  return out.length ? out : undefined;
}

/** "width=4096,depth=8" -> {width: 4096, depth: 8}. */
export function parsePredict(arg: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of arg.split(",")) {
    const m = /^\s*([\w.]+)\s*=\s*([^\s]+)\s*$/.exec(part);
    const v = m ? Number(m[2]) : NaN;
    if (!m || !(v > 0)) {
      throw new DmodelError(`--predict ${show(arg)}: expected AXIS=NUMBER>0, e.g. width=4096`);
    }
    out[m[1]] = v;
  }
  return out;
}

function number(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new DmodelError(`--${name} ${show(v)}: expected a number`);
  return n;
}

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, {
      by: { type: "string", multiple: true },
      scale: { type: "string", multiple: true },
      lr: { type: "string" },
      loss: { type: "string" },
      seed: { type: "string" },
      status: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean" },
      predict: { type: "string", multiple: true },
      tolerance: { type: "string" },
      resamples: { type: "string" },
      "bootstrap-seed": { type: "string" },
      "no-figures": { type: "boolean" },
      "no-report": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    }, USAGE);
    if (values.help || positionals.length < 1) {
      console.error(`usage: ${USAGE}`);
      return values.help ? 0 : 1;
    }
    const t0 = performance.now();
    const a = await analyzeSweep(positionals, {
      by: list(values.by),
      scale: list(values.scale),
      lr: values.lr,
      loss: values.loss,
      seed: values.seed,
      status: values.status,
      out: values.out,
      tolerance: number("tolerance", values.tolerance),
      resamples: number("resamples", values.resamples),
      bootstrapSeed: number("bootstrap-seed", values["bootstrap-seed"]),
      predict: (values.predict ?? []).map(parsePredict),
      figures: !values["no-figures"],
      log: (l) => console.error(l),
    });
    if (!values["no-report"]) await writeReport(a, { sections: await searchSections(a.dir) });
    const secs = ((performance.now() - t0) / 1000).toFixed(2);
    if (values.json) {
      console.log(JSON.stringify(a.json, null, 2));
    } else {
      console.log(a.markdown);
      console.log(`wrote in ${a.dir}: ${a.files.join(", ")} (${secs} s)`);
    }
  });
}
