/**
 * What `deno task train` prints: every message once, no tfjs banner, a
 * progress line (a bar on a terminal), and a notice when the rule's horizon
 * correction changes the learning rate.
 */
import assert from "node:assert/strict";
import { TrainProgress } from "../engine/train/progress.ts";
import { tinyCorpus } from "./helpers.ts";

const corpus = await tinyCorpus();

/** A nuGPT trial tuned at 8 steps, trained for `steps`, on the cpu backend (the one with the banner). */
function pipelineText(steps: number): string {
  return `name: msg
trial: &trial
  data: &data {corpus: ${corpus}, tokenizer: {name: byte}, seq_len: 16}
  model: {block: ngpt, width: 16, depth: 1, head_dim: 8}
  parameterization: {name: nugpt, base_width: 16, base_depth: 1, base_steps: 8}
  optimizer: {name: adam, lr: 0.01}
  train: {steps: ${steps}, batch_size: 2, eval_every: 4, eval_batches: 1, log_every: 1, backend: cpu}
stages:
  data: {uses: data, with: {data: *data}}
  train: {uses: train, needs: [data], with: *trial}
`;
}

async function train(steps: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-msg-" });
  try {
    await Deno.writeTextFile(`${dir}/p.yaml`, pipelineText(steps));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tasks/train.ts", `${dir}/p.yaml`, "--out", `${dir}/runs`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text);
    return text;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("messages: train prints each message once, no tfjs banner, progress and the LR notice", async () => {
  const text = await train(4);
  assert(!text.includes("looks like you are running TensorFlow.js"), text);
  const lines = text.split("\n").filter((l) => l.trim() && !/^\s/.test(l));
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l, (counts.get(l) ?? 0) + 1);
  const twice = [...counts].filter(([l, n]) => n > 1 && !/^E_|^blocks\./.test(l));
  assert.deepEqual(twice, [], "lines printed twice");
  assert.equal(lines.filter((l) => /backend/.test(l)).length, 1, "one line about the backend");
  // One summary of the data (built or reused), and a "preparing" line before it only when the cache was cold.
  assert.equal(lines.filter((l) => /^data: (?!preparing )/.test(l)).length, 1, "one line about the data");
  assert(lines.filter((l) => /^data: preparing /.test(l)).length <= 1, "at most one preparing line");
  // Not a terminal: plain lines, the last one at the last step.
  assert.match(text, /^train: step 4\/4 \(100%\), loss \d+\.\d{3}, \d+ tok\/s, ETA 0s$/m);
  // base_steps 8, steps 4: m_data = 0.5, LR x 0.5^(-1/3) = 1.26.
  assert.match(
    text,
    /notice: parameterization nugpt multiplies the learning rate by 1\.26 \(its token-horizon correction, train\.steps 4 vs base_steps 8, m_data = 0\.5\): optimizer\.lr 0\.01 -> 0\.0126/,
  );
  assert.equal((await train(8)).includes("notice: parameterization"), false, "no notice at base_steps");
});

Deno.test("messages: the train progress bar redraws in place on a terminal, plain lines when due otherwise", () => {
  let out = "";
  const bar = new TrainProgress("train", { tty: true, write: (s) => (out += s) });
  for (const step of [1, 2, 3, 4]) bar.update({ step, steps: 4, train_loss: 5, tokens_per_s: 100 });
  const frames = out.split("\r\x1b[2K").filter(Boolean);
  assert.equal(frames.length, 4);
  assert.match(frames[1], /^train \[#{12}-{12}\] step 2\/4 \(50%\), loss 5\.000, 100 tok\/s, ETA \d+s$/);
  assert(out.endsWith("ETA 0s\n"), "the bar's line ends after the last step");
  out = "";
  const plain = new TrainProgress("train", { tty: false, everySeconds: 3600, write: (s) => (out += s) });
  for (const step of [1, 2, 3, 4]) plain.update({ step, steps: 4, train_loss: 5, tokens_per_s: 100 });
  assert.deepEqual(out.trim().split("\n").map((l) => l.split(",")[0]), [
    "train: step 1/4 (25%)",
    "train: step 4/4 (100%)",
  ]);
});
