/**
 * Analysing your own sweep from a script outside the dmodel checkout: a
 * table of runs from any trainer (here the PyTorch-style CSV of docs/analysis.md),
 * the optimal LR per width with intervals, the fitted law and its verdict,
 * the paired comparison, a prediction and a figure.
 *
 * Copy it anywhere and run it with dmodel's config (its import map):
 *
 *   deno run -A --config /path/to/dmodel/deno.json analyze_table.ts runs.csv
 */
import * as aq from "arquero";
import {
  checkTable,
  type ColumnMap,
  compareAll,
  fitScaling,
  loadResults,
  lossVsLRSpec,
  optimalLR,
  predictLR,
  renderSVG,
} from "dmodel";

const file = Deno.args[0] ?? "runs.csv";
const columns: ColumnMap = {
  lr: "lr",
  loss: "val_loss",
  seed: "seed",
  status: "status",
  by: ["param"],
  scale: ["width"],
};

// From a file (CSV, TSV, Arrow IPC, JSON lines, Parquet) or a dmodel sweep directory ...
const runs = await loadResults(file, columns);
// ... or from rows in memory: the same checks, the same table.
const same = checkTable(aq.from(runs.objects()), columns);

const optima = optimalLR(same, { ...columns, resamples: 200 });
const fits = fitScaling(optima);
for (const f of fits) for (const c of f.coefficients) console.log(`${f.family}: ${c.verdict}`);
for (const c of compareAll(fits)) console.log(c.text);
for (const f of fits.filter((f) => f.scales.length)) {
  const p = predictLR(f, { width: 1024 });
  console.log(
    `${f.family}: eta* at width 1024 = ${p.eta_star.toPrecision(3)} [${p.eta_lo.toPrecision(3)}, ${
      p.eta_hi.toPrecision(3)
    }]`,
  );
}
await Deno.writeTextFile("loss_vs_lr.svg", await renderSVG(lossVsLRSpec(optima)));
console.log(`${runs.numRows()} runs; wrote loss_vs_lr.svg`);
