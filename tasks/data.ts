/**
 * `deno task data [pipeline.yaml] [--set ...]`: builds the tokenizer and shards
 * of every data config in a pipeline (default: the shipped Brown corpus with
 * BPE 1024), reusing the cache when up to date.
 */
import "../components/mod.ts";
import { parseDataConfig, prepareData } from "../engine/data/prepare.ts";
import { loadPipeline } from "../engine/core/pipeline.ts";
import { main, parse, PIPELINE_FLAGS } from "./cli.ts";

const USAGE = "deno task data [pipeline.yaml] [--set key.path=value]...";

if (import.meta.main) {
  await main(async () => {
    const { values, positionals } = parse(Deno.args, PIPELINE_FLAGS, USAGE);
    if (values.help) return console.error(`usage: ${USAGE}`);
    const configs: unknown[] = [];
    if (positionals[0]) {
      const p = await loadPipeline(positionals[0], values.set);
      for (const s of p.stages.values()) {
        // deno-lint-ignore no-explicit-any
        const o = s.options as any;
        const d = o?.data ?? o?.base?.data;
        if (d) configs.push(d);
      }
    } else configs.push({ corpus: "brown", tokenizer: { name: "bpe", vocab_size: 1024 } });
    for (const c of configs) {
      const d = await prepareData(parseDataConfig(c));
      console.log(JSON.stringify({
        key: d.key,
        dir: d.dir,
        vocab_size: d.vocabSize,
        train_tokens: d.train.length,
        val_tokens: d.val.length,
        val_unigram_entropy: d.valUnigramEntropy,
        reused: d.reused,
      }));
    }
  });
}
