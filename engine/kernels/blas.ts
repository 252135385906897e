/**
 * OpenBLAS through Deno FFI: single-precision GEMM (`cblas_sgemm`) on
 * Float32Arrays, and the size of OpenBLAS's thread pool. The library is found
 * lazily on first use; when it is absent (or FFI is not permitted) every
 * query says so instead of throwing, so callers can fall back to plain code.
 *
 * @example
 * ```ts
 * import { openblasAvailable, sgemm } from "./blas.ts";
 * if (openblasAvailable()) {
 *   const a = new Float32Array([1, 2, 3, 4]), b = new Float32Array([1, 0, 0, 1]);
 *   const c = new Float32Array(4);
 *   sgemm(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2); // c = a @ b
 * }
 * ```
 */

/** Where OpenBLAS is looked for, in order (names first, then the Debian path). */
export const OPENBLAS_CANDIDATES: readonly string[] = [
  "libopenblas.so.0",
  "libopenblas.so",
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
];

// CBLAS enum values (cblas.h).
const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32", // order
      "i32", // transA
      "i32", // transB
      "i32", // M
      "i32", // N
      "i32", // K
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // B
      "i32", // ldb
      "f32", // beta
      "buffer", // C
      "i32", // ldc
    ],
    result: "void",
  },
  cblas_sgemv: {
    parameters: [
      "i32", // order
      "i32", // trans
      "i32", // M
      "i32", // N
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // x
      "i32", // incx
      "f32", // beta
      "buffer", // y
      "i32", // incy
    ],
    result: "void",
    optional: true,
  },
  openblas_set_num_threads: {
    parameters: ["i32"],
    result: "void",
    optional: true,
  },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
  openblas_get_corename: { parameters: [], result: "pointer", optional: true },
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** What loading OpenBLAS found: the library path, or why it is unusable. */
export interface BlasStatus {
  available: boolean;
  /** The name or path that `dlopen` accepted. */
  path?: string;
  /** OpenBLAS's own build description (`openblas_get_config`). */
  config?: string;
  /** The kernel set in use (`openblas_get_corename`, e.g. "Haswell", "SkylakeX"). */
  core?: string;
  /** Why OpenBLAS is not available (one line). */
  reason?: string;
}

let lib: Lib | null = null;
let status: BlasStatus | null = null;

/**
 * OpenBLAS's helper threads spin (sched_yield) for 2^28 cycles, ~0.1 s,
 * after each multi-threaded call. dmodel runs its own single-threaded wasm
 * kernels and kernel workers between products, so that spinning takes a core
 * from them (measured: 25-30% system time on 2 cores). Unless the user chose,
 * let the helpers sleep right away (OPENBLAS_THREAD_TIMEOUT=4, the minimum,
 * read when the library loads); waking them costs microseconds per product.
 */
function quietHelperThreads(): void {
  try {
    if (!Deno.env.get("OPENBLAS_THREAD_TIMEOUT")) Deno.env.set("OPENBLAS_THREAD_TIMEOUT", "4");
  } catch {
    // no env permission: keep OpenBLAS's default
  }
}

function load(): BlasStatus {
  if (status) return status;
  const errors: string[] = [];
  quietHelperThreads();
  for (const path of OPENBLAS_CANDIDATES) {
    try {
      const dl = Deno.dlopen(path, SYMBOLS);
      lib = dl.symbols;
      let config: string | undefined;
      const p = lib.openblas_get_config?.();
      if (p) config = new Deno.UnsafePointerView(p).getCString();
      const c = lib.openblas_get_corename?.();
      const core = c ? new Deno.UnsafePointerView(c).getCString() : undefined;
      status = { available: true, path, config, core };
      return status;
    } catch (e) {
      errors.push(`${path}: ${(e as Error).message.split("\n")[0]}`);
      // Without FFI permission no candidate can load: stop early.
      if (
        e instanceof Deno.errors.NotCapable ||
        e instanceof Deno.errors.PermissionDenied
      ) break;
    }
  }
  status = {
    available: false,
    reason: `OpenBLAS not loaded (${errors.join("; ")})`,
  };
  return status;
}

