/**
 * The GPU check: everything to measure on a machine with a GPU, in
 * one command that writes `gpu_check.json` and `gpu_check.md` to --out.
 *
 *   deno task gpu-check --out runs/gpu-check            # a real GPU (< 8 min)
 *   deno task gpu-check --out /tmp/gc --tiny            # the fallback adapter, tiny widths
 *   [--widths 256,512,1024,2048] [--wasm-widths 256,512,1024] [--steps 5] [--warmup 2]
 *   [--op-width 1024] [--sections tests,ops,bench]
 *
 * Sections:
 * 1. adapter: the WebGPU adapter's description (a fallback adapter without
 *    --tiny is refused: it would take hours).
 * 2. correctness: the webgpu tests (tests/webgpu.test.ts: every fused op's
 *    WGSL value and gradient vs its plain composition, 10 training steps of a
 *    tiny nGPT and prenorm vs wasm-plain), pass/fail and their summary line.
 * 3. ops: each fused op's fwd+bwd time both ways (engine/train/webgpu_decide.ts)
 *    at the shapes of one layer of the bench's nGPT at --op-width, and the
 *    DMODEL_WEBGPU_FUSED value that picks the faster path.
 * 4. bench: `deno task bench --backend webgpu` at --widths (default
 *    256,512,1024,2048), and wasm with DMODEL_THREADS=2 (the 2-core figure)
 *    at --wasm-widths (default 256,512,1024; wider takes minutes per step on
 *    2 cores), both with --steps after --warmup steps.
 */
import { parseArgs } from "node:util";
import "../components/mod.ts";
import { useBackend } from "../engine/kernels/backend.ts";
import { describeAdapter, requestAdapter } from "../engine/kernels/webgpu.ts";
import { fusedSettingOf, type OpTiming, timeFusedOps } from "../engine/train/webgpu_decide.ts";
import { WEBGPU_FUSED_DEFAULT } from "../engine/kernels/fused_webgpu.ts";
import type { BenchLine } from "./bench.ts";

const root = new URL("..", import.meta.url).pathname;

/** Runs a deno subcommand; exit code, stdout and stderr. */
async function deno(args: string[], env: Record<string, string> = {}, timeoutS = 420) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { CI: "true", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutS * 1000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Bench lines of one backend at some widths (one bench run), or the error. */
async function bench(backend: string, widths: number[], steps: number, warmup: number, env = {}) {
  if (!widths.length) return { lines: [] as BenchLine[], error: null };
  const r = await deno([
    "run",
    "-A",
    `${root}tasks/bench.ts`,
    "--backend",
    backend,
    "--widths",
    widths.join(","),
    "--steps",
    String(steps),
    "--warmup",
    String(warmup),
  ], env);
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as BenchLine);
  const error = r.code === 0 ? null : `exit ${r.code}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`;
  return { lines, error };
}

const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean).map(Number);

/** The check's settings from the command line (exit 2 on a bad one). */
function settings() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string" },
      tiny: { type: "boolean", default: false },
      widths: { type: "string" },
      "wasm-widths": { type: "string" },
      steps: { type: "string" },
      warmup: { type: "string" },
      "op-width": { type: "string" },
      sections: { type: "string", default: "tests,ops,bench" },
    },
  });
  if (!values.out) {
    console.error("gpu-check: --out DIR is required (where gpu_check.json and gpu_check.md go)");
    Deno.exit(2);
  }
  const tiny = values.tiny!;
  const sections = new Set(values.sections!.split(",").map((x) => x.trim()));
  for (const x of sections) {
    if (!["tests", "ops", "bench"].includes(x)) {
      console.error(`gpu-check: --sections ${JSON.stringify(x)}: must be tests, ops or bench`);
      Deno.exit(2);
    }
  }
  const opWidth = Number(values["op-width"] ?? (tiny ? 32 : 1024));
  return {
    out: values.out,
    tiny,
    sections,
    widths: list(values.widths ?? (tiny ? "32" : "256,512,1024,2048")),
    wasmWidths: list(values["wasm-widths"] ?? (tiny ? "32" : "256,512,1024")),
    steps: Number(values.steps ?? (tiny ? 2 : 5)),
    warmup: Number(values.warmup ?? (tiny ? 1 : 2)),
    // The shapes of one layer of the bench's reference nGPT (seq 128, batch 16, vocab 1024) at width opWidth.
    opShape: tiny && !values["op-width"]
      ? { tokens: 256, seq: 16, width: 32, headDim: 16, vocab: 256, reps: 3 }
      : { tokens: 2048, seq: 128, width: opWidth, headDim: opWidth >= 1024 ? 64 : 32, vocab: 1024, reps: 7 },
  };
}

type Settings = ReturnType<typeof settings>;

/** Section 2: the webgpu tests' pass/fail and summary line. */
async function correctness(log: (s: string) => void): Promise<{ passed: boolean | null; summary: string }> {
  log("correctness: tests/webgpu.test.ts (fused ops, 10-step training parity)");
  const r = await deno([
    "test",
    "-A",
    "--no-check",
    "--filter",
    "/fused op|training steps/",
    "tests/webgpu.test.ts",
  ]);
  const plainOut = r.stdout + r.stderr;
  const summary = plainOut.split("\n").find((l) => /^(ok|FAILED) \| \d+ passed/.test(l)) ??
    `exit ${r.code}`;
  log(`correctness: ${summary}`);
  return { passed: r.code === 0, summary };
}

/** What the check found, as written to gpu_check.json. */
interface GpuCheck {
  date: string;
  tiny: boolean;
  adapter: string;
  deno: string;
  tests: { passed: boolean | null; summary: string };
  ops: OpTiming[];
  ops_setting: string;
  default_setting: string;
  wall_s: number;
}

