/** The `data` stage: builds (or reuses) the tokenizer and shards of a data config. */
import { z } from "zod";
import { DataConfigSchema } from "../../engine/core/config.ts";
import { parseDataConfig, prepareData } from "../../engine/data/prepare.ts";
import { register } from "../../engine/core/registry.ts";
import type { Stage } from "../../engine/core/stage.ts";

const schema = z.object({ data: DataConfigSchema }).loose();

register("stage", "data", {
  describe: "build tokenizer + llm.c shards under data/cache (reused when up to date)",
  schema,
  create: (o: z.infer<typeof schema>): Stage => ({
    async run(ctx) {
      // prepareData says what it built or reused (once per folder and process).
      const d = await prepareData(parseDataConfig(o.data), { log: ctx.log });
      return { dir: d.dir, key: d.key, vocabSize: d.vocabSize, valUnigramEntropy: d.valUnigramEntropy };
    },
  }),
});
