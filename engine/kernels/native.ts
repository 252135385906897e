/**
 * The fused kernels' tasks compiled to native code (engine/kernels/native.c).
 * JavaScript runs an element loop at 0.5-8 ns per element; the same loop
 * built with the system C compiler at `-O3 -march=native` runs as SIMD and is
 * bound by memory bandwidth (the SwiGLU gradient on 2048 x 1024: 7.2 ms in
 * TS, 2.2 ms in C, one thread). The tasks take the same arrays and scalars
 * as their TS twins in engine/kernels/kernel_tasks.ts, so engine/kernels/thread_pool.ts runs
 * either on any thread.
 *
 * The library is built once per source version and CPU into
 * `.cache/native/` at the repository root (or $DMODEL_NATIVE_DIR), by the first process allowed to
 * run the compiler (`cc`, or $CC); processes without that permission (sweep
 * trials) only load it. Without a compiler, or with DMODEL_NATIVE=0,
 * everything runs the TS tasks (a one-time notice says why).
 *
 * @example
 * ```ts
 * import { loadNative, nativeStatus } from "./native.ts";
 * loadNative({ build: true });
 * console.log(nativeStatus()); // { available: true, path: ".../dmodel-kernels-....so", tasks: [...] }
 * ```
 */
import { blasStatus } from "./blas.ts";
import { MASKED } from "./kernel_tasks.ts";

/** Tasks of engine/kernels/kernel_tasks.ts that have a native twin (`dm_<name>` in native.c). */
export const NATIVE_TASKS = [
  "rowNorm",
  "rowNormGrad",
  "lerpNormTo",
  "lerpNormToGrad",
  "ropeNormScale",
  "ropeNormScaleGrad",
  "swiglu",
  "swigluGrad",
  "swigluGradFromInputs",
  "attnProbs",
  "attnGrad",
  "adam",
] as const;
/** The tasks that call OpenBLAS (bound only when engine/kernels/blas.ts loaded it). */
const BLAS_TASKS = new Set<string>(["attnProbs", "attnGrad"]);
/** The `dm_version()` this TS expects (bumped with any change of a task's arrays or scalars). */
const ABI_VERSION = 3;

const SOURCE = new URL("./native.c", import.meta.url);
/** Where built libraries go: $DMODEL_NATIVE_DIR, else .cache/native/ at the repository root. */
export function nativeCacheDir(): string {
  const dir = Deno.env.get("DMODEL_NATIVE_DIR");
  return dir ? dir.replace(/\/+$/, "") : new URL("../../.cache/native", import.meta.url).pathname;
}
const FLAGS = [
  "-O3",
  "-march=native",
  "-fopenmp-simd",
  "-fno-math-errno",
  "-shared",
  "-fPIC",
  // The masked logit, as a float literal (-1e9 is exact in float32).
  `-DMASKED=(${MASKED.toFixed(1)}f)`,
];

/** A native task: (array addresses, scalars, lo, hi, chunk). */
export type NativeTask = (
  ptrs: BigUint64Array,
  scalars: Float64Array,
  lo: number,
  hi: number,
  chunk: number,
) => void;

/** What loading found: the library and its tasks, or why there is none. */
export interface NativeStatus {
  available: boolean;
  path?: string;
  tasks?: string[];
  reason?: string;
}

const taskSymbol = { parameters: ["buffer", "buffer", "i32", "i32", "i32"], result: "void" } as const;
function symbols() {
  const s: Record<string, Deno.ForeignFunction> = {
    dm_version: { parameters: [], result: "i32" },
    dm_cpu_ok: { parameters: [], result: "i32" },
    dm_init: { parameters: ["buffer"], result: "i32" },
  };
  for (const t of NATIVE_TASKS) s[`dm_${t}`] = taskSymbol;
  return s;
}

let status: NativeStatus | null = null;
let tasks = new Map<string, NativeTask>();
let enabled = Deno.env.get("DMODEL_NATIVE") !== "0";
let noticed = false;

/**
 * 16 hex digits of SHA-256 over the source, the flags, and the machine (arch, os,
 * host name: -march=native code is for this CPU). Not /proc/cpuinfo: Deno lets only
 * --allow-all processes read it, and sweep trials run with less. A library that meets
 * another CPU anyway (a copied checkout) fails its dm_cpu_ok() check and is rebuilt.
 */
async function buildKey(source: string): Promise<string> {
  let host = "";
  try {
    host = Deno.hostname();
  } catch { /* no sys permission */ }
  const machine = `${Deno.build.arch}-${Deno.build.os}-${host}`;
  const data = new TextEncoder().encode(`${source}\n${FLAGS.join(" ")}\n${machine}`);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...hash.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The library's path for this source and CPU (it may not exist yet). */
export async function nativeLibraryPath(): Promise<string> {
  const source = Deno.readTextFileSync(SOURCE);
  return `${nativeCacheDir()}/dmodel-kernels-${await buildKey(source)}.so`;
}

function canRun(cmd: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command: cmd }).state === "granted";
  } catch {
    return false;
  }
}

