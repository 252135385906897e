/**
 * Compute backends for TensorFlow.js: `wasm` (default), `cpu`, `webgpu`
 * (components/backend/webgpu.ts), `tensorflow` (tfjs-node-gpu or tfjs-node,
 * when importable) and `auto`. Each is a
 * registered component; `useBackend(name)` sets it up once per process.
 */
import * as tf from "@tensorflow/tfjs";
import { DmodelError } from "../core/errors.ts";
import { build } from "../core/registry.ts";

/** A backend component's product. */
export interface BackendImpl {
  /** Makes the backend current; returns the tfjs backend name actually in use. */
  setup(): Promise<string>;
  /** True when this backend can run here (cheap check, no side effects). */
  available(): Promise<boolean>;
  /** Why it chose what it did, after setup (for `auto`), shown on the one backend line. */
  note?(): string;
}

// tfjs's own console notices (the "Hi, looks like you are running TensorFlow.js in Node.js" banner of
// its cpu backend, which points at tfjs-node) are not dmodel's: dmodel says which backend it uses.
tf.enableProdMode();

let current: { requested: string; actual: string } | null = null;

/** Selects a backend by component name; idempotent. Returns the tfjs backend name in use. */
export async function useBackend(name: string, log: (s: string) => void = () => {}): Promise<string> {
  if (current?.requested === name) return current.actual;
  const impl = build("backend", { name }, ["train", "backend"]);
  const actual = await impl.setup();
  if (tf.getBackend() !== actual) {
    throw new DmodelError(
      `backend ${JSON.stringify(name)}: tfjs is on ${tf.getBackend()}, expected ${actual}`,
    );
  }
  current = { requested: name, actual };
  log(`backend: ${name === actual ? name : `${name} -> ${actual}`}${impl.note ? ` (${impl.note()})` : ""}`);
  return actual;
}

declare module "../core/registry.ts" {
  interface Products {
    backend: BackendImpl;
  }
}
