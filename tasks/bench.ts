/**
 * Training-step benchmark of the reference nGPT configuration (nGPT block,
 * ngpt parameterization, depth 4, head_dim 32, seq 128, batch 16, vocab 1024,
 * Adam with renormalization every step, synthetic random tokens), stepped
 * by the same loop as `runTrial` (engine/train/loop.ts: loss and gradients,
 * read back asynchronously on webgpu, then the optimizer component's Adam update).
 *
 *   deno task bench [--widths 64,128,256] [--steps 12] [--warmup 4] [--backend wasm]
 *                   [--compare [--repeat N]] [--profile]
 *
 * Prints one JSON line per width: {impl: "dmodel", width, ms_per_step (median
 * after warm-up), tokens_per_s, backend, blas_threads, blas_core,
 * blas_multithreaded_share, native, kernel_threads, worker_share, peak_rss_mb,
 * adapter (webgpu only)}. Each
 * width runs in a child process, so peak RSS is per width. Threads:
 * DMODEL_THREADS, else every core (components/backend/wasm.ts); OpenBLAS
 * picks 1 or all of them per product shape by measured speed
 * (engine/kernels/matmul.ts), the fused kernels share their loops with worker
 * threads (engine/kernels/thread_pool.ts).
 *
 * `--compare` also runs the PyTorch peer (/work/shared/bench/torch_ngpt_step.py
 * or $DMODEL_TORCH_BENCH, same configuration) right after each width: torch
 * threads 1 and 2 with OPENBLAS_NUM_THREADS matching, and torch's default
 * (1 thread, OpenBLAS on every core); then a line with dmodel / torch against
 * torch's fastest setting and the load average. Both see the same
 * environment (e.g. OPENBLAS_CORETYPE). On a shared machine timings move by
 * 20-30% from minute to minute: `--repeat N` runs N such rounds per width
 * and ends with the median ratio.
 *
 * `--profile` adds, per width, kernel time per step (every kernel of the
 * backend wrapped by a timer; by name, and by name and input shapes), the
 * time between kernels (engine bookkeeping), and the Adam update's time.
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import "../components/mod.ts";
import { parseTrial } from "../engine/core/config.ts";
import { useBackend } from "../engine/kernels/backend.ts";
import { buildNetwork } from "../engine/nn/resolve.ts";
import { trainLoop } from "../engine/train/loop.ts";
import { build } from "../engine/core/registry.ts";
import { currentAdapter, describeAdapter } from "../engine/kernels/webgpu.ts";
import { adaptiveThreadStats, fastKernelsInstalled } from "../engine/kernels/matmul.ts";
import { blasStatus, getBlasThreads } from "../engine/kernels/blas.ts";
import { kernelThreads, parallelStats } from "../engine/kernels/thread_pool.ts";
import { nativeActive, nativeStatus } from "../engine/kernels/native.ts";

/** The reference configuration (docs/reference.md section 1; shared/bench/torch_ngpt_step.py). */
export const REFERENCE = { depth: 4, head_dim: 32, seq: 128, batch: 16, vocab: 1024 } as const;

const TORCH_SCRIPT = Deno.env.get("DMODEL_TORCH_BENCH") ??
  new URL("../../shared/bench/torch_ngpt_step.py", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3";

/** One benchmark result line. */
export interface BenchLine {
  impl: "dmodel";
  width: number;
  ms_per_step: number;
  tokens_per_s: number;
  backend: string;
  blas_threads: number;
  /** OpenBLAS kernel set (`openblas_get_corename`), "" without OpenBLAS. */
  blas_core: string;
  /** Share of the large products' FLOPs that adaptive threading ran on all blas_threads. */
  blas_multithreaded_share: number;
  /** True when the fused kernels' tasks run as native code (engine/kernels/native.ts), false in TypeScript. */
  native: boolean;
  /** Threads of the fused kernels and Adam (engine/kernels/thread_pool.ts), and the share of their chunks run by workers. */
  kernel_threads: number;
  worker_share: number;
  peak_rss_mb: number;
  /** The WebGPU adapter (backend webgpu), else absent. */
  adapter?: string;
}

/** Peak resident set size of this process in MiB (VmHWM), or current RSS where /proc is absent. */
function peakRssMb(): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
    if (m) return Math.round(Number(m[1]) / 1024);
  } catch { /* not Linux */ }
  return Math.round(Deno.memoryUsage().rss / 2 ** 20);
}

