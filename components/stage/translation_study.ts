/**
 * The `translation-study` stage: layer-wise coordination vs a standard
 * encoder-decoder (docs/reference.md section 7) on the deterministic synthetic
 * translation task of components/block/seq2seq/translation.ts. Each variant trains with its
 * own small loop (masked cross-entropy on target positions only, the
 * registry's parameterization / Adam / schedule), and is evaluated every
 * `eval_every` steps on held-out examples: teacher-forced token accuracy,
 * whole-sequence accuracy and loss; at the end also greedy decoding (each
 * target token predicted from the source and the model's own earlier
 * tokens) scored by corpus BLEU-4 (components/block/seq2seq/bleu.ts) and exact match. With
 * `seeds`, every variant runs once per training seed (the task is the
 * same). Writes `translation.csv`, `summary.csv` (one row per variant x
 * seed) and `translation.png` / `.svg` (token accuracy vs step).
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { build, register } from "../../engine/core/registry.ts";
import type { DescribedTrial, Stage } from "../../engine/core/stage.ts";
import type { ModelShape } from "../../engine/core/contracts.ts";
import { Network } from "../../engine/nn/network.ts";
import { scaleContext } from "../../engine/nn/scaling.ts";
import { trainLoop } from "../../engine/train/loop.ts";
import { useBackend } from "../../engine/kernels/backend.ts";
import { DmodelError } from "../../engine/core/errors.ts";
import { blocksFor, checkTrial, setPath } from "../../engine/core/config.ts";
import { type Issue, issueOf, zodIssue } from "../../engine/core/errors.ts";
import { variantIssues } from "../../engine/train/study.ts";
import { EVAL_OFFSET, translationBatch, type TranslationTask } from "../block/seq2seq/translation.ts";
import { lineChartSpec } from "../../engine/analysis/line_chart.ts";
import { writeFigure } from "../../engine/analysis/render.ts";
import { toCSV } from "../../engine/core/csv.ts";
import { writeFileAtomic } from "../../engine/core/fs.ts";
import { corpusBleu } from "../block/seq2seq/bleu.ts";

const named = z.looseObject({ name: z.string() });
const Config = z.object({
  task: z.object({
    length: z.number().int().min(2).default(8),
    vocab: z.number().int().min(2).default(32),
    reverse: z.boolean().default(true),
    seed: z.number().int().nonnegative().default(0),
  }).strict().default({ length: 8, vocab: 32, reverse: true, seed: 0 }),
  model: z.looseObject({
    block: z.string(),
    width: z.number().int().positive(),
    depth: z.number().int().positive(),
    head_dim: z.number().int().positive(),
  }),
  parameterization: named,
  optimizer: named,
  schedule: named.default({ name: "cosine" }),
  train: z.object({
    steps: z.number().int().positive(),
    batch_size: z.number().int().positive(),
    eval_every: z.number().int().positive().default(50),
    eval_examples: z.number().int().positive().default(256),
    seed: z.number().int().nonnegative().default(0),
    backend: z.string().default("auto"),
  }).strict(),
}).strict();

/** One variant's resolved configuration. */
export type TranslationConfig = z.infer<typeof Config>;

const schema = z.object({
  base: z.record(z.string(), z.unknown()),
  variants: z.array(
    z.object({ label: z.string().min(1), set: z.record(z.string(), z.unknown()).default({}) }).strict(),
  )
    .min(1),
  /** Training seeds: each variant runs once per seed (train.seed); default: the base's seed only. */
  seeds: z.array(z.number().int().nonnegative()).min(1).optional(),
}).strict().transform((o, ctx) => {
  // Each variant is checked as a trial (the window 2n, components with their schemas' defaults).
  const configs: TranslationConfig[] = [];
  const trials: DescribedTrial[] = [];
  const perVariant = o.variants.map((v): Issue[] => {
    const raw = structuredClone(o.base);
    for (const [k, val] of Object.entries(v.set)) setPath(raw, k.split("."), structuredClone(val));
    const r = Config.safeParse(raw);
    if (!r.success) return r.error.issues.map((i) => issueOf(i, [], raw));
    const { eval_examples: _e, ...train } = r.data.train;
    const t = checkTrial({
      data: { tokenizer: { name: "byte" }, seq_len: 2 * r.data.task.length },
      model: r.data.model,
      parameterization: r.data.parameterization,
      optimizer: r.data.optimizer,
      schedule: r.data.schedule,
      train,
    });
    if (!t.trial) return t.issues;
    const { parameterization, optimizer, schedule, model } = t.trial;
    configs.push({ ...r.data, parameterization, optimizer, schedule, model });
    trials.push({ trial: t.trial, vocabSize: r.data.task.vocab + 1 });
    return [];
  });
  for (const i of variantIssues(o.variants, perVariant)) ctx.addIssue(zodIssue(i));
  return { ...o, configs, trials };
});

function split(rec: Record<string, unknown>, drop: string[]) {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) if (!drop.includes(k)) out[k] = v;
  return out;
}