/** True when OpenBLAS could be loaded (tries the candidates on first call). */
export function openblasAvailable(): boolean {
  return load().available;
}

/** Load result: path and build config, or the reason it failed. */
export function blasStatus(): BlasStatus {
  return { ...load() };
}

function need(): Lib {
  if (!load().available) throw new Error(status!.reason);
  return lib!;
}

/**
 * Sets the number of OpenBLAS threads (`openblas_set_num_threads`).
 * Throws when OpenBLAS is absent; a no-op for builds without the symbol.
 */
export function setBlasThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(
      `setBlasThreads: threads must be a positive integer, got ${n}`,
    );
  }
  const l = need();
  l.openblas_set_num_threads?.(n);
  threads = n;
}

let threads = 0;

/** The current OpenBLAS thread count (`openblas_get_num_threads`), 1 if unknown. */
export function getBlasThreads(): number {
  const l = need();
  const n = l.openblas_get_num_threads?.();
  return n ?? (threads || 1);
}

/** Elements a row-major `rows x cols` matrix with leading dimension `ld` spans. */
function span(rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
}

/**
 * Row-major single-precision GEMM: C = alpha * op(A) @ op(B) + beta * C, where
 * op(A) is M x K (A stored K x M when `transA`), op(B) is K x N (B stored
 * N x K when `transB`), C is M x N. `lda`, `ldb`, `ldc` are row strides in
 * elements. Array extents are checked before the call (FFI has no bounds).
 */
export function sgemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
): void {
  const l = need();
  const aCols = transA ? m : k, bCols = transB ? k : n;
  if (
    lda < Math.max(1, aCols) || ldb < Math.max(1, bCols) || ldc < Math.max(1, n)
  ) {
    throw new RangeError(
      `sgemm: leading dimensions too small (lda ${lda}, ldb ${ldb}, ldc ${ldc})`,
    );
  }
  if (
    a.length < span(transA ? k : m, aCols, lda) ||
    b.length < span(transB ? n : k, bCols, ldb) ||
    c.length < span(m, n, ldc)
  ) {
    throw new RangeError(
      `sgemm: an array is too short for M=${m} N=${n} K=${k}`,
    );
  }
  if (m === 0 || n === 0) return;
  if (k === 0) { // C = beta * C; the library may reject lda = 0 buffers
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        c[i * ldc + j] = beta === 0 ? 0 : beta * c[i * ldc + j];
      }
    }
    return;
  }
  l.cblas_sgemm(
    ROW_MAJOR,
    transA ? TRANS : NO_TRANS,
    transB ? TRANS : NO_TRANS,
    m,
    n,
    k,
    alpha,
    a,
    lda,
    b,
    ldb,
    beta,
    c,
    ldc,
  );
}

let ones = new Float32Array(0);

/**
 * Column sums out[j] = sum_i a[i * cols + j] of a row-major rows x cols
 * matrix, via `cblas_sgemv` (A^T times a vector of ones). Returns false (and
 * does nothing) when OpenBLAS or its sgemv is not available.
 */
export function columnSums(a: Float32Array, rows: number, cols: number, out: Float32Array): boolean {
  if (!load().available || !lib!.cblas_sgemv) return false;
  if (a.length < rows * cols || out.length < cols) {
    throw new RangeError(`columnSums: arrays too short for ${rows} x ${cols}`);
  }
  if (rows === 0 || cols === 0) {
    out.fill(0, 0, cols);
    return true;
  }
  if (ones.length < rows) ones = new Float32Array(rows).fill(1);
  lib!.cblas_sgemv(ROW_MAJOR, TRANS, rows, cols, 1, a, cols, ones, 1, 0, out, 1);
  return true;
}