/** Per-kernel wall time (ms) and calls, accumulated while `on`. */
const kernelTimes = new Map<string, { ms: number; calls: number }>();
let profiling = false;
/** End of the previous kernel (for the time between kernels, attributed to the next one). */
let lastEnd: number | null = null;

/** Wraps every kernel of the current backend with a timer (wasm kernels are synchronous). */
function wrapKernels(backendName: string): void {
  for (const k of tf.getKernelsForBackend(backendName)) {
    const inner = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, backendName);
    tf.registerKernel({
      ...k,
      kernelFunc: ((args: Parameters<tf.KernelFunc>[0]) => {
        if (!profiling) return inner(args);
        const t0 = performance.now();
        if (lastEnd !== null) {
          const e = kernelTimes.get(`~gap before ${k.kernelName}`) ?? { ms: 0, calls: 0 };
          e.ms += t0 - lastEnd, e.calls += 1;
          kernelTimes.set(`~gap before ${k.kernelName}`, e);
        }
        const out = inner(args);
        const ms = performance.now() - t0;
        const shapes = Object.values(args.inputs).map((t) => `[${t?.shape}]`).join(" ");
        for (const key of [k.kernelName, `  ${k.kernelName} ${shapes}`]) {
          const e = kernelTimes.get(key) ?? { ms: 0, calls: 0 };
          e.ms += ms, e.calls += 1;
          kernelTimes.set(key, e);
        }
        lastEnd = performance.now();
        return out;
      }) as tf.KernelFunc,
    });
  }
}

