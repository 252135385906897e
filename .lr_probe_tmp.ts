import "./components/mod.ts";
import { parseTrial } from "./engine/config.ts";
import { runTrial } from "./engine/trainer.ts";
const variants: Record<string, any> = {
  prenorm: { model: { block: "prenorm", width: 64, depth: 8, head_dim: 16 }, parameterization: { name: "sp" } },
  nfskip: { model: { block: "attnstack", width: 64, depth: 8, head_dim: 16, residual: true, mlp: true }, parameterization: { name: "vanilla", residual_multiplier: 0.25 } },
  espa: { model: { block: "vanilla", width: 64, depth: 8, head_dim: 16, attention: "espa" }, parameterization: { name: "vanilla" } },
  shaped: { model: { block: "vanilla", width: 64, depth: 8, head_dim: 16, attention: "shaped" }, parameterization: { name: "vanilla" } },
  naive: { model: { block: "vanilla", width: 64, depth: 8, head_dim: 16, attention: "naive" }, parameterization: { name: "vanilla" } },
};
const [name, lr, steps] = [Deno.args[0], Number(Deno.args[1]), Number(Deno.args[2] ?? 100)];
const t = parseTrial({
  data: { corpus: "brown", tokenizer: { name: "bpe", vocab_size: 1024 }, seq_len: 64 },
  ...variants[name],
  optimizer: { name: "adam", lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, grad_clip: 1 },
  schedule: { name: "cosine", warmup: 0, final_fraction: 0.1 },
  train: { steps, batch_size: 16, eval_every: steps, eval_batches: 4, seed: 0, backend: "wasm", save_model: false, divergence_threshold: 50 },
});
const dir = `/tmp/e7/lr/${name}-${lr}-${steps}`;
await Deno.remove(dir, { recursive: true }).catch(() => {});
const r = await runTrial(t, dir, { log: () => {} });
console.log(name, lr, steps, r.status, r.step0_val_loss?.toFixed(3), r.final_val_loss?.toFixed(3), r.wall_s.toFixed(1));
