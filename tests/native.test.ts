/**
 * engine/kernels/native.ts: the C twins of the fused-kernel tasks give the TS tasks'
 * results on multi-chunk inputs (every output and per-chunk partial sum),
 * and building or loading a bad library is one clear error. The fused ops on
 * top are checked with both in tests/fused_ops.test.ts, thread equality in
 * tests/parallel.test.ts.
 */
import assert from "node:assert/strict";
import {
  loadNative,
  NATIVE_TASKS,
  nativeStatus,
  openNative,
  setNativeKernels,
} from "../engine/kernels/native.ts";
import { parallel } from "../engine/kernels/thread_pool.ts";
import {
  causalSplit,
  MASKED,
  rowEnds,
  type TaskArray,
  type TaskName,
} from "../engine/kernels/kernel_tasks.ts";
import { blasStatus } from "../engine/kernels/blas.ts";
import { sweepPermissions, trialCommand, trialWrites } from "../components/executor/command.ts";
import { rand, relErr } from "./kernel_data.ts";

const status = await loadNative({ build: true, quiet: true });
const hasCc = new Deno.Command("sh", { args: ["-c", "command -v ${CC:-cc}"] }).outputSync().success;
// On CI the compiler is installed (.ci/run): there the native path must be there, not skipped.
const required = Deno.env.get("CI") === "true" || hasCc;

Deno.test({
  name: "native: the library builds and binds every task (OpenBLAS ones when OpenBLAS loads)",
  // Without a compiler (and not on CI) this is reported as ignored, which CI counts as a failure.
  ignore: !required,
  fn: nativeBuilds,
});

function nativeBuilds() {
  assert.ok(status.available, `native kernels: ${status.reason}`);
  assert.equal(status.path, nativeStatus().path);
  const want = NATIVE_TASKS.filter((t) => blasStatus().available || !t.startsWith("attn"));
  assert.deepEqual(status.tasks, want);
  assert.match(status.path!, /\.cache\/native\/dmodel-kernels-[0-9a-f]{16}\.so$/);
}

/** One task call: its arrays (inputs and outputs), scalars, units and chunks. */
interface Case {
  arrays: TaskArray[];
  scalars: number[];
  units: number;
  chunks: number;
}

const f32 = (n: number, seed: number, scale = 1, offset = 0) => rand(n, seed).map((v) => offset + scale * v);
const zeros = (n: number) => new Float32Array(n);

/** Unit rows of x [rows, n] in place; returns inverse norms. */
function unitRows(x: Float32Array, n: number): Float32Array {
  const inv = new Float32Array(x.length / n);
  for (let r = 0; r < inv.length; r++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += x[r * n + j] ** 2;
    inv[r] = 1 / Math.sqrt(s);
    for (let j = 0; j < n; j++) x[r * n + j] *= inv[r];
  }
  return inv;
}

const R = 96, N = 40, CH = 6; // rows, row length, chunks
const [B, T, H, DK] = [2, 16, 3, 8], BT = B * T, HD = H * DK;
const cos = f32(T * DK, 50), sin = f32(T * DK, 51);
const mask = new Float32Array(T * T).map((
  _,
  i,
) => (i % T <= Math.floor(i / T) ? 0.1 * ((i * 7) % 5) : MASKED));

