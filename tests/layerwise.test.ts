/** Synthetic translation task, prefix-LM / encoder-decoder information flow, and the translation study stage. */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import {
  translationBatch,
  translationExample,
  translationPermutation,
} from "../components/block/seq2seq/translation.ts";
import { prefixLMAllowed } from "../components/block/seq2seq/layerwise.ts";
import { parsePipeline, runPipeline } from "../engine/core/pipeline.ts";
import { greedyTranslate, translationNetwork } from "../components/stage/translation_study.ts";
import { wasm } from "./helpers.ts";
import "../components/mod.ts";

const task = { length: 5, vocab: 7, reverse: true, seed: 3 };

Deno.test("translation: target = permuted reversed source; batch layout and mask", () => {
  const perm = translationPermutation(task);
  assert.deepEqual([...perm].sort(), [0, 1, 2, 3, 4, 5, 6]);
  const { src, tgt } = translationExample(task, 11);
  for (let k = 0; k < 5; k++) assert.equal(tgt[k], perm[src[4 - k]]);
  assert.deepEqual(translationExample(task, 11), { src, tgt }, "deterministic");
  const { x, y, mask, T } = translationBatch(task, 11, 2);
  assert.equal(T, 10);
  assert.deepEqual(Array.from(x.subarray(0, 10)), [...src, 7, ...tgt.subarray(0, 4)]);
  assert.deepEqual(Array.from(y.subarray(5, 10)), Array.from(tgt));
  assert.deepEqual(Array.from(mask.subarray(0, 10)), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  const allowed = prefixLMAllowed(3);
  assert(allowed(0, 2) && !allowed(0, 3) && allowed(4, 2) && allowed(4, 4) && !allowed(4, 5));
});

for (const block of ["layerwise", "encdec"]) {
  Deno.test(`${block}: a target position sees the source and earlier targets only`, async () => {
    await wasm();
    const net = translationNetwork({
      task: { length: 4, vocab: 9, reverse: true, seed: 0 },
      model: { block, width: 16, depth: 2, head_dim: 8 },
      parameterization: { name: "vanilla" },
      optimizer: { name: "adam", lr: 0.01 },
      schedule: { name: "cosine" },
      train: { steps: 1, batch_size: 1, eval_every: 1, eval_examples: 1, seed: 0, backend: "wasm" },
    });
    const run = (toks: number[]) =>
      tf.tidy(() => net.logits(tf.tensor2d(toks, [1, 8], "int32")).dataSync() as Float32Array);
    const V = 10, base = [1, 2, 3, 4, 9, 5, 6, 7];
    const a = run(base);
    const changeTarget = run([1, 2, 3, 4, 9, 5, 8, 7]); // position 6 changed
    const changeSource = run([1, 2, 0, 4, 9, 5, 6, 7]); // position 2 changed
    const row = (x: Float32Array, i: number) => Array.from(x.subarray(i * V, (i + 1) * V));
    for (let i = 0; i < 6; i++) {
      assert.deepEqual(row(changeTarget, i), row(a, i), `position ${i} saw a later target`);
    }
    assert.notDeepEqual(row(changeTarget, 7), row(a, 7));
    for (const i of [4, 5, 6, 7]) {
      assert.notDeepEqual(row(changeSource, i), row(a, i), `target ${i} must see the source`);
    }
    net.dispose();
  });
}

for (const block of ["layerwise", "encdec"]) {
  Deno.test(`${block}: greedy decoding is a fixed point of one forward pass over its own output`, async () => {
    await wasm();
    const t = { length: 5, vocab: 9, reverse: true, seed: 1 };
    const net = translationNetwork({
      task: t,
      model: { block, width: 16, depth: 2, head_dim: 8 },
      parameterization: { name: "vanilla" },
      optimizer: { name: "adam", lr: 0.01 },
      schedule: { name: "cosine" },
      train: { steps: 1, batch_size: 1, eval_every: 1, eval_examples: 1, seed: 3, backend: "wasm" },
    });
    const { hyps, refs } = greedyTranslate(net, t, 6, 4);
    assert.equal(hyps.length, 6);
    for (let i = 0; i < 6; i++) {
      const { src, tgt } = translationExample(t, 2 ** 30 + i);
      assert.deepEqual(Array.from(refs[i]), Array.from(tgt));
      // [src, SEP, hyp_0..hyp_3] in one pass: the argmax at target positions must give hyp back
      const x = [...src, 9, ...hyps[i].subarray(0, 4)];
      const pred = tf.tidy(() => tf.argMax(net.logits(tf.tensor2d(x, [1, 10], "int32")), 1).dataSync());
      assert.deepEqual(Array.from(pred.subarray(5, 10)), Array.from(hyps[i]), `example ${i}`);
    }
    net.dispose();
  });
}

Deno.test("translation-study: trains both blocks and writes accuracy tables and a figure", async () => {
  const dir = await Deno.makeTempDir();
  const text = `name: tiny-translation
base: &base
  task: {length: 4, vocab: 6, reverse: true, seed: 0}
  model: {block: layerwise, width: 16, depth: 1, head_dim: 8}
  parameterization: {name: vanilla, init: normal}
  optimizer: {name: adam, lr: 0.01}
  train: {steps: 30, batch_size: 16, eval_every: 15, eval_examples: 32, seed: 0, backend: wasm}
stages:
  t:
    uses: translation-study
    with:
      base: *base
      variants:
        - {label: layerwise, set: {}}
        - {label: encdec, set: {model.block: encdec}}
      seeds: [0, 1]
`;
  await runPipeline(await parsePipeline(text, `${dir}/p.yaml`), { out: `${dir}/runs`, log: () => {} });
  const rows = (await Deno.readTextFile(`${dir}/runs/translation.csv`)).trim().split("\n");
  assert.equal(
    rows[0],
    "config,seed,step,train_loss,eval_loss,token_acc,seq_acc,bleu,greedy_token_acc,greedy_seq_acc,elapsed",
  );
  const lw = rows.filter((r) => r.startsWith("layerwise,0,")).map((r) => r.split(",").map(Number));
  assert.deepEqual(lw.map((r) => r[2]), [0, 15, 30]);
  assert(lw[2][4] < lw[0][4], "held-out loss fell");
  assert(lw[2][5] > 1 / 6 + 0.05, `token accuracy above chance: ${lw[2][5]}`);
  assert(lw[2][7] >= 0 && lw[2][7] <= 1 && Number.isNaN(lw[0][7]), "BLEU at the end only");
  // exact match under teacher forcing <=> the greedy translation is the reference (induction on k)
  assert.equal(lw[2][9], lw[2][6]);
  const summary = (await Deno.readTextFile(`${dir}/runs/summary.csv`)).trim().split("\n");
  assert.match(
    summary[0],
    /^config,seed,block,depth,n_params,steps,step,train_loss,eval_loss,token_acc,seq_acc,bleu/,
  );
  assert.equal(summary.length, 5); // 2 variants x 2 seeds
  assert.deepEqual(summary.slice(1).map((r) => r.split(",").slice(0, 2).join(",")), [
    "layerwise,0",
    "layerwise,1",
    "encdec,0",
    "encdec,1",
  ]);
  assert((await Deno.stat(`${dir}/runs/translation.png`)).size > 1000);
  await assert.rejects(
    parsePipeline(text.replace("model.block: encdec", "model.block: encdeck"), `${dir}/q.yaml`),
    /variants\.1\.set\.model\.block: encdec: unknown block "encdeck"/,
  );
});