/** Trains `steps` steps after `warmup` at one width; returns the result line (and a profile table). */
export async function benchWidth(
  width: number,
  opts: { steps: number; warmup: number; backend: string; profile?: boolean },
): Promise<{ line: BenchLine; profile?: string }> {
  const { depth, head_dim, seq: T, batch: B, vocab: V } = REFERENCE;
  const trial = parseTrial({
    data: { corpus: "synthetic", seq_len: T },
    model: { block: "ngpt", width, depth, head_dim },
    parameterization: { name: "ngpt" },
    optimizer: { name: "adam", lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-16 },
    schedule: { name: "cosine" },
    train: { steps: opts.warmup + opts.steps, batch_size: B, backend: opts.backend },
  });
  const backend = await useBackend(trial.train.backend);
  if (opts.profile) wrapKernels(tf.getBackend());
  const net = buildNetwork(trial, V);
  const optimizer = build("optimizer", trial.optimizer);
  const schedule = build("schedule", trial.schedule);
  const opt = optimizer.create(net);
  // Synthetic tokens: a fixed-seed LCG, a fresh batch every step.
  let s = 12345;
  const batch = () => {
    const x = new Int32Array(B * T), y = new Int32Array(B * T);
    for (let i = 0; i < x.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      x[i] = s % V;
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      y[i] = s % V;
    }
    return { x, y };
  };
  const total = opts.warmup + opts.steps;
  const times: number[] = [];
  let lossMs = 0, adamMs = 0;
  await trainLoop({
    net,
    optimizer: opt,
    steps: total,
    lr: (step) => optimizer.lr * schedule(step, total),
    batch: () => ({ ...batch(), B, T }),
    beforeStep: (step) => {
      profiling = !!opts.profile && step >= opts.warmup;
      lastEnd = null;
    },
    onNonFinite: ({ step, loss }) => {
      throw new Error(`bench: loss is ${loss} at step ${step}`);
    },
    beforeUpdate: () => {
      lastEnd = null;
    },
    afterStep: ({ step, gradMs, updateMs }) => {
      if (step >= opts.warmup) times.push(gradMs + updateMs), lossMs += gradMs, adamMs += updateMs;
    },
  });
  profiling = false;
  net.dispose();
  times.sort((a, b) => a - b);
  const ms = times[times.length >> 1];
  const line: BenchLine = {
    impl: "dmodel",
    width,
    ms_per_step: Math.round(ms * 100) / 100,
    tokens_per_s: Math.round((B * T) / (ms / 1000)),
    backend: opts.backend === backend ? backend : `${opts.backend} (${backend})`,
    blas_threads: fastKernelsInstalled() ? getBlasThreads() : 0,
    blas_core: fastKernelsInstalled() ? blasStatus().core ?? "" : "",
    blas_multithreaded_share: Math.round(adaptiveThreadStats().multiThreadedShare * 100) / 100,
    native: nativeStatus().available && nativeActive("adam"),
    kernel_threads: kernelThreads(),
    worker_share: Math.round((parallelStats().workerChunks / Math.max(1, parallelStats().chunks)) * 100) /
      100,
    peak_rss_mb: peakRssMb(),
  };
  const adapter = backend === "webgpu" ? currentAdapter() : null;
  if (adapter) line.adapter = describeAdapter(adapter);
  if (!opts.profile) return { line };
  const n = opts.steps;
  const all = [...kernelTimes.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const rows = all.filter(([k]) => !k.startsWith(" ") && !k.startsWith("~"));
  const gaps = all.filter(([k]) => k.startsWith("~")).slice(0, 12);
  const byShape = all.filter(([k]) => k.startsWith(" ")).slice(0, 25);
  const kernelMs = rows.reduce((a, [, e]) => a + e.ms, 0) / n;
  const fmt = (name: string, ms: number, calls: string) =>
    `${name.padEnd(24)} ${ms.toFixed(2).padStart(9)} ${calls.padStart(7)}`;
  const lines = [
    `profile, width ${width}: mean per step over ${n} steps (ms, calls)`,
    fmt("lossAndGrads (wall)", lossMs / n, ""),
    fmt("Adam + renorm + push", adamMs / n, ""),
    fmt("kernels (sum)", kernelMs, ""),
    fmt("outside kernels", (lossMs + adamMs) / n - kernelMs, ""),
    ...rows.map(([k, e]) => fmt(k, e.ms / n, String(Math.round(e.calls / n)))),
    "time between kernels, by the kernel that follows:",
    ...gaps.map(([k, e]) =>
      `${(e.ms / n).toFixed(2).padStart(9)} ${String(Math.round(e.calls / n)).padStart(5)} ${k.slice(1)}`
    ),
    "top kernels by input shapes:",
    ...byShape.map(([k, e]) =>
      `${(e.ms / n).toFixed(2).padStart(9)} ${String(Math.round(e.calls / n)).padStart(5)} ${k}`
    ),
  ];
  return { line, profile: lines.join("\n") };
}

/**
 * Thread settings the PyTorch peer runs with: torch threads 1 and 2 with
 * OPENBLAS_NUM_THREADS matching, and torch's default (1 torch thread,
 * OpenBLAS on every core), which the peer measurements found fastest.
 */
const TORCH_SETTINGS: { threads: number; openblas: number | null }[] = [
  { threads: 1, openblas: 1 },
  { threads: 2, openblas: 2 },
  { threads: 1, openblas: null },
];

/** Runs the PyTorch peer at one width and thread setting; null (with a message) when it cannot run. */
async function torchLine(
  width: number,
  { threads, openblas }: { threads: number; openblas: number | null },
  steps: number,
  warmup: number,
): Promise<Record<string, number | string> | null> {
  const { depth, head_dim, seq, batch, vocab } = REFERENCE;
  const args = [
    TORCH_SCRIPT,
    ...[
      "--width",
      width,
      "--depth",
      depth,
      "--head-dim",
      head_dim,
      "--seq",
      seq,
      "--batch",
      batch,
      "--vocab",
      vocab,
    ]
      .map(String),
    "--threads",
    String(threads),
    "--steps",
    String(steps),
    "--warmup",
    String(warmup),
  ];
  const env = Deno.env.toObject();
  delete env.OPENBLAS_NUM_THREADS, delete env.OMP_NUM_THREADS;
  if (openblas !== null) env.OPENBLAS_NUM_THREADS = env.OMP_NUM_THREADS = String(openblas);
  const out = await new Deno.Command(PYTHON, { args, env, clearEnv: true, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    console.error(
      `torch (width ${width}, ${threads} threads) failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
    return null;
  }
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
  return { ...JSON.parse(text), openblas_threads: openblas ?? "default" };
}

async function torchAvailable(): Promise<string | null> {
  try {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", "import torch"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    if (!out.success) {
      return `python3-torch is missing: apt-get install -y python3-torch libopenblas0-pthread ` +
        `(Debian's torch is for ${PYTHON})`;
    }
  } catch {
    return `${PYTHON} not found: apt-get install -y python3 python3-torch libopenblas0-pthread`;
  }
  try {
    await Deno.stat(TORCH_SCRIPT);
  } catch {
    return `torch benchmark script not found at ${TORCH_SCRIPT} (set DMODEL_TORCH_BENCH)`;
  }
  return null;
}

/** The 1-minute load average (/proc/loadavg), or null. */
function loadAvg(): number | null {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return null;
  }
}

/** Runs one width in a child process (fresh tfjs state, per-width peak RSS). */
async function childRun(width: number, rest: string[]): Promise<{ line: BenchLine; profile?: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--child", String(width), ...rest],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`bench: width ${width} failed (exit ${out.code})`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      widths: { type: "string", default: "64,128,256" },
      steps: { type: "string", default: "12" },
      warmup: { type: "string", default: "4" },
      backend: { type: "string", default: "wasm" },
      compare: { type: "boolean", default: false },
      repeat: { type: "string", default: "1" },
      profile: { type: "boolean", default: false },
      child: { type: "string" },
    },
  });
  const opts = {
    steps: Number(values.steps),
    warmup: Number(values.warmup),
    backend: values.backend!,
    profile: values.profile,
  };
  if (values.child) {
    console.log(JSON.stringify(await benchWidth(Number(values.child), opts)));
    Deno.exit(0);
  }
  const widths = values.widths!.split(",").map(Number);
  if (widths.some((w) => !Number.isInteger(w) || w <= 0 || w % REFERENCE.head_dim !== 0)) {
    console.error(`bench: --widths must be multiples of ${REFERENCE.head_dim}, got ${values.widths}`);
    Deno.exit(2);
  }
  let compare = values.compare;
  if (compare) {
    const why = await torchAvailable();
    if (why) {
      console.error(`bench --compare: ${why}`);
      compare = false;
    }
  }
  const rest = ["--steps", values.steps!, "--warmup", values.warmup!, "--backend", values.backend!];
  if (values.profile) rest.push("--profile");
  const rounds = compare ? Math.max(1, Math.floor(Number(values.repeat))) : 1;
  for (const w of widths) {
    const ratios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const { line, profile } = await childRun(w, rest);
      console.log(JSON.stringify(line));
      if (profile) console.error(profile);
      if (!compare) continue;
      const runs = [];
      for (const setting of TORCH_SETTINGS) {
        const r = await torchLine(w, setting, opts.steps, opts.warmup);
        if (r) console.log(JSON.stringify(r)), runs.push(r);
      }
      if (!runs.length) continue;
      const best = runs.reduce((a, b) => (Number(b.ms_per_step) < Number(a.ms_per_step) ? b : a));
      const ratio = Math.round((line.ms_per_step / Number(best.ms_per_step)) * 1000) / 1000;
      ratios.push(ratio);
      console.log(JSON.stringify({
        compare: "dmodel/torch",
        width: w,
        ...(rounds > 1 ? { round } : {}),
        dmodel_ms: line.ms_per_step,
        torch_ms: best.ms_per_step,
        torch_threads: best.threads,
        torch_openblas_threads: best.openblas_threads,
        ratio,
        load_avg_1m: loadAvg(),
      }));
    }
    if (ratios.length > 1) {
      const sorted = [...ratios].sort((a, b) => a - b);
      console.log(JSON.stringify({
        compare: "dmodel/torch",
        width: w,
        rounds: ratios.length,
        ratio_median: sorted[sorted.length >> 1],
        ratios,
      }));
    }
  }
}