const CASES: Record<TaskName, (() => Case) | null> = {
  scale: null, // the example task: TS only
  attnScores: null, // scores without the softmax: TS only (attnProbs is the native path)
  attnApply: null, // products only, no element loop: TS only
  rowNorm: () => ({
    arrays: [f32(R * N, 1), zeros(R * N), zeros(R)],
    scalars: [N, 1 / N, 1e-6],
    units: R,
    chunks: CH,
  }),
  rowNormGrad: () => {
    const y = f32(R * N, 2), inv = unitRows(y, N);
    return { arrays: [f32(R * N, 3), y, inv, zeros(R * N)], scalars: [N, 1], units: R, chunks: CH };
  },
  lerpNormTo: () => ({
    arrays: [f32(R * N, 4), f32(R * N, 5, 3), f32(N, 6), zeros(R * N), zeros(R), zeros(R)],
    scalars: [N],
    units: R,
    chunks: CH,
  }),
  lerpNormToGrad: () => {
    const y = f32(R * N, 7), inv = unitRows(y, N), u = f32(R * N, 8, 2), invU = unitRows(u.slice(), N);
    const arrays = [f32(R * N, 9), y, inv, f32(R * N, 10), u, invU, f32(N, 11), zeros(R * N), zeros(R * N)];
    return { arrays: [...arrays, new Float64Array(CH * N)], scalars: [N], units: R, chunks: CH };
  },
  ropeNormScale: () => ({
    arrays: [f32(BT * HD, 12), cos, sin, f32(HD, 13), zeros(BT * HD), zeros(BT * HD), zeros(BT * H)],
    scalars: [T, H, DK],
    units: BT,
    chunks: CH,
  }),
  ropeNormScaleGrad: () => {
    const nrm = f32(BT * HD, 14), inv = unitRows(nrm, DK);
    const arrays = [f32(BT * HD, 15), nrm, inv, f32(HD, 16), cos, sin, zeros(BT * HD)];
    return { arrays: [...arrays, new Float64Array(CH * HD)], scalars: [T, H, DK], units: BT, chunks: CH };
  },
  swiglu: () => ({
    arrays: [f32(R * N, 17, 3), f32(R * N, 18, 3), f32(N, 19), f32(N, 20)],
    scalars: [N, 2.5],
    units: R,
    chunks: CH,
  }),
  swigluGrad: () => {
    const b = f32(R * N, 21, 3), snu = f32(N, 22), c = 2.5;
    const nu = b.map((v, i) => v * snu[i % N] * c), sg = nu.map((v) => 1 / (1 + Math.exp(-v)));
    const ins = [f32(R * N, 23), f32(R * N, 24, 3), b, f32(N, 25), snu, nu, sg];
    const outs = [zeros(R * N), zeros(R * N), new Float64Array(CH * N), new Float64Array(CH * N)];
    return { arrays: [...ins, ...outs], scalars: [N, c], units: R, chunks: CH };
  },
  swigluGradFromInputs: () => {
    const ins = [f32(R * N, 26), f32(R * N, 27, 3), f32(R * N, 28, 3), f32(N, 29), f32(N, 30)];
    const outs = [zeros(R * N), zeros(R * N), new Float64Array(CH * N), new Float64Array(CH * N)];
    return { arrays: [...ins, ...outs], scalars: [N, 2.5], units: R, chunks: CH };
  },
  attnProbs: () => ({
    arrays: [f32(BT * HD, 31, 2), f32(BT * HD, 32, 2), mask, rowEnds(mask, T), zeros(B * H * T * T)],
    scalars: [T, H, DK, 0.7, causalSplit(mask, T)],
    units: B * H,
    chunks: 4,
  }),
  attnGrad: () => {
    // P: rows of a softmax (non-negative, zero where masked).
    const end = rowEnds(mask, T), p = f32(B * H * T * T, 33, 0.5, 0.5);
    for (let i = 0; i < p.length; i++) if (i % T >= end[Math.floor(i / T) % T]) p[i] = 0;
    const ins = [f32(BT * HD, 34), p, f32(BT * HD, 35), f32(BT * HD, 36), f32(BT * HD, 37), end];
    return {
      arrays: [...ins, zeros(BT * HD), zeros(BT * HD), zeros(BT * HD)],
      scalars: [T, H, DK, 0.7, causalSplit(mask, T)],
      units: B * H,
      chunks: 4,
    };
  },
  adam: () => {
    const n = 5000;
    return {
      arrays: [f32(n, 38, 1e-3), f32(n, 39, 1e-4), f32(n, 40, 1e-7, 1e-7), f32(n, 41)],
      scalars: [0.9, 0.1, 0.95, 0.05, 1e-3 / 0.19, 1 / Math.sqrt(0.0975), 1e-8, 1e-5],
      units: n,
      chunks: 7,
    };
  },
};
// swiglu's output g is the fifth array.
const swigluCase = CASES.swiglu!;
CASES.swiglu = () => {
  const c = swigluCase();
  return { ...c, arrays: [...c.arrays, zeros(R * N)] };
};

function runCase(name: TaskName, c: Case, native: boolean): TaskArray[] {
  const arrays = c.arrays.map((a) => a.slice());
  setNativeKernels(native);
  try {
    parallel(name, arrays, c.scalars, c.units, c.chunks);
  } finally {
    setNativeKernels(true);
  }
  return arrays;
}

Deno.test({
  name: "native: every C task gives its TS twin's outputs and partial sums (multi-chunk inputs)",
  ignore: !status.available,
  fn() {
    for (const task of status.tasks as TaskName[]) {
      const make = CASES[task];
      assert.ok(make, `no test case for native task ${task}`);
      const c = make();
      const native = runCase(task, c, true), ts = runCase(task, c, false);
      native.forEach((a, i) => {
        // Arrays updated in place (Adam's m, v, w) are compared by their change.
        const before = c.arrays[i], inPlace = relErr(before, new Float32Array(before.length)) > 0;
        const delta = (x: TaskArray) => inPlace ? x.map((v, k) => v - before[k]) : x;
        const err = relErr(delta(a), delta(ts[i]));
        // Element loops in float with a polynomial exp, row sums in double (TS: double throughout).
        assert.ok(err < 2e-6, `${task}: array ${i} differs from the TS task by ${err}`);
      });
      // An output the task writes must not stay all zero (a task that does nothing fails here).
      assert.ok(native.some((a, i) => relErr(a, c.arrays[i]) > 0), `${task}: no array changed`);
    }
  },
});

