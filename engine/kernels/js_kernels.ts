/**
 * Kernels written in TypeScript that run on tensor memory in place: the
 * wasm heap (tfjs `wasm` backend) or the typed arrays of the `cpu` backend.
 * Two uses:
 *
 * - {@link defineKernel}: a new kernel (name prefixed `Dmodel`) for both
 *   backends, the building block of the fused ops in engine/kernels/fused_ops.ts.
 * - {@link installKernelOverrides}: faster versions of four `wasm` kernels
 *   that an nGPT step calls hundreds of times: `Identity` and same-dtype
 *   `Cast` share the input's memory (tfjs copied it: every tensor saved for
 *   a gradient was cloned), `Sum` over leading axes (the gradient of every
 *   broadcast multiply; tfjs transposed first) and `GatherV2` along axis 0
 *   (the embedding lookup).
 *
 * Memory rule on wasm: allocating an output may grow the heap and detach
 * every view, so a kernel allocates all outputs first, then takes views.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { defineKernel } from "./js_kernels.ts";
 * defineKernel("DmodelTwice", (mem, { x }) => {
 *   const out = mem.out(x.shape);
 *   const [xv, ov] = [mem.f32(x), mem.f32(out)];
 *   for (let i = 0; i < xv.length; i++) ov[i] = 2 * xv[i];
 *   return out;
 * });
 * (tf.engine().runKernel("DmodelTwice", { x: tf.ones([3]) }) as tf.Tensor).print(); // [2, 2, 2]
 * ```
 */
import * as tf from "@tensorflow/tfjs";
import { columnSums } from "./blas.ts";

/** Backends the JS kernels are registered for. */
export const JS_KERNEL_BACKENDS = ["wasm", "cpu"] as const;

/** Memory access for a kernel body, the same on both backends. */
export interface Mem {
  /** Allocates an output tensor (contents undefined). Views taken before may be stale afterwards. */
  out(shape: number[], dtype?: "float32" | "int32"): tf.TensorInfo;
  /** A float32 view of a tensor's data. */
  f32(t: tf.TensorInfo): Float32Array;
  /** An int32 view of a tensor's data. */
  i32(t: tf.TensorInfo): Int32Array;
  /** Counts one more reference to a tensor's data, for a kernel that returns its input. */
  share(t: tf.TensorInfo): void;
}

