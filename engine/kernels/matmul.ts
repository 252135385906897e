/**
 * Fast matrix products for the tfjs `wasm` backend: replaces its
 * `BatchMatMul` and `_FusedMatMul` kernels with ones that call OpenBLAS
 * `cblas_sgemm` (engine/kernels/blas.ts) directly on the wasm heap, where tfjs keeps
 * every tensor's data. `tf.matMul` and both matrices of its gradient run
 * `BatchMatMul`; `tf.fused.matMul` (tfjs-layers' dense layers) runs
 * `_FusedMatMul`. Without OpenBLAS nothing is replaced and a one-time notice
 * goes to stderr.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import "@tensorflow/tfjs-backend-wasm";
 * import { installFastKernels } from "./matmul.ts";
 * await tf.setBackend("wasm");
 * const { installed } = installFastKernels({ threads: 1 });
 * tf.matMul(tf.ones([4, 3]), tf.ones([3, 2])).print(); // via OpenBLAS if installed
 * ```
 */
import * as tf from "@tensorflow/tfjs";
import { blasStatus, setBlasThreads, sgemm } from "./blas.ts";

/** Options of {@link installFastKernels}. */
export interface FastKernelOptions {
  /** OpenBLAS threads; default: all cores (`navigator.hardwareConcurrency`). */
  threads?: number;
  /** Print the stderr notice when OpenBLAS is missing (default true; printed once per process). */
  notice?: boolean;
  /**
   * Choose per product shape between 1 thread and `threads`, by measured
   * speed (default true; see {@link adaptiveThreadStats}). On a machine
   * shared with other jobs a second OpenBLAS thread can make a product
   * slower (measured 1.5x on 2 busy cores); on an idle one it is ~1.8x faster.
   */
  adaptive?: boolean;
}

/** Outcome of {@link installFastKernels}. */
export interface FastKernelResult {
  /** True when the OpenBLAS kernels are registered on the wasm backend. */
  installed: boolean;
  /** Why they are not (one line). */
  reason?: string;
  /** The kernel names replaced. */
  kernels?: string[];
}

/** The part of tfjs-backend-wasm's BackendWasm the kernels use. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: WasmBackend;
  attrs: Record<string, unknown>;
};

const BACKEND = "wasm";
const KERNELS = ["BatchMatMul", "_FusedMatMul"] as const;

/** The wasm backend's own kernel configs, kept for fallback and uninstall. */
const originals = new Map<string, tf.KernelConfig>();
let noticePrinted = false;

/**
 * Registers the OpenBLAS `BatchMatMul` and `_FusedMatMul` kernels on the
 * `wasm` backend (import `@tensorflow/tfjs-backend-wasm` first; the backend
 * may be initialized before or after). Idempotent: a second call only
 * changes the thread count. Inputs the BLAS path does not handle (non-float32,
 * a bias or PReLU slope that is not a scalar or length-N vector) go to the
 * original wasm kernel. Batch dimensions broadcast NumPy-style.
 */
export function installFastKernels(
  options: FastKernelOptions = {},
): FastKernelResult {
  const status = blasStatus();
  if (!status.available) {
    if (options.notice !== false && !noticePrinted) {
      noticePrinted = true;
      console.error(
        `dmodel: ${status.reason}; matrix products use the plain wasm kernels ` +
          `(apt-get install libopenblas0-pthread, and allow FFI, for faster training)`,
      );
    }
    return { installed: false, reason: status.reason };
  }
  const threads = options.threads ?? navigator.hardwareConcurrency ?? 1;
  maxThreads = Math.max(1, Math.floor(threads));
  adaptive = options.adaptive !== false;
  setBlasThreads(maxThreads);
  if (originals.size === KERNELS.length) {
    return { installed: true, kernels: [...KERNELS] };
  }

  for (const name of KERNELS) {
    if (!tf.getKernel(name, BACKEND)) {
      return {
        installed: false,
        reason: `the wasm backend has no ${name} kernel (import @tensorflow/tfjs-backend-wasm first)`,
      };
    }
  }
  for (const name of KERNELS) {
    const original = tf.getKernel(name, BACKEND)!;
    originals.set(name, original);
    const kernelFunc = name === "BatchMatMul" ? blasBatchMatMul : blasFusedMatMul;
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel({
      kernelName: name,
      backendName: BACKEND,
      // The original's setup binds its wasm function, which the fallback path calls.
      setupFunc: original.setupFunc,
      disposeFunc: original.disposeFunc,
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
    });
  }
  return { installed: true, kernels: [...KERNELS] };
}

