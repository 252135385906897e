import "./components/mod.ts";
import { runTrial } from "./engine/trainer.ts";
import { tinyCorpus, tinyTrial } from "./tests/helpers.ts";
const corpus = await tinyCorpus();
for (const backend of [Deno.args[0]]) {
  const dir = await Deno.makeTempDir();
  const t0 = performance.now();
  const r = await runTrial(
    tinyTrial(corpus, { train: { steps: 10, eval_every: 10, log_every: 1, backend } }),
    dir,
    { log: () => {} },
  );
  console.log(backend, r.status, r.final_val_loss, ((performance.now() - t0) / 1000).toFixed(1), "s");
}
