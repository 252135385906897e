/**
 * WebGPU under Deno for tfjs's `webgpu` backend: finds the adapter, makes
 * the device (so dmodel holds it and sees it lost), and turns the three bad
 * states into one-line errors: no WebGPU in this runtime, no adapter, and a
 * device lost mid-trial (every later read throws; the trial ends `failed`).
 *
 * Deno exposes `navigator.gpu` with no flag and no permission; with no GPU
 * it offers a software fallback adapter (llvmpipe), on which everything
 * runs, slowly. Reads from the device are asynchronous only (tfjs's
 * `dataSync` on webgpu needs OffscreenCanvas, which Deno lacks):
 * {@link readTensor} is the read the trainer uses.
 */
import * as tf from "@tensorflow/tfjs";
import { DmodelError } from "../core/errors.ts";

/** What dmodel reports about an adapter. */
export interface AdapterSummary {
  description: string;
  vendor: string;
  architecture: string;
  isFallbackAdapter: boolean;
}

// Minimal WebGPU types: only what is used here.
interface GpuAdapterInfoLike {
  description?: string;
  vendor?: string;
  architecture?: string;
  device?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapterLike {
  info?: GpuAdapterInfoLike;
  isFallbackAdapter?: boolean;
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(desc?: unknown): Promise<GpuDeviceLike>;
}
/** The parts of a GPUDevice used here. */
export interface GpuDeviceLike {
  lost: Promise<{ reason?: string; message?: string }>;
  destroy(): void;
}
interface GpuLike {
  requestAdapter(opts?: unknown): Promise<GpuAdapterLike | null>;
}

function gpu(): GpuLike | undefined {
  return (navigator as unknown as { gpu?: GpuLike }).gpu;
}

/** True when this runtime has WebGPU at all (`navigator.gpu`). */
export function webgpuInRuntime(): boolean {
  return gpu() !== undefined;
}

function summarize(a: GpuAdapterLike): AdapterSummary {
  const info = a.info ?? {};
  return {
    description: info.description || info.device || "(no description)",
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? a.isFallbackAdapter),
  };
}

/** The high-performance adapter, or a one-line reason there is none. */
export async function requestAdapter(): Promise<
  { adapter: GpuAdapterLike; summary: AdapterSummary } | { error: string }
> {
  const g = gpu();
  if (!g) {
    return {
      error: "backend webgpu: this runtime has no WebGPU (navigator.gpu is undefined); use backend: wasm",
    };
  }
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await g.requestAdapter({ powerPreference: "high-performance" });
  } catch (e) {
    return { error: `backend webgpu: requestAdapter() failed: ${(e as Error).message}; use backend: wasm` };
  }
  if (!adapter) {
    return {
      error: "backend webgpu: navigator.gpu.requestAdapter() returned no adapter (no usable GPU or driver, " +
        "and no fallback adapter); use backend: wasm",
    };
  }
  return { adapter, summary: summarize(adapter) };
}

/** The adapter's summary when there is one, else null (cheap; makes no device). */
export async function adapterSummary(): Promise<AdapterSummary | null> {
  const r = await requestAdapter();
  return "error" in r ? null : r.summary;
}

/** One line about an adapter, for logs and the bench. */
export function describeAdapter(s: AdapterSummary): string {
  const parts = [s.description, s.vendor && `vendor ${s.vendor}`, s.architecture && `arch ${s.architecture}`]
    .filter(Boolean);
  return `${parts.join(", ")}${s.isFallbackAdapter ? " (fallback adapter: software, slow)" : ""}`;
}

let device: GpuDeviceLike | null = null;
let summary: AdapterSummary | null = null;
let lostMessage: string | null = null;
let lostSignal: Promise<never> | null = null;

/** The adapter the webgpu backend runs on (null before {@link createDevice}). */
export function currentAdapter(): AdapterSummary | null {
  return summary;
}

/**
 * Requests the device tfjs's backend will use (the limits tfjs asks for,
 * timestamp queries when offered) and watches it for loss.
 */
export async function createDevice(): Promise<
  { device: GpuDeviceLike; summary: AdapterSummary; info: unknown }
> {
  const r = await requestAdapter();
  if ("error" in r) throw new DmodelError(r.error);
  const { adapter } = r;
  const limits = adapter.limits;
  const names = [
    "maxComputeWorkgroupStorageSize",
    "maxComputeWorkgroupsPerDimension",
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxComputeWorkgroupSizeX",
    "maxComputeInvocationsPerWorkgroup",
  ];
  const requiredLimits: Record<string, number> = {};
  for (const n of names) if (limits[n] !== undefined) requiredLimits[n] = limits[n];
  const requiredFeatures = adapter.features.has("timestamp-query") ? ["timestamp-query"] : [];
  let d: GpuDeviceLike;
  try {
    d = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    throw new DmodelError(
      `backend webgpu: adapter ${JSON.stringify(r.summary.description)} refused a device: ${
        (e as Error).message
      }`,
    );
  }
  device = d, summary = r.summary, lostMessage = null;
  lostSignal = d.lost.then((info) => {
    lostMessage = `backend webgpu: the GPU device was lost mid-trial (${info.reason ?? "unknown"}: ${
      info.message || "no message"
    }) on ${r.summary.description}`;
    throw new DmodelError(lostMessage);
  });
  lostSignal.catch(() => {}); // observed by readTensor; never an unhandled rejection
  return { device: d, summary: r.summary, info: adapter.info };
}

/** Throws the device-lost error once the device is gone (checked before every read). */
export function checkDevice(): void {
  if (lostMessage) throw new DmodelError(lostMessage);
}

/**
 * A tensor's values on the host: `await data()`, raced against the device's
 * loss so a lost device ends the read with its one-line error, never a hang.
 */
export async function readTensor(t: tf.Tensor): Promise<Float32Array | Int32Array | Uint8Array> {
  checkDevice();
  const read = t.data() as Promise<Float32Array | Int32Array | Uint8Array>;
  if (!lostSignal) return await read;
  const v = await Promise.race([read, lostSignal]);
  checkDevice();
  return v;
}

/**
 * Runs f; when it throws and the device turns out lost (WebGPU reports the
 * loss asynchronously, so this waits for it up to a moment), throws the
 * device-lost error instead of whatever invalid-buffer error came first.
 */
export async function onDevice<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (lostSignal && !lostMessage) {
      await Promise.race([lostSignal.catch(() => {}), new Promise((r) => setTimeout(r, 200))]);
    }
    checkDevice();
    throw e;
  }
}

/**
 * Fault injection for tests: DMODEL_WEBGPU_LOSE_DEVICE_AT=k destroys the
 * device at the k-th call (the trainer calls it once per step), as a
 * driver reset would.
 */
export function maybeLoseDevice(): void {
  const at = Number(Deno.env.get("DMODEL_WEBGPU_LOSE_DEVICE_AT") ?? "");
  if (!(at > 0) || !device) return;
  faultCalls += 1;
  if (faultCalls === at) device.destroy();
}
let faultCalls = 0;
