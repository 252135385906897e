/**
 * Why a trial stopped, from outside or from within. A trial stopped from
 * outside (a signal such as the out-of-memory killer's SIGKILL, a full
 * disk, an I/O error, a lost GPU device) did nothing wrong: its result
 * carries `requeue: true` and the next run of the sweep runs it again from
 * its last checkpoint. Any other failure (a bad config, a bug) is failed for
 * good until `--retry-failed`. And when a trial process dies without a
 * result, its log's one-line cause is found here (the error line, not the
 * stack frame after it).
 */

/** Messages of faults outside the trial (OS error numbers as Deno prints them), with a short name. */
const OUTSIDE: [RegExp, string][] = [
  [/No space left on device|os error 28\b|ENOSPC/i, "the disk is full"],
  [/Disk quota exceeded|os error 122\b|EDQUOT/i, "the disk quota is exceeded"],
  [/Input\/output error|os error 5\b|EIO\b/, "an I/O error"],
  [
    /Cannot allocate memory|os error 12\b|ENOMEM|Array buffer allocation failed|out of memory/i,
    "out of memory",
  ],
  [/GPU device was lost|device (?:was )?lost/i, "the GPU device was lost"],
];

/** The short name of an outside fault named in `message` ("the disk is full", ...), or null. */
export function outsideFault(message: string): string | null {
  for (const [re, name] of OUTSIDE) if (re.test(message)) return name;
  return null;
}

/** Signals by the exit code a shell reports for them (128 + number). */
const SIGNALS: Record<number, string> = {
  129: "SIGHUP",
  130: "SIGINT",
  134: "SIGABRT",
  137: "SIGKILL",
  143: "SIGTERM",
};

/**
 * When a process was ended by a signal: a one-line account ("killed by
 * SIGKILL (exit code 137: the out-of-memory killer sends it, as does kill -9)"),
 * else null.
 */
export function signalDeath(code: number, signal?: string | null): string | null {
  const name = signal ?? SIGNALS[code];
  if (!name) return null;
  const why = name === "SIGKILL"
    ? ": the out-of-memory killer sends it, as does kill -9"
    : name === "SIGTERM"
    ? ": a scheduler or kill stopped it"
    : "";
  return `killed by ${name} (exit code ${code}${why})`;
}

/**
 * The one-line cause in a dead trial process's log: its last `error: ...`
 * line (dmodel's own errors; `internal error: X` and Deno's `error: Uncaught
 * X` give X), else the last line naming an Error, else the last line that
 * is not a stack frame; "" for an empty log. At most 300 characters.
 */
export function crashCause(log: string): string {
  const lines = log.split("\n").map((l) => l.trimEnd());
  const pick = (re: RegExp) => {
    for (let i = lines.length - 1; i >= 0; i--) if (re.test(lines[i])) return lines[i];
    return null;
  };
  let line = pick(/^(internal )?error: /);
  if (line !== null) {
    line = line.replace(/^(internal )?error: /, "").replace(/^Uncaught (\(in promise\) )?/, "");
  } else line = pick(/^\s*(\w+\.)*\w*Error\b.*:/) ?? pick(/^(?!\s*at\s|\s*\^|\s*$)/) ?? "";
  line = line.trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