/** The parts of tfjs-backend-wasm's BackendWasm used here. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  incRef(dataId: object): void;
}

/** The parts of tfjs-backend-cpu's MathBackendCPU used here. */
interface CpuBackend {
  data: { get(dataId: object): { values: ArrayLike<number> } };
  incRef(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: ArrayLike<number>): tf.TensorInfo;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function wasmMem(b: WasmBackend): Mem {
  const off = (t: tf.TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset;
  return {
    out: (shape, dtype = "float32") => b.makeOutput(shape, dtype),
    f32: (t) => new Float32Array(b.wasm.HEAPU8.buffer, off(t), size(t.shape)),
    i32: (t) => new Int32Array(b.wasm.HEAPU8.buffer, off(t), size(t.shape)),
    share: (t) => b.incRef(t.dataId),
  };
}

function cpuMem(b: CpuBackend): Mem {
  const values = (t: tf.TensorInfo) => b.data.get(t.dataId).values;
  return {
    out: (shape, dtype = "float32") =>
      b.makeTensorInfo(
        shape,
        dtype,
        dtype === "float32" ? new Float32Array(size(shape)) : new Int32Array(size(shape)),
      ),
    f32: (t) => {
      const v = values(t);
      return v instanceof Float32Array ? v : Float32Array.from(v);
    },
    i32: (t) => {
      const v = values(t);
      return v instanceof Int32Array ? v : Int32Array.from(v);
    },
    share: (t) => b.incRef(t.dataId),
  };
}

/** A kernel body: inputs by name, attributes; returns the output(s), allocated with `mem.out`. */
export type KernelBody = (
  mem: Mem,
  inputs: Record<string, tf.TensorInfo>,
  // deno-lint-ignore no-explicit-any
  attrs: any,
) => tf.TensorInfo | tf.TensorInfo[];

/** Registers a kernel written in TS for the wasm and cpu backends (once per name). */
export function defineKernel(name: string, body: KernelBody): void {
  for (const backendName of JS_KERNEL_BACKENDS) {
    if (tf.getKernel(name, backendName)) continue;
    tf.registerKernel({
      kernelName: name,
      backendName,
      kernelFunc: ((args: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: unknown }) => {
        const mem = backendName === "wasm"
          ? wasmMem(args.backend as WasmBackend)
          : cpuMem(args.backend as CpuBackend);
        return body(mem, args.inputs, args.attrs);
      }) as unknown as tf.KernelFunc,
    });
  }
}

/** Runs a registered kernel through the engine (not recorded for gradients inside a customGrad). */
export function run(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown> = {},
): tf.Tensor[] {
  const r = tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as
    | tf.Tensor
    | tf.Tensor[];
  return Array.isArray(r) ? r : [r];
}

/**
 * Copies a float32 tensor's values into `dst` (length = size). On wasm straight
 * from the heap: `dataSync()` would allocate a fresh array per call, and at
 * 15 MB of gradients per step its page faults cost ~10 ms.
 */
export function readInto(t: tf.Tensor, dst: Float32Array): void {
  if (t.size !== dst.length) throw new RangeError(`readInto: tensor of ${t.size} values into ${dst.length}`);
  const b = tf.engine().backend as unknown as Partial<WasmBackend>;
  const entry = tf.getBackend() === "wasm" && t.dtype === "float32" ? b.dataIdMap?.get(t.dataId) : undefined;
  if (entry && b.wasm) dst.set(new Float32Array(b.wasm.HEAPU8.buffer, entry.memoryOffset, t.size));
  else dst.set(t.dataSync() as Float32Array);
}

// ---------------------------------------------------------------------------
// Overrides of wasm kernels

type Args = { inputs: Record<string, tf.TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> };

/** Identity: share the input's memory (tfjs tensors are immutable; the cpu backend does the same). */
function identity({ inputs: { x }, backend }: Args): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Cast to the same dtype shares memory; other casts go to the wasm kernel. */
function cast(args: Args): tf.TensorInfo {
  const { x } = args.inputs;
  if (args.attrs.dtype === x.dtype && x.dtype !== "string") return identity(args);
  return original("Cast", args);
}

/** Normalized, sorted reduction axes of an axis attribute. */
function axesOf(axis: unknown, rank: number): number[] {
  const list = axis == null
    ? [...Array(rank).keys()]
    : Array.isArray(axis)
    ? axis as number[]
    : [axis as number];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** Sum over leading axes [0..k) of a float32 tensor (column sums); other reductions go to the wasm kernel. */
function sum(args: Args): tf.TensorInfo {
  const { x } = args.inputs;
  const rank = x.shape.length;
  const axes = axesOf(args.attrs.axis, rank);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (!leading || x.dtype !== "float32") return original("Sum", args);
  const k = axes.length;
  const rows = size(x.shape.slice(0, k)), cols = size(x.shape.slice(k));
  const outShape = args.attrs.keepDims ? [...Array(k).fill(1), ...x.shape.slice(k)] : x.shape.slice(k);
  const mem = wasmMem(args.backend);
  const out = mem.out(outShape);
  colSums(mem.f32(x), rows, cols, mem.f32(out));
  return out;
}

/** out[j] = sum_i x[i * cols + j]: OpenBLAS sgemv when available, else a float64 loop. */
export function colSums(x: Float32Array, rows: number, cols: number, out: Float32Array): void {
  if (columnSums(x, rows, cols, out)) return;
  const acc = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) acc[j] += x[o + j];
  }
  for (let j = 0; j < cols; j++) out[j] = acc[j];
}

/** GatherV2 along axis 0 (no batch dims): row copies; other cases go to the wasm kernel. */
function gather(args: Args): tf.TensorInfo {
  const { x, indices } = args.inputs;
  const axis = axesOf(args.attrs.axis ?? 0, x.shape.length)[0];
  if (
    axis !== 0 || Number(args.attrs.batchDims ?? 0) !== 0 || indices.dtype !== "int32" ||
    x.dtype !== "float32"
  ) {
    return original("GatherV2", args);
  }
  const mem = wasmMem(args.backend);
  const out = mem.out([...indices.shape, ...x.shape.slice(1)]);
  const xv = mem.f32(x), iv = mem.i32(indices), ov = mem.f32(out);
  const m = size(x.shape.slice(1)), n0 = x.shape[0];
  for (let i = 0; i < iv.length; i++) {
    const r = iv[i];
    if (!(r >= 0 && r < n0)) throw new Error(`GatherV2: the index value ${r} is not in [0, ${n0 - 1}]`);
    ov.set(xv.subarray(r * m, r * m + m), i * m);
  }
  return out;
}

const OVERRIDES: Record<string, (args: Args) => tf.TensorInfo> = {
  Identity: identity,
  Cast: cast,
  Sum: sum,
  GatherV2: gather,
};
const originals = new Map<string, tf.KernelConfig>();

function original(name: string, args: Args): tf.TensorInfo {
  return originals.get(name)!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}

/**
 * Replaces the wasm backend's Identity, Cast, Sum and GatherV2 kernels by the
 * versions above (import `@tensorflow/tfjs-backend-wasm` first). Idempotent.
 */
export function installKernelOverrides(): void {
  if (originals.size) return;
  for (const [name, kernelFunc] of Object.entries(OVERRIDES)) {
    const orig = tf.getKernel(name, "wasm");
    if (!orig) continue;
    originals.set(name, orig);
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel({ ...orig, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
}

/** Restores the wasm backend's own Identity, Cast, Sum and GatherV2 kernels. */
export function uninstallKernelOverrides(): void {
  for (const [name, config] of originals) {
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel(config);
  }
  originals.clear();
}

/** True while the overrides are installed. */
export function kernelOverridesInstalled(): boolean {
  return originals.size > 0;
}