/** Compiles native.c to `path` (atomically: a temp file renamed). Returns an error line or null. */
function compile(path: string): string | null {
  const cc = compilerName();
  try {
    Deno.mkdirSync(nativeCacheDir(), { recursive: true });
  } catch (e) {
    return `cannot create ${nativeCacheDir()} (set DMODEL_NATIVE_DIR): ${
      (e as Error).message.split("\n")[0]
    }`;
  }
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    const out = new Deno.Command(cc, { args: [...FLAGS, "-o", tmp, SOURCE.pathname, "-ldl", "-lm"] })
      .outputSync();
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(0, 3).join(" | ");
      return `${cc} failed on ${SOURCE.pathname}: ${err}`;
    }
    // Atomic: processes building at once (Slurm array tasks) each rename a complete file.
    // Libraries of other CPUs stay: nodes with a shared checkout each use their own.
    Deno.renameSync(tmp, path);
    return null;
  } catch (e) {
    return e instanceof Deno.errors.NotFound
      ? `no C compiler (${cc}; install gcc)`
      : `${cc}: ${(e as Error).message.split("\n")[0]}`;
  } finally {
    try {
      Deno.removeSync(tmp);
    } catch { /* renamed or never written */ }
  }
}

/** Opens the library at `path` and binds its tasks; the status says what happened. */
export function openNative(path: string): NativeStatus {
  try {
    const lib = Deno.dlopen(path, symbols()).symbols as Record<string, (...a: unknown[]) => unknown>;
    const version = lib.dm_version() as number;
    if (version !== ABI_VERSION) {
      return {
        available: false,
        path,
        reason: `${path} has version ${version}, dmodel needs ${ABI_VERSION}`,
      };
    }
    if ((lib.dm_cpu_ok() as number) !== 1) {
      return { available: false, path, reason: `${path} was built for another CPU` };
    }
    const blas = blasStatus();
    const withBlas = blas.available &&
      (lib.dm_init(new TextEncoder().encode(`${blas.path}\0`)) as number) === 1;
    tasks = new Map();
    for (const t of NATIVE_TASKS) {
      if (BLAS_TASKS.has(t) && !withBlas) continue;
      tasks.set(t, lib[`dm_${t}`] as unknown as NativeTask);
    }
    return { available: true, path, tasks: [...tasks.keys()] };
  } catch (e) {
    return { available: false, path, reason: `cannot load ${path}: ${(e as Error).message.split("\n")[0]}` };
  }
}

/**
 * Loads the native tasks once per process: the cached library if it exists,
 * else (with `build` and permission to run the compiler) builds it first.
 * Prints a one-time notice when there is none. Returns the status.
 */
export async function loadNative(opts: { build?: boolean; quiet?: boolean } = {}): Promise<NativeStatus> {
  if (status?.available) return status;
  let path: string;
  try {
    path = await nativeLibraryPath();
  } catch (e) {
    status = { available: false, reason: `cannot read ${SOURCE.pathname}: ${(e as Error).message}` };
    return status;
  }
  let exists = false;
  try {
    exists = Deno.statSync(path).isFile;
  } catch { /* not built yet */ }
  // Open what is there; build when it is missing or unusable (another CPU, an old version).
  status = exists ? openNative(path) : { available: false, path, reason: "not built yet" };
  if (!status.available && opts.build && canRun(compilerName())) {
    const err = compile(path);
    status = err ? { available: false, path, reason: err } : openNative(path);
  } else if (!status.available && !exists) {
    status.reason = opts.build
      ? `no permission to run the C compiler (${compilerName()})`
      : "not built yet (a process allowed to run cc builds it)";
  }
  if (!status.available && !opts.quiet && !noticed) {
    noticed = true;
    console.error(
      `dmodel: native kernels unavailable (${status.reason}); the fused kernels run in TypeScript`,
    );
  }
  return status;
}

function compilerName(): string {
  return Deno.env.get("CC") || "cc";
}

/** The last load's outcome (not loaded yet: unavailable). */
export function nativeStatus(): NativeStatus {
  return status ? { ...status } : { available: false, reason: "not loaded" };
}

/** Turns the native tasks on or off (tests and measurements; DMODEL_NATIVE=0 starts with them off). */
export function setNativeKernels(on: boolean): void {
  enabled = on;
}

/** The native twin of a task, or undefined (not loaded, switched off, or none). */
export function nativeTask(name: string): NativeTask | undefined {
  return enabled ? tasks.get(name) : undefined;
}

/** True when the native task `name` would run now. */
export function nativeActive(name: string): boolean {
  return nativeTask(name) !== undefined;
}
