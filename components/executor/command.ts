/**
 * What the executors share: the command line of one trial worker
 * (`tasks/trial.ts`, the entry point that registers the components and runs
 * one planned trial of a sweep).
 */

/** The command that runs trial `index` of the sweep in `dir` (any scheduler can use it). */
export function trialCommand(dir: string, index: number, extra: string[] = []): string[] {
  const task = new URL("../../tasks/trial.ts", import.meta.url).pathname;
  return [
    "run",
    "--allow-read",
    `--allow-write=${dir}`,
    "--allow-env",
    "--allow-ffi",
    "--allow-sys",
    "--no-prompt",
    task,
    dir,
    "--index",
    String(index),
    ...extra,
  ];
}
