/**
 * safetensors, the checkpoint format of the Python ecosystem (docs/reference.md
 * section 8): u64 LE header length N, N bytes of JSON {name: {dtype, shape,
 * data_offsets}, "__metadata__": {string: string}}, then the raw LE bytes.
 */
import { DmodelError } from "../core/errors.ts";

/** A tensor as stored: F32 or I32 values with a shape. */
export interface StoredTensor {
  /** Element type: 32-bit float or 32-bit signed integer, little-endian on disk. */
  dtype: "F32" | "I32";
  /** Dimensions, outermost first (row-major). */
  shape: number[];
  /** The values, row-major; length is the product of `shape`. */
  data: Float32Array | Int32Array;
}

/** Encodes tensors (in the given order) and string metadata. */
export function encodeSafetensors(
  tensors: Record<string, StoredTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new DmodelError(`safetensors: ${name} has ${t.data.length} values for shape [${t.shape}]`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
  }
  header.__metadata__ = metadata;
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // align the data to 8 bytes
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Decodes a safetensors file's bytes; `file` names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, file: string): {
  tensors: Record<string, StoredTensor>;
  metadata: Record<string, string>;
} {
  if (bytes.length < 8) throw new DmodelError(`${file}: not a safetensors file (${bytes.length} bytes)`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + n > bytes.length) {
    throw new DmodelError(`${file}: header length ${n} exceeds file size ${bytes.length}`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new DmodelError(`${file}: bad safetensors header: ${(e as Error).message}`);
  }
  const base = 8 + n;
  const tensors: Record<string, StoredTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = h as unknown as Record<string, string>;
      continue;
    }
    const [b, e] = h.data_offsets;
    if (base + e > bytes.length) {
      throw new DmodelError(`${file}: tensor ${name} runs past the end of the file`);
    }
    const raw = bytes.slice(base + b, base + e); // copy: aligned and detached from the file buffer
    if (h.dtype === "F32") {
      tensors[name] = { dtype: "F32", shape: h.shape, data: new Float32Array(raw.buffer) };
    } else if (h.dtype === "I32") {
      tensors[name] = { dtype: "I32", shape: h.shape, data: new Int32Array(raw.buffer) };
    } else throw new DmodelError(`${file}: tensor ${name} has dtype ${h.dtype}; dmodel reads F32 and I32`);
  }
  return { tensors, metadata };
}

/** Reads a safetensors file; a missing file is a one-line error. */
export async function readSafetensors(path: string): Promise<{
  tensors: Record<string, StoredTensor>;
  metadata: Record<string, string>;
}> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DmodelError(`${path}: no such file`);
    throw e;
  }
  return decodeSafetensors(bytes, path);
}
