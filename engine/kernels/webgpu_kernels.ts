/**
 * WGSL kernels for the fused ops on tfjs's `webgpu` backend
 * (engine/kernels/fused_webgpu.ts composes them). Two shapes of program cover every
 * op, each registered once as a tfjs kernel for the `webgpu` backend:
 *
 * - `DmodelGpuMap`: one thread per output element, a WGSL expression over
 *   the inputs (bound as arrays named by their keys) with `i` the flat
 *   index, `row = i / n` and `col = i % n` for rows of length n.
 * - `DmodelGpuColSum`: column sums of x [rows, n], one thread per column.
 * - `DmodelGpuRowReduce`: one 64-thread workgroup per row of x [rows, n],
 *   a tree sum of `x²` or `x·y` over the row in shared memory, optionally
 *   turned into 1 / sqrt(ms·sum + eps).
 *
 * Programs are plain objects of the shape tfjs-backend-webgpu's
 * `runWebGPUProgram` takes (its WebGPUProgram), so this module does not
 * import the package: it loads only when the backend is set up
 * (components/backend/webgpu.ts). Sums run in float32 on the device.
 */
import * as tf from "@tensorflow/tfjs";

/** The part of tfjs-backend-webgpu's WebGPUBackend used here. */
interface WebGPUBackendLike {
  runWebGPUProgram(
    program: unknown,
    inputs: tf.TensorInfo[],
    dtype: tf.DataType,
    uniforms?: { type: string; data: number[] }[],
  ): tf.TensorInfo;
}

/** Threads of a row-reduce workgroup (a power of two). */
const ROW_THREADS = 64;
/** Threads of a map workgroup. */
const MAP_THREADS = 128;

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

interface Program {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size: boolean;
  uniforms: string;
  getUserCode(): string;
}

/** Scalars every map program gets: n (row length), p0, p1 (ints) and f0, f1 (floats). */
const MAP_UNIFORMS = "n : i32, p0 : i32, p1 : i32, f0 : f32, f1 : f32,";

function mapProgram(key: string, names: string[], outShape: number[], expr: string, fns: string): Program {
  const total = size(outShape);
  return {
    variableNames: names,
    outputShape: outShape,
    shaderKey: `dmodel_map_${key}`,
    dispatchLayout: { x: outShape.map((_, i) => i) },
    dispatch: [Math.ceil(total / MAP_THREADS), 1, 1],
    workgroupSize: [MAP_THREADS, 1, 1],
    size: true,
    uniforms: MAP_UNIFORMS,
    getUserCode: () => `
      fn dmodelSigmoid(v : f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
      ${fns}
      fn main(index : i32) {
        let i = index;
        if (i < uniforms.size) {
          let n = uniforms.n;
          let row = i / n;
          let col = i - row * n;
          // Every input appears in expr, so 'auto' layout binds them all.
          setOutputAtIndex(i, ${expr});
        }
      }`,
  };
}

