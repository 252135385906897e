/** One-line user-facing errors: every message names the file, key path and value at fault. */
import type { z } from "zod";

/** An error in user input (a pipeline file, an option, a data file). Printed as one line, no stack. */
export class DmodelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DmodelError";
  }
}

/** Formats a value for an error message: short, JSON-like. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  try {
    const s = JSON.stringify(value);
    if (s === undefined) return String(value);
    return s.length > 80 ? s.slice(0, 77) + "..." : s;
  } catch {
    return String(value);
  }
}

/** One validation problem, at a key path inside the validated object. */
export interface Issue {
  path: (string | number)[];
  message: string;
  value?: unknown;
}

/**
 * The issues of a zod error, each at `prefix` + its own path, with the
 * offending value read from `input` (unknown keys are named, no value).
 */
export function zodIssues(err: z.ZodError, prefix: (string | number)[] = [], input?: unknown): Issue[] {
  return err.issues.map((i) => {
    const path = [...prefix, ...(i.path as (string | number)[])];
    // deno-lint-ignore no-explicit-any
    let v: any = input;
    for (const k of i.path as (string | number)[]) v = v?.[k];
    if (i.code === "unrecognized_keys") {
      return { path, message: `unknown key(s) ${i.keys.map((k) => JSON.stringify(k)).join(", ")}` };
    }
    return { path, message: i.message, value: v };
  });
}

/** `file:line: key.path: message (value: ...)`; the file (and line) only when known. */
export function formatIssue(file: string | null, line: number | null, i: Issue): string {
  const at = file === null ? "" : `${line ? `${file}:${line}` : file}: `;
  const key = i.path.length ? i.path.join(".") : "(top level)";
  const val = i.value === undefined ? "" : ` (value: ${show(i.value)})`;
  return `${at}${key}: ${i.message}${val}`;
}

/** A zod error as one DmodelError, one line per issue (no file: the key path says where). */
export function zodError(err: z.ZodError, prefix: (string | number)[] = [], input?: unknown): DmodelError {
  return new DmodelError(zodIssues(err, prefix, input).map((i) => formatIssue(null, null, i)).join("\n"));
}
