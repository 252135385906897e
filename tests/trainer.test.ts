/** The trial directory, determinism, resume equality, divergence. */
import assert from "node:assert/strict";
import YAML from "yaml";
import { runTrial } from "../engine/train/trainer.ts";
import { evaluateTrialDir } from "../engine/train/evaluate.ts";
import { tinyCorpus, tinyTrial } from "./helpers.ts";

const corpus = await tinyCorpus();
const dataRoot = await Deno.makeTempDir({ prefix: "dmodel-data-" });

async function losses(dir: string): Promise<string[]> {
  const rows = (await Deno.readTextFile(`${dir}/metrics.csv`)).trim().split("\n").slice(1);
  // step, train_loss, val_loss (elapsed differs from run to run)
  return rows.map((r) => r.split(",").slice(0, 3).join(","));
}

Deno.test("trainer: writes config.yaml, metrics.csv, result.json, model.safetensors", async () => {
  const dir = await Deno.makeTempDir();
  const t = tinyTrial(corpus);
  const r = await runTrial(t, dir, { dataRoot, log: () => {} });
  assert.equal(r.status, "ok");
  assert.equal(r.steps_done, 6);
  assert.deepEqual(YAML.parse(await Deno.readTextFile(`${dir}/config.yaml`)), JSON.parse(JSON.stringify(t)));
  const header = (await Deno.readTextFile(`${dir}/metrics.csv`)).split("\n")[0];
  assert.equal(header, "step,train_loss,val_loss,lr,tokens,elapsed");
  const saved = JSON.parse(await Deno.readTextFile(`${dir}/result.json`));
  assert.equal(saved.status, "ok");
  assert(saved.final_val_loss < saved.step0_val_loss, "val loss fell");
  // safetensors header by hand: u64 length, JSON, every parameter with name and shape.
  const bytes = await Deno.readFile(`${dir}/model.safetensors`);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const head = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const params = JSON.parse(await Deno.readTextFile(`${dir}/params.json`)) as {
    name: string;
    shape: number[];
  }[];
  for (const p of params) {
    assert.deepEqual(head[p.name].shape, p.shape, p.name);
    assert.equal(head[p.name].dtype, "F32");
    const [b, e] = head[p.name].data_offsets;
    assert.equal(e - b, 4 * p.shape.reduce((a, c) => a * c, 1));
  }
  assert.equal(bytes.length, 8 + n + Math.max(...params.map((p) => head[p.name].data_offsets[1])));
  // eval reloads the weights and reproduces the final val loss.
  const ev = await evaluateTrialDir(dir);
  assert(Math.abs(ev.val_loss - saved.final_val_loss) < 1e-5, `${ev.val_loss} vs ${saved.final_val_loss}`);
  assert(Math.abs(ev.perplexity - Math.exp(ev.val_loss)) < 1e-9);
});

Deno.test("trainer: same seed and backend give identical losses; another seed differs", async () => {
  const t = tinyTrial(corpus);
  const [a, b, c] = [await Deno.makeTempDir(), await Deno.makeTempDir(), await Deno.makeTempDir()];
  await runTrial(t, a, { dataRoot, log: () => {} });
  await runTrial(t, b, { dataRoot, log: () => {} });
  await runTrial(tinyTrial(corpus, { train: { seed: 2 } }), c, { dataRoot, log: () => {} });
  assert.deepEqual(await losses(a), await losses(b));
  assert.notDeepEqual(await losses(a), await losses(c));
});

Deno.test("trainer: resume continues at the checkpoint's step, redoes nothing, and matches an uninterrupted run", async () => {
  const t = tinyTrial(corpus, { train: { steps: 9, eval_every: 3, log_every: 1 } });
  const whole = await Deno.makeTempDir(), split = await Deno.makeTempDir();
  await runTrial(t, whole, { dataRoot, log: () => {} });
  // Killed during step 5 (the checkpoint is the step-3 eval's): the loop stops in onProgress.
  await runTrial(t, split, {
    dataRoot,
    log: () => {},
    onProgress: (p) => {
      if (p.step === 5) throw new Error("simulated kill");
    },
  });
  assert.equal(JSON.parse(await Deno.readTextFile(`${split}/result.json`)).status, "failed");
  await Deno.remove(`${split}/result.json`);
  const logs: string[] = [], steps: number[] = [];
  const r = await runTrial(t, split, {
    dataRoot,
    resume: true,
    log: (l) => logs.push(l),
    onProgress: (p) => steps.push(p.step),
  });
  assert.equal(r.status, "ok");
  assert(logs.includes(`resumed ${split} at step 3`), logs.join("\n"));
  // Steps 1-3 are not trained again: the resumed run reports steps 4..9 only.
  assert.deepEqual(steps, [4, 5, 6, 7, 8, 9]);
  assert.equal(r.steps_done, 9);
  // One metrics row per step (the rows of the lost steps 4 and 5 were dropped), losses as uninterrupted.
  const rows = (await Deno.readTextFile(`${split}/metrics.csv`)).trim().split("\n").slice(1);
  assert.deepEqual(rows.map((l) => Number(l.split(",")[0])), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(await losses(split), await losses(whole));
});

Deno.test("trainer: a NaN loss ends the trial as diverged, not a crash", async () => {
  const dir = await Deno.makeTempDir();
  const r = await runTrial(tinyTrial(corpus, { optimizer: { lr: 1e30 }, train: { steps: 6 } }), dir, {
    dataRoot,
    log: () => {},
  });
  assert.equal(r.status, "diverged");
  assert.match(r.error!, /train loss is NaN|above the divergence threshold/);
  const saved = JSON.parse(await Deno.readTextFile(`${dir}/result.json`));
  assert.equal(saved.status, "diverged");
});