/** Restores the wasm backend's own kernels (for comparisons and tests). */
export function uninstallFastKernels(): void {
  for (const [name, config] of originals) {
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(config);
  }
  originals.clear();
}

/** True while the OpenBLAS kernels are registered. */
export function fastKernelsInstalled(): boolean {
  return originals.size === KERNELS.length;
}

function fallback(name: string, args: KernelArgs): tf.TensorInfo {
  return originals.get(name)!.kernelFunc(
    args as unknown as Parameters<tf.KernelFunc>[0],
  ) as tf.TensorInfo;
}

/** Shapes of one (possibly batched, broadcast) product. */
interface Plan {
  outShape: number[];
  m: number;
  n: number;
  k: number;
  /** Per output batch entry: index of the A and B matrices used. */
  aIndex: Int32Array;
  bIndex: Int32Array;
}

/**
 * Output shape and batch-index maps of op(A) @ op(B) with NumPy-style
 * broadcasting of the leading (batch) dimensions.
 */
function plan(
  aShape: number[],
  bShape: number[],
  transA: boolean,
  transB: boolean,
): Plan {
  const ra = aShape.length, rb = bShape.length;
  if (ra < 2 || rb < 2) {
    throw new Error(
      `matMul: inputs must have rank >= 2, got shapes [${aShape}] and [${bShape}]`,
    );
  }
  const m = transA ? aShape[ra - 1] : aShape[ra - 2];
  const k = transA ? aShape[ra - 2] : aShape[ra - 1];
  const kb = transB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transB ? bShape[rb - 2] : bShape[rb - 1];
  if (k !== kb) {
    throw new Error(
      `matMul: inner shapes (${k}) and (${kb}) of [${aShape}] and [${bShape}] ` +
        `(transposeA=${transA}, transposeB=${transB}) must match`,
    );
  }
  const batchA = aShape.slice(0, -2), batchB = bShape.slice(0, -2);
  const r = Math.max(batchA.length, batchB.length);
  const pa = [...Array(r - batchA.length).fill(1), ...batchA];
  const pb = [...Array(r - batchB.length).fill(1), ...batchB];
  const outBatch: number[] = [];
  for (let d = 0; d < r; d++) {
    if (pa[d] !== pb[d] && pa[d] !== 1 && pb[d] !== 1) {
      throw new Error(
        `matMul: batch dimensions of [${aShape}] and [${bShape}] do not broadcast`,
      );
    }
    outBatch.push(pa[d] === 1 ? pb[d] : pa[d]);
  }
  const count = outBatch.reduce((p, x) => p * x, 1);
  const aIndex = new Int32Array(count), bIndex = new Int32Array(count);
  // Row-major strides of A's and B's batch dims; a broadcast dim contributes 0.
  let sa = 1, sb = 1;
  const strideA = new Array(r), strideB = new Array(r);
  for (let d = r - 1; d >= 0; d--) {
    strideA[d] = pa[d] === 1 ? 0 : sa;
    strideB[d] = pb[d] === 1 ? 0 : sb;
    sa *= pa[d];
    sb *= pb[d];
  }
  for (let i = 0; i < count; i++) {
    let rest = i, ia = 0, ib = 0;
    for (let d = r - 1; d >= 0; d--) {
      const c = rest % outBatch[d];
      rest = (rest - c) / outBatch[d];
      ia += c * strideA[d];
      ib += c * strideB[d];
    }
    aIndex[i] = ia;
    bIndex[i] = ib;
  }
  return { outShape: [...outBatch, m, n], m, n, k, aIndex, bIndex };
}

// --- Adaptive threading -------------------------------------------------------
// Per product shape (M, N, K, transposes), the median of the last WINDOW
// times per call with 1 thread and with `maxThreads`; a call runs the faster
// one, and every EXPLORE-th call of a shape the other, so a change in the
// machine's load is noticed. A median, not a mean: one call that the OS
// preempted must not decide. The first call of a shape is not timed (cold
// caches and a sleeping OpenBLAS pool made it 2x slow, and a shape called
// once per step kept the wrong choice), then the two alternate until each
// has FIRST samples; one thread must be faster by a MARGIN. Only products of at least
// ADAPT_MIN_FLOPS.

