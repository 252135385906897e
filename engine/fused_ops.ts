/**
 * Fused tfjs ops for the normalized transformer. nGPT normalizes every
 * hidden vector, q and k per head, and the block outputs (REFERENCE.md §1,
 * Norm(x) = x / ||x||_2 along the last axis); composed from tfjs ops, each
 * normalization costs ~8 kernels forward and ~12 backward (`tf.norm` goes
 * through Abs, Pow, Sum, Pow, RealDiv ...), and tfjs's per-kernel overhead
 * dominates at small widths. Here the normalization is one kernel forward and
 * one backward, written in JS directly on the backend's memory (wasm heap or
 * cpu arrays); other backends get a 4-kernel composition.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { rowNormalize } from "./fused_ops.ts";
 * rowNormalize(tf.tensor2d([[3, 4]])).print(); // [[0.6, 0.8]]
 * ```
 */
import * as tf from "@tensorflow/tfjs";

/** Kernel names registered by this module (wasm and cpu backends). */
export const ROW_NORM_KERNEL = "DmodelRowL2Normalize";
/** The backward kernel of {@link ROW_NORM_KERNEL}. */
export const ROW_NORM_GRAD_KERNEL = "DmodelRowL2NormalizeGrad";

/** Float32 storage access for the two backends the kernels support. */
interface Storage {
  /** The float32 data of a tensor (a live view: take it after allocating outputs). */
  view(t: tf.TensorInfo): Float32Array;
  /** A new float32 output; `fill` writes its contents (views are valid inside). */
  output(shape: number[], fill: (out: Float32Array) => void): tf.TensorInfo;
}

interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

interface CpuBackend {
  data: { get(dataId: object): { values: tf.TypedArray } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: tf.TypedArray): tf.TensorInfo;
}

function wasmStorage(backend: WasmBackend): Storage {
  const view = (t: tf.TensorInfo) =>
    new Float32Array(
      backend.wasm.HEAPU8.buffer,
      backend.dataIdMap.get(t.dataId).memoryOffset,
      t.shape.reduce((a, b) => a * b, 1),
    );
  return {
    view,
    output(shape, fill) {
      const out = backend.makeOutput(shape, "float32");
      fill(view(out));
      return out;
    },
  };
}

function cpuStorage(backend: CpuBackend): Storage {
  return {
    view: (t) => backend.data.get(t.dataId).values as Float32Array,
    output(shape, fill) {
      const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
      fill(values);
      return backend.makeTensorInfo(shape, "float32", values);
    },
  };
}

type Args = { inputs: Record<string, tf.TensorInfo>; backend: unknown };

/** Forward: y = x / ||x|| per row of the last axis; also returns 1 / ||x|| per row. */
function rowNormForward(s: Storage, x: tf.TensorInfo): tf.TensorInfo[] {
  const d = x.shape[x.shape.length - 1];
  const rows = d === 0 ? 0 : x.shape.reduce((a, b) => a * b, 1) / d;
  const inv = s.output(x.shape.slice(0, -1), () => {});
  const y = s.output(x.shape, (yv) => {
    const xv = s.view(x), iv = s.view(inv);
    for (let r = 0, o = 0; r < rows; r++, o += d) {
      let ss = 0;
      for (let j = 0; j < d; j++) ss += xv[o + j] * xv[o + j];
      const k = 1 / Math.sqrt(ss);
      iv[r] = k;
      for (let j = 0; j < d; j++) yv[o + j] = xv[o + j] * k;
    }
  });
  return [y, inv];
}

/** Backward: dx = (dy - y * sum(y * dy)) / ||x|| per row. */
function rowNormBackward(
  s: Storage,
  dy: tf.TensorInfo,
  y: tf.TensorInfo,
  inv: tf.TensorInfo,
): tf.TensorInfo {
  const d = y.shape[y.shape.length - 1];
  const rows = d === 0 ? 0 : y.shape.reduce((a, b) => a * b, 1) / d;
  return s.output(y.shape, (dx) => {
    const gv = s.view(dy), yv = s.view(y), iv = s.view(inv);
    for (let r = 0, o = 0; r < rows; r++, o += d) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += yv[o + j] * gv[o + j];
      const k = iv[r];
      for (let j = 0; j < d; j++) dx[o + j] = (gv[o + j] - yv[o + j] * dot) * k;
    }
  });
}

const STORAGE: Record<string, (backend: unknown) => Storage> = {
  wasm: (b) => wasmStorage(b as WasmBackend),
  cpu: (b) => cpuStorage(b as CpuBackend),
};

for (const [backendName, storage] of Object.entries(STORAGE)) {
  if (!tf.getKernel(ROW_NORM_KERNEL, backendName)) {
    tf.registerKernel({
      kernelName: ROW_NORM_KERNEL,
      backendName,
      kernelFunc: ((a: Args) => rowNormForward(storage(a.backend), a.inputs.x)) as unknown as tf.KernelFunc,
    });
    tf.registerKernel({
      kernelName: ROW_NORM_GRAD_KERNEL,
      backendName,
      kernelFunc: ((a: Args) =>
        rowNormBackward(
          storage(a.backend),
          a.inputs.dy,
          a.inputs.y,
          a.inputs.inv,
        )) as unknown as tf.KernelFunc,
    });
  }
}

const hasKernels = () => tf.getKernel(ROW_NORM_KERNEL, tf.getBackend()) != null;

const rowNormalizeOp = tf.customGrad((x: tf.Tensor, save: tf.GradSaveFunc) => {
  let y: tf.Tensor, inv: tf.Tensor;
  if (hasKernels()) {
    [y, inv] = tf.engine().runKernel(ROW_NORM_KERNEL, { x }) as tf.Tensor[];
  } else {
    inv = tf.rsqrt(tf.sum(tf.square(x), -1, true));
    y = tf.mul(x, inv);
  }
  save([y, inv]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [y, inv] = saved;
      if (hasKernels()) {
        return tf.engine().runKernel(ROW_NORM_GRAD_KERNEL, { dy, y, inv }) as tf.Tensor;
      }
      // dx = (dy - y * sum(y * dy)) / ||x||
      const dot = tf.sum(tf.mul(y, dy), -1, true);
      return tf.mul(tf.sub(dy, tf.mul(y, dot)), inv);
    },
  };
});

/**
 * Norm(x) = x / ||x||_2 along the last axis (nGPT, REFERENCE.md §1), float32,
 * with the gradient dx = (dy - y * sum(y * dy)) / ||x||. Like the plain
 * composition `x / tf.norm(x, 2, -1, true)` it has no epsilon: a zero row
 * gives NaN.
 */
export function rowNormalize<T extends tf.Tensor>(x: T): T {
  if (x.dtype !== "float32") {
    throw new Error(`rowNormalize: expected a float32 tensor, got ${x.dtype}`);
  }
  if (x.rank < 1) throw new Error(`rowNormalize: expected rank >= 1, got a scalar`);
  return rowNormalizeOp(x) as T;
}
