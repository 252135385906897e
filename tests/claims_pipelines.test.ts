/**
 * The pipelines of pipelines/claims/ (the other papers' reproductions) validate, and
 * the ones with a trial config describe (`deno task describe`) without
 * training: every parameter gets a finite init scale and LR.
 */
import assert from "node:assert/strict";
import "../components/mod.ts";
import { loadPipeline, stageTrials } from "../engine/core/pipeline.ts";
import { describeText, describeTrial } from "../engine/nn/describe.ts";

const dir = new URL("../pipelines/claims/", import.meta.url).pathname;
const files = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".yaml")).map((e) => e.name).sort();

Deno.test("claims pipelines: the expected set is present", () => {
  for (const f of ["collapse-depth", "espa-init", "layerwise-bleu", "skipless-depth8", "skipless-depth16"]) {
    assert(files.includes(`${f}.yaml`), f);
  }
});

for (const f of files) {
  Deno.test(`claims pipelines: ${f} validates and describes`, async () => {
    const p = await loadPipeline(`${dir}${f}`);
    assert.equal(`${p.name}.yaml`, f);
    for (const { trial } of stageTrials(p)) {
      const d = describeTrial(trial, 1024);
      for (const r of d.params) {
        const scale = "std" in r.init
          ? r.init.std
          : "gain" in r.init
          ? r.init.gain
          : "value" in r.init
          ? r.init.value
          : 0;
        assert(Number.isFinite(scale) && Number.isFinite(r.lr), `${f}: ${r.name} ${JSON.stringify(r.init)}`);
      }
      assert(describeText(d).includes(trial.model.block));
    }
  });
}