/** gpu_check.md: the adapter, the tests' summary, the ops table and the bench table of the sections run. */
function markdown(
  r: GpuCheck,
  o: Settings,
  gpu: { lines: BenchLine[]; error: string | null },
  cpu: { lines: BenchLine[]; error: string | null },
): string {
  const { widths, wasmWidths, steps, warmup, opShape } = o;
  const wasmAt = new Map(cpu.lines.map((l) => [l.width, l.ms_per_step]));
  return [
    `# GPU check (${r.date})`,
    "",
    `Adapter: ${r.adapter}. Deno ${r.deno}.${r.tiny ? " Tiny widths (--tiny)." : ""} Wall ${r.wall_s} s.`,
    "",
    `Correctness (tests/webgpu.test.ts, fused ops and training parity): ${r.tests.summary}`,
    ...(o.sections.has("ops")
      ? [
        "",
        `## Fused ops, fwd + bwd (width ${opShape.width}, ${opShape.tokens} tokens; median of ${opShape.reps})`,
        "",
        "| op | shape | WGSL ms | plain ms | faster |",
        "|---|---|---|---|---|",
        ...r.ops.map((o) => `| ${o.op} | ${o.shape} | ${o.wgsl_ms} | ${o.plain_ms} | ${o.choice} |`),
        "",
        `Measured choice: \`DMODEL_WEBGPU_FUSED=${r.ops_setting}\` (built-in default: ${r.default_setting}).`,
      ]
      : []),
    ...(o.sections.has("bench")
      ? [
        "",
        `## Training step (deno task bench: nGPT depth 4, seq 128, batch 16; median of ${steps} steps after ${warmup})`,
        "",
        "| width | webgpu ms/step | wasm 2 threads ms/step | speed-up |",
        "|---|---|---|---|",
        ...[...new Set([...widths, ...wasmWidths])].sort((x, y) => x - y).map((w) => {
          const g = gpu.lines.find((l) => l.width === w)?.ms_per_step;
          const c = wasmAt.get(w);
          const up = g && c ? `${(c / g).toFixed(2)}x` : "";
          return `| ${w} | ${g ?? "not run"} | ${c ?? "not run"} | ${up} |`;
        }),
        ...(gpu.error ? ["", `webgpu bench failed: ${gpu.error}`] : []),
        ...(cpu.error ? ["", `wasm bench failed: ${cpu.error}`] : []),
      ]
      : []),
    "",
  ].join("\n");
}

if (import.meta.main) {
  const o = settings();
  const { tiny, sections, widths, wasmWidths, steps, warmup, opShape } = o;
  const t0 = performance.now();
  const log = (s: string) =>
    console.error(`gpu-check [${((performance.now() - t0) / 1000).toFixed(0)}s] ${s}`);

  const a = await requestAdapter();
  if ("error" in a) {
    console.error(`gpu-check: ${a.error}`);
    Deno.exit(1);
  }
  const adapter = describeAdapter(a.summary);
  log(`adapter: ${adapter}`);
  if (a.summary.isFallbackAdapter && !tiny) {
    console.error(`gpu-check: only the fallback adapter is here (${adapter}); use --tiny, or run on a GPU`);
    Deno.exit(1);
  }
  await Deno.mkdir(o.out, { recursive: true });

  // 2. correctness
  const tests = sections.has("tests") ? await correctness(log) : { passed: null, summary: "skipped" };

  // 3. ops, in this process
  await useBackend("webgpu", log);
  let ops: OpTiming[] = [];
  if (sections.has("ops")) {
    log(`ops: each fused op fwd+bwd, WGSL vs plain (width ${opShape.width}, ${opShape.tokens} tokens)`);
    ops = await timeFusedOps(opShape);
    for (const o of ops) log(`  ${o.op}: wgsl ${o.wgsl_ms} ms, plain ${o.plain_ms} ms -> ${o.choice}`);
  }

  // 4. bench
  const none = { lines: [] as BenchLine[], error: null };
  const runBench = sections.has("bench");
  if (runBench) log(`bench webgpu at widths ${widths.join(",")} (${steps} steps after ${warmup})`);
  const gpu = runBench ? await bench("webgpu", widths, steps, warmup) : none;
  if (runBench) log(`bench wasm, DMODEL_THREADS=2, at widths ${wasmWidths.join(",")}`);
  const cpu = runBench ? await bench("wasm", wasmWidths, steps, warmup, { DMODEL_THREADS: "2" }) : none;

  const result = {
    date: new Date().toISOString(),
    tiny,
    adapter,
    adapter_info: a.summary,
    deno: Deno.version.deno,
    tests,
    ops,
    ops_setting: fusedSettingOf(ops),
    default_setting: fusedSettingOf(
      ops.map((o) => ({ ...o, choice: WEBGPU_FUSED_DEFAULT[o.op] })),
    ),
    bench: { webgpu: gpu.lines, webgpu_error: gpu.error, wasm_2_threads: cpu.lines, wasm_error: cpu.error },
    wall_s: Math.round((performance.now() - t0) / 1000),
  };
  await Deno.writeTextFile(`${o.out}/gpu_check.json`, JSON.stringify(result, null, 1) + "\n");
  const md = markdown(result, o, gpu, cpu);
  await Deno.writeTextFile(`${o.out}/gpu_check.md`, md);
  console.log(md);
  log(`wrote ${o.out}/gpu_check.json and gpu_check.md`);
  Deno.exit(tests.passed === false || gpu.error ? 1 : 0);
}
