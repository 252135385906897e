/**
 * A worker thread of engine/kernels/thread_pool.ts: waits for a task, maps the task's
 * memory by address, takes chunks until none is left, and exits after
 * IDLE_MS without a task (so that a finished program can exit).
 */
import { type TaskArray, TASKS } from "./kernel_tasks.ts";
import { chunkRunner, claim, KIND, sharedViews, SLOTS } from "./thread_pool.ts";
import { nativeTask, openNative } from "./native.ts";

const IDLE_MS = 1000;
const names = Object.keys(TASKS) as (keyof typeof TASKS)[];

function view(address: bigint, length: number, kind: number): TaskArray {
  const bytes = kind === KIND.f64 ? 8 : 4;
  const buf = length === 0
    ? new ArrayBuffer(0)
    : Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(address)!, length * bytes);
  return kind === KIND.f32
    ? new Float32Array(buf)
    : kind === KIND.f64
    ? new Float64Array(buf)
    : new Int32Array(buf);
}

/** This worker's global scope. */
const scope = self as unknown as { onmessage: ((e: MessageEvent) => void) | null; close(): void };

scope.onmessage = (e: MessageEvent<{ sab: SharedArrayBuffer; seq: number; native: string | null }>) => {
  if (e.data.native) openNative(e.data.native); // the main thread's native library (engine/kernels/native.ts)
  const sh = sharedViews(e.data.sab);
  const ctl = sh.ctl;
  let seen = e.data.seq;
  for (;;) {
    Atomics.wait(ctl, SLOTS.SEQ, seen, IDLE_MS);
    const s = Atomics.load(ctl, SLOTS.SEQ);
    if (s === seen) {
      // No task for IDLE_MS: leave (the main thread starts a new worker when it needs one).
      Atomics.sub(ctl, SLOTS.ALIVE, 1);
      scope.close();
      return;
    }
    seen = s;
    const chunks = Atomics.load(ctl, SLOTS.NCHUNKS), units = Atomics.load(ctl, SLOTS.UNITS);
    const name = names[Atomics.load(ctl, SLOTS.TASK)];
    const nf = Atomics.load(ctl, SLOTS.NATIVE) ? nativeTask(name) : undefined;
    let run: ((lo: number, hi: number, chunk: number) => void) | null = null;
    for (;;) {
      const c = claim(ctl, s, chunks);
      if (c < 0) break;
      try {
        // Read the descriptors once a chunk is ours (they are then those of task s).
        const narr = Atomics.load(ctl, SLOTS.NARR);
        run ??= chunkRunner(
          TASKS[name],
          nf,
          () => Array.from({ length: narr }, (_, i) => view(sh.ptr[i], sh.len[i], sh.kind[i])),
          () => sh.ptr.slice(0, narr),
          sh.sc.slice(0, Atomics.load(ctl, SLOTS.NSC)),
        );
        run(Math.floor((units * c) / chunks), Math.floor((units * (c + 1)) / chunks), c);
      } catch (err) {
        Atomics.store(ctl, SLOTS.ERR, 1);
        console.error(`dmodel parallel worker: ${(err as Error).stack ?? err}`);
      }
      Atomics.add(ctl, SLOTS.DONE, 1);
      Atomics.notify(ctl, SLOTS.DONE);
    }
  }
};