/** Builds the network of a variant (vocabulary K + 1, window 2n). */
export function translationNetwork(c: TranslationConfig): Network {
  const { block: blockName } = c.model;
  const rule = build("parameterization", c.parameterization, ["parameterization"]);
  if (!blocksFor(rule).includes(blockName)) {
    throw new DmodelError(`parameterization ${c.parameterization.name} does not apply to block ${blockName}`);
  }
  const shape: ModelShape = {
    width: c.model.width,
    depth: c.model.depth,
    head_dim: c.model.head_dim,
    heads: c.model.width / c.model.head_dim,
    vocab_size: c.task.vocab + 1,
    seq_len: 2 * c.task.length,
  };
  const pOpts = split(c.parameterization, ["name"]) as Record<string, number>;
  const b = build("block", { name: blockName, ...split(c.model, ["block", "width", "depth", "head_dim"]) }, [
    "model",
  ]);
  return new Network(b, rule, scaleContext(blockName, shape, c.train.steps, pOpts), c.train.seed);
}

/** Masked cross-entropy (mean over target positions) of a batch. */
function maskedLoss(
  net: Network,
  x: Int32Array,
  y: Int32Array,
  mask: Float32Array,
  B: number,
  T: number,
): tf.Scalar {
  const logits = net.logits(tf.tensor2d(x, [B, T], "int32"));
  const V = logits.shape[1];
  const yt = tf.tensor1d(y, "int32"), m = tf.tensor1d(mask);
  const nll = tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, tf.oneHot(yt, V)), 1));
  return tf.div(tf.sum(tf.mul(nll, m)), tf.sum(m));
}

/** Held-out loss, token accuracy and whole-sequence accuracy (teacher forcing). */
export function evaluateTranslation(net: Network, task: TranslationTask, examples: number, batch: number) {
  let loss = 0, correct = 0, tokens = 0, seqOk = 0, seqs = 0;
  for (let start = 0; start < examples; start += batch) {
    const B = Math.min(batch, examples - start);
    const { x, y, mask, T } = translationBatch(task, EVAL_OFFSET + start, B);
    const { l, pred } = tf.tidy(() => {
      const logits = net.logits(tf.tensor2d(x, [B, T], "int32"));
      const V = logits.shape[1];
      const yt = tf.tensor1d(y, "int32"), m = tf.tensor1d(mask);
      const nll = tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, tf.oneHot(yt, V)), 1));
      return { l: tf.sum(tf.mul(nll, m)).dataSync()[0], pred: tf.argMax(logits, 1).dataSync() as Int32Array };
    });
    loss += l;
    for (let b = 0; b < B; b++) {
      let ok = true;
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        if (!mask[i]) continue;
        tokens++;
        if (pred[i] === y[i]) correct++;
        else ok = false;
      }
      seqs++;
      if (ok) seqOk++;
    }
  }
  return { loss: loss / tokens, token_acc: correct / tokens, seq_acc: seqOk / seqs };
}

/**
 * Greedy translations of held-out examples: target token k is the argmax at
 * position n + k given the source, SEP and the model's own tokens 0..k-1
 * (positions after n + k are placeholders the masks hide). Returns the
 * hypotheses and references (token ids).
 */
export function greedyTranslate(net: Network, task: TranslationTask, examples: number, batch: number) {
  const n = task.length, hyps: Int32Array[] = [], refs: Int32Array[] = [];
  for (let start = 0; start < examples; start += batch) {
    const B = Math.min(batch, examples - start);
    const { x, y, T } = translationBatch(task, EVAL_OFFSET + start, B);
    for (let b = 0; b < B; b++) x.fill(0, b * T + n + 1, (b + 1) * T); // hide the reference prefix
    const out = new Int32Array(B * n);
    for (let k = 0; k < n; k++) {
      const pred = tf.tidy(() => tf.argMax(net.logits(tf.tensor2d(x, [B, T], "int32")), 1).dataSync());
      for (let b = 0; b < B; b++) {
        out[b * n + k] = pred[b * T + n + k];
        if (k + 1 < n) x[b * T + n + 1 + k] = pred[b * T + n + k];
      }
    }
    for (let b = 0; b < B; b++) {
      hyps.push(out.slice(b * n, (b + 1) * n));
      refs.push(y.slice(b * T + n, (b + 1) * T));
    }
  }
  return { hyps, refs };
}

/** Corpus BLEU-4, greedy token accuracy and exact-match rate of greedy translations. */
export function evaluateGreedy(net: Network, task: TranslationTask, examples: number, batch: number) {
  const { hyps, refs } = greedyTranslate(net, task, examples, batch);
  let ok = 0, exact = 0, tokens = 0;
  hyps.forEach((h, i) => {
    let all = true;
    for (let k = 0; k < h.length; k++) {
      tokens++;
      if (h[k] === refs[i][k]) ok++;
      else all = false;
    }
    if (all) exact++;
  });
  return {
    bleu: corpusBleu(hyps, refs).bleu,
    greedy_token_acc: ok / tokens,
    greedy_seq_acc: exact / hyps.length,
  };
}

