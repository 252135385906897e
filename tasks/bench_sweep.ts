/**
 * `deno task bench-sweep [--trials N] [--steps S] [--width W]`: throughput of
 * the local executor on a grid of equal trials (seeds only differ), with 1
 * and with 2 workers. Prints one JSON line per worker count and the speedup.
 */
import "../components/mod.ts";
import { parse } from "./cli.ts";
import { main } from "./cli.ts";
import { expandGrid } from "../engine/sweep/grid.ts";
import { runSweep } from "../engine/sweep/run.ts";

if (import.meta.main) {
  await main(async () => {
    const { values } = parse(Deno.args, {
      trials: { type: "string", default: "6" },
      steps: { type: "string", default: "60" },
      width: { type: "string", default: "64" },
    }, "deno task bench-sweep [--trials N] [--steps S] [--width W]");
    const n = Number(values.trials);
    const base = {
      data: { corpus: "brown", tokenizer: { name: "bpe", vocab_size: 1024 }, seq_len: 64 },
      model: { block: "ngpt", width: Number(values.width), depth: 2, head_dim: 16 },
      optimizer: { name: "adam", lr: 0.01 },
      train: {
        steps: Number(values.steps),
        batch_size: 8,
        eval_every: Number(values.steps),
        eval_batches: 4,
        backend: "wasm",
      },
    };
    const { trials } = expandGrid(base, { grid: {}, zip: [], seeds: Array.from({ length: n }, (_, i) => i) });
    const rates: Record<number, number> = {};
    for (const workers of [1, 2]) {
      const dir = await Deno.makeTempDir({ prefix: `dmodel-bench-sweep-${workers}-` });
      const t0 = performance.now();
      await runSweep({ dir, trials, workers, executor: { name: "local" }, maxFailures: 3, log: () => {} });
      const s = (performance.now() - t0) / 1000;
      rates[workers] = (3600 * n) / s;
      console.log(
        JSON.stringify({
          workers,
          trials: n,
          wall_s: +s.toFixed(1),
          trials_per_hour: Math.round(rates[workers]),
        }),
      );
      await Deno.remove(dir, { recursive: true });
    }
    console.log(JSON.stringify({ speedup_2_over_1: +(rates[2] / rates[1]).toFixed(2) }));
  });
}
