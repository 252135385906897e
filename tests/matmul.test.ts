/**
 * The OpenBLAS matMul kernels (engine/kernels/matmul.ts) against a float64
 * reference and against the wasm backend's own kernels: values, gradients,
 * broadcasting, fused bias/activation, leaks, and the no-OpenBLAS fallback.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { blasStatus, sgemm } from "../engine/kernels/blas.ts";
import { fastKernelsInstalled, installFastKernels, uninstallFastKernels } from "../engine/kernels/matmul.ts";
import { rand, relErr } from "./kernel_data.ts";

await tf.setBackend("wasm");
const HAVE_BLAS = blasStatus().available;
const blasOnly = {
  ignore: !HAVE_BLAS,
  sanitizeResources: false,
  sanitizeOps: false,
};

const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);

/** op(A) @ op(B) in float64 with NumPy batch broadcasting: the independent reference. */
function reference(
  a: Float32Array,
  aShape: number[],
  b: Float32Array,
  bShape: number[],
  tA: boolean,
  tB: boolean,
): { data: Float64Array; shape: number[] } {
  const ra = aShape.length, rb = bShape.length;
  const m = tA ? aShape[ra - 1] : aShape[ra - 2],
    k = tA ? aShape[ra - 2] : aShape[ra - 1];
  const n = tB ? bShape[rb - 2] : bShape[rb - 1];
  const ba = aShape.slice(0, -2), bb = bShape.slice(0, -2);
  const r = Math.max(ba.length, bb.length);
  const pa = [...Array(r - ba.length).fill(1), ...ba],
    pb = [...Array(r - bb.length).fill(1), ...bb];
  const ob = pa.map((x, d) => Math.max(x, pb[d]));
  const out = new Float64Array(size(ob) * m * n);
  for (let i = 0; i < size(ob); i++) {
    // Unravel i over ob, ravel into A's and B's batch shapes (broadcast dims -> 0).
    let rest = i, ia = 0, ib = 0, sa = 1, sb = 1;
    for (let d = r - 1; d >= 0; d--) {
      const c = rest % ob[d];
      rest = Math.floor(rest / ob[d]);
      ia += (pa[d] === 1 ? 0 : c) * sa;
      ib += (pb[d] === 1 ? 0 : c) * sb;
      sa *= pa[d];
      sb *= pb[d];
    }
    for (let p = 0; p < m; p++) {
      for (let q = 0; q < n; q++) {
        let s = 0;
        for (let t = 0; t < k; t++) {
          const av = a[ia * m * k + (tA ? t * m + p : p * k + t)];
          const bv = b[ib * k * n + (tB ? q * k + t : t * n + q)];
          s += av * bv;
        }
        out[i * m * n + p * n + q] = s;
      }
    }
  }
  return { data: out, shape: [...ob, m, n] };
}

/** Runs `f` with the wasm backend's own kernels, then restores the BLAS ones. */
function plainWasm<T>(f: () => T): T {
  uninstallFastKernels();
  try {
    return f();
  } finally {
    installFastKernels({ threads: 2 });
  }
}

type Shape = number[];
const CASES: [Shape, Shape, boolean, boolean][] = [];
for (const tA of [false, true]) {
  for (const tB of [false, true]) {
    const mk = (
      rows: number,
      cols: number,
      t: boolean,
    ) => (t ? [cols, rows] : [rows, cols]);
    CASES.push([mk(7, 5, tA), mk(5, 3, tB), tA, tB]); // rank 2
    CASES.push([mk(1, 33, tA), mk(33, 1, tB), tA, tB]); // vector-like
    CASES.push([[3, ...mk(6, 4, tA)], [3, ...mk(4, 5, tB)], tA, tB]); // rank 3, equal batch
    CASES.push([[4, ...mk(6, 4, tA)], mk(4, 5, tB), tA, tB]); // rank 3 @ rank 2 (B broadcast)
    CASES.push([[1, ...mk(6, 4, tA)], [4, ...mk(4, 5, tB)], tA, tB]); // batch 1 vs N
    CASES.push([[2, 3, ...mk(8, 4, tA)], [2, 3, ...mk(4, 8, tB)], tA, tB]); // rank 4 (attention)
    CASES.push([[2, 1, ...mk(3, 4, tA)], [1, 3, ...mk(4, 2, tB)], tA, tB]); // mixed broadcast
  }
}

Deno.test(
  "sgemm computes row-major C = alpha op(A) op(B) + beta C, and checks extents",
  {
    ignore: !HAVE_BLAS,
  },
  () => {
    const a = rand(6, 1), b = rand(12, 2); // A 2x3, B 3x4
    const c = new Float32Array(8).fill(1);
    sgemm(false, false, 2, 4, 3, 2, a, 3, b, 4, 0.5, c, 4);
    const ref = reference(a, [2, 3], b, [3, 4], false, false).data.map((v) => 2 * v + 0.5);
    assert.ok(relErr(c, ref) < 1e-6);
    assert.throws(
      () => sgemm(false, false, 2, 4, 3, 1, a.subarray(1), 3, b, 4, 0, c, 4),
      /too short/,
    );
    assert.throws(
      () => sgemm(false, false, 2, 4, 3, 1, a, 2, b, 4, 0, c, 4),
      /leading dimensions/,
    );
  },
);

