/**
 * Runs the fused kernels' loops (engine/kernels/kernel_tasks.ts) on several cores.
 * tfjs's wasm backend is single-threaded; dmodel's kernels work on tensor
 * memory in place, so worker threads can share it: each worker maps the same
 * memory by address (`Deno.UnsafePointerView.getArrayBuffer`, FFI
 * permission) and the main thread and the workers take chunks of the work
 * from a shared counter. The split into chunks does not depend on the
 * number of threads, and per-chunk partial sums are added in chunk order on
 * the main thread, so results are bitwise the same with 1 or n threads. A
 * busy or still-starting worker only means the main thread takes more
 * chunks (no thread waits for another's share). Every thread runs a task's
 * native twin (engine/kernels/native.ts) when the main thread has it loaded, else
 * its TS version (never a mix), so a task's bits never depend on the thread count.
 *
 * Workers start on the first task after {@link setKernelThreads} (n > 1)
 * and exit after a second without tasks, so a finished program exits.
 *
 * @example
 * ```ts
 * import { parallel, setKernelThreads } from "./thread_pool.ts";
 * setKernelThreads(2);
 * const x = new Float32Array(1 << 20).fill(2);
 * // Task "scale" of engine/kernels/kernel_tasks.ts on 16 chunks of 2^20 elements.
 * parallel("scale", [x, x], [0.5], x.length, 16); // x is now all ones
 * ```
 */
import { type TaskArray, type TaskName, TASKS } from "./kernel_tasks.ts";
import { nativeStatus, type NativeTask, nativeTask } from "./native.ts";

/** Slots of the shared control block. */
const SEQ = 0,
  NEXT = 1,
  DONE = 2,
  NCHUNKS = 3,
  TASK = 4,
  NARR = 5,
  NSC = 6,
  ALIVE = 7,
  ERR = 8,
  UNITS = 9,
  NATIVE = 10;
/** Most arrays / scalars one task takes. */
export const MAX_ARRAYS = 24, MAX_SCALARS = 16;
/** Chunks per task at most (the chunk index shares an int32 with the task sequence). */
export const MAX_CHUNKS = 1024;

/** Shared state: control ints, then array addresses, lengths, element types, and scalars. */
interface Shared {
  sab: SharedArrayBuffer;
  ctl: Int32Array;
  ptr: BigUint64Array;
  len: Float64Array;
  kind: Int32Array;
  sc: Float64Array;
}

/** Byte layout of the shared buffer (also read by engine/kernels/thread_worker.ts). */
export function sharedViews(sab: SharedArrayBuffer): Shared {
  return {
    sab,
    ctl: new Int32Array(sab, 0, 16),
    ptr: new BigUint64Array(sab, 64, MAX_ARRAYS),
    len: new Float64Array(sab, 64 + 8 * MAX_ARRAYS, MAX_ARRAYS),
    kind: new Int32Array(sab, 64 + 16 * MAX_ARRAYS, MAX_ARRAYS),
    sc: new Float64Array(sab, 64 + 20 * MAX_ARRAYS, MAX_SCALARS),
  };
}
const BYTES = 64 + 20 * MAX_ARRAYS + 8 * MAX_SCALARS;

/** Element type codes of the task arrays. */
export const KIND = { f32: 0, f64: 1, i32: 2 } as const;

let threads = 1;
let shared: Shared | null = null;
let seq = 0;
let taskIds: Map<string, number> | null = null;
const workers: Worker[] = [];
let canMap: boolean | null = null;

/** Uses n threads (the main one and n - 1 workers) for the fused kernels; 1 runs everything on the main thread. */
export function setKernelThreads(n: number): void {
  threads = Math.max(1, Math.floor(n));
  if (threads === 1) stopWorkers();
}

let forced: "shared" | "serial" = "shared";

/**
 * How tasks run when threads > 1: "shared" (default) between the main
 * thread and the workers, or "serial" on the main thread only (for tests
 * and measurements). (Choosing by measured time per task did worse: a
 * worker that only gets an occasional task runs it cold.)
 */
export function setParallelMode(mode: "shared" | "serial"): void {
  forced = mode;
}

/** The thread count set by {@link setKernelThreads}. */
export function kernelThreads(): number {
  return threads;
}

/** Stops the workers (they also stop by themselves when idle). */
export function stopWorkers(): void {
  for (const w of workers.splice(0)) w.terminate();
  if (shared) Atomics.store(shared.ctl, ALIVE, 0);
}

function taskId(name: string): number {
  taskIds ??= new Map(Object.keys(TASKS).map((k, i) => [k, i]));
  return taskIds.get(name)!;
}

/** True when this process may map memory by address (FFI permission). */
function mappable(): boolean {
  if (canMap === null) {
    try {
      const probe = new Float32Array(1);
      canMap = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(probe))) !== 0;
    } catch {
      canMap = false;
    }
  }
  return canMap;
}

function ensureWorkers(sh: Shared): void {
  // Workers that exited when idle clear their ALIVE count; start replacements.
  const alive = Atomics.load(sh.ctl, ALIVE);
  if (alive < workers.length) {
    for (const w of workers.splice(0)) w.terminate();
    Atomics.store(sh.ctl, ALIVE, 0);
  }
  while (workers.length < threads - 1) {
    let w: Worker;
    try {
      w = new Worker(new URL("./thread_worker.ts", import.meta.url).href, { type: "module" });
    } catch {
      threads = workers.length + 1; // no permission to start workers: use what there is
      return;
    }
    Atomics.add(sh.ctl, ALIVE, 1);
    // The worker opens the same native library (engine/kernels/native.ts), if one is loaded.
    w.postMessage({ sab: sh.sab, seq, native: nativeStatus().available ? nativeStatus().path : null });
    workers.push(w);
  }
}