let maxThreads = 1;
let adaptive = true;
const ADAPT_MIN_FLOPS = 2 ** 24;
const EXPLORE = 64; // every 64th call of a shape tries the other count (at 16 that cost ~5% of matmul time)
const WINDOW = 5;
const FIRST = 5;
/** One thread wins only when clearly faster (one noisy sample set must not cost a product half its speed). */
const MARGIN = 0.85;
const shapeStats = new Map<string, { times: [number[], number[]]; calls: number }>();
let flopsMulti = 0, flopsAll = 0;

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Runs one sgemm-calling function with the thread count chosen for its shape. */
function withThreads(key: string, flops: number, f: () => void): void {
  if (!adaptive || maxThreads === 1 || flops < ADAPT_MIN_FLOPS) {
    f();
    return;
  }
  let st = shapeStats.get(key);
  if (!st) shapeStats.set(key, st = { times: [[], []], calls: 0 });
  st.calls++;
  if (st.calls === 1) return f(); // warm-up, untimed
  // Option 0: one thread; option 1: maxThreads. Alternating until each has FIRST samples, then
  // the faster, exploring now and then.
  const [t1, tn] = st.times;
  const best = median(t1) < MARGIN * median(tn) ? 0 : 1;
  const pick = t1.length < FIRST || tn.length < FIRST
    ? (t1.length < tn.length ? 0 : 1)
    : st.calls % EXPLORE === 0
    ? 1 - best
    : best;
  if (pick === 0) setBlasThreads(1);
  const t0 = performance.now();
  try {
    f();
  } finally {
    if (pick === 0) setBlasThreads(maxThreads);
  }
  const times = st.times[pick];
  times.push(performance.now() - t0);
  if (times.length > WINDOW) times.shift();
  flopsAll += flops;
  if (pick === 1) flopsMulti += flops;
}

/**
 * What adaptive threading chose so far: the share of large-product FLOPs run
 * on all threads, and per shape the median ms with 1 and with all threads.
 */
export function adaptiveThreadStats(): {
  threads: number;
  multiThreadedShare: number;
  shapes: Record<string, { ms1: number; msAll: number; calls: number }>;
} {
  const shapes: Record<string, { ms1: number; msAll: number; calls: number }> = {};
  for (const [k, v] of shapeStats) {
    shapes[k] = { ms1: median(v.times[0]), msAll: median(v.times[1]), calls: v.calls };
  }
  return { threads: maxThreads, multiThreadedShare: flopsAll ? flopsMulti / flopsAll : 1, shapes };
}

/** Runs the planned products into a fresh wasm-heap output; returns it and its heap view. */
function product(
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transA: boolean,
  transB: boolean,
): { out: tf.TensorInfo; c: Float32Array; p: Plan } {
  const p = plan(a.shape, b.shape, transA, transB);
  const { m, n, k, aIndex, bIndex } = p;
  const out = backend.makeOutput(p.outShape, "float32");
  // Views only after makeOutput: its malloc may grow the heap and detach older views.
  const heap = new Float32Array(backend.wasm.HEAPU8.buffer);
  const count = aIndex.length, mn = m * n;
  const cOff = backend.dataIdMap.get(out.dataId).memoryOffset >>> 2;
  const c = heap.subarray(cOff, cOff + count * mn);
  if (mn === 0) return { out, c, p };
  if (k === 0) {
    c.fill(0);
    return { out, c, p };
  }
  const aOff = backend.dataIdMap.get(a.dataId).memoryOffset >>> 2;
  const bOff = backend.dataIdMap.get(b.dataId).memoryOffset >>> 2;
  const mk = m * k, kn = k * n;
  const lda = transA ? m : k, ldb = transB ? k : n;
  const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  // One sgemm: `rows` rows of op(A) from heap offset ao times op(B) from bo, into `into`.
  const gemm = (ta: boolean, rows: number, ao: number, bo: number, into: Float32Array) =>
    sgemm(
      ta,
      transB,
      rows,
      n,
      k,
      1,
      heap.subarray(ao, ao + rows * k),
      lda,
      heap.subarray(bo, bo + kn),
      ldb,
      0,
      into,
      n,
    );
  const tag = (ta: boolean) => `${ta ? "T" : "N"}${transB ? "T" : "N"}`;
  if (!transA && batchB === 1) {
    // Every A matrix meets the same B: stack A's rows into one M = count*m product.
    withThreads(
      `${count * m}x${n}x${k}:${tag(false)}`,
      2 * count * m * n * k,
      () => gemm(false, count * m, aOff, bOff, c),
    );
    return { out, c, p };
  }
  if (count === 1) {
    withThreads(`${m}x${n}x${k}:${tag(transA)}`, 2 * m * n * k, () => gemm(transA, m, aOff, bOff, c));
    return { out, c, p };
  }
  for (let i = 0; i < count; i++) {
    gemm(transA, m, aOff + aIndex[i] * mk, bOff + bIndex[i] * kn, c.subarray(i * mn, (i + 1) * mn));
  }
  return { out, c, p };
}

