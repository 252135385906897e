/** Shared CLI plumbing for the tasks: argument parsing, one-line errors, exit codes. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { DmodelError, Interrupted } from "../engine/core/errors.ts";

/** Parses argv with node:util parseArgs; unknown flags are a one-line error. */
export function parse<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new DmodelError(`${(e as Error).message}\nusage: ${usage}`);
  }
}

/** The flags every pipeline task takes. */
export const PIPELINE_FLAGS = {
  set: { type: "string", multiple: true, default: [] as string[] },
  out: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** OS error codes that are faults of the machine (a full disk), each said in words. */
const SYSTEM_FAULTS: Record<string, string> = {
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is exceeded",
  EROFS: "the filesystem is read-only",
  EIO: "an input/output error (a failing disk?)",
};

/** Runs a task's main; DmodelError (or a full disk) becomes one line on stderr and exit code 1. */
export async function main(fn: () => Promise<number | void>): Promise<never> {
  try {
    const code = await fn();
    Deno.exit(code ?? 0);
  } catch (e) {
    if (e instanceof Interrupted) {
      console.error(e.message);
      Deno.exit(e.exitCode);
    }
    if (e instanceof DmodelError) {
      // Every line of a multi-line error is marked (a usage line is help, not an error).
      console.error(
        e.message.split("\n").map((l) => /^(error|usage):/.test(l) ? l : `error: ${l}`).join("\n"),
      );
      Deno.exit(1);
    }
    const why = SYSTEM_FAULTS[(e as { code?: string })?.code ?? ""];
    if (why) {
      // The machine's fault, not dmodel's: files are written atomically, so what was finished is kept.
      console.error(
        `error: ${why}: ${(e as Error).message.split("\n")[0]}; run the same command again once fixed`,
      );
      Deno.exit(1);
    }
    console.error(`internal error: ${(e as Error)?.stack ?? e}`);
    Deno.exit(2);
  }
}