function address(a: TaskArray): bigint {
  if (a.length === 0) return 0n;
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a)));
}

/** Runs every chunk of a task on this thread (its native twin when loaded, engine/kernels/native.ts). */
function runChunks(
  task: TaskName,
  arrays: TaskArray[],
  scalars: number[],
  units: number,
  chunks: number,
): void {
  const run = chunkRunner(
    TASKS[task],
    nativeTask(task),
    () => arrays,
    () => BigUint64Array.from(arrays, address),
    Float64Array.from(scalars),
  );
  for (let c = 0; c < chunks; c++) {
    run(Math.floor((units * c) / chunks), Math.floor((units * (c + 1)) / chunks), c);
  }
}

/** One chunk on this thread: the native task with addresses and scalars, else the TS task. */
export function chunkRunner(
  f: (a: TaskArray[], s: number[] | Float64Array, lo: number, hi: number, chunk: number) => void,
  nf: NativeTask | undefined,
  arrays: () => TaskArray[],
  ptrs: () => BigUint64Array,
  scalars: Float64Array,
): (lo: number, hi: number, chunk: number) => void {
  if (nf) {
    const p = ptrs();
    return (lo, hi, c) => nf(p, scalars, lo, hi, c);
  }
  const a = arrays();
  return (lo, hi, c) => f(a, scalars, lo, hi, c);
}

/**
 * Runs task `name` over `units` work units split into `chunks` equal
 * chunks, on the main thread and the workers. The arrays are the task's
 * memory (wasm-heap views or host arrays); scalars its numbers.
 */
export function parallel(
  task: TaskName,
  arrays: TaskArray[],
  scalars: number[],
  units: number,
  chunks: number,
): void {
  chunks = Math.max(1, Math.min(chunks, units, MAX_CHUNKS));
  if (threads === 1 || chunks === 1 || forced === "serial" || !mappable()) {
    return runChunks(task, arrays, scalars, units, chunks);
  }
  shareChunks(task, arrays, scalars, units, chunks);
}

/** Runs the task's chunks on the main thread and the workers. */
function shareChunks(
  task: TaskName,
  arrays: TaskArray[],
  scalars: number[],
  units: number,
  chunks: number,
): void {
  if (arrays.length > MAX_ARRAYS || scalars.length > MAX_SCALARS) {
    throw new Error(`parallel: task ${task} takes at most ${MAX_ARRAYS} arrays and ${MAX_SCALARS} scalars`);
  }
  const sh = shared ??= sharedViews(new SharedArrayBuffer(BYTES));
  ensureWorkers(sh);
  // Publish the task: descriptors, then the chunk counter tagged with the new sequence, then the sequence.
  seq = (seq + 1) & 0xfffff;
  arrays.forEach((a, i) => {
    sh.ptr[i] = address(a);
    sh.len[i] = a.length;
    sh.kind[i] = a instanceof Float32Array ? KIND.f32 : a instanceof Float64Array ? KIND.f64 : KIND.i32;
  });
  scalars.forEach((s, i) => (sh.sc[i] = s));
  Atomics.store(sh.ctl, TASK, taskId(task));
  Atomics.store(sh.ctl, NARR, arrays.length);
  Atomics.store(sh.ctl, NSC, scalars.length);
  Atomics.store(sh.ctl, NCHUNKS, chunks);
  Atomics.store(sh.ctl, UNITS, units);
  Atomics.store(sh.ctl, ERR, 0);
  Atomics.store(sh.ctl, DONE, 0);
  const nf = nativeTask(task);
  Atomics.store(sh.ctl, NATIVE, nf ? 1 : 0);
  Atomics.store(sh.ctl, NEXT, seq * MAX_CHUNKS);
  Atomics.store(sh.ctl, SEQ, seq);
  Atomics.notify(sh.ctl, SEQ);
  const run = chunkRunner(
    TASKS[task],
    nf,
    () => arrays,
    () => sh.ptr.slice(0, arrays.length),
    sh.sc.slice(0, scalars.length),
  );
  stats.tasks++, stats.chunks += chunks;
  for (;;) {
    const c = claim(sh.ctl, seq, chunks);
    if (c < 0) break;
    run(Math.floor((units * c) / chunks), Math.floor((units * (c + 1)) / chunks), c);
    Atomics.add(sh.ctl, DONE, 1);
    stats.mainChunks++;
  }
  for (let d = Atomics.load(sh.ctl, DONE); d < chunks; d = Atomics.load(sh.ctl, DONE)) {
    Atomics.wait(sh.ctl, DONE, d, 2);
  }
  if (Atomics.load(sh.ctl, ERR)) throw new Error(`parallel: task ${task} failed in a worker thread`);
}

const stats = { tasks: 0, chunks: 0, mainChunks: 0 };

/** Tasks shared with workers so far, their chunks, and how many of those the worker threads ran. */
export function parallelStats(): { tasks: number; chunks: number; workerChunks: number } {
  return { tasks: stats.tasks, chunks: stats.chunks, workerChunks: stats.chunks - stats.mainChunks };
}

/** Takes the next chunk of task `s` (or -1 when none is left): a CAS on the tagged counter. */
export function claim(ctl: Int32Array, s: number, chunks: number): number {
  for (;;) {
    const t = Atomics.load(ctl, NEXT);
    const c = t - s * MAX_CHUNKS;
    if (c < 0 || c >= chunks) return -1;
    if (Atomics.compareExchange(ctl, NEXT, t, t + 1) === t) return c;
  }
}

/** Control-block slots, for engine/kernels/thread_worker.ts. */
export const SLOTS = { SEQ, NEXT, DONE, NCHUNKS, TASK, NARR, NSC, ALIVE, ERR, UNITS, NATIVE } as const;