function rowReduceProgram(kind: "sq" | "dot", invert: boolean, rows: number): Program {
  const names = kind === "sq" ? ["X"] : ["X", "Y"];
  const term = kind === "sq" ? "X[k] * X[k]" : "X[k] * Y[k]";
  const out = invert ? "1.0 / sqrt(uniforms.ms * partial[0] + uniforms.eps)" : "partial[0]";
  return {
    variableNames: names,
    outputShape: [rows],
    shaderKey: `dmodel_rowreduce_${kind}_${invert}`,
    dispatchLayout: { x: [0] },
    dispatch: [rows, 1, 1],
    workgroupSize: [ROW_THREADS, 1, 1],
    size: true,
    uniforms: "n : i32, ms : f32, eps : f32,",
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${ROW_THREADS}>;
      fn main(index : i32) {
        let row = index / ${ROW_THREADS};
        let lane = i32(localIndex);
        let n = uniforms.n;
        var s = 0.0;
        if (row < uniforms.size) {
          for (var j = lane; j < n; j = j + ${ROW_THREADS}) {
            let k = row * n + j;
            s = s + ${term};
          }
        }
        partial[lane] = s;
        workgroupBarrier();
        for (var stride = ${ROW_THREADS / 2}; stride > 0; stride = stride / 2) {
          if (lane < stride) {
            partial[lane] = partial[lane] + partial[lane + stride];
          }
          workgroupBarrier();
        }
        if (lane == 0 && row < uniforms.size) {
          setOutputAtIndex(row, ${out});
        }
      }`,
  };
}

function colSumProgram(n: number): Program {
  return {
    variableNames: ["X"],
    outputShape: [n],
    shaderKey: "dmodel_colsum",
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(n / MAP_THREADS), 1, 1],
    workgroupSize: [MAP_THREADS, 1, 1],
    size: true,
    uniforms: "rows : i32,",
    getUserCode: () => `
      fn main(index : i32) {
        let n = uniforms.size;
        if (index < n) {
          var s = 0.0;
          for (var r = 0; r < uniforms.rows; r = r + 1) {
            s = s + X[r * n + index];
          }
          setOutputAtIndex(index, s);
        }
      }`,
  };
}

/** Attributes of `DmodelGpuMap`. */
export interface MapAttrs {
  /** Cache key of the expression (one compiled pipeline per key and input ranks). */
  key: string;
  /** WGSL f32 expression; inputs by name, `i`, `row`, `col`, `n`, `uniforms.p0/p1/f0/f1`. */
  expr: string;
  /** Output shape (the flat index runs over it). */
  shape: number[];
  /** WGSL functions the expression calls (they may read the inputs). */
  fns?: string;
  /** Row length for `row` and `col`. */
  n: number;
  p0?: number;
  p1?: number;
  f0?: number;
  f1?: number;
}

let registered = false;

/** Registers the WGSL kernels for the `webgpu` backend (once; no effect on other backends). */
export function registerWebGPUKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: "DmodelGpuMap",
    backendName: "webgpu",
    kernelFunc: (({ inputs, backend, attrs }: {
      inputs: Record<string, tf.TensorInfo>;
      backend: WebGPUBackendLike;
      attrs: MapAttrs;
    }) => {
      const names = Object.keys(inputs);
      const program = mapProgram(attrs.key, names, attrs.shape, attrs.expr, attrs.fns ?? "");
      return backend.runWebGPUProgram(program, names.map((k) => inputs[k]), "float32", [
        { type: "int32", data: [attrs.n] },
        { type: "int32", data: [attrs.p0 ?? 0] },
        { type: "int32", data: [attrs.p1 ?? 0] },
        { type: "float32", data: [attrs.f0 ?? 0] },
        { type: "float32", data: [attrs.f1 ?? 0] },
      ]);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: "DmodelGpuRowReduce",
    backendName: "webgpu",
    kernelFunc: (({ inputs, backend, attrs }: {
      inputs: Record<string, tf.TensorInfo>;
      backend: WebGPUBackendLike;
      attrs: { invert: boolean; ms: number; eps: number };
    }) => {
      const x = inputs.X!, y = inputs.Y;
      const n = x.shape[x.shape.length - 1], rows = size(x.shape) / n;
      const program = rowReduceProgram(y ? "dot" : "sq", attrs.invert, rows);
      return backend.runWebGPUProgram(program, y ? [x, y] : [x], "float32", [
        { type: "int32", data: [n] },
        { type: "float32", data: [attrs.ms] },
        { type: "float32", data: [attrs.eps] },
      ]);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: "DmodelGpuColSum",
    backendName: "webgpu",
    kernelFunc:
      (({ inputs, backend }: { inputs: Record<string, tf.TensorInfo>; backend: WebGPUBackendLike }) => {
        const x = inputs.X!;
        const n = x.shape[x.shape.length - 1], rows = size(x.shape) / n;
        return backend.runWebGPUProgram(colSumProgram(n), [x], "float32", [{ type: "int32", data: [rows] }]);
      }) as unknown as tf.KernelFunc,
  });
}

/** Column sums of x [rows, n] -> [n], one thread per column (tfjs's Sum over axis 0 transposes first). */
export function gpuColSum(x: tf.Tensor): tf.Tensor1D {
  return tf.engine().runKernel("DmodelGpuColSum", { X: x } as tf.NamedTensorMap, {}) as tf.Tensor1D;
}

/** Runs a map expression (see {@link MapAttrs}) on the current (webgpu) backend. */
export function gpuMap(inputs: Record<string, tf.Tensor>, attrs: MapAttrs): tf.Tensor {
  return tf.engine().runKernel(
    "DmodelGpuMap",
    inputs as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor;
}

/**
 * Per-row reduction of x [..., n]: sum(x·y) when y is given, else sum(x²);
 * with `invert`, 1 / sqrt(ms·sum + eps). Returns [rows].
 */
export function gpuRowReduce(
  x: tf.Tensor,
  y: tf.Tensor | null,
  opts: { invert: boolean; ms?: number; eps?: number },
): tf.Tensor1D {
  const inputs: Record<string, tf.Tensor> = y ? { X: x, Y: y } : { X: x };
  return tf.engine().runKernel("DmodelGpuRowReduce", inputs as tf.NamedTensorMap, {
    invert: opts.invert,
    ms: opts.ms ?? 1,
    eps: opts.eps ?? 0,
  }) as tf.Tensor1D;
}