/** `BatchMatMul` via OpenBLAS: out = op(a) @ op(b), batch dims broadcast. */
function blasBatchMatMul(args: KernelArgs): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (a.dtype !== "float32" || b.dtype !== "float32") {
    return fallback("BatchMatMul", args);
  }
  return product(
    args.backend,
    a,
    b,
    !!args.attrs.transposeA,
    !!args.attrs.transposeB,
  ).out;
}

/**
 * Elementwise activations `tf.fused.matMul` may ask for, applied in place to
 * the rows (length n) of `c`; `w` is the PReLU slope (length 1 or n).
 */
const ACTIVATIONS: Record<
  string,
  | ((
    c: Float32Array,
    n: number,
    alpha: number,
    w: Float32Array | null,
  ) => void)
  | null
> = {
  linear: null,
  relu: (c) => {
    for (let i = 0; i < c.length; i++) if (c[i] < 0) c[i] = 0;
  },
  relu6: (c) => {
    for (let i = 0; i < c.length; i++) {
      c[i] = c[i] < 0 ? 0 : c[i] > 6 ? 6 : c[i];
    }
  },
  elu: (c) => {
    for (let i = 0; i < c.length; i++) if (c[i] < 0) c[i] = Math.expm1(c[i]);
  },
  leakyrelu: (c, _n, alpha) => {
    for (let i = 0; i < c.length; i++) if (c[i] < 0) c[i] *= alpha;
  },
  sigmoid: (c) => {
    for (let i = 0; i < c.length; i++) c[i] = 1 / (1 + Math.exp(-c[i]));
  },
  prelu: (c, n, _alpha, w) => {
    const per = w!.length !== 1;
    for (let i = 0; i < c.length; i++) {
      if (c[i] < 0) c[i] *= w![per ? i % n : 0];
    }
  },
};

/** Heap view of a float32 tensor that broadcasts along rows of length n (scalar or [n]), else null. */
function rowVector(
  backend: WasmBackend,
  t: tf.TensorInfo,
  n: number,
): Float32Array | null {
  const len = t.shape.reduce((x, y) => x * y, 1);
  if (t.dtype !== "float32" || t.shape.length > 1 || (len !== 1 && len !== n)) {
    return null;
  }
  const off = backend.dataIdMap.get(t.dataId).memoryOffset >>> 2;
  return new Float32Array(backend.wasm.HEAPU8.buffer, off * 4, len);
}

/**
 * `_FusedMatMul` via OpenBLAS: activation(op(a) @ op(b) + bias), with bias
 * and PReLU slopes a scalar or a length-N vector (other shapes: wasm kernel).
 * Note: the wasm kernel of tfjs 4.22 adds the bias wrongly when transposeB.
 */
function blasFusedMatMul(args: KernelArgs): tf.TensorInfo {
  const { a, b, bias, preluActivationWeights: slope } = args.inputs as Record<
    string,
    tf.TensorInfo
  >;
  const activation = String(args.attrs.activation ?? "linear");
  const transA = !!args.attrs.transposeA, transB = !!args.attrs.transposeB;
  const n = b.shape[b.shape.length - (transB ? 2 : 1)];
  const ok = a.dtype === "float32" && b.dtype === "float32" &&
    activation in ACTIVATIONS &&
    (bias == null || rowVector(args.backend, bias, n) != null) &&
    (activation !== "prelu" ||
      (slope != null && rowVector(args.backend, slope, n) != null));
  if (!ok) return fallback("_FusedMatMul", args);
  const { out, c } = product(args.backend, a, b, transA, transB);
  if (c.length === 0) return out;
  // Views of bias and slope taken after the output allocation (heap growth).
  if (bias != null) {
    const v = rowVector(args.backend, bias, n)!;
    if (v.length === 1) {
      const s = v[0];
      for (let i = 0; i < c.length; i++) c[i] += s;
    } else {
      for (let i = 0; i < c.length; i += n) {
        for (let j = 0; j < n; j++) c[i + j] += v[j];
      }
    }
  }
  const w = activation === "prelu" ? rowVector(args.backend, slope, n) : null;
  ACTIVATIONS[activation]?.(c, n, Number(args.attrs.leakyreluAlpha ?? 0.2), w);
  return out;
}
