/** One-line user-facing errors: every message names the file, key path and value at fault. */

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
