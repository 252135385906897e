/**
 * Every pipeline shipped under pipelines/ (recursively, so new ones are
 * covered as they are added): `describe` works on it, with and without
 * `--set parameterization.name=nugpt` (refused with a one-line error where
 * the rule does not apply to the block), and each of its trials trains for
 * two steps.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import "../components/mod.ts";
import { describeText, describeTrial, vocabSizeOf } from "../engine/nn/describe.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { blocksFor, type TrialConfig } from "../engine/core/config.ts";
import { loadPipeline, runPipeline, stageTrials } from "../engine/core/pipeline.ts";
import { resolve } from "../engine/core/registry.ts";
import type { Parameterization } from "../engine/core/contracts.ts";
import { runTrial } from "../engine/train/trainer.ts";

const ROOT = new URL("../pipelines/", import.meta.url).pathname;

async function pipelineFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...(await pipelineFiles(p)));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

const files = (await pipelineFiles(ROOT)).map((f) => relative(Deno.cwd(), f));
const nugptBlocks = blocksFor(resolve<unknown, Parameterization>("parameterization", "nugpt").create({}));

/** Describes the first trial of a pipeline as `deno task describe` does; returns the text. */
async function describe(file: string, sets: string[]): Promise<string> {
  const p = await loadPipeline(file, sets);
  const trials = stageTrials(p);
  assert(trials.length > 0, `${file}: no stage with a trial config`);
  const { trial, vocabSize } = trials[0];
  const d = describeTrial(trial, vocabSize ?? (await vocabSizeOf(trial.data)));
  assert(d.params.length > 0 && d.params.every((r) => Number.isFinite(r.lr) && r.lr > 0));
  return describeText(d);
}

Deno.test("shipped pipelines: the folder holds the pipelines the docs name", () => {
  for (
    const f of ["quickstart.yaml", "train-ngpt.yaml", "collapse.yaml", "skipless.yaml", "layerwise.yaml"]
  ) {
    assert(files.some((x) => x.endsWith(`pipelines/${f}`)), `pipelines/${f} is missing`);
  }
});

for (const file of files) {
  Deno.test(`shipped pipelines: describe ${file}`, async () => {
    const text = await describe(file, []);
    assert.match(text, /^block\s+\S+/);
    // With the nuGPT rule: described where every trial's block allows it and nuGPT takes the options
    // given (a base shape, no other rule's options); otherwise refused with one-line errors
    // (file:line or --set: key: message), not a stack trace.
    const p = await loadPipeline(file);
    const trials = stageTrials(p);
    const nugpt = resolve("parameterization", "nugpt");
    // every trial a stage plans (a sweep's grid points), not only the first
    const planned = [...p.stages.values()].flatMap((s) =>
      ((s.options as { trials?: { config?: TrialConfig }[] } | null)?.trials ?? []).flatMap((t) =>
        t.config?.model ? [t.config] : []
      )
    );
    const allowed = [...trials.map((s) => s.trial), ...planned].every((t) => {
      const { name: _n, ...opts } = t.parameterization;
      return nugptBlocks.includes(t.model.block) && nugpt.schema.safeParse(opts).success;
    });
    const sets = ["parameterization.name=nugpt"];
    if (allowed) {
      assert.match(await describe(file, sets), /parameterization\s+nugpt/);
    } else {
      await assert.rejects(describe(file, sets), (e) => {
        assert(e instanceof DmodelError, String(e));
        for (const line of e.message.split("\n")) {
          assert.match(line, /^(--set \S+|pipelines\/\S+\.ya?ml:\d+): \S+: \S/);
        }
        assert.match(e.message, /nugpt/);
        return true;
      });
    }
  });

  Deno.test(`shipped pipelines: ${file} trains for two steps`, async () => {
    const out = await Deno.makeTempDir({ prefix: "dmodel-shipped-" });
    try {
      const p = await loadPipeline(file, ["train.steps=2"]);
      const trials = stageTrials(p);
      assert(trials.length > 0);
      const ran = new Set<string>();
      for (const [i, s] of trials.entries()) {
        assert.equal(s.trial.train.steps, 2);
        if (s.vocabSize !== undefined) {
          // Not a corpus (a synthetic task): the stage trains all its trials itself, once.
          if (!ran.has(s.stage)) {
            await runPipeline(p, { out: `${out}/${s.stage}`, only: [s.stage], log: () => {} });
          }
          ran.add(s.stage);
          continue;
        }
        const t = { ...s.trial, train: { ...s.trial.train, eval_batches: 1, save_model: false } };
        const r = await runTrial(t, `${out}/${i}`, { log: () => {} });
        assert.equal(r.status, "ok", `${file} stage ${s.stage}: ${r.error}`);
        assert.equal(r.steps_done, 2);
        assert(Number.isFinite(r.final_val_loss));
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}

Deno.test("shipped pipelines: quickstart described at width 128 with nuGPT", async () => {
  const text = await describe("pipelines/quickstart.yaml", [
    "parameterization.name=nugpt",
    "model.width=128",
  ]);
  assert.match(text, /^width\s+128$/m);
  assert.match(text, /^m_width\s+4$/m); // base_width 32
});