Deno.test(
  "BLAS BatchMatMul matches a float64 reference and the wasm kernel",
  blasOnly,
  () => {
    assert.deepEqual(installFastKernels({ threads: 2 }), {
      installed: true,
      kernels: ["BatchMatMul", "_FusedMatMul"],
    });
    let seed = 10;
    for (const [aShape, bShape, tA, tB] of CASES) {
      const av = rand(size(aShape), seed++), bv = rand(size(bShape), seed++);
      const ref = reference(av, aShape, bv, bShape, tA, tB);
      const a = tf.tensor(av, aShape), b = tf.tensor(bv, bShape);
      const got = tf.matMul(a, b, tA, tB);
      const what = `[${aShape}] @ [${bShape}] tA=${tA} tB=${tB}`;
      assert.deepEqual(got.shape, ref.shape, what);
      assert.ok(relErr(got.dataSync(), ref.data) < 1e-5, what);
      const mixed = aShape.length === 4 && aShape[1] === 1; // the wasm kernel does not broadcast [2,1] vs [1,3]
      if (!mixed) {
        const plain = plainWasm(() => tf.matMul(a, b, tA, tB));
        assert.ok(relErr(got.dataSync(), plain.dataSync()) < 1e-5, what);
        plain.dispose();
      }
      tf.dispose([a, b, got]);
    }
  },
);

Deno.test(
  "BLAS BatchMatMul handles empty and zero-inner-dimension products",
  blasOnly,
  () => {
    installFastKernels({ threads: 1 });
    tf.tidy(() => {
      const z = tf.matMul(tf.ones([3, 0]), tf.ones([0, 4]));
      assert.deepEqual(z.shape, [3, 4]);
      assert.deepEqual(Array.from(z.dataSync()), new Array(12).fill(0));
      const e = tf.matMul(tf.ones([2, 0, 3]), tf.ones([2, 3, 5]));
      assert.deepEqual(e.shape, [2, 0, 5]);
      assert.throws(
        () => tf.matMul(tf.ones([2, 3]), tf.ones([4, 5])),
        /inner shapes/,
      );
      // Non-float32 inputs go to the wasm kernel, which rejects them itself.
      assert.throws(
        () => tf.matMul(tf.ones([2, 2], "int32"), tf.ones([2, 2], "int32")),
        /non-float32/,
      );
    });
  },
);

Deno.test(
  "gradients of a scalar function of matMul match the wasm kernel's",
  blasOnly,
  () => {
    installFastKernels({ threads: 2 });
    let seed = 500;
    // tfjs's BatchMatMul gradient does not reduce broadcast batch dims: equal batches only.
    const cases = CASES.filter(([a, b]) =>
      a.length === b.length && a.slice(0, -2).join() === b.slice(0, -2).join()
    );
    assert.ok(cases.length >= 12);
    for (const [aShape, bShape, tA, tB] of cases) {
      const a = tf.tensor(rand(size(aShape), seed++), aShape),
        b = tf.tensor(rand(size(bShape), seed++), bShape);
      const outShape = reference(
        new Float32Array(size(aShape)),
        aShape,
        new Float32Array(size(bShape)),
        bShape,
        tA,
        tB,
      )
        .shape;
      const w = tf.tensor(rand(size(outShape), seed++), outShape);
      // f(a, b) = sum(w * tanh(op(a) op(b))): a non-linear scalar, so dy is not constant.
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(w, tf.tanh(tf.matMul(x, y, tA, tB))));
      const [ga, gb] = tf.grads(f)([a, b]);
      const [pa, pb] = plainWasm(() => tf.grads(f)([a, b]));
      const what = `[${aShape}] @ [${bShape}] tA=${tA} tB=${tB}`;
      assert.deepEqual(ga.shape, aShape, what);
      assert.ok(relErr(ga.dataSync(), pa.dataSync()) < 1e-5, `dA ${what}`);
      assert.ok(relErr(gb.dataSync(), pb.dataSync()) < 1e-5, `dB ${what}`);
      tf.dispose([a, b, w, ga, gb, pa, pb]);
    }
  },
);

