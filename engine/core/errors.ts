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
