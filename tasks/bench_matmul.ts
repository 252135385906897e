/**
 * Micro-benchmark of tfjs matrix products on the wasm backend: the plain wasm
 * `BatchMatMul` kernel vs the OpenBLAS kernel of engine/kernels/matmul.ts, at
 * 1 and 2 OpenBLAS threads, on the shapes of a small nGPT step (M x K x N):
 *
 *   deno run -A tasks/bench_matmul.ts [--ms 400] [--threads 1,2]
 *
 * Prints one row per shape with GFLOP/s (2*M*K*N*batch / median time of one
 * `tf.matMul` call, kernel only; the wasm kernel is synchronous).
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { parseArgs } from "node:util";
import { installFastKernels, uninstallFastKernels } from "../engine/kernels/matmul.ts";

/** One benchmark case: batch dims, M, K, N and transposes. */
interface Case {
  name: string;
  batch: number[];
  m: number;
  k: number;
  n: number;
  transB?: boolean;
}

const CASES: Case[] = [
  { name: "2048x128x128 (qkv, width 128)", batch: [], m: 2048, k: 128, n: 128 },
  { name: "2048x512x128 (mlp down)", batch: [], m: 2048, k: 512, n: 128 },
  {
    name: "64 x 128x32x128 (q@k^T)",
    batch: [16, 4],
    m: 128,
    k: 32,
    n: 128,
    transB: true,
  },
  { name: "64 x 128x128x32 (att@v)", batch: [16, 4], m: 128, k: 128, n: 32 },
  { name: "2048x128x1024 (logits)", batch: [], m: 2048, k: 128, n: 1024 },
];

/** Median milliseconds of one `tf.matMul` call for a case, over about `budgetMs`. */
function timeCase(c: Case, budgetMs: number): number {
  const a = tf.randomUniform([...c.batch, c.m, c.k], -1, 1);
  const b = tf.randomUniform(
    c.transB ? [...c.batch, c.n, c.k] : [...c.batch, c.k, c.n],
    -1,
    1,
  );
  const run = () => tf.matMul(a, b, false, !!c.transB).dispose();
  run();
  run();
  const times: number[] = [];
  const start = performance.now();
  while (
    times.length < 5 ||
    (performance.now() - start < budgetMs && times.length < 200)
  ) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  a.dispose();
  b.dispose();
  times.sort((x, y) => x - y);
  return times[times.length >> 1];
}

const gflops = (c: Case, ms: number) =>
  (2 * c.m * c.k * c.n * c.batch.reduce((x, y) => x * y, 1)) / (ms * 1e6);

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      ms: { type: "string", default: "400" },
      threads: { type: "string", default: "1,2" },
    },
  });
  const budget = Number(values.ms);
  const threadList = values.threads!.split(",").map(Number);
  await tf.setBackend("wasm");
  const rows: Record<string, string>[] = [];
  for (const c of CASES) {
    uninstallFastKernels();
    const plain = timeCase(c, budget);
    const row: Record<string, string> = {
      shape: c.name,
      "wasm GFLOP/s": gflops(c, plain).toFixed(1),
    };
    for (const t of threadList) {
      const r = installFastKernels({ threads: t });
      if (!r.installed) {
        row[`blas ${t}t`] = "n/a";
        continue;
      }
      const ms = timeCase(c, budget);
      row[`blas ${t}t GFLOP/s`] = gflops(c, ms).toFixed(1);
      row[`blas ${t}t ms`] = ms.toFixed(3);
    }
    row["wasm ms"] = plain.toFixed(3);
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  console.table(rows);
}