Deno.test(
  "fused matMul (bias, every activation, transposeB) matches the unfused composition",
  blasOnly,
  () => {
    installFastKernels({ threads: 1 });
    tf.tidy(() => {
      const a = tf.tensor(rand(5 * 6, 1), [5, 6]),
        b = tf.tensor(rand(6 * 4, 2), [6, 4]);
      const bias = tf.tensor(rand(4, 3), [4]);
      const alpha = tf.tensor(rand(4, 4), [4]);
      const acts = [
        "linear",
        "relu",
        "relu6",
        "elu",
        "leakyrelu",
        "sigmoid",
        "prelu",
      ] as const;
      for (const activation of acts) {
        for (const [tB, bb] of [[false, b], [true, tf.transpose(b)]] as const) {
          const got = tf.fused.matMul({
            a,
            b: bb,
            transposeB: tB,
            bias,
            activation,
            preluActivationWeights: activation === "prelu" ? alpha : undefined,
            leakyreluAlpha: 0.1,
          });
          const z = tf.add(tf.matMul(a, b), bias);
          const want = {
            linear: () => z,
            relu: () => tf.relu(z),
            relu6: () => tf.relu6(z),
            elu: () => tf.elu(z),
            leakyrelu: () => tf.leakyRelu(z, 0.1),
            sigmoid: () => tf.sigmoid(z),
            prelu: () => tf.prelu(z, alpha),
          }[activation]();
          assert.ok(
            relErr(got.dataSync(), want.dataSync()) < 1e-5,
            `${activation} tB=${tB}`,
          );
        }
      }
      // Scalar bias, no bias, and a rank-3 input.
      const a3 = tf.tensor(rand(2 * 5 * 6, 9), [2, 5, 6]);
      const got = tf.fused.matMul({ a: a3, b, bias: tf.scalar(0.5) });
      assert.ok(
        relErr(got.dataSync(), tf.add(tf.matMul(a3, b), 0.5).dataSync()) < 1e-5,
      );
      assert.ok(
        relErr(
          tf.fused.matMul({ a, b }).dataSync(),
          tf.matMul(a, b).dataSync(),
        ) < 1e-6,
      );
    });
  },
);

Deno.test(
  "repeated matMuls inside tf.tidy leak no tensors or wasm buffers",
  blasOnly,
  () => {
    installFastKernels({ threads: 2 });
    const a = tf.tensor(rand(4 * 16 * 8, 1), [4, 16, 8]),
      b = tf.tensor(rand(4 * 8 * 16, 2), [4, 8, 16]);
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const step = () =>
      tf.tidy(() => {
        const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y).square());
        const [ga] = tf.grads(f)([a, b]);
        tf.matMul(a, b, true, true);
        tf.fused.matMul({ a, b, activation: "relu" });
        return ga.sum().dataSync()[0];
      });
    step();
    const tensors = tf.memory().numTensors, ids = backend.numDataIds();
    for (let i = 0; i < 5; i++) step();
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(backend.numDataIds(), ids);
    tf.dispose([a, b]);
  },
);

Deno.test("an output that grows the wasm heap is still written correctly", blasOnly, () => {
  installFastKernels({ threads: 2 });
  const heapBytes = () =>
    (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
  const before = heapBytes();
  // Output bigger than the whole heap: makeOutput must grow it, detaching older views.
  const m = 64, k = 8, n = Math.ceil(before / 4 / m) + 1024;
  const av = rand(m * k, 3), bv = rand(k * n, 4);
  tf.tidy(() => {
    const c = tf.matMul(tf.tensor(av, [m, k]), tf.tensor(bv, [k, n])).dataSync();
    assert.ok(heapBytes() > before);
    for (const [i, j] of [[0, 0], [m - 1, n - 1], [17, n >> 1], [m >> 1, 12345 % n]]) {
      let s = 0;
      for (let t = 0; t < k; t++) s += av[i * k + t] * bv[t * n + j];
      assert.ok(Math.abs(c[i * n + j] - s) < 1e-5, `c[${i},${j}]`);
    }
  });
});

Deno.test(
  "install is idempotent and uninstall restores the wasm kernels",
  blasOnly,
  () => {
    installFastKernels({ threads: 1 });
    const mine = tf.getKernel("BatchMatMul", "wasm")!.kernelFunc;
    installFastKernels({ threads: 2 });
    assert.equal(tf.getKernel("BatchMatMul", "wasm")!.kernelFunc, mine);
    uninstallFastKernels();
    assert.equal(fastKernelsInstalled(), false);
    assert.notEqual(tf.getKernel("BatchMatMul", "wasm")!.kernelFunc, mine);
    installFastKernels({ threads: 2 });
    assert.equal(fastKernelsInstalled(), true);
  },
);

Deno.test("without OpenBLAS (FFI denied) the wasm kernels stay and one notice is printed", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  const url = new URL("../engine/kernels/matmul.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { installFastKernels } from "${url}";
const before = tf.getKernel("BatchMatMul", "wasm").kernelFunc;
const r1 = installFastKernels(), r2 = installFastKernels();
console.log(JSON.stringify({ r1, r2, same: tf.getKernel("BatchMatMul", "wasm").kernelFunc === before }));
`,
  );
  const config = new URL("../deno.json", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--deny-ffi", "--config", config, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const res = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(res.r1.installed, false);
  assert.match(res.r1.reason, /OpenBLAS not loaded/);
  assert.equal(res.r2.installed, false);
  assert.equal(res.same, true);
  assert.equal(
    stderr.match(/matrix products use the plain wasm kernels/g)?.length,
    1,
    stderr,
  );
});
