/** One-line user-facing errors: every message names the file, key path and value at fault. */
import type { z } from "zod";
import { didYouMean, nearest, schemaKeys } from "./suggest.ts";

/** An error in user input (a pipeline file, an option, a data file). Printed as one line, no stack. */
export class DmodelError extends Error {
  /** An error with a one-line `message` that names the file, key path and value at fault. */
  constructor(message: string) {
    super(message);
    this.name = "DmodelError";
  }
}

/** Formats a value for an error message: short, JSON-like; Infinity and NaN named as such (JSON says null). */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  try {
    const s = JSON.stringify(
      value,
      (_k, x) => typeof x === "number" && !Number.isFinite(x) ? `\u0000${x}` : x,
    )
      ?.replace(/"\\u0000(-?Infinity|NaN)"/g, "$1");
    if (s === undefined) return String(value);
    return s.length > 80 ? s.slice(0, 77) + "..." : s;
  } catch {
    return String(value);
  }
}

/** The user stopped the work (Ctrl-C, SIGTERM): nothing is lost, the same command resumes. */
export class Interrupted extends DmodelError {
  constructor(readonly signal: "SIGINT" | "SIGTERM") {
    super("interrupted: run the same command again to resume");
    this.name = "Interrupted";
  }

  /** The shell's exit code for death by this signal (130, 143). */
  get exitCode(): number {
    return this.signal === "SIGINT" ? 130 : 143;
  }
}

/** One validation problem, at a key path inside the validated object. */
export interface Issue {
  /** Key path of the offending value inside the validated object (e.g. ["optimizer", "lr"]). */
  path: (string | number)[];
  /** What is wrong, in words. */
  message: string;
  /** The offending value, when there is one (shown in the formatted message). */
  value?: unknown;
  /** For unknown keys: the keys (each at `path` + key). */
  keys?: string[];
}

/** An Issue as a zod custom issue (for transforms that validate trials inside a stage's options). */
export function zodIssue(i: Issue, path: (string | number)[] = i.path) {
  return { code: "custom" as const, message: i.message, path, input: i.value, params: { keys: i.keys } };
}

/**
 * A zod issue of a schema validated at `prefix` inside `input`, as an Issue (unknown keys listed;
 * with `schema`, each with the accepted key it is nearest to: "did you mean ...").
 */
export function issueOf(
  i: z.core.$ZodIssue,
  prefix: (string | number)[],
  input: unknown,
  schema?: z.ZodType,
): Issue {
  const path = [...prefix, ...(i.path as (string | number)[])];
  // deno-lint-ignore no-explicit-any
  let v: any = input;
  for (const k of i.path as (string | number)[]) v = v?.[k];
  if (i.code === "unrecognized_keys") {
    const known = schemaKeys(schema, i.path as (string | number)[]);
    const named = i.keys.map((k) => show(k) + didYouMean(k, known));
    return { path, message: `unknown key(s) ${named.join(", ")}`, keys: i.keys };
  }
  if (i.code === "invalid_type" && typeof v === "number" && !Number.isFinite(v)) {
    return { path, message: `expected a finite number, got ${v}`, value: v };
  }
  if (i.code === "invalid_type" && v === undefined && i.message.startsWith("Invalid input")) {
    return { path, message: `required, missing (expected ${i.expected})`, value: v };
  }
  const keys = i.code === "custom" ? (i.params as { keys?: string[] } | undefined)?.keys : undefined;
  return keys ? { path, message: i.message, keys } : { path, message: i.message, value: v };
}

/**
 * The issues of a zod error, each at `prefix` + its own path, with the offending value read from
 * `input`; the real cause first: unknown keys lead, and a required key reported missing because
 * it was misspelled is folded into its unknown-key issue ("did you mean "steps"? it is required").
 */
export function zodIssues(
  err: z.ZodError,
  prefix: (string | number)[] = [],
  input?: unknown,
  schema?: z.ZodType,
): Issue[] {
  const issues = err.issues.map((i) => issueOf(i, prefix, input, schema));
  const key = (p: (string | number)[]) => p.map(String).join("\u0000");
  const unknown = issues.filter((i) => i.keys?.length);
  const drop = new Set<Issue>();
  for (const u of unknown) {
    const missing = issues.filter((m) =>
      !m.keys && m.value === undefined && m.message.startsWith("required, missing") &&
      key(m.path.slice(0, -1)) === key(u.path)
    );
    for (const k of u.keys!) {
      const m = missing.find((m) => nearest(k, [String(m.path[m.path.length - 1])]) !== null);
      if (!m) continue;
      drop.add(m);
      const name = String(m.path[m.path.length - 1]);
      u.message = u.message.replace(
        `${show(k)}${didYouMean(k, [name])}`,
        `${show(k)} (did you mean ${show(name)}? it is required and missing)`,
      );
      if (!u.message.includes(`did you mean ${show(name)}`)) {
        u.message += ` (did you mean ${show(name)}? it is required and missing)`;
      }
    }
  }
  const kept = issues.filter((i) => !drop.has(i));
  return [...kept.filter((i) => i.keys?.length), ...kept.filter((i) => !i.keys?.length)];
}

/** `file:line: key.path: message (value: ...)`; without a file (null), `key.path: message (value: ...)`. */
export function formatIssue(file: string | null, line: number | null, i: Issue): string {
  const at = file === null ? "" : `${line ? `${file}:${line}` : file}: `;
  const key = i.path.length ? i.path.join(".") : "(top level)";
  const val = i.value === undefined ? "" : ` (value: ${show(i.value)})`;
  return `${at}${key}: ${i.message}${val}`;
}

/** A zod error as one DmodelError, one line per issue (no file: the key path says where). */
export function zodError(
  err: z.ZodError,
  prefix: (string | number)[] = [],
  input?: unknown,
  schema?: z.ZodType,
): DmodelError {
  return new DmodelError(
    zodIssues(err, prefix, input, schema).map((i) => formatIssue(null, null, i)).join("\n"),
  );
}
