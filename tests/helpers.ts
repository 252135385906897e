/** Shared test fixtures: a tiny corpus and tiny trial configs. */
import "../components/mod.ts";
import { parseTrial, type TrialConfig } from "../engine/core/config.ts";
import { useBackend } from "../engine/kernels/backend.ts";
import assert from "node:assert/strict";
import { DmodelError } from "../engine/core/errors.ts";

/** A small English text, repeated, written once to a temp file. */
export async function tinyCorpus(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-corpus-" });
  const lines: string[] = [];
  const words = "the quick brown fox jumps over the lazy dog while a small cat sleeps near the warm fire"
    .split(" ");
  for (let i = 0; i < 400; i++) {
    const n = 8 + (i % 7);
    const s: string[] = [];
    for (let j = 0; j < n; j++) s.push(words[(i * 7 + j * 3 + (i >> 2)) % words.length]);
    lines.push(s.join(" ") + ".");
    if (i % 5 === 4) lines.push("");
  }
  const path = `${dir}/tiny.txt`;
  await Deno.writeTextFile(path, lines.join("\n"));
  return path;
}

/** A tiny trial on a corpus file, with byte tokens; fields can be overridden. */
export function tinyTrial(corpus: string, over: Record<string, Record<string, unknown>> = {}): TrialConfig {
  const base: Record<string, Record<string, unknown>> = {
    data: { corpus, tokenizer: { name: "byte" }, seq_len: 16, val_fraction: 0.1 },
    model: { block: "ngpt", width: 16, depth: 2, head_dim: 8 },
    parameterization: { name: "ngpt" },
    optimizer: { name: "adam", lr: 0.01 },
    schedule: { name: "cosine" },
    train: {
      steps: 6,
      batch_size: 4,
      eval_every: 3,
      eval_batches: 2,
      log_every: 1,
      seed: 1,
      backend: "wasm",
    },
  };
  for (const [k, v] of Object.entries(over)) base[k] = { ...base[k], ...v };
  return parseTrial(base);
}

/** Sets up the wasm backend once. */
export async function wasm(): Promise<void> {
  await useBackend("wasm");
}

/** Max |a - b| over two arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * A sweep pipeline over a tiny ngpt (width x LR grid, 2 workers) on `corpus`; `extra`
 * lines go under the sweep's `with:` (executor options, ...).
 */
export function tinySweepYaml(
  corpus: string,
  o: { name?: string; steps?: number; lrs?: string; widths?: string; extra?: string } = {},
): string {
  return `name: ${o.name ?? "test-sweep"}
base: &base
  data: {corpus: ${corpus}, tokenizer: {name: byte}, seq_len: 16}
  model: {block: ngpt, width: 16, depth: 1, head_dim: 8}
  parameterization: {name: ngpt}
  optimizer: {name: adam, lr: 0.01}
  train: {steps: ${o.steps ?? 6}, batch_size: 2, eval_every: 2, eval_batches: 1, log_every: 1, backend: wasm}
stages:
  sweep:
    uses: sweep
    with:
      base: *base
      grid:
        model.width: ${o.widths ?? "[16, 32]"}
        optimizer.lr: ${o.lrs ?? "[0.01, 0.03, 0.1]"}
      workers: 2
${o.extra ?? ""}`;
}

/** The message of the DmodelError that `fn` throws (fails when it throws anything else, or nothing). */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert(e instanceof DmodelError, `expected a DmodelError, got ${e}`);
    return e.message;
  }
  throw new Error("no error");
}

const repoRoot = new URL("..", import.meta.url).pathname;

/** `deno run -A tasks/sweep.ts FILE --out OUT ...extra` from the repository root, output piped, under CI=true. */
export function sweepCommand(file: string, out: string, extra: string[] = []): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${repoRoot}tasks/sweep.ts`, file, "--out", out, ...extra],
    cwd: repoRoot,
    stdout: "piped",
    stderr: "piped",
    env: { CI: "true" },
  });
}