/** Trains one variant; returns its evaluation rows. */
export async function trainTranslation(c: TranslationConfig, log: (s: string) => void) {
  await useBackend(c.train.backend, log);
  const net = translationNetwork(c);
  const opt = build("optimizer", c.optimizer, ["optimizer"]);
  const adam = opt.create(net);
  const schedule = build("schedule", c.schedule, ["schedule"]);
  const { steps, batch_size: B } = c.train;
  const task: TranslationTask = { ...c.task };
  const rows: Record<string, number>[] = [];
  const t0 = performance.now();
  let evalMs = 0;
  const record = (step: number, trainLoss: number) => {
    const e0 = performance.now();
    const e = evaluateTranslation(net, task, c.train.eval_examples, 64);
    const g = step === steps
      ? evaluateGreedy(net, task, c.train.eval_examples, 64)
      : { bleu: NaN, greedy_token_acc: NaN, greedy_seq_acc: NaN };
    evalMs += performance.now() - e0;
    rows.push({
      step,
      train_loss: trainLoss,
      eval_loss: e.loss,
      token_acc: e.token_acc,
      seq_acc: e.seq_acc,
      ...g,
      elapsed: (performance.now() - t0) / 1000,
    });
  };
  record(0, NaN);
  let sum = 0, count = 0;
  try {
    await trainLoop({
      net,
      optimizer: adam,
      steps,
      lr: (step) => opt.lr * schedule(step, steps),
      batch: (step) => {
        const { x, y, mask, T } = translationBatch(task, c.train.seed * 1_000_003 + step * B, B);
        return { loss: () => maskedLoss(net, x, y, mask, B, T) };
      },
      onNonFinite: ({ step, loss }) => {
        throw new DmodelError(`train loss ${loss} at step ${step}`);
      },
      afterStep: ({ step, loss }) => {
        sum += loss, count++;
        if ((step + 1) % c.train.eval_every === 0 || step + 1 === steps) {
          record(step + 1, sum / count);
          sum = 0, count = 0;
        }
      },
    });
  } finally {
    net.dispose();
  }
  const wall = performance.now() - t0;
  return { rows, n_params: net.size, wall_s: wall / 1000, train_ms_per_step: (wall - evalMs) / steps };
}

register("stage", "translation-study", {
  describe: "layer-wise coordination vs encoder-decoder on a synthetic translation task (token accuracy)",
  schema,
  create: (o: z.output<typeof schema>): Stage => ({
    trials: () => o.trials,
    async run(ctx) {
      const all: Record<string, unknown>[] = [], summary: Record<string, unknown>[] = [];
      for (const [i, c0] of o.configs.entries()) {
        const label = o.variants[i].label;
        for (const seed of o.seeds ?? [c0.train.seed]) {
          const c = { ...c0, train: { ...c0.train, seed } };
          const r = await trainTranslation(c, ctx.log);
          for (const row of r.rows) all.push({ config: label, seed, ...row });
          const last = r.rows[r.rows.length - 1];
          summary.push({
            config: label,
            seed,
            block: c.model.block,
            depth: c.model.depth,
            n_params: r.n_params,
            steps: c.train.steps,
            ...last,
            wall_s: +r.wall_s.toFixed(1),
            train_ms_per_step: +r.train_ms_per_step.toFixed(1),
          });
          ctx.log(
            `${label} (seed ${seed}): ${r.n_params} params, token acc ${last.token_acc.toFixed(4)}, ` +
              `greedy BLEU ${(100 * last.bleu).toFixed(2)}, exact ${last.greedy_seq_acc.toFixed(4)}, ${
                r.wall_s.toFixed(1)
              } s`,
          );
        }
      }
      await writeFileAtomic(`${ctx.outDir}/translation.csv`, toCSV(all));
      await writeFileAtomic(`${ctx.outDir}/summary.csv`, toCSV(summary));
      const c0 = o.configs[0], seed0 = (o.seeds ?? [c0.train.seed])[0];
      const png = await writeFigure(
        `${ctx.outDir}/translation`,
        lineChartSpec({
          rows: all.filter((r) => r.seed === seed0),
          x: "step",
          y: "token_acc",
          color: "config",
          points: true,
          title: "Layer-wise coordination vs encoder-decoder",
          subtitle: `synthetic translation: n = ${c0.task.length}, K = ${c0.task.vocab}, ${
            c0.task.reverse ? "reversed + " : ""
          }permuted; held-out token accuracy (teacher forcing), seed ${seed0}`,
          yTitle: "token accuracy",
          colorOrder: o.variants.map((v) => v.label),
          width: 420,
          height: 240,
        }),
      );
      ctx.log(`translation study: ${ctx.outDir}/summary.csv, ${png}`);
      return { summary, figure: png };
    },
  }),
});