Deno.test({
  name: "native: the softmax of attnProbs sums to one per row and is zero where masked",
  ignore: !status.available || !status.tasks?.includes("attnProbs"),
  fn() {
    const c = CASES.attnProbs!();
    const p = runCase("attnProbs", c, true)[4] as Float32Array;
    for (let row = 0; row < B * H * T; row++) {
      const i = row % T;
      let s = 0;
      for (let j = 0; j < T; j++) {
        const v = p[row * T + j];
        if (j > i) assert.equal(v, 0, `row ${row}: masked column ${j} is ${v}`);
        else assert.ok(v > 0);
        s += v;
      }
      assert.ok(Math.abs(s - 1) < 1e-6, `row ${row} sums to ${s}`);
    }
  },
});

Deno.test({
  name: "native: a process with a sweep trial's permissions loads the library its sweep built",
  ignore: !status.available,
  async fn() {
    // The trial command's permission flags (no --allow-run, no /proc/cpuinfo), on a small script in a
    // sweep directory of its own.
    const dir = await Deno.makeTempDir();
    const perms = { ...(await sweepPermissions(dir, [])), write: trialWrites(dir, "t") };
    const flags = trialCommand(dir, 0, perms).filter((a) => a.startsWith("--allow-") || a === "--no-prompt");
    try {
      const script = `${dir}/load.ts`;
      await Deno.writeTextFile(
        script,
        `import { loadNative } from "${new URL("../engine/kernels/native.ts", import.meta.url).href}";
        console.log(JSON.stringify(await loadNative({ build: true })));`,
      );
      const out = new Deno.Command(Deno.execPath(), { args: ["run", ...flags, script] }).outputSync();
      const child = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.equal(child.path, status.path);
      assert.equal(child.available, true, child.reason);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "native: a failing compiler, a file that is not a library and a wrong version are one-line errors",
  ignore: !hasCc,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // In a fresh process (the status is per process) with an empty library folder.
      const load = (cc: string, build: boolean, lib = `${dir}/lib`) => {
        const script = `import { loadNative } from "${
          new URL("../engine/kernels/native.ts", import.meta.url).href
        }";
          console.log(JSON.stringify(await loadNative({ build: ${build}, quiet: true })));`;
        const out = new Deno.Command(Deno.execPath(), {
          args: ["eval", "--no-check", script],
          env: { CC: cc, DMODEL_NATIVE_DIR: lib },
        }).outputSync();
        return JSON.parse(new TextDecoder().decode(out.stdout));
      };
      const failed = load("false", true);
      assert.equal(failed.available, false);
      assert.match(failed.reason, /^false failed on \/.*engine\/kernels\/native\.c/);
      assert.match(
        load("no-such-compiler-here", true).reason,
        /^no C compiler \(no-such-compiler-here; install gcc\)$/,
      );
      assert.match(load("cc", false).reason, /^not built yet/);
      // A library folder that cannot be created (a file is in the way).
      await Deno.writeTextFile(`${dir}/blocked`, "");
      assert.match(
        load("cc", true, `${dir}/blocked/lib`).reason,
        new RegExp(`^cannot create ${dir}/blocked/lib \\(set DMODEL_NATIVE_DIR\\): `),
      );

      const notLib = `${dir}/not-a-library.so`;
      await Deno.writeTextFile(notLib, "hello");
      const bad = openNative(notLib);
      assert.equal(bad.available, false);
      assert.ok(bad.reason!.startsWith(`cannot load ${notLib}: `), bad.reason);

      // Every symbol there, but an older ABI version.
      const stubs = NATIVE_TASKS.map((t) => `void dm_${t}(void) {}`).join("\n");
      const src = `${dir}/old.c`, lib = `${dir}/old.so`;
      await Deno.writeTextFile(
        src,
        `int dm_version(void) { return 1; }\nint dm_cpu_ok(void) { return 1; }\nint dm_init(const char *p) { return 0; }\n${stubs}\n`,
      );
      assert.ok(new Deno.Command("cc", { args: ["-shared", "-fPIC", "-o", lib, src] }).outputSync().success);
      const old = openNative(lib);
      assert.equal(old.available, false);
      assert.match(old.reason!, /old\.so has version 1, dmodel needs \d+$/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
