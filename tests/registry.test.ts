/** The registry's one way to build a component, block families, and stages' inputs by `needs:`. */
import assert from "node:assert/strict";
import { z } from "zod";
import "../components/mod.ts";
import { prenormBlock } from "../components/block/prenorm.ts";
import { blocksFor, parseTrial } from "../engine/core/config.ts";
import { parsePipeline, runPipeline } from "../engine/core/pipeline.ts";
import { build, register } from "../engine/core/registry.ts";
import type { Stage } from "../engine/core/stage.ts";
import { adamParamHyper } from "../engine/nn/optim.ts";
import { errorOf } from "./helpers.ts";

Deno.test("build: parses the options (defaults filled), creates the component, names the key path on errors", () => {
  const opt = build("optimizer", { name: "adam", lr: 0.01 });
  assert.equal(opt.lr, 0.01);
  // The factory's per-parameter settings are Adam's: lr x lr_factor x multiplier, eps x multiplier.
  const rule = { lr_multiplier: 0.5, eps_multiplier: 4, weight_decay: 1 } as Parameters<
    typeof adamParamHyper
  >[1];
  assert.deepEqual(opt.paramHyper(rule, 2, 0.01), { lr: 0.01 * 2 * 0.5, eps: 1e-8 * 4, weight_decay: 0 });
  assert.equal(
    build("schedule", { name: "cosine", warmup: 2 })(0, 10),
    0.5,
    "warmup step 0 of 2: (0 + 1) / 2",
  );
  assert.match(
    errorOf(() => build("optimizer", { name: "adam", lr: -1 }, ["stages", "t", "optimizer"])),
    /^stages\.t\.optimizer\.lr: .*\(value: -1\)$/,
  );
  assert.equal(
    errorOf(() => build("optimizer", { name: "adam", lr: 1, betta: 0.9 })),
    'optimizer: unknown key(s) "betta"',
  );
  assert.match(
    errorOf(() => build("schedule", { name: "cosinus" })),
    /^schedule\.name: unknown schedule "cosinus" \(did you mean "cosine"\?\); known: .*cosine/,
  );
});

Deno.test("families: a plugin block of family sp works with every SP-style rule, without editing a list", () => {
  register("block", "test-sp-plugin", {
    describe: "a copy of prenorm declared by a plugin (test)",
    schema: z.object({}).strict(),
    create: () => ({ ...prenormBlock, family: "sp" }),
  }, true);
  const trial = (block: string, parameterization: Record<string, unknown>) =>
    parseTrial({
      data: { corpus: "brown", tokenizer: { name: "byte" }, seq_len: 16 },
      model: { block, width: 32, depth: 2, head_dim: 16 },
      parameterization,
      optimizer: { name: "adam", lr: 0.01 },
      train: { steps: 2, batch_size: 2 },
    });
  const base = { base_width: 32, base_depth: 2, base_steps: 2 };
  for (const name of ["sp", "mup", "completep", "vanilla"]) {
    assert.equal(trial("test-sp-plugin", { name, ...base }).model.block, "test-sp-plugin", name);
    assert(blocksFor(build("parameterization", { name, ...base })).includes("test-sp-plugin"), name);
  }
  // nGPT rules drive family ngpt only: refused by name, listing the blocks they do drive.
  assert.match(
    errorOf(() => trial("test-sp-plugin", { name: "ngpt" })),
    /parameterization "ngpt" does not apply to block "test-sp-plugin" \(it is written for: ngpt\)/,
  );
  assert.deepEqual(blocksFor(build("parameterization", { name: "sp" })).slice(0, 5), [
    "prenorm",
    "vanilla",
    "attnstack",
    "layerwise",
    "encdec",
  ], "in registration order");
});

Deno.test("needs: a stage receives what its needs returned, and nothing else", async () => {
  const seen: Record<string, string[]> = {};
  register("stage", "test-echo", {
    describe: "returns its id; records the inputs it saw (test)",
    schema: z.object({}).strict(),
    create: (): Stage => ({
      run(ctx) {
        seen[ctx.stageId] = [...ctx.inputs.entries()].map(([k, v]) => `${k}=${v}`);
        return Promise.resolve(ctx.stageId.toUpperCase());
      },
    }),
  }, true);
  const p = await parsePipeline(
    "name: needs\nstages:\n  a: {uses: test-echo}\n  b: {uses: test-echo}\n  c: {uses: test-echo, needs: [b]}\n" +
      "  d: {uses: test-echo, needs: [c, a]}\n",
    "needs.yaml",
  );
  const dir = await Deno.makeTempDir();
  try {
    await runPipeline(p, { out: dir, log: () => {} });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(seen, { a: [], b: [], c: ["b=B"], d: ["c=C", "a=A"] });
});
