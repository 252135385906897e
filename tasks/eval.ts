/** `deno task eval <trial-dir> [--batches N] [--backend NAME]`: val loss and perplexity of model.safetensors. */
import "../components/mod.ts";
import { evaluateTrialDir } from "../engine/train/evaluate.ts";
import { main, parse } from "./cli.ts";

const USAGE = "deno task eval <trial-dir> [--batches N] [--backend NAME]";

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, {
      batches: { type: "string" },
      backend: { type: "string" },
      help: { type: "boolean", short: "h" },
    }, USAGE);
    if (values.help || positionals.length !== 1) {
      console.error(`usage: ${USAGE}`);
      return values.help ? 0 : 1;
    }
    const r = await evaluateTrialDir(positionals[0], {
      batches: values.batches ? Number(values.batches) : undefined,
      backend: values.backend,
    });
    console.log(JSON.stringify(r));
  });
}
