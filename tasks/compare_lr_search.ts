/**
 * `deno run -A tasks/compare_lr_search.ts <adaptive-sweep-dir> <dense-sweep-dir> [--by K] [--scale K]`:
 * compares an adaptive sweep (lr_search) with its dense twin from their
 * files alone: per group eta* of each (the analysis library's optimalLR on
 * results.csv) with the dense grid's interval, whether the adaptive eta* lies
 * inside it, and the compute (trial steps x model FLOPs per step) and trial
 * wall time each spent. Prints a Markdown table.
 */
import "../components/mod.ts";
import { loadResults, optimalLR } from "../engine/analysis/mod.ts";
import type { GroupOptimum } from "../engine/analysis/mod.ts";
import { flopsPerStep } from "../engine/sweep/compute.ts";
import { readPlan } from "../engine/sweep/plan.ts";
import type { TrialResult } from "../engine/train/result.ts";
import { readJSON } from "../engine/core/fs.ts";
import { main, parse } from "./cli.ts";

const USAGE = "deno run -A tasks/compare_lr_search.ts <adaptive-dir> <dense-dir> [--by K]... [--scale K]...";

/** Compute and wall time of a sweep's finished trials, from trials.json and each result.json. */
async function spent(
  dir: string,
): Promise<{ flops: number; wall_s: number; trials: number; span_s: number }> {
  let flops = 0, wall_s = 0, trials = 0;
  for (const t of await readPlan(dir)) {
    const r = await readJSON<TrialResult>(`${dir}/${t.dir}/result.json`).catch(() => null);
    if (!r) continue;
    flops += r.steps_done * flopsPerStep(t.config);
    wall_s += r.wall_s;
    trials++;
  }
  // The sweep's span: first to last finish in events.jsonl, plus the first trial's own wall time.
  const events = (await Deno.readTextFile(`${dir}/events.jsonl`).catch(() => "")).trim().split("\n")
    .filter(Boolean).map((l) => Date.parse(JSON.parse(l).time));
  const span_s = events.length ? (Math.max(...events) - Math.min(...events)) / 1000 : NaN;
  return { flops, wall_s, trials, span_s };
}

const lr = (v: number) => (Number.isFinite(v) ? `2^${Math.log2(v).toFixed(2)}` : "?");

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, {
      by: { type: "string", multiple: true, default: [] as string[] },
      scale: { type: "string", multiple: true, default: [] as string[] },
      help: { type: "boolean", short: "h" },
    }, USAGE);
    if (values.help || positionals.length !== 2) {
      console.error(`usage: ${USAGE}`);
      return values.help ? 0 : 1;
    }
    const [adaptiveDir, denseDir] = positionals;
    const opts = {
      by: values.by.length ? values.by : ["parameterization.name"],
      scale: values.scale.length ? values.scale : ["model.width"],
    };
    const [a, d] = [
      optimalLR(await loadResults(adaptiveDir), opts),
      optimalLR(await loadResults(denseDir), opts),
    ];
    // The group interval, where the analysis library gives one (eta_ci).
    const ci = (g: GroupOptimum) => (g as GroupOptimum & { eta_ci?: [number, number] }).eta_ci;
    console.log(
      "| group | dense eta* | dense CI | adaptive eta* | adaptive CI | inside dense CI | LRs adaptive / dense |",
    );
    console.log("|---|---|---|---|---|---|---|");
    let inside = 0;
    for (const g of d.groups) {
      const h = a.groups.find((q) => q.family === g.family && q.label === g.label);
      const c = ci(g), hc = h && ci(h);
      const ok = h && c && h.eta_star >= c[0] && h.eta_star <= c[1];
      if (ok) inside++;
      console.log(
        `| ${g.family} ${g.label} | ${lr(g.eta_star)} | ${c ? `[${lr(c[0])}, ${lr(c[1])}]` : "n/a"} | ` +
          `${h ? lr(h.eta_star) : "missing"} | ${hc ? `[${lr(hc[0])}, ${lr(hc[1])}]` : "n/a"} | ` +
          `${c ? (ok ? "yes" : "NO") : "n/a"} | ${h?.curve.length ?? 0} / ${g.curve.length} |`,
      );
    }
    const [sa, sd] = [await spent(adaptiveDir), await spent(denseDir)];
    console.log(
      `\n${inside}/${d.groups.length} adaptive eta* inside the dense grid's interval.\n` +
        `compute: adaptive ${sa.flops.toExponential(3)} FLOPs (${sa.trials} trials), dense ` +
        `${sd.flops.toExponential(3)} FLOPs (${sd.trials} trials): ${
          (100 * sa.flops / sd.flops).toFixed(1)
        }%.\n` +
        `trial wall time (sum): adaptive ${(sa.wall_s / 60).toFixed(1)} min, dense ${
          (sd.wall_s / 60).toFixed(1)
        } min; ` +
        `first-to-last finish: adaptive ${(sa.span_s / 60).toFixed(1)} min, dense ${
          (sd.span_s / 60).toFixed(1)
        } min.`,
    );
    return 0;
  });
}
