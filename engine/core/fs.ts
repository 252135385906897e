/** File helpers: atomic writes (temp file + rename), so a killed process never leaves half a file. */
import { DmodelError } from "./errors.ts";

/**
 * Writes bytes or text atomically: to a temporary file beside `path`, then
 * renamed over it, so readers never see a half-written file.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    // Name the file being written, not its temporary twin (a full disk says which file it stopped).
    if (e instanceof Error) e.message = e.message.replace(tmp, path);
    throw e;
  }
}

/** True when the path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Reads a text file, or null when it is absent (any other error is thrown). */
export async function readTextIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Reads a JSON file, or null when it is absent; a malformed file is a one-line error. */
export async function readJSON<T>(path: string): Promise<T | null> {
  const text = await readTextIfExists(path);
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new DmodelError(`${path}: malformed JSON: ${(e as Error).message}`);
  }
}
